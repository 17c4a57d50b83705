package bot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"newsbot/internal/article"
	"newsbot/internal/subscriber"
	"newsbot/internal/telegramtest"
)

func TestStartSubscribesInTelegramLanguage(t *testing.T) {
	cases := []struct {
		code, lang string
	}{
		{"kk", "kk"},
		{"ru", "ru"},
		{"ru-RU", "ru"},
		{"en-US", "en"},
		{"de", "kk"}, // none of LANGUAGES: DEFAULT_LANGUAGE
		{"", "kk"},
	}
	for i, tc := range cases {
		t.Run(tc.code, func(t *testing.T) {
			h := newHarness(t)
			reader := who{id: int64(100 + i), lang: tc.code}
			h.say(reader, "/start")

			w := words[tc.lang]
			msg := h.last(reader.id)
			mustContain(t, msg.Text(), w.welcome)
			if msg.Params["parse_mode"] != "HTML" {
				t.Errorf("parse_mode = %v", msg.Params["parse_mode"])
			}
			r := h.reader(reader.id)
			if r.Lang != tc.lang || !slices.Equal(r.Langs, []string{tc.lang}) || !r.AllTopics || r.Status != subscriber.Active || r.Group {
				t.Errorf("reader = %+v, want %s, stories in %s, all topics, active", r, tc.lang, tc.lang)
			}

			kb := buttons(t, msg)
			for slug, name := range map[string]string{"politics": w.politics, "sport": w.sport, "tech": w.tech} {
				b := find(t, kb, "s1:t:"+slug)
				if b.Text != checkMark+name {
					t.Errorf("topic button %q, want %q (checked: all topics are followed)", b.Text, checkMark+name)
				}
			}
			if b := find(t, kb, "s1:t:*"); b.Text != checkMark+w.all {
				t.Errorf("all-topics button %q, want %q", b.Text, checkMark+w.all)
			}
			for _, l := range testLangs {
				b := find(t, kb, "s1:u:"+l)
				if checked(b) != (l == tc.lang) || !strings.HasSuffix(b.Text, words[l].self) {
					t.Errorf("language button %q (current %s)", b.Text, tc.lang)
				}
			}
		})
	}
}

func TestStartDeepLinks(t *testing.T) {
	cases := []struct {
		payload   string
		langs     []string
		topics    []string
		allTopics bool
		invalid   bool
	}{
		{payload: "politics", langs: []string{"ru"}, topics: []string{"politics"}},
		{payload: "en", langs: []string{"en"}, allTopics: true},
		{payload: "kk_sport", langs: []string{"kk"}, topics: []string{"sport"}},
		{payload: "KK_Sport", langs: []string{"kk"}, topics: []string{"sport"}},
		{payload: "sport_en", langs: []string{"en"}, topics: []string{"sport"}},
		{payload: "weather", langs: []string{"ru"}, allTopics: true, invalid: true},
		{payload: "ru_weather", langs: []string{"ru"}, allTopics: true, invalid: true},
		{payload: "<b>politics</b>", langs: []string{"ru"}, allTopics: true, invalid: true},
		{payload: strings.Repeat("a", 65), langs: []string{"ru"}, allTopics: true, invalid: true},
		{payload: "politics extra words", langs: []string{"ru"}, allTopics: true, invalid: true},
	}
	for i, tc := range cases {
		t.Run(tc.payload, func(t *testing.T) {
			h := newHarness(t)
			reader := who{id: int64(200 + i), lang: "ru"}
			h.say(reader, "/start "+tc.payload)

			r := h.reader(reader.id)
			if r.Lang != "ru" || !slices.Equal(r.Langs, tc.langs) || !slices.Equal(r.Topics, tc.topics) || r.AllTopics != tc.allTopics {
				t.Errorf("reader = %+v, want stories in %v, topics %v, all %v", r, tc.langs, tc.topics, tc.allTopics)
			}
			text := h.last(reader.id).Text()
			mustContain(t, text, words["ru"].welcome)
			if got := strings.Contains(text, words["ru"].invalidLink); got != tc.invalid {
				t.Errorf("invalid-link note shown = %v, want %v: %q", got, tc.invalid, text)
			}
			if strings.Contains(text, "<b>") {
				t.Errorf("payload echoed into the message: %q", text)
			}
		})
	}
}

