package telegram_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"newsbot/internal/telegram"
	"newsbot/internal/telegramtest"
)

func newClient(t *testing.T) (*telegram.Client, *telegramtest.Server) {
	t.Helper()
	srv := telegramtest.New(t)
	return telegram.New(srv.Token(), srv.URL(), nil, nil), srv
}

func TestSendEncodesParams(t *testing.T) {
	c, srv := newClient(t)
	ctx := context.Background()
	m, err := c.Send(ctx, "sendMessage", map[string]any{
		"chat_id":              int64(42),
		"text":                 "<b>Xi</b> &amp; Tokayev",
		"parse_mode":           "HTML",
		"disable_notification": true,
		"allow_paid_broadcast": false,
		"link_preview_options": map[string]any{"url": "https://example.kz/a", "prefer_large_media": true},
		"reply_markup": map[string]any{"inline_keyboard": [][]map[string]string{
			{{"text": "Share", "url": "https://t.me/share/url?url=x"}},
		}},
		"ignored": nil,
	})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if m.MessageID != 1 || m.Chat == nil || m.Chat.ID != 42 || m.Text != "Xi & Tokayev" {
		t.Errorf("message = id %d chat %+v text %q, want 1, 42, %q", m.MessageID, m.Chat, m.Text, "Xi & Tokayev")
	}
	m2, err := c.Send(ctx, "sendMessage", map[string]any{"chat_id": 42, "text": "second"})
	if err != nil || m2.MessageID != 2 {
		t.Fatalf("second Send = %d, %v; want message 2", m2.MessageID, err)
	}

	reqs := srv.Requests("sendMessage")
	if len(reqs) != 2 {
		t.Fatalf("%d requests recorded, want 2", len(reqs))
	}
	p := reqs[0].Params
	if p["chat_id"] != int64(42) || p["disable_notification"] != true || p["allow_paid_broadcast"] != false {
		t.Errorf("scalars sent as %v %v %v", p["chat_id"], p["disable_notification"], p["allow_paid_broadcast"])
	}
	lpo, ok := p["link_preview_options"].(map[string]any)
	if !ok || lpo["url"] != "https://example.kz/a" || lpo["prefer_large_media"] != true {
		t.Errorf("link_preview_options sent as %#v, want a JSON object", p["link_preview_options"])
	}
	rm, ok := p["reply_markup"].(map[string]any)
	if !ok || rm["inline_keyboard"] == nil {
		t.Errorf("reply_markup sent as %#v, want a JSON object", p["reply_markup"])
	}
	if _, ok := p["ignored"]; ok {
		t.Error("a nil parameter was sent")
	}
}

func TestSendToChannelByName(t *testing.T) {
	c, srv := newClient(t)
	m, err := c.Send(context.Background(), "sendPhoto", map[string]any{
		"chat_id": "@news_en", "photo": "https://example.kz/p.jpg", "caption": "Visit",
	})
	if err != nil {
		t.Fatal(err)
	}
	if m.Chat.Type != "channel" || m.Chat.UserName != "news_en" || len(m.Photo) == 0 || m.Caption != "Visit" {
		t.Errorf("photo message = %+v %+v", m, m.Chat)
	}
	// Edits may address the channel by its numeric id.
	if _, err := c.Send(context.Background(), "editMessageCaption", map[string]any{
		"chat_id": m.Chat.ID, "message_id": m.MessageID, "caption": "Visit (updated)",
	}); err != nil {
		t.Fatal(err)
	}
	held := srv.Messages("@news_en")
	if len(held) != 1 || held[0].Text() != "Visit (updated)" {
		t.Errorf("channel holds %+v", held)
	}
}

