package bot

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"newsbot/internal/article"
	"newsbot/internal/locale"
	"newsbot/internal/redistest"
	"newsbot/internal/schedule"
	"newsbot/internal/source"
	"newsbot/internal/subscriber"
	"newsbot/internal/telegram"
	"newsbot/internal/telegramtest"
)

// The real parts satisfy the interfaces the bot defines.
var (
	_ API     = (*telegram.Client)(nil)
	_ Readers = (*subscriber.Store)(nil)
	_ Stories = (*source.Store)(nil)
	_ Texts   = (*locale.Bundle)(nil)
)

var (
	testLangs  = []string{"kk", "ru", "en"}
	testTopics = []string{"politics", "economy", "society", "world", "sport", "culture", "tech"}
	// DIGEST_TIMES and QUIET_HOURS of the tests: the defaults.
	testDigestTimes = []schedule.Clock{8 * 60, 19 * 60}
	testQuietHours  = schedule.Window{From: 23 * 60, To: 7 * 60}
)

// storyList is /latest's source in tests: the stories the watcher would have seen.
type storyList struct {
	mu  sync.Mutex
	all []article.Article
	err error
}

func (s *storyList) Latest(_ context.Context, langs []string, n int) ([]article.Article, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	var out []article.Article
	for _, a := range s.all {
		if slices.Contains(langs, a.Lang) {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b article.Article) int { return b.PublishedAt.Compare(a.PublishedAt) })
	if len(out) > n {
		out = out[:n]
	}
	return out, nil
}

// harness is a bot on a real Redis, talking to a fake Bot API over HTTP.
type harness struct {
	t       testing.TB
	tg      *telegramtest.Server
	api     *telegram.Client
	readers *subscriber.Store
	stories *storyList
	bot     *Bot
	texts   *locale.Bundle
	opts    Options
	rdb     *redis.Client
	prefix  string

	mu     sync.Mutex
	update int
}

func newHarness(t testing.TB, tweak ...func(*Options)) *harness {
	t.Helper()
	rdb, prefix := redistest.New(t)
	tg := telegramtest.New(t)
	texts, err := locale.Load()
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{
		t:       t,
		tg:      tg,
		api:     telegram.New(tg.Token(), tg.URL(), nil, nil),
		readers: subscriber.NewStore(rdb, prefix, testLangs, testTopics),
		stories: &storyList{},
		texts:   texts,
		rdb:     rdb,
		prefix:  prefix,
	}
	almaty, err := time.LoadLocation("Asia/Almaty")
	if err != nil {
		t.Fatal(err)
	}
	h.readers.SetDigestTimes([]string{"08:00", "19:00"})
	h.opts = Options{
		API: h.api, Readers: h.readers, Stories: h.stories, Texts: texts,
		Redis: rdb, Prefix: prefix,
		Languages: testLangs, DefaultLanguage: "kk", Topics: testTopics,
		DigestTimes: testDigestTimes, QuietHours: testQuietHours,
		Username: telegramtest.BotUsername, Location: almaty,
		Flood: FloodLimit{Events: 1000, Window: time.Minute},
		Log:   slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, f := range tweak {
		f(&h.opts)
	}
	h.bot, err = New(h.opts)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// who is the sender of an update.
type who struct {
	id   int64
	lang string // Telegram's language_code
}

func (h *harness) nextID() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.update++
	return h.update
}

// handle feeds an update, given as the JSON Telegram sends, straight to HandleUpdate.
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
	switch {
	case id > 0:
		return map[string]any{"id": id, "type": "private", "first_name": "Reader"}
	case id <= -1000000000000:
		return map[string]any{"id": id, "type": "supergroup", "title": "Readers' group"}
	default:
		return map[string]any{"id": id, "type": "group", "title": "Readers' group"}
	}
}

func userObj(u who) map[string]any {
	m := map[string]any{"id": u.id, "is_bot": false, "first_name": "Reader"}
	if u.lang != "" {
		m["language_code"] = u.lang
	}
	return m
}

// message builds a message update; a leading "/word" gets its bot_command entity, as
// Telegram sends it.
func message(chat int64, from who, text string) map[string]any {
	m := map[string]any{"message_id": 1000, "date": 1700000000, "chat": chatObj(chat), "from": userObj(from), "text": text}
	if strings.HasPrefix(text, "/") {
		n := len(text)
		if i := strings.IndexAny(text, " \n"); i >= 0 {
			n = i
		}
		m["entities"] = []any{map[string]any{"type": "bot_command", "offset": 0, "length": n}}
	}
	return map[string]any{"message": m}
}

// say sends text from a private chat (chat id = user id).
func (h *harness) say(from who, text string) {
	h.t.Helper()
	h.handle(message(from.id, from, text))
}

// sayIn sends text in a chat.
func (h *harness) sayIn(chat int64, from who, text string) {
	h.t.Helper()
	h.handle(message(chat, from, text))
}