func TestStartLinkLanguageForUnknownTelegramLanguage(t *testing.T) {
	h := newHarness(t)
	reader := who{id: 301, lang: "de"}
	h.say(reader, "/start ru_politics")
	r := h.reader(reader.id)
	if r.Lang != "ru" || !slices.Equal(r.Langs, []string{"ru"}) || !slices.Equal(r.Topics, []string{"politics"}) {
		t.Errorf("reader = %+v, want the link's language ru for the interface too", r)
	}
	mustContain(t, h.last(reader.id).Text(), words["ru"].welcome)
}

func TestStopAndStartAgainKeepsChoices(t *testing.T) {
	for _, lang := range testLangs {
		t.Run(lang, func(t *testing.T) {
			h := newHarness(t)
			w := words[lang]
			reader := who{id: 400, lang: lang}
			h.say(reader, "/start politics")
			h.say(reader, "/start en_sport") // a second link adds to the choice
			r := h.reader(reader.id)
			wantLangs := slices.DeleteFunc([]string{"kk", "ru", "en"}, func(l string) bool { return l != lang && l != "en" })
			if !slices.Equal(r.Topics, []string{"politics", "sport"}) || !slices.Equal(r.Langs, wantLangs) {
				t.Fatalf("after two links: %+v", r)
			}
			mustContain(t, h.last(reader.id).Text(), w.already)

			h.say(reader, "/stop")
			mustContain(t, h.last(reader.id).Text(), w.stop, "/start")
			if st := h.reader(reader.id).Status; st != subscriber.Stopped {
				t.Fatalf("status after /stop = %s", st)
			}
			page, err := h.readers.AudiencePage(context.Background(), lang, []string{"politics"}, true, subscriber.Start, 10)
			if err != nil || len(page) != 0 {
				t.Fatalf("a stopped reader is still in the audience: %v %v", page, err)
			}

			h.say(reader, "/stop")
			mustContain(t, h.last(reader.id).Text(), w.notSubscribed)
			h.say(reader, "/topics")
			mustContain(t, h.last(reader.id).Text(), w.notSubscribed, "/start")

			h.say(reader, "/start")
			mustContain(t, h.last(reader.id).Text(), w.back)
			r = h.reader(reader.id)
			if r.Status != subscriber.Active || !slices.Equal(r.Topics, []string{"politics", "sport"}) || r.AllTopics || !slices.Equal(r.Langs, wantLangs) {
				t.Errorf("after coming back: %+v, want the earlier choices", r)
			}
		})
	}
}

func TestHelpUnknownAndPlainText(t *testing.T) {
	for _, lang := range testLangs {
		t.Run(lang, func(t *testing.T) {
			h := newHarness(t)
			w := words[lang]
			reader := who{id: 500, lang: lang}

			h.say(reader, "/help")
			help := h.last(reader.id).Text()
			mustContain(t, help, w.help, "/start", "/topics", "/language", "/latest", "/stop", "/help", w.cmdTopics)
			if strings.Contains(help, "bot_cmd_") {
				t.Errorf("help shows a message id: %q", help)
			}

			h.say(reader, "/weather")
			mustContain(t, h.last(reader.id).Text(), w.unknown, "/help")
			h.say(reader, "hello there")
			mustContain(t, h.last(reader.id).Text(), w.plain, "/help")
			h.say(reader, "/START@"+telegramtest.BotUsername)
			mustContain(t, h.last(reader.id).Text(), w.welcome)
		})
	}
}

