package desk

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"newsbot/internal/article"
	"newsbot/internal/bot"
	"newsbot/internal/delivery"
	"newsbot/internal/locale"
	"newsbot/internal/post"
	"newsbot/internal/redistest"
	"newsbot/internal/source"
	"newsbot/internal/subscriber"
	"newsbot/internal/telegram"
	"newsbot/internal/telegramtest"
	"newsbot/internal/testkit"
)

// The real parts satisfy the desk's interfaces, and the desk the bot's.
var (
	_ API           = (*telegram.Client)(nil)
	_ Texts         = (*locale.Bundle)(nil)
	_ Publisher     = (*delivery.Engine)(nil)
	_ Renderer      = (*post.Renderer)(nil)
	_ Stories       = (*source.Store)(nil)
	_ Audience      = (*subscriber.Store)(nil)
	_ bot.Extension = (*Desk)(nil)
)

var (
	testLangs  = []string{"kk", "ru", "en"}
	testTopics = []string{"politics", "economy", "society", "world", "sport", "culture", "tech"}
)

// storyList is the desk's Stories in tests (and the bot's, for /latest): the stories the
// watcher would have seen.
type storyList struct {
	mu  sync.Mutex
	all []article.Article
}

func (s *storyList) Latest(_ context.Context, langs []string, n int) ([]article.Article, error) {
	return nil, nil
}

func (s *storyList) Get(_ context.Context, id string) (article.Article, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.all {
		if a.ID == id {
			return a, true, nil
		}
	}
	return article.Article{}, false, nil
}

func (s *storyList) FindByURL(_ context.Context, u string) (article.Article, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.all {
		// source.Store also matches with or without the trailing slash.
		if a.URL == u || a.URL+"/" == u || a.URL == strings.TrimSuffix(u, "/") {
			return a, true, nil
		}
	}
	return article.Article{}, false, nil
}

func (s *storyList) add(as ...article.Article) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.all = append(s.all, as...)
}

// Editors in the tests, and what each language must show them (kept here, not read from
// the locale files, so that a wrong translation fails).
var (
	adminA = who{id: 501, lang: "en"}
	adminB = who{id: 502, lang: "en"}
)

// adminNames are the editors' Telegram names.
var adminNames = map[int64]string{adminA.id: "Aigerim Sadykova", adminB.id: "Bolat Nurlanov"}

// deskNow is the clock of the desk tests: 10:15 in Almaty.
var deskNow = time.Date(2026, 11, 27, 5, 15, 0, 0, time.UTC)

// harness is the bot with the editors' desk, wired as cmd/newsbot wires them, on a real Redis
// and the fake Bot API: the real delivery engine (not running unless a test runs it, so a
// push stays a queued job the test can count), the real renderer and subscriber store, the
// stories in storyList.
type harness struct {
	t       testing.TB
	tg      *telegramtest.Server
	api     *telegram.Client
	rdb     *redis.Client
	prefix  string
	texts   *locale.Bundle
	loc     *time.Location
	readers *subscriber.Store
	stories *storyList
	engine  *delivery.Engine
	desk    *Desk
	bot     *bot.Bot
	logs    *testkit.Log
	story   article.Article

	mu     sync.Mutex
	update int
}

// setup is what a test may change before newDesk wires the parts.
type setup struct {
	topics    []string
	channels  map[string]string
	idlePoll  time.Duration
	sendRate  float64                          // SEND_RATE of the engine; 0: none
	publisher func(*delivery.Engine) Publisher // nil: the engine itself
	stories   func(*harness) Stories           // nil: the storyList
}