// press presses a button under message msgID of chat and returns the answer to the press.
func (h *harness) press(chat int64, from who, msgID int, data string) telegramtest.Request {
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

// last returns the last message the chat holds (edits applied).
func (h *harness) last(chat int64) telegramtest.Request {
	h.t.Helper()
	ms := h.tg.Messages(chat)
	if len(ms) == 0 {
		h.t.Fatalf("chat %d holds no message", chat)
	}
	return ms[len(ms)-1]
}

// sent is how many messages the bot sent to chat.
func (h *harness) sent(chat int64) int {
	n := 0
	for _, r := range h.tg.Requests("sendMessage") {
		if r.ChatID() == chat {
			n++
		}
	}
	return n
}

func (h *harness) reader(chat int64) subscriber.Reader {
	h.t.Helper()
	r, ok, err := h.readers.Get(context.Background(), chat)
	if err != nil || !ok {
		h.t.Fatalf("reader %d: found %v, err %v", chat, ok, err)
	}
	return r
}

// btn is a button as a reader sees it.
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

// find returns the button with callback data, failing when there is none.
func find(t *testing.T, kb [][]btn, data string) btn {
	t.Helper()
	for _, row := range kb {
		for _, b := range row {
			if b.Data == data {
				return b
			}
		}
	}
	t.Fatalf("no button %q in %v", data, kb)
	return btn{}
}

func checked(b btn) bool { return strings.HasPrefix(b.Text, checkMark) }

func mustContain(t *testing.T, text string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("text %q\n does not contain %q", text, w)
		}
	}
}

// words holds what a reader of each language must see; kept here, not read from the
// locale files, so that a wrong translation fails the test.
var words = map[string]struct {
	welcome, back, already, politics, sport, all, tech string
	self, stop, help, unknown, plain, flood, latest    string
	empty, adminOnly, invalidLink, topicOff, topicOn   string
	langSet, newsLast, september, stale, notSubscribed string
	cmdTopics, groupAdded, cmdSettings                 string
}{
	"kk": {
		welcome: "Қош келдіңіз!", back: "Қайта қош келдіңіз!", already: "Сіз жазылып қойғансыз",
		politics: "Саясат", sport: "Спорт", all: "Барлық тақырыптар", tech: "Технологиялар",
		self: "Қазақша", stop: "Сіз жазылудан бас тарттыңыз", help: "Командалар:", unknown: "Белгісіз команда",
		plain: "Бот тек командаларды түсінеді", flood: "Сұраныстар тым көп. Біраз күтіңіз.",
		latest: "Соңғы жаңалықтар", empty: "Әзірге жаңалықтар жоқ", adminOnly: "тек оның әкімшісі",
		invalidLink: "сілтеме жарамсыз", topicOff: "«Спорт» тақырыбына жазылу тоқтатылды",
		topicOn: "Сіз «Спорт» тақырыбына жазылдыңыз", langSet: "Бот тілі: қазақша",
		newsLast: "кемінде бір тіл қалдырыңыз", september: "14 қыркүйек 2022, 18:28",
		stale: "Бұл батырма енді жұмыс істемейді", notSubscribed: "Сіз жазылмағансыз",
		cmdTopics: "Тақырыптарды таңдау", groupAdded: "Топ әкімшісі /start",
		cmdSettings: "Жаңалықтар қалай келеді: режим, дайджест, тыныш уақыт",
	},
	"ru": {
		welcome: "Добро пожаловать!", back: "С возвращением!", already: "Вы уже подписаны",
		politics: "Политика", sport: "Спорт", all: "Все темы", tech: "Технологии",
		self: "Русский", stop: "Вы отписались", help: "Команды:", unknown: "Неизвестная команда",
		plain: "Бот понимает только команды", flood: "Слишком много запросов. Подождите немного.",
		latest: "Последние новости", empty: "Новостей пока нет", adminOnly: "только её администратор",
		invalidLink: "недействительна", topicOff: "Вы отписались от темы «Спорт»",
		topicOn: "Вы подписались на тему «Спорт»", langSet: "Язык бота: русский",
		newsLast: "Оставьте хотя бы один язык", september: "14 сентября 2022, 18:28",
		stale: "Эта кнопка больше не работает", notSubscribed: "Вы не подписаны",
		cmdTopics: "Выбрать темы", groupAdded: "Администратор группы может подписать",
		cmdSettings: "Как приходят новости: режим, дайджест, тихие часы",
	},
	"en": {
		welcome: "Welcome!", back: "Welcome back!", already: "You are already subscribed",
		politics: "Politics", sport: "Sport", all: "All topics", tech: "Technology",
		self: "English", stop: "You have unsubscribed", help: "Commands:", unknown: "Unknown command",
		plain: "The bot understands commands only", flood: "Too many requests — please wait",
		latest: "Latest news", empty: "No stories yet", adminOnly: "Only an admin of this group",
		invalidLink: "not valid", topicOff: "You no longer follow «Sport»",
		topicOn: "You now follow «Sport»", langSet: "Bot language: English",
		newsLast: "Keep at least one language", september: "14 September 2022, 18:28",
		stale: "This button no longer works", notSubscribed: "You are not subscribed",
		cmdTopics: "Choose topics", groupAdded: "An admin of this group can subscribe it",
		cmdSettings: "How the news comes: mode, digest, quiet hours",
	},
}