func TestLatest(t *testing.T) {
	h := newHarness(t)
	base := time.Date(2022, 9, 14, 12, 28, 0, 0, time.UTC) // 18:28 in Almaty
	for i := range 7 {
		h.stories.all = append(h.stories.all, article.Article{
			ID: fmt.Sprintf("ru-%d", i), Lang: "ru", URL: fmt.Sprintf("https://example.kz/ru/%d?a=1&b=2", i),
			Title: fmt.Sprintf("Новость %d <b>& «кавычки»", i), PublishedAt: base.Add(-time.Duration(i) * time.Hour),
		})
	}
	h.stories.all = append(h.stories.all, article.Article{ID: "kk-1", Lang: "kk", URL: "https://example.kz/kk/1", Title: "Қазақша жаңалық", PublishedAt: base})

	reader := who{id: 600, lang: "ru"}
	h.say(reader, "/start")
	h.say(reader, "/latest")
	msg := h.last(reader.id)
	text := msg.Text()
	mustContain(t, text, words["ru"].latest, "Новость 0 &lt;b&gt;&amp; «кавычки»", "Новость 4", words["ru"].september)
	if strings.Contains(text, "Новость 5") || strings.Contains(text, "Қазақша жаңалық") {
		t.Errorf("/latest lists more than five stories or another language: %q", text)
	}
	mustContain(t, text, `<a href="https://example.kz/ru/0?a=1&amp;b=2">`, "&lt;b&gt;&amp;")
	if strings.Index(text, "Новость 0") > strings.Index(text, "Новость 1") {
		t.Errorf("not newest first: %q", text)
	}

	// A reader of two languages sees both.
	h.press(reader.id, reader, h.languageMessage(reader), "l1:n:kk")
	h.say(reader, "/latest")
	mustContain(t, h.last(reader.id).Text(), "Қазақша жаңалық")

	for i, lang := range testLangs {
		other := who{id: int64(610 + i), lang: lang}
		if lang == "ru" {
			continue
		}
		h.say(other, "/start "+lang)
		h.stories.all = nil
		h.say(other, "/latest")
		mustContain(t, h.last(other.id).Text(), words[lang].empty)
	}

	h.stories.err = errors.New("redis is down")
	h.say(reader, "/latest")
	mustContain(t, h.last(reader.id).Text(), "Не удалось загрузить")
}

func TestLatestForAStrangerUsesTheirLanguage(t *testing.T) {
	h := newHarness(t)
	h.stories.all = []article.Article{
		{ID: "en-1", Lang: "en", URL: "https://example.kz/en/1", Title: "English story", PublishedAt: time.Now()},
		{ID: "kk-1", Lang: "kk", URL: "https://example.kz/kk/1", Title: "Қазақша", PublishedAt: time.Now()},
	}
	h.say(who{id: 650, lang: "en"}, "/latest")
	text := h.last(650).Text()
	mustContain(t, text, "English story", words["en"].latest)
	if strings.Contains(text, "Қазақша") {
		t.Errorf("a stranger's /latest shows other languages: %q", text)
	}
	if _, ok, _ := h.readers.Get(context.Background(), 650); ok {
		t.Error("/latest subscribed a stranger")
	}
}

func TestRegisterCommands(t *testing.T) {
	h := newHarness(t)
	if err := h.bot.RegisterCommands(context.Background()); err != nil {
		t.Fatal(err)
	}
	reqs := h.tg.Requests("setMyCommands")
	if len(reqs) != 4 {
		t.Fatalf("%d setMyCommands calls, want 4 (kk, ru, en, default)", len(reqs))
	}
	byLang := map[string][]any{}
	for _, r := range reqs {
		code, _ := r.Params["language_code"].(string)
		cmds, _ := r.Params["commands"].([]any)
		byLang[code] = cmds
	}
	for code, want := range map[string]string{"kk": words["kk"].cmdTopics, "ru": words["ru"].cmdTopics, "en": words["en"].cmdTopics, "": words["kk"].cmdTopics} {
		cmds := byLang[code]
		var names []string
		for _, c := range cmds {
			m := c.(map[string]any)
			names = append(names, m["command"].(string))
			if m["command"] == "topics" && m["description"] != want {
				t.Errorf("language %q: /topics described as %q, want %q", code, m["description"], want)
			}
		}
		if !slices.Equal(names, []string{"start", "topics", "language", "latest", "stop", "help"}) {
			t.Errorf("language %q: commands %v", code, names)
		}
	}

	h.tg.FailNext("setMyCommands", nil, telegramtest.ServerError())
	if err := h.bot.RegisterCommands(context.Background()); err == nil {
		t.Error("a failed setMyCommands is not reported")
	}
}