func newDesk(t testing.TB, tweak ...func(*setup)) *harness {
	t.Helper()
	s := setup{topics: testTopics, channels: map[string]string{"en": "@news_en", "ru": "@news_ru", "kk": "@news_kk"}}
	for _, f := range tweak {
		f(&s)
	}
	rdb, prefix := redistest.New(t)
	tg := telegramtest.New(t)
	texts, err := locale.Load()
	if err != nil {
		t.Fatal(err)
	}
	almaty, err := time.LoadLocation("Asia/Almaty")
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{
		t: t, tg: tg, api: telegram.New(tg.Token(), tg.URL(), nil, nil), rdb: rdb, prefix: prefix,
		texts: texts, loc: almaty, readers: subscriber.NewStore(rdb, prefix, testLangs, s.topics),
		stories: &storyList{}, logs: &testkit.Log{}, story: sampleStory(t),
	}
	h.stories.add(h.story)
	render := post.NewRenderer(texts, almaty)
	h.engine = delivery.New(rdb, h.api, h.readers, render, delivery.Options{
		Prefix: prefix, Channels: s.channels, IdlePoll: s.idlePoll, SendRate: s.sendRate,
	})
	var pub Publisher = h.engine
	if s.publisher != nil {
		pub = s.publisher(h.engine)
	}
	var stories Stories = h.stories
	if s.stories != nil {
		stories = s.stories(h)
	}
	log := h.logs.TextLogger()
	h.desk, err = New(Options{
		API: h.api, Texts: texts, Stories: stories, Audience: h.readers, Publisher: pub, Renderer: render,
		Redis: rdb, Prefix: prefix, Languages: testLangs, Topics: s.topics, Location: almaty, Log: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.desk.now = func() time.Time { return deskNow }
	h.bot, err = bot.New(bot.Options{
		API: h.api, Readers: h.readers, Stories: h.stories, Texts: texts, Redis: rdb, Prefix: prefix,
		Languages: testLangs, DefaultLanguage: "kk", Topics: s.topics, Username: telegramtest.BotUsername,
		Location: almaty, Admins: []int64{adminA.id, adminB.id}, Desk: h.desk,
		Flood: bot.FloodLimit{Events: 1000, Window: time.Minute}, Log: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// sampleStory is the sample article of the repository (an English story with a photo, topic
// politics).
func sampleStory(t testing.TB) article.Article {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "testdata", "seed-xi-jinping-visit.en.json"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := article.Parse(raw, article.Rules{Languages: testLangs, Topics: testTopics})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// who is the sender of an update.
type who struct {
	id   int64
	lang string // Telegram's language_code
}

// admin is an editor speaking lang.
func admin(u who, lang string) who { return who{id: u.id, lang: lang} }

func (h *harness) nextID() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.update++
	return h.update
}

// handle feeds an update, given as the JSON Telegram sends, to the bot.
func (h *harness) handle(raw map[string]any) {
	h.t.Helper()
	if _, ok := raw["update_id"]; !ok {
		raw["update_id"] = h.nextID()
	}
	b, err := json.Marshal(raw)
	if err != nil {
		h.t.Fatal(err)
	}
	var u telegram.Update
	if err := json.Unmarshal(b, &u); err != nil {
		h.t.Fatalf("decode update %s: %v", b, err)
	}
	h.bot.HandleUpdate(context.Background(), u)
}

func chatObj(id int64) map[string]any {
	if id > 0 {
		return map[string]any{"id": id, "type": "private", "first_name": "Reader"}
	}
	return map[string]any{"id": id, "type": "supergroup", "title": "Editors"}
}

// userObj is the Telegram user u, with the editor's name when u is one.
func userObj(u who) map[string]any {
	m := map[string]any{"id": u.id, "is_bot": false, "first_name": "Reader"}
	if name, ok := adminNames[u.id]; ok {
		m["first_name"], m["last_name"], _ = strings.Cut(name, " ")
	}
	if u.lang != "" {
		m["language_code"] = u.lang
	}
	return m
}

// sayIn sends text in a chat.
func (h *harness) sayIn(chat int64, from who, text string) {
	h.t.Helper()
	h.handle(map[string]any{"message": map[string]any{
		"message_id": 1000, "date": 1700000000, "chat": chatObj(chat), "from": userObj(from), "text": text,
	}})
}

// say sends text from a private chat (chat id = user id).
func (h *harness) say(from who, text string) { h.t.Helper(); h.sayIn(from.id, from, text) }

// pressAs presses a button under message msgID of chat and returns the answer to the press.
func (h *harness) pressAs(chat int64, from who, msgID int, data string) telegramtest.Request {
	h.t.Helper()
	id := fmt.Sprintf("cb%d", h.nextID())
	h.handle(map[string]any{"callback_query": map[string]any{
		"id": id, "from": userObj(from), "chat_instance": "ci", "data": data,
		"message": map[string]any{"message_id": msgID, "date": 1700000000, "chat": chatObj(chat), "text": "..."},
	}})
	var got []telegramtest.Request
	for _, r := range h.tg.Requests("answerCallbackQuery") {
		if r.Params["callback_query_id"] == id {
			got = append(got, r)
		}
	}
	if len(got) != 1 {
		h.t.Fatalf("press %q: %d answers to the press, want exactly 1", data, len(got))
	}
	return got[0]
}

func answerText(r telegramtest.Request) string { s, _ := r.Params["text"].(string); return s }

// last returns the last message the chat holds (edits applied).
func (h *harness) last(chat int64) telegramtest.Request {
	h.t.Helper()
	ms := h.tg.Messages(chat)
	if len(ms) == 0 {
		h.t.Fatalf("chat %d holds no message", chat)
	}
	return ms[len(ms)-1]
}

// subscribe saves active readers of English stories (all topics) with these chat ids.
func (h *harness) subscribe(ids ...int64) {
	h.t.Helper()
	for _, id := range ids {
		err := h.readers.Save(context.Background(), subscriber.Reader{
			ChatID: id, Lang: "en", Langs: []string{"en"}, AllTopics: true, Status: subscriber.Active,
		})
		if err != nil {
			h.t.Fatal(err)
		}
	}
}

// publish sends /publish arg as from in chat and returns the preview and the control message.
func (h *harness) publish(chat int64, from who, arg string) (preview, control telegramtest.Request) {
	h.t.Helper()
	before := len(h.tg.Messages(chat))
	h.sayIn(chat, from, "/publish "+arg)
	ms := h.tg.Messages(chat)
	if len(ms) != before+2 {
		for _, m := range ms[before:] {
			h.t.Logf("sent: %s %q", m.Method, m.Text())
		}
		h.t.Fatalf("/publish %s: %d new messages, want the preview and the controls", arg, len(ms)-before)
	}
	return ms[before], ms[before+1]
}

// control returns the current state of a control message (edits applied).
func (h *harness) control(chat int64, msgID int) telegramtest.Request {
	h.t.Helper()
	for _, m := range h.tg.Messages(chat) {
		if m.MessageID == msgID {
			return m
		}
	}
	h.t.Fatalf("no message %d in chat %d", msgID, chat)
	return telegramtest.Request{}
}

// jobs returns the fan-out jobs delivery holds for the sample story.
func (h *harness) jobs() []delivery.JobStatus {
	h.t.Helper()
	st, err := h.engine.Stats(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	var out []delivery.JobStatus
	for _, j := range st.Jobs {
		if j.ArticleID == h.story.ID {
			out = append(out, j)
		}
	}
	return out
}

// runEngine runs the delivery engine until the test ends.
func (h *harness) runEngine() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = h.engine.Run(ctx); close(done) }()
	h.t.Cleanup(func() { cancel(); <-done })
}

// btn is a button as an editor sees it.
type btn struct{ Text, Data string }

// buttons reads the inline keyboard of a message.
func buttons(t *testing.T, r telegramtest.Request) [][]btn {
	t.Helper()
	rm, ok := r.Params["reply_markup"].(map[string]any)
	if !ok {
		return nil
	}
	rows, _ := rm["inline_keyboard"].([]any)
	var out [][]btn
	for _, row := range rows {
		var bs []btn
		for _, b := range row.([]any) {
			m := b.(map[string]any)
			text, _ := m["text"].(string)
			data, _ := m["callback_data"].(string)
			if len(data) == 0 || len(data) > 64 {
				t.Errorf("button %q: callback_data %q is not 1-64 bytes", text, data)
			}
			bs = append(bs, btn{text, data})
		}
		out = append(out, bs)
	}
	return out
}

// buttonData finds the button whose text contains label.
func buttonData(t *testing.T, msg telegramtest.Request, label string) string {
	t.Helper()
	for _, row := range buttons(t, msg) {
		for _, b := range row {
			if strings.Contains(b.Text, label) {
				return b.Data
			}
		}
	}
	t.Fatalf("no button %q in %v", label, buttons(t, msg))
	return ""
}

func findText(t *testing.T, msg telegramtest.Request, label string) string {
	t.Helper()
	for _, row := range buttons(t, msg) {
		for _, b := range row {
			if strings.Contains(b.Text, label) {
				return b.Text
			}
		}
	}
	return ""
}

func mustContain(t *testing.T, text string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("text %q\n does not contain %q", text, w)
		}
	}
}

// waitFor waits for cond; the deadline only guards against a hang.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testkit.WaitFor(t, what, 15*time.Second, cond)
}

// deskText is what an editor must see in one language.
type deskText struct {
	title, confirm, cancel, breaking, again, notFound, published, already, cancelled string
	wasCancelled, pushedBefore, deliveredBefore, date, readers1, readers3, mode      string
	auditTitle, auditEmpty, usage, stale                                             string
}

// readers2 is "2 readers" in the language of w.
func (w deskText) readers2() string { return strings.Replace(w.readers3, "3", "2", 1) }

var deskWords = map[string]deskText{
	"kk": {
		title: "Бұл материалды жариялайсыз ба?", confirm: "Растау", cancel: "Бас тарту",
		breaking: "Шұғыл: барлық оқырманға", again: "Қайта жіберу", notFound: "материалы табылмады",
		published: "Жариялаған: Aigerim Sadykova, 27 қараша 2026, 10:15", already: "Материалды Aigerim Sadykova жариялап қойған (27 қараша 2026, 10:15)",
		cancelled: "Aigerim Sadykova жариялаудан бас тартты (27 қараша 2026, 10:15)", wasCancelled: "Бұл сұраныстан бас тартылған",
		pushedBefore: "Бұл материал бұрын жіберілген. Жариялаған: Aigerim Sadykova", deliveredBefore: "оқырмандарға бұрын жіберілген",
		date: "27 қараша 2026, 10:15", readers1: "1 оқырман", readers3: "3 оқырман", mode: "Шұғыл хабар: осы тілде жаңалық алатын барлық оқырманға жіберіледі",
		auditTitle: "Редакторлар жібергені", auditEmpty: "Редакторлар әлі ештеңе жібермеген", usage: "/publish командасын",
	},
	"ru": {
		title: "Опубликовать этот материал?", confirm: "Подтвердить", cancel: "Отмена",
		breaking: "Срочно: всем подписчикам", again: "Отправить ещё раз", notFound: "не найден",
		published: "Опубликовано: Aigerim Sadykova, 27 ноября 2026, 10:15", already: "Уже опубликовано: Aigerim Sadykova, 27 ноября 2026, 10:15",
		cancelled: "Отменено: Aigerim Sadykova, 27 ноября 2026, 10:15", wasCancelled: "Этот запрос отменён",
		pushedBefore: "Этот материал уже отправлен. Опубликовано: Aigerim Sadykova", deliveredBefore: "уже разослан подписчикам",
		date: "27 ноября 2026, 10:15", readers1: "1 подписчик", readers3: "3 подписчика", mode: "Срочно: получат все подписчики новостей на этом языке",
		auditTitle: "Отправлено редакторами", auditEmpty: "Редакторы пока ничего не отправляли", usage: "Отправьте /publish",
	},
	"en": {
		title: "Publish this story?", confirm: "Confirm", cancel: "Cancel",
		breaking: "Breaking: all readers", again: "Push again", notFound: "No story found",
		published: "Published by Aigerim Sadykova, 27 November 2026, 10:15", already: "Already published by Aigerim Sadykova, 27 November 2026, 10:15",
		cancelled: "Cancelled by Aigerim Sadykova, 27 November 2026, 10:15", wasCancelled: "This request was cancelled",
		pushedBefore: "This story was already pushed by Aigerim Sadykova", deliveredBefore: "already sent to readers",
		date: "27 November 2026, 10:15", readers1: "1 reader", readers3: "3 readers", mode: "Breaking: every reader of this language gets it",
		auditTitle: "Pushed by editors", auditEmpty: "No story has been pushed by an editor yet", usage: "Send /publish",
	},
}

// TestEveryAdminMessageIDIsTranslated catches a message id the desk uses (admin_, and the
// bot_ ones it shares with the readers' commands) but missing from locales/*.toml.
func TestEveryAdminMessageIDIsTranslated(t *testing.T) {
	t.Parallel()
	texts, err := locale.Load()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, part := range strings.Split(string(src), `"`) {
			if (strings.HasPrefix(part, "admin_") || strings.HasPrefix(part, "bot_")) && !strings.HasSuffix(part, "_") && !strings.ContainsAny(part, " .") {
				ids[part] = true
			}
		}
	}
	for _, cmd := range (&Desk{}).Commands() {
		ids["bot_cmd_"+cmd.Name] = true
	}
	for _, r := range []string{"blocked", "chat_not_found", "bad_request", "transient", "rate_limited", "unauthorized", "render", "in_doubt"} {
		ids["admin_reason_"+r] = true
	}
	if len(ids) < 50 {
		t.Fatalf("found only %d ids: the scan is broken", len(ids))
	}
	for id := range ids {
		for _, lang := range testLangs {
			if !texts.Has(lang, id) {
				t.Errorf("message %s is missing in %s", id, lang)
			}
		}
	}
}