func TestGarbageUpdates(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	reader := who{id: 71, lang: "ru"}
	h.say(reader, "/start")
	before := h.sent(reader.id)

	quiet := []map[string]any{
		{}, // nothing at all
		{"message": map[string]any{"message_id": 1, "date": 1}},            // no chat
		{"edited_message": message(reader.id, reader, "/stop")["message"]}, // edits
		{"channel_post": map[string]any{"message_id": 1, "date": 1, "chat": map[string]any{"id": -1001, "type": "channel"}, "text": "/start"}},
		{"edited_channel_post": map[string]any{"message_id": 1, "date": 1, "chat": map[string]any{"id": -1001, "type": "channel"}, "text": "/start"}},
		{"inline_query": map[string]any{"id": "q", "from": userObj(reader), "query": "news", "offset": ""}},
		{"message": map[string]any{"message_id": 2, "date": 1, "chat": chatObj(reader.id), "from": map[string]any{"id": 99, "is_bot": true, "first_name": "Bot"}, "text": "/start"}}, // bots
		// An entity pointing beyond the text: the library's Command() would panic on it.
		{"message": map[string]any{"message_id": 3, "date": 1, "chat": chatObj(testGroup), "from": userObj(reader), "text": "/x",
			"entities": []any{map[string]any{"type": "bot_command", "offset": 0, "length": 500}}}},
	}
	for _, u := range quiet {
		h.handle(u)
	}
	if n := h.sent(reader.id); n != before {
		t.Errorf("%d messages after updates that need no answer", n-before)
	}
	if r := h.reader(reader.id); r.Status != subscriber.Active {
		t.Errorf("an edited /stop unsubscribed the reader: %+v", r)
	}

	// Private messages without a command get the short help, whatever they hold.
	for _, u := range []map[string]any{
		{"message": map[string]any{"message_id": 4, "date": 1, "chat": chatObj(reader.id), "from": userObj(reader)}},             // sticker, photo...
		{"message": map[string]any{"message_id": 5, "date": 1, "chat": chatObj(reader.id), "from": userObj(reader), "text": ""}}, // empty
		{"message": map[string]any{"message_id": 6, "date": 1, "chat": chatObj(reader.id), "text": "no sender"}},                 // no from
		message(reader.id, reader, strings.Repeat("новости ", 20000)),                                                            // huge
		message(reader.id, reader, "/start "+strings.Repeat("x", 100000)),                                                        // huge payload
		message(reader.id, reader, "/"+strings.Repeat("z", 5000)),                                                                // huge command
		message(reader.id, reader, "\x00\xff/start"),                                                                             // bytes
	} {
		h.handle(u)
		if n := h.sent(reader.id); n != before+1 {
			t.Fatalf("update %.80v: %d answers, want 1", u, n-before)
		}
		before++
	}
	if r := h.reader(reader.id); r.Status != subscriber.Active || !r.AllTopics {
		t.Errorf("garbage changed the reader: %+v", r)
	}

	// A press without a message (inline or too old) and one without an id.
	h.handle(map[string]any{"callback_query": map[string]any{"id": "cbx", "from": userObj(reader), "chat_instance": "c", "data": "t1:t:sport"}})
	answered := false
	for _, r := range h.tg.Requests("answerCallbackQuery") {
		answered = answered || r.Params["callback_query_id"] == "cbx"
	}
	if !answered {
		t.Error("a press without a message was not answered")
	}
	h.handle(map[string]any{"callback_query": map[string]any{"from": userObj(reader), "chat_instance": "c", "data": "t1:t:sport"}})
}

// TestDeadRedisAnswersInTheReadersLanguage: with Redis gone (limiter, readers, everything)
// every command and press still gets an answer, in the reader's Telegram language, and
// nothing panics.
func TestDeadRedisAnswersInTheReadersLanguage(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	h := newHarness(t, func(o *Options) {
		o.Redis = rdb
		o.Readers = subscriber.NewStore(rdb, "dead:", testLangs, testTopics)
	})
	reader := who{id: 1400, lang: "ru"}
	h.say(reader, "/start")
	id := h.last(reader.id).MessageID
	srv.Stop()
	for _, cmd := range []string{"/start", "/topics", "/language", "/latest", "/stop", "/help", "hello"} {
		before := h.sent(reader.id)
		h.say(reader, cmd)
		if h.sent(reader.id) != before+1 {
			t.Errorf("%s: %d answers with Redis down, want 1", cmd, h.sent(reader.id)-before)
			continue
		}
		mustContain(t, h.last(reader.id).Text(), "Произошла ошибка")
	}
	ans := h.press(reader.id, reader, id, "s1:t:politics")
	mustContain(t, ans.Params["text"].(string), "Произошла ошибка")
}