// TestOutcomes: every answer the Bot API (or the network) can give, and the one outcome each
// means. Delivery and the bot decide by the outcome alone.
func TestOutcomes(t *testing.T) {
	tests := []struct {
		name  string
		fail  telegramtest.Failure
		want  telegram.Outcome
		check func(t *testing.T, e *telegram.Error)
	}{
		{"429", telegramtest.RetryAfter(7), telegram.RetryAfter, func(t *testing.T, e *telegram.Error) {
			if e.RetryAfter != 7*time.Second || telegram.RetryAfterOf(e) != 7*time.Second {
				t.Errorf("RetryAfter = %v, want 7s", e.RetryAfter)
			}
		}},
		{"403 blocked", telegramtest.Blocked(), telegram.Blocked, nil},
		{"403 deactivated", telegramtest.Deactivated(), telegram.Blocked, nil},
		{"403 kicked", telegramtest.Kicked(), telegram.Blocked, nil},
		{"403 chat not found", telegramtest.Failure{Code: 403, Description: "Forbidden: chat not found"}, telegram.ChatGone, nil},
		{"400 chat not found", telegramtest.ChatNotFound(), telegram.ChatGone, nil},
		{"migrated", telegramtest.Migrated(-1001234567890), telegram.Migrated, func(t *testing.T, e *telegram.Error) {
			if e.MigrateTo != -1001234567890 || telegram.MigratedTo(e) != -1001234567890 {
				t.Errorf("MigrateTo = %d", e.MigrateTo)
			}
		}},
		{"not modified", telegramtest.BadRequest("message is not modified: specified new message content and reply markup are exactly the same"), telegram.NotModified, nil},
		{"message to edit not found", telegramtest.BadRequest("message to edit not found"), telegram.MessageGone, nil},
		{"message to delete not found", telegramtest.BadRequest("message to delete not found"), telegram.MessageGone, nil},
		{"photo not fetched", telegramtest.BadRequest("wrong file identifier/HTTP URL specified"), telegram.BadMedia, nil},
		{"photo content", telegramtest.BadRequest("failed to get HTTP URL content"), telegram.BadMedia, nil},
		{"bad request", telegramtest.BadRequest("can't parse entities"), telegram.Refused, nil},
		{"401", telegramtest.Failure{Code: 401, Description: "Unauthorized"}, telegram.Unauthorized, nil},
		{"500", telegramtest.ServerError(), telegram.NotSent, nil},
		{"502", telegramtest.Failure{Code: 502, Description: "Bad Gateway"}, telegram.NotSent, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, srv := newClient(t)
			srv.FailNext("sendMessage", int64(5), tt.fail)
			_, err := c.Send(context.Background(), "sendMessage", map[string]any{"chat_id": 5, "text": "x"})
			if got := telegram.OutcomeOf(err); got != tt.want {
				t.Fatalf("outcome of %v = %v, want %v", err, got, tt.want)
			}
			var e *telegram.Error
			if !errors.As(err, &e) || e.Method != "sendMessage" || e.Code != tt.fail.Code || e.Description != tt.fail.Description {
				t.Fatalf("err = %#v", err)
			}
			if !strings.Contains(err.Error(), "sendMessage") {
				t.Errorf("error %q does not name the method", err)
			}
			if tt.check != nil {
				tt.check(t, e)
			}
			// The failure was for one call only.
			if _, err := c.Send(context.Background(), "sendMessage", map[string]any{"chat_id": 5, "text": "x"}); err != nil {
				t.Errorf("next call: %v", err)
			}
		})
	}
	if telegram.OutcomeOf(nil) != 0 || telegram.RetryAfterOf(errors.New("x")) != 0 || telegram.MigratedTo(nil) != 0 {
		t.Error("foreign errors classified as Telegram answers")
	}
}