func TestRegisterAdminCommands(t *testing.T) {
	t.Parallel()
	d := newDesk(t)
	// Admin B never opened the bot: Telegram knows no chat to scope a menu to.
	d.tg.SetHandler(func(r telegramtest.Request) *telegramtest.Response {
		if scope, ok := r.Params["scope"].(map[string]any); ok && fmt.Sprint(scope["chat_id"]) == fmt.Sprint(adminB.id) {
			f := telegramtest.ChatNotFound()
			return &telegramtest.Response{Failure: &f}
		}
		return nil
	})
	err := d.bot.RegisterAdminCommands(context.Background())
	if err == nil || !strings.Contains(err.Error(), fmt.Sprint(adminB.id)) {
		t.Errorf("error %v, want the admin whose chat is missing named", err)
	}
	langs := map[string]string{}
	for _, r := range d.tg.Requests("setMyCommands") {
		scope, _ := r.Params["scope"].(map[string]any)
		if scope["type"] != "chat" || fmt.Sprint(scope["chat_id"]) != fmt.Sprint(adminA.id) || r.Status != 200 {
			continue
		}
		b, _ := json.Marshal(r.Params["commands"])
		lang, _ := r.Params["language_code"].(string)
		langs[lang] = string(b)
	}
	if len(langs) != 4 {
		t.Fatalf("admin menus for %d languages, want kk, ru, en and the default", len(langs))
	}
	for lang, cmds := range langs {
		for _, c := range []string{`"publish"`, `"stats"`, `"audit"`, `"start"`, `"help"`} {
			if !strings.Contains(cmds, c) {
				t.Errorf("admin menu %q lacks %s: %s", lang, c, cmds)
			}
		}
	}
	if !strings.Contains(langs["ru"], "Опубликовать материал") || !strings.Contains(langs[""], "Материалды жариялау") {
		t.Errorf("admin menus not translated: %v", langs)
	}
}

func TestSplitMessage(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		text string
		n    int
		want []string
	}{
		{"a\nb\nc", 100, []string{"a\nb\nc"}},
		{"aa\nbb\ncc", 6, []string{"aa\nbb", "cc"}},
		{"aa\n\n\nbb", 4, []string{"aa", "bb"}}, // blank lines at a cut go
		{"⚡⚡\nb", 5, []string{"⚡⚡\nb"}},         // ⚡ is one UTF-16 unit, 👤 two
		{"👤👤\nb", 5, []string{"👤👤", "b"}},
		{"toolongline\nx", 4, []string{"toolongline", "x"}},
		{"\n\n", 10, nil},
	} {
		if got := splitMessage(tt.text, tt.n); !slices.Equal(got, tt.want) {
			t.Errorf("splitMessage(%q, %d) = %q, want %q", tt.text, tt.n, got, tt.want)
		}
	}
}
