package bot

import (
	"context"
	"encoding/json"
	"log/slog"
	"newsbot/internal/subscriber"
	"newsbot/internal/telegram"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestStartSubscribesInTelegramLanguage(t *testing.T) {
	t.Parallel()
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
			t.Parallel()
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
	t.Parallel()
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
			t.Parallel()
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
	t.Parallel()
	h := newHarness(t)
	reader := who{id: 301, lang: "de"}
	h.say(reader, "/start ru_politics")
	r := h.reader(reader.id)
	if r.Lang != "ru" || !slices.Equal(r.Langs, []string{"ru"}) || !slices.Equal(r.Topics, []string{"politics"}) {
		t.Errorf("reader = %+v, want the link's language ru for the interface too", r)
	}
	mustContain(t, h.last(reader.id).Text(), words["ru"].welcome)
}

func TestStartAfterTheConfigurationDroppedALanguageAndATopic(t *testing.T) {
	t.Parallel()
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
	t.Parallel()
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
	if h.bot, err = New(h.opts); err != nil {
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
	t.Parallel()
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
	t.Parallel()
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

// BenchmarkStart measures /start of a new reader: flood check, reader load and save, and
// the welcome with its keyboard.
func BenchmarkStart(b *testing.B) {
	h := newHarness(b, func(o *Options) {
		o.Log = slog.New(slog.DiscardHandler)
		o.Flood = FloodLimit{Events: 1 << 30, Window: time.Hour}
	})
	h.tg.SetRecord(false)
	ctx := context.Background()
	id := int64(1)
	b.ReportAllocs()
	for b.Loop() {
		id++
		raw, _ := json.Marshal(message(id, who{id: id, lang: "kk"}, "/start"))
		var u telegram.Update
		_ = json.Unmarshal(raw, &u)
		h.bot.HandleUpdate(ctx, u)
	}
}
