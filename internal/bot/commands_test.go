package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"newsbot/internal/article"
	"newsbot/internal/subscriber"
	"newsbot/internal/telegramtest"
)

func TestStopAndStartAgainKeepsChoices(t *testing.T) {
	t.Parallel()
	for _, lang := range testLangs {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
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
	t.Parallel()
	for _, lang := range testLangs {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			w := words[lang]
			reader := who{id: 500, lang: lang}

			h.say(reader, "/help")
			help := h.last(reader.id).Text()
			mustContain(t, help, w.help, "/start", "/topics", "/language", "/settings — "+w.cmdSettings, "/latest", "/stop", "/help", w.cmdTopics)
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
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
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
		if !slices.Equal(names, []string{"start", "topics", "language", "settings", "latest", "stop", "help"}) {
			t.Errorf("language %q: commands %v", code, names)
		}
	}

	h.tg.FailNext("setMyCommands", nil, telegramtest.ServerError())
	if err := h.bot.RegisterCommands(context.Background()); err == nil {
		t.Error("a failed setMyCommands is not reported")
	}
}

func TestParseCommand(t *testing.T) {
	t.Parallel()
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
	t.Parallel()
	h := newHarness(t)
	reader := who{id: 700, lang: "en"}
	h.say(reader, "/start")
	h.tg.FailNext("sendMessage", reader.id, telegramtest.Blocked())
	h.say(reader, "/help")
	if st := h.reader(reader.id).Status; st != subscriber.Blocked {
		t.Errorf("status = %s, want blocked after Telegram said the bot is blocked", st)
	}
}

func TestLatestInEveryLanguage(t *testing.T) {
	t.Parallel()
	for i, lang := range testLangs {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
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

func TestAdminCommandsAreHiddenFromReaders(t *testing.T) {
	t.Parallel()
	ran := 0
	// The desk's /stats, as an extension brings it.
	desk := extension{commands: []Command{{Name: "stats", Admin: true, Run: func(ctx context.Context, c *Call) error {
		ran++
		return c.Send(ctx, "stats", nil)
	}}}}
	h := newHarness(t, func(o *Options) { o.Admins = []int64{91}; o.Desk = desk })
	h.say(who{id: 92, lang: "en"}, "/stats")
	mustContain(t, h.last(92).Text(), words["en"].unknown)
	h.say(who{id: 92, lang: "en"}, "/help")
	if strings.Contains(h.last(92).Text(), "/stats") {
		t.Error("/help shows an admin command to a reader")
	}
	h.say(who{id: 91, lang: "en"}, "/stats")
	if ran != 1 {
		t.Errorf("admin command ran %d times, want 1 (for the admin only)", ran)
	}
	h.say(who{id: 91, lang: "en"}, "/help")
	mustContain(t, h.last(91).Text(), "/stats")
	if err := h.bot.RegisterCommands(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, r := range h.tg.Requests("setMyCommands") {
		b, _ := json.Marshal(r.Params["commands"])
		if strings.Contains(string(b), "stats") {
			t.Errorf("an admin command is in the public menu: %s", b)
		}
	}
}

// extension is a stand-in for the desk: more commands and buttons for the routers.
type extension struct {
	commands []Command
	buttons  []Button
}

func (e extension) Commands() []Command { return e.commands }
func (e extension) Buttons() []Button   { return e.buttons }

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