func TestParseCommand(t *testing.T) {
	cases := []struct {
		text, name, at, args string
		ok                   bool
	}{
		{"/start", "start", "", "", true},
		{"/start politics", "start", "", "politics", true},
		{"/Start@NewsBot  ru_politics ", "start", "NewsBot", "ru_politics", true},
		{"/start\npolitics", "start", "", "politics", true},
		{"/", "", "", "", false},
		{"/@bot", "", "", "", false},
		{"/старт", "", "", "", false},
		{"/" + strings.Repeat("a", 33), "", "", "", false},
		{"start", "", "", "", false},
		{"", "", "", "", false},
	}
	for _, tc := range cases {
		name, at, args, ok := parseCommand(tc.text)
		if name != tc.name || at != tc.at || args != tc.args || ok != tc.ok {
			t.Errorf("parseCommand(%q) = %q %q %q %v, want %q %q %q %v", tc.text, name, at, args, ok, tc.name, tc.at, tc.args, tc.ok)
		}
	}
}

func TestSendToABlockedChatMarksTheReader(t *testing.T) {
	h := newHarness(t)
	reader := who{id: 700, lang: "en"}
	h.say(reader, "/start")
	h.tg.FailNext("sendMessage", reader.id, telegramtest.Blocked())
	h.say(reader, "/help")
	if st := h.reader(reader.id).Status; st != subscriber.Blocked {
		t.Errorf("status = %s, want blocked after Telegram said the bot is blocked", st)
	}
}

func TestStartAfterTheConfigurationDroppedALanguageAndATopic(t *testing.T) {
	h := newHarness(t)
	older := subscriber.NewStore(h.rdb, h.prefix, append(slices.Clone(testLangs), "de"), append(slices.Clone(testTopics), "weather"))
	err := older.Save(context.Background(), subscriber.Reader{ChatID: 1300, Lang: "de", Langs: []string{"de", "ru"},
		Topics: []string{"weather", "sport"}, Status: subscriber.Stopped})
	if err != nil {
		t.Fatal(err)
	}
	h.say(who{id: 1300, lang: "de"}, "/start")
	r := h.reader(1300)
	if r.Status != subscriber.Active || r.Lang != "kk" || !slices.Equal(r.Langs, []string{"ru"}) || !slices.Equal(r.Topics, []string{"sport"}) {
		t.Errorf("reader = %+v, want back with what is still configured", r)
	}
	mustContain(t, h.last(1300).Text(), words["kk"].back)
}

func TestLatestInEveryLanguage(t *testing.T) {
	for i, lang := range testLangs {
		t.Run(lang, func(t *testing.T) {
			h := newHarness(t)
			h.stories.all = []article.Article{{
				ID: "s-" + lang, Lang: lang, URL: "https://example.kz/" + lang + "/1", Title: "Story " + lang,
				PublishedAt: time.Date(2022, 9, 14, 12, 28, 0, 0, time.UTC),
			}}
			reader := who{id: int64(1400 + i), lang: lang}
			h.say(reader, "/start")
			h.say(reader, "/latest")
			text := h.last(reader.id).Text()
			mustContain(t, text, "<b>"+words[lang].latest+"</b>", `<a href="https://example.kz/`+lang+`/1">Story `+lang+`</a>`, words[lang].september)
		})
	}
}

// TestReplyLeavesRateLimitsToTheAPI: the bot calls its API once per reply. Waiting out a 429
// (which replies meet when they share the token's rate limit with a fan-out) is the API's
// job — the service wires one that takes rate-limit slots ahead of fan-out and retries — so
// the bot neither sleeps on it nor calls twice, and a 429 is no sign the reader is gone.
func TestReplyLeavesRateLimitsToTheAPI(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	reader := who{id: 1330, lang: "ru"}
	h.say(reader, "/start")
	h.tg.FailNext("sendMessage", reader.id, telegramtest.RetryAfter(3))
	start := time.Now()
	h.say(reader, "/help")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the bot waited %v on a 429 itself", d)
	}
	if n := h.sent(reader.id); n != 2 {
		t.Errorf("%d sendMessage calls for /start and /help with a 429, want 2 (no retry in the bot)", n)
	}
	if st := h.reader(reader.id).Status; st != subscriber.Active {
		t.Errorf("status %s after a 429, want still active", st)
	}
}

