package bot

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"newsbot/internal/redistest"
	"newsbot/internal/subscriber"
)

func TestFloodIsSlowedOncePolitely(t *testing.T) {
	for _, lang := range testLangs {
		t.Run(lang, func(t *testing.T) {
			h := newHarness(t, func(o *Options) { o.Flood = FloodLimit{Events: 3, Window: time.Minute} })
			flooder := who{id: 61, lang: lang}
			calm := who{id: 62, lang: lang}
			for range 10 {
				h.say(flooder, "/help")
			}
			var helps, notes int
			for _, r := range h.tg.Requests("sendMessage") {
				if r.ChatID() != flooder.id {
					continue
				}
				switch {
				case strings.Contains(r.Text(), words[lang].help):
					helps++
				case strings.Contains(r.Text(), words[lang].flood):
					notes++
				default:
					t.Errorf("unexpected message %q", r.Text())
				}
			}
			if helps != 3 || notes != 1 {
				t.Errorf("flooder got %d answers and %d notes, want 3 and exactly 1", helps, notes)
			}
			// Another chat is not slowed.
			h.say(calm, "/help")
			mustContain(t, h.last(calm.id).Text(), words[lang].help)

			// A slowed chat's presses are still answered, with the note, and change nothing.
			ans := h.press(flooder.id, flooder, 1, "t1:t:sport")
			mustContain(t, ans.Params["text"].(string), words[lang].flood)
		})
	}
}

func TestFloodWindowEnds(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Flood = FloodLimit{Events: 2, Window: 300 * time.Millisecond} })
	reader := who{id: 63, lang: "en"}
	for range 4 {
		h.say(reader, "/help")
	}
	if n := h.sent(reader.id); n != 3 {
		t.Fatalf("%d messages in the first window, want 2 answers and 1 note", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		h.say(reader, "/help")
		if strings.Contains(h.last(reader.id).Text(), words["en"].help) && h.sent(reader.id) > 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("still slowed long after the window ended")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestFloodLimiterOutageDoesNotSilenceTheBot(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	h := newHarness(t, func(o *Options) {
		o.Redis = rdb
		o.Flood = FloodLimit{Events: 1, Window: time.Minute}
	})
	srv.Stop()
	// Readers live on the shared server, which is up: only the limiter's Redis is down.
	reader := who{id: 64, lang: "en"}
	h.say(reader, "/help")
	h.say(reader, "/help")
	if n := h.sent(reader.id); n != 2 {
		t.Errorf("%d answers with the limiter down, want 2", n)
	}
}

func TestGarbageUpdates(t *testing.T) {
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

func TestAdminCommandsAreHiddenFromReaders(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Admins = []int64{91} })
	ran := 0
	// First in the table, so it stands in for the real /stats.
	h.bot.commands = append([]Command{{Name: "stats", Admin: true, Run: func(b *Bot, ctx context.Context, c *call) error {
		ran++
		return b.send(ctx, c.chatID, "stats", nil)
	}}}, h.bot.commands...)
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

// TestDeadRedisAnswersInTheReadersLanguage: with Redis gone (limiter, readers, everything)
// every command and press still gets an answer, in the reader's Telegram language, and
// nothing panics.
func TestDeadRedisAnswersInTheReadersLanguage(t *testing.T) {
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