// TestOutcomeWithoutAnswer: a request that never left may be sent again (NotSent); one that
// left and got no answer may have arrived (InDoubt).
func TestOutcomeWithoutAnswer(t *testing.T) {
	ctx := context.Background()
	// Nothing listens: the connection is refused before a byte is written.
	dead := telegramtest.NewServer()
	deadURL, token := dead.URL(), dead.Token()
	dead.Close()
	_, err := telegram.New(token, deadURL, nil, nil).Send(ctx, "sendMessage", map[string]any{"chat_id": 1, "text": "x"})
	if got := telegram.OutcomeOf(err); got != telegram.NotSent {
		t.Errorf("connection refused: %v is %v, want not_sent", err, got)
	}

	// The request arrives, and the answer never comes.
	slow := telegramtest.New(t)
	release := make(chan struct{})
	defer close(release)
	slow.SetHandler(func(telegramtest.Request) *telegramtest.Response { <-release; return nil })
	tctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	_, err = telegram.New(slow.Token(), slow.URL(), nil, nil).Send(tctx, "sendMessage", map[string]any{"chat_id": 1, "text": "x"})
	if got := telegram.OutcomeOf(err); got != telegram.InDoubt {
		t.Errorf("timeout after the request left: %v is %v, want in_doubt", err, got)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("timeout: %v does not wrap context.DeadlineExceeded", err)
	}

	// A 200 whose body is cut off: the message was sent, its answer is unreadable.
	cut := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = w.Write([]byte(`{"ok":true,"result":{"message_id":7,`))
	}))
	defer cut.Close()
	_, err = telegram.New("1:x", cut.URL, nil, nil).Send(ctx, "sendMessage", map[string]any{"chat_id": 1, "text": "x"})
	if got := telegram.OutcomeOf(err); got != telegram.InDoubt {
		t.Errorf("cut answer: %v is %v, want in_doubt", err, got)
	}

	// A proxy's error page instead of Bot API JSON: 502, not sent.
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("<html>bad gateway</html>"))
	}))
	defer proxy.Close()
	_, err = telegram.New("1:x", proxy.URL, nil, nil).GetMe(ctx)
	if got := telegram.OutcomeOf(err); got != telegram.NotSent {
		t.Errorf("proxy 502 page: %v is %v, want not_sent", err, got)
	}
}

// TestTokenNeverInErrors provokes every kind of failure and looks for the token.
func TestTokenNeverInErrors(t *testing.T) {
	srv := telegramtest.New(t)
	token := srv.Token()
	ctx := context.Background()
	check := func(name string, err error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: no error", name)
			return
		}
		for e := err; e != nil; e = errors.Unwrap(e) {
			if strings.Contains(e.Error(), token) || strings.Contains(e.Error(), strings.Split(token, ":")[1]) {
				t.Errorf("%s: error chain holds the token: %q", name, e.Error())
			}
		}
	}

	wrong := telegram.New(token+"x", srv.URL(), nil, nil)
	_, err := wrong.Send(ctx, "sendMessage", map[string]any{"chat_id": 1, "text": "x"})
	check("wrong token", err)
	if telegram.OutcomeOf(err) != telegram.Unauthorized {
		t.Errorf("wrong token: %v, want unauthorized", err)
	}

	c := telegram.New(token, srv.URL(), nil, nil)
	srv.FailNext("sendMessage", nil, telegramtest.ServerError())
	_, err = c.Send(ctx, "sendMessage", map[string]any{"chat_id": 1, "text": "x"})
	check("500", err)

	srv.SetHandler(func(r telegramtest.Request) *telegramtest.Response {
		if r.Method == "getMe" {
			return &telegramtest.Response{Raw: []byte("<html>bad gateway</html>"), Status: 502}
		}
		return nil
	})
	_, err = c.GetMe(ctx)
	check("garbage answer", err)
	if telegram.OutcomeOf(err) != telegram.NotSent {
		t.Errorf("garbage 502 answer: %v, want not_sent", err)
	}
	srv.SetHandler(nil)

	short, cancel := context.WithTimeout(ctx, time.Nanosecond)
	defer cancel()
	<-short.Done()
	_, err = c.GetMe(short)
	check("expired ctx", err)

	// Nothing listens there any more: a dial error, whose *url.Error carries the URL.
	dead := telegramtest.NewServer()
	deadURL := dead.URL()
	dead.Close()
	dc := telegram.New(token, deadURL, nil, nil)
	_, err = dc.Send(ctx, "sendMessage", map[string]any{"chat_id": 1, "text": "x"})
	check("connection refused", err)
	if telegram.OutcomeOf(err) != telegram.NotSent {
		t.Errorf("connection refused: %v, want not_sent", err)
	}

	// A client timeout also reports the URL.
	slow := telegramtest.New(t)
	release := make(chan struct{})
	defer close(release)
	slow.SetHandler(func(telegramtest.Request) *telegramtest.Response { <-release; return nil })
	hc := telegram.NewHTTPClient()
	hc.Timeout = 50 * time.Millisecond
	sc := telegram.New(slow.Token(), slow.URL(), hc, nil)
	_, err = sc.GetMe(ctx)
	check("client timeout", err)
	if telegram.OutcomeOf(err) != telegram.InDoubt {
		t.Errorf("client timeout: %v, want in_doubt", err)
	}
	if strings.Contains(err.Error(), slow.Token()) {
		t.Errorf("client timeout error holds the token: %v", err)
	}
}