// racingReaders lands another running copy's change right after the bot reads a reader, the
// window in which a whole-record save would undo it.
type racingReaders struct {
	*subscriber.Store
	once   sync.Once
	change func()
}

func (r *racingReaders) Get(ctx context.Context, chatID int64) (subscriber.Reader, bool, error) {
	rd, ok, err := r.Store.Get(ctx, chatID)
	if r.change != nil {
		r.once.Do(r.change)
	}
	return rd, ok, err
}

// TestStartKeepsAConcurrentChange: /start of a returning reader, handled while another copy
// applies the reader's topic press, must not write back the record it read before the press.
func TestStartKeepsAConcurrentChange(t *testing.T) {
	h := newHarness(t)
	reader := who{id: 1340, lang: "en"}
	h.say(reader, "/start economy")
	h.say(reader, "/stop")
	race := &racingReaders{Store: h.readers}
	race.change = func() {
		if _, err := h.readers.ToggleTopic(context.Background(), reader.id, "politics"); err != nil {
			t.Error(err)
		}
	}
	h.opts.Readers = race
	var err error
	if h.bot, err = NewBot(h.opts); err != nil {
		t.Fatal(err)
	}
	h.say(reader, "/start sport")
	r := h.reader(reader.id)
	if r.Status != subscriber.Active || !slices.Equal(r.Topics, []string{"politics", "economy", "sport"}) {
		t.Errorf("reader after /start = %+v, want active with politics (the other press), economy and sport", r)
	}
	mustContain(t, h.last(reader.id).Text(), words["en"].back)
}

// TestStartWithAnOddTelegramLanguageCode: the language_code Telegram sends is only a hint;
// one the store cannot keep (too long, a comma) must not stop the reader from subscribing.
func TestStartWithAnOddTelegramLanguageCode(t *testing.T) {
	h := newHarness(t)
	for i, tc := range []struct{ code, lang string }{{"ru,en", "kk"}, {"en-" + strings.Repeat("x", 60), "en"}} {
		code := tc.code
		reader := who{id: int64(1350 + i), lang: code}
		h.say(reader, "/start")
		if r, ok, err := h.readers.Get(context.Background(), reader.id); err != nil || !ok || r.Status != subscriber.Active {
			t.Errorf("language_code %q: reader %+v, found %v, err %v", code, r, ok, err)
		}
		mustContain(t, h.last(reader.id).Text(), words[tc.lang].welcome)
	}
}

// TestStartRepairsAnUnreadableRecord: a reader record the store cannot read (damaged by hand,
// written by another release) must not lock the reader out: the bot answers as to a stranger,
// and /start writes a good record over it.
func TestStartRepairsAnUnreadableRecord(t *testing.T) {
	h := newHarness(t)
	reader := who{id: 1360, lang: "ru"}
	h.say(reader, "/start")
	id := h.last(reader.id).MessageID
	key := h.prefix + "{sub}:r:1360"
	if err := h.rdb.HSet(context.Background(), key, "s", "maybe", "j", "yesterday").Err(); err != nil {
		t.Fatal(err)
	}
	h.say(reader, "/help")
	mustContain(t, h.last(reader.id).Text(), words["ru"].help)
	ans := h.press(reader.id, reader, id, "s1:t:politics")
	mustContain(t, ans.Params["text"].(string), words["ru"].notSubscribed)
	h.say(reader, "/start")
	mustContain(t, h.last(reader.id).Text(), words["ru"].welcome)
	if r := h.reader(reader.id); r.Status != subscriber.Active || !r.AllTopics {
		t.Errorf("reader after /start = %+v, want a fresh active subscription", r)
	}
}