func TestContextCancellation(t *testing.T) {
	c, srv := newClient(t)
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	defer close(release)
	srv.SetHandler(func(r telegramtest.Request) *telegramtest.Response {
		entered <- struct{}{}
		<-release
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.Send(ctx, "sendMessage", map[string]any{"chat_id": 1, "text": "x"})
		errc <- err
	}()
	<-entered
	cancel()
	err := <-errc
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if telegram.OutcomeOf(err) != telegram.InDoubt {
		t.Errorf("cancelled after the request left: %v, want in_doubt", err)
	}

	// An already cancelled ctx sends nothing.
	before := srv.Count("sendMessage")
	if _, err := c.Send(ctx, "sendMessage", map[string]any{"chat_id": 1, "text": "x"}); !errors.Is(err, context.Canceled) || telegram.OutcomeOf(err) != telegram.NotSent {
		t.Errorf("cancelled ctx: %v, want context.Canceled, not_sent", err)
	}
	if srv.Count("sendMessage") != before {
		t.Error("a request went out on a cancelled ctx")
	}

	// A deadline that passes while the request waits for its answer: in doubt.
	dctx, dcancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer dcancel()
	_, err = c.Send(dctx, "sendMessage", map[string]any{"chat_id": 1, "text": "x"})
	if !errors.Is(err, context.DeadlineExceeded) || telegram.OutcomeOf(err) != telegram.InDoubt {
		t.Errorf("deadline: %v, want DeadlineExceeded and in_doubt", err)
	}
}

func TestHelpers(t *testing.T) {
	c, srv := newClient(t)
	ctx := context.Background()

	me, err := c.GetMe(ctx)
	if err != nil || me.UserName != telegramtest.BotUsername || !me.IsBot {
		t.Errorf("GetMe = %+v, %v", me, err)
	}

	if err := c.SetWebhook(ctx, "https://bot.example.kz/tg", "s3cret", []string{"message", "callback_query"}); err != nil {
		t.Fatal(err)
	}
	if url, secret := srv.Webhook(); url != "https://bot.example.kz/tg" || secret != "s3cret" {
		t.Errorf("webhook = %q %q", url, secret)
	}
	au := srv.Requests("setWebhook")[0].Params["allowed_updates"]
	if l, ok := au.([]any); !ok || len(l) != 2 || l[0] != "message" {
		t.Errorf("allowed_updates sent as %#v", au)
	}
	// While a webhook is set, getUpdates conflicts.
	_, err = c.GetUpdates(ctx, 0, 0)
	var e *telegram.Error
	if !errors.As(err, &e) || e.Code != 409 {
		t.Errorf("getUpdates with webhook: %v, want 409", err)
	}
	if err := c.DeleteWebhook(ctx, false); err != nil {
		t.Fatal(err)
	}

	if err := c.SetMyCommands(ctx, []telegram.BotCommand{{Command: "start", Description: "Жазылу"}}, "kk"); err != nil {
		t.Fatal(err)
	}
	p := srv.Requests("setMyCommands")[0].Params
	if cmds, ok := p["commands"].([]any); !ok || len(cmds) != 1 || cmds[0].(map[string]any)["description"] != "Жазылу" || p["language_code"] != "kk" {
		t.Errorf("setMyCommands params %#v", p)
	}

	if err := c.AnswerCallbackQuery(ctx, "cb1", "Saved", true); err != nil {
		t.Fatal(err)
	}
	if p := srv.Requests("answerCallbackQuery")[0].Params; p["callback_query_id"] != "cb1" || p["show_alert"] != true {
		t.Errorf("answerCallbackQuery params %#v", p)
	}

	srv.SetChatMember(-100500, 77, "administrator")
	m, err := c.GetChatMember(ctx, -100500, 77)
	if err != nil || !telegram.IsChatAdmin(m) || m.User == nil || m.User.ID != 77 {
		t.Errorf("GetChatMember = %+v, %v", m, err)
	}
	m, _ = c.GetChatMember(ctx, -100500, 78)
	if telegram.IsChatAdmin(m) || m.Status != "member" {
		t.Errorf("other member = %+v", m)
	}
}

func TestGetUpdates(t *testing.T) {
	c, srv := newClient(t)
	ctx := context.Background()
	for i := range 3 {
		srv.PushUpdate(map[string]any{"message": map[string]any{
			"message_id": i + 1, "date": 1, "text": "/start",
			"chat": map[string]any{"id": 9, "type": "private"}, "from": map[string]any{"id": 9, "first_name": "A"},
		}})
	}
	ups, err := c.GetUpdates(ctx, 0, 0)
	if err != nil || len(ups) != 3 || ups[0].Message.Text != "/start" || ups[0].Message.Chat.ID != 9 {
		t.Fatalf("GetUpdates = %d updates, %v", len(ups), err)
	}
	ups, err = c.GetUpdates(ctx, ups[2].UpdateID+1, 0)
	if err != nil || len(ups) != 0 {
		t.Fatalf("after offset: %d updates, %v", len(ups), err)
	}

	// Long poll: the call waits for the next update.
	got := make(chan []telegram.Update, 1)
	go func() {
		ups, err := c.GetUpdates(ctx, 4, 10*time.Second)
		if err != nil {
			t.Error(err)
		}
		got <- ups
	}()
	srv.WaitFor(t, "getUpdates", 3, 5*time.Second)
	srv.PushUpdate(map[string]any{"message": map[string]any{"message_id": 4, "date": 1, "text": "hi", "chat": map[string]any{"id": 9, "type": "private"}}})
	if ups := <-got; len(ups) != 1 || ups[0].UpdateID != 4 {
		t.Errorf("long poll got %+v", ups)
	}
}

func TestNewHTTPClient(t *testing.T) {
	hc := telegram.NewHTTPClient()
	tr, ok := hc.Transport.(*http.Transport)
	if !ok {
		t.Fatalf("transport %T", hc.Transport)
	}
	if tr.MaxIdleConnsPerHost < 100 || tr.TLSHandshakeTimeout == 0 || tr.ResponseHeaderTimeout < time.Minute || tr.DialContext == nil {
		t.Errorf("transport limits: %+v", tr)
	}
}

// benchParams is a typical rendered story as delivery sends it.
func benchParams() map[string]any {
	return map[string]any{
		"chat_id": int64(1), "text": "<b>Xi Jinping arrives in Astana</b>\n\nThe Chinese leader begins a state visit.", "parse_mode": "HTML",
		"link_preview_options": map[string]any{"url": "https://example.kz/story"},
		"reply_markup":         map[string]any{"inline_keyboard": [][]map[string]string{{{"text": "Share", "url": "https://t.me/share/url?url=x"}}}},
	}
}

// runSendBench sends from 32 goroutines (delivery's workers wait on the network, so
// many are in flight) and reports the process CPU time per call as well: on a shared
// machine wall time per op mostly measures the neighbours.
func runSendBench(b *testing.B, token, url string) {
	c := telegram.New(token, url, nil, nil)
	ctx := context.Background()
	params := benchParams()
	b.ReportAllocs()
	b.SetParallelism(16)
	cpu0 := cpuTime()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Send(ctx, "sendMessage", params); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

// BenchmarkSend is Send against the fake Bot API (server and client in one process, so
// ns/op, allocs and cpu-ns/op include the fake's share).
func BenchmarkSend(b *testing.B) {
	srv := telegramtest.New(b)
	srv.SetRecord(false)
	runSendBench(b, srv.Token(), srv.URL())
}

// BenchmarkSendClientOnly answers every call with a fixed body, to isolate the client's
// own cost.
func BenchmarkSendClientOnly(b *testing.B) {
	body := []byte(`{"ok":true,"result":{"message_id":7,"from":{"id":1,"is_bot":true,"first_name":"N","username":"n_bot"},"date":1700000000,"chat":{"id":1,"type":"private"},"text":"Xi Jinping arrives in Astana"}}`)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	defer ts.Close()
	runSendBench(b, "1:x", ts.URL)
}

func cpuTime() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func TestPrepareParamsSendsTheSame(t *testing.T) {
	c, srv := newClient(t)
	prepared, err := telegram.PrepareParams(benchParams())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(context.Background(), "sendMessage", benchParams()); err != nil {
		t.Fatal(err)
	}
	prepared["chat_id"] = int64(2)
	if _, err := c.Send(context.Background(), "sendMessage", prepared); err != nil {
		t.Fatal(err)
	}
	reqs := srv.Requests("sendMessage")
	a, b := reqs[0].Params, reqs[1].Params
	delete(a, "chat_id")
	delete(b, "chat_id")
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("prepared params sent differently:\n%v\n%v", a, b)
	}
}

// BenchmarkSendPrepared is BenchmarkSendClientOnly with objects encoded once (fan-out).
func BenchmarkSendPrepared(b *testing.B) {
	body := []byte(`{"ok":true,"result":{"message_id":7,"date":1700000000,"chat":{"id":1,"type":"private"},"text":"Xi Jinping arrives in Astana"}}`)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = w.Write(body)
	}))
	defer ts.Close()
	c := telegram.New("1:x", ts.URL, nil, nil)
	params, _ := telegram.PrepareParams(benchParams())
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Send(ctx, "sendMessage", params); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func TestEditAndDeleteHelpers(t *testing.T) {
	c, _ := newClient(t)
	ctx := context.Background()
	m, err := c.Send(ctx, "sendMessage", map[string]any{"chat_id": 3, "text": "story"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Send(ctx, "editMessageText", map[string]any{"chat_id": 3, "message_id": m.MessageID, "text": "story"})
	if telegram.OutcomeOf(err) != telegram.NotModified {
		t.Errorf("same edit: %v, want not_modified", err)
	}
	if _, err := c.Call(ctx, "deleteMessage", map[string]any{"chat_id": 3, "message_id": m.MessageID}); err != nil {
		t.Fatal(err)
	}
	_, err = c.Call(ctx, "deleteMessage", map[string]any{"chat_id": 3, "message_id": m.MessageID})
	if telegram.OutcomeOf(err) != telegram.MessageGone {
		t.Errorf("second delete: %v, want message_gone", err)
	}
}

// TestAPIURLWithPercentEscapes: TELEGRAM_API_URL may hold percent-escapes (a self-hosted Bot
// API behind a path); they must reach the server as written, not be read as format verbs
// that scatter the token through the URL.
func TestAPIURLWithPercentEscapes(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.EscapedPath()
		fmt.Fprint(w, `{"ok":true,"result":{"id":1,"is_bot":true,"first_name":"B","username":"b"}}`)
	}))
	defer srv.Close()
	c := telegram.New("123:ABC", srv.URL+"/tg%20api", nil, nil)
	if _, err := c.GetMe(context.Background()); err != nil {
		t.Fatal(err)
	}
	if want := "/tg%20api/bot123:ABC/getMe"; got != want {
		t.Errorf("request path %q, want %q", got, want)
	}
}

// TestUnanswered: readiness reports a Telegram that stopped answering the bot's calls.
func TestUnanswered(t *testing.T) {
	c, srv := newClient(t)
	ctx := context.Background()
	if err := c.Unanswered(0); err != nil {
		t.Fatalf("a new client: %v", err)
	}
	srv.FailNext("sendMessage", nil, telegramtest.ServerError())
	_, _ = c.Send(ctx, "sendMessage", map[string]any{"chat_id": 1, "text": "x"})
	if err := c.Unanswered(0); err == nil || !strings.Contains(err.Error(), "500") {
		t.Errorf("after a 500: %v, want the failure", err)
	}
	if err := c.Unanswered(time.Hour); err != nil {
		t.Errorf("one failure a moment ago reported as an outage: %v", err)
	}
	// A refusal is an answer: Telegram is there.
	srv.FailNext("sendMessage", nil, telegramtest.Blocked())
	_, _ = c.Send(ctx, "sendMessage", map[string]any{"chat_id": 1, "text": "x"})
	if err := c.Unanswered(0); err != nil {
		t.Errorf("after an answer: %v", err)
	}
}
