package intake

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"newsbot/internal/redistest"
	"newsbot/internal/telegram"
	"newsbot/internal/telegramtest"
	"newsbot/internal/testkit"
)

const testSecret = "webhook-secret_0123456789"

func newWebhook(t testing.TB, o WebhookOptions) *httptest.Server {
	t.Helper()
	h, err := NewWebhook(o)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts
}

func startWebhook(t *testing.T, h Handler) (*httptest.Server, *Dispatcher) {
	t.Helper()
	rdb, prefix := redistest.New(t)
	d, _, _ := startDispatcher(t, h, 4)
	return newWebhook(t, WebhookOptions{Secret: testSecret, Dispatcher: d, Redis: rdb, Prefix: prefix}), d
}

func deliver(t *testing.T, url, method, secret string, body []byte) int {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if secret != "" {
		req.Header.Set("X-Telegram-Bot-Api-Secret-Token", secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func updateJSON(id int, chat int64, text string) []byte {
	return fmt.Appendf(nil, `{"update_id":%d,"message":{"message_id":%d,"date":1700000000,"chat":{"id":%d,"type":"private"},"from":{"id":%d,"is_bot":false,"first_name":"R"},"text":%q}}`,
		id, id, chat, chat, text)
}

func TestWebhookSecret(t *testing.T) {
	t.Parallel()
	rec := newIntakeRecorder()
	ts, _ := startWebhook(t, rec)
	body := updateJSON(1, 10, "/start")
	for _, tt := range []struct {
		name, secret string
		want         int
	}{
		{"missing", "", 401},
		{"wrong", "webhook-secret_0123456788", 401},
		{"prefix", testSecret[:10], 401},
		{"longer", testSecret + "x", 401},
		{"right", testSecret, 200},
	} {
		if got := deliver(t, ts.URL, "POST", tt.secret, body); got != tt.want {
			t.Errorf("%s secret: %d, want %d", tt.name, got, tt.want)
		}
	}
	waitUntil(t, "the signed update", func() bool { return rec.total.Load() == 1 })
	time.Sleep(20 * time.Millisecond)
	rec.check(t, []int{1})
}

func TestWebhookEmptySecretRefusesAll(t *testing.T) {
	t.Parallel()
	rdb, prefix := redistest.New(t)
	rec := newIntakeRecorder()
	d, _, _ := startDispatcher(t, rec, 1)
	ts := newWebhook(t, WebhookOptions{Secret: "", Dispatcher: d, Redis: rdb, Prefix: prefix})
	if got := deliver(t, ts.URL, "POST", "", updateJSON(1, 1, "x")); got != 401 {
		t.Errorf("unsigned webhook with no secret configured: %d, want 401", got)
	}
}

func TestWebhookRefusesBadRequests(t *testing.T) {
	t.Parallel()
	rec := newIntakeRecorder()
	ts, _ := startWebhook(t, rec)
	for _, tt := range []struct {
		name   string
		method string
		body   []byte
		want   int
	}{
		{"GET", "GET", nil, 405},
		{"PUT", "PUT", updateJSON(1, 1, "x"), 405},
		{"empty", "POST", nil, 400},
		{"garbage", "POST", []byte("\x00\xffnot json"), 400},
		{"truncated", "POST", updateJSON(2, 1, "x")[:30], 400},
		{"array", "POST", []byte(`[{"update_id":3}]`), 400},
		{"string", "POST", []byte(`"update"`), 400},
		{"no update_id", "POST", []byte(`{"message":{"text":"x"}}`), 400},
		{"negative update_id", "POST", []byte(`{"update_id":-4}`), 400},
		{"wrong types", "POST", []byte(`{"update_id":"5","message":"x"}`), 400},
		{"oversized", "POST", append(append([]byte(`{"update_id":6,"message":{"text":"`), bytes.Repeat([]byte("a"), 2<<20)...), `"}}`...), 413},
	} {
		if got := deliver(t, ts.URL, tt.method, testSecret, tt.body); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
	// An update of a kind newer than the library is still taken in (and ignored later).
	if got := deliver(t, ts.URL, "POST", testSecret, []byte(`{"update_id":7,"message_reaction":{"chat":{"id":1}}}`)); got != 200 {
		t.Errorf("unknown kind: %d, want 200", got)
	}
	waitUntil(t, "the one good update", func() bool { return rec.total.Load() == 1 })
	time.Sleep(20 * time.Millisecond)
	rec.check(t, []int{7})
}

// TestWebhookNeverPanics throws random bytes and mangled updates at the handler.
func TestWebhookNeverPanics(t *testing.T) {
	t.Parallel()
	rec := newIntakeRecorder()
	ts, _ := startWebhook(t, rec)
	good := updateJSON(1, 1, "/start")
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		b := bytes.Clone(good)
		switch i % 3 {
		case 0:
			b = make([]byte, rnd.IntN(200))
			for j := range b {
				b[j] = byte(rnd.UintN(256))
			}
		case 1:
			for range 1 + rnd.IntN(5) {
				b[rnd.IntN(len(b))] = byte(rnd.UintN(256))
			}
		case 2:
			b = b[:rnd.IntN(len(b))]
		}
		got := deliver(t, ts.URL, "POST", testSecret, b)
		if got != 200 && got != 400 {
			t.Fatalf("body %q answered %d", b, got)
		}
	}
}

func TestWebhookSkipsRedeliveries(t *testing.T) {
	t.Parallel()
	rec := newIntakeRecorder()
	rec.jitter = true
	ts, _ := startWebhook(t, rec)
	var want []int
	for id := 1; id <= 60; id++ {
		want = append(want, id)
		body := updateJSON(id, int64(id%4+1), "x")
		for range 1 + id%3 { // Telegram retrying: the same update up to three times
			if got := deliver(t, ts.URL, "POST", testSecret, body); got != 200 {
				t.Fatalf("update %d: %d", id, got)
			}
		}
	}
	waitUntil(t, "60 updates", func() bool { return rec.total.Load() == 60 })
	time.Sleep(30 * time.Millisecond)
	rec.check(t, want)
}

func TestWebhookAsksForRetryWhenItCannotQueue(t *testing.T) {
	t.Parallel()
	rdb, prefix := redistest.New(t)
	rec := newIntakeRecorder()
	d := newDispatcher(t, DispatcherOptions{Handler: rec, Workers: 1})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	cancel()
	<-done // stopped: Dispatch fails
	ts := newWebhook(t, WebhookOptions{Secret: testSecret, Dispatcher: d, Redis: rdb, Prefix: prefix})
	if got := deliver(t, ts.URL, "POST", testSecret, updateJSON(9, 1, "x")); got != 503 {
		t.Fatalf("stopped dispatcher: %d, want 503 so that Telegram retries", got)
	}
	// The claim was released: the retry is not mistaken for a duplicate.
	if n, err := rdb.Exists(context.Background(), keyUpdateSeen(prefix, 9)).Result(); err != nil || n != 0 {
		t.Errorf("update 9 still claimed after a failed hand-over (%v)", err)
	}
}

func TestSetupWebhook(t *testing.T) {
	t.Parallel()
	srv := telegramtest.New(t)
	api := telegram.New(srv.Token(), srv.URL(), nil, nil)
	if err := SetupWebhook(context.Background(), api, "https://bot.example.kz/telegram", testSecret); err != nil {
		t.Fatal(err)
	}
	r := srv.Requests("setWebhook")[0]
	if r.Params["url"] != "https://bot.example.kz/telegram" || r.Params["secret_token"] != testSecret {
		t.Errorf("setWebhook params %v", r.Params)
	}
	if au, ok := r.Params["allowed_updates"].([]any); !ok || !strings.Contains(fmt.Sprint(au), "callback_query") {
		t.Errorf("allowed_updates %v", r.Params["allowed_updates"])
	}
	if err := SetupWebhook(context.Background(), api, "https://x", ""); err == nil {
		t.Error("a webhook without a secret was set up")
	}
	srv.FailNext("setWebhook", nil, telegramtest.BadRequest("bad webhook: HTTPS url must be provided for webhook"))
	err := SetupWebhook(context.Background(), api, "http://x", testSecret)
	if err == nil || strings.Contains(err.Error(), srv.Token()) || !strings.Contains(err.Error(), "set webhook") {
		t.Errorf("failed setWebhook: %v", err)
	}
}

// TestWebhookOrderPerChat: updates taken in one after another by the webhook reach the
// handler in order per chat, while chats run concurrently.
func TestWebhookOrderPerChat(t *testing.T) {
	t.Parallel()
	rec := newIntakeRecorder()
	rec.jitter = true
	ts, _ := startWebhook(t, rec)
	var want []int
	for id := 1; id <= 200; id++ {
		want = append(want, id)
		if got := deliver(t, ts.URL, "POST", testSecret, updateJSON(id, int64(id%7), "x")); got != 200 {
			t.Fatal(got)
		}
	}
	waitUntil(t, "200 updates", func() bool { return rec.total.Load() == 200 })
	rec.check(t, want)
}

// TestWebhookWrongSecretsDoNotFloodTheLog: anyone can hit the public webhook URL; a stream
// of unsigned requests is refused one by one but logged once a minute, with a count, so it
// cannot bury the log.
func TestWebhookWrongSecretsDoNotFloodTheLog(t *testing.T) {
	t.Parallel()
	rec := newIntakeRecorder()
	rdb, prefix := redistest.New(t)
	d, _, _ := startDispatcher(t, rec, 1)
	logs := &testkit.Log{}
	ts := newWebhook(t, WebhookOptions{Secret: testSecret, Dispatcher: d, Redis: rdb, Prefix: prefix, Log: logs.TextLogger()})
	for i := range 200 {
		if got := deliver(t, ts.URL, "POST", "wrong", updateJSON(i+1, 1, "x")); got != 401 {
			t.Fatalf("request %d: %d, want 401", i, got)
		}
	}
	if n := logs.Count("wrong secret"); n < 1 || n > 2 {
		t.Errorf("%d log lines for 200 refused requests, want 1 or 2:\n%s", n, logs.String())
	}
}

// BenchmarkWebhook is one webhook delivery end to end: HTTP, secret check, JSON, the
// Redis claim and the hand-over to the Dispatcher.
func BenchmarkWebhook(b *testing.B) {
	rdb, prefix := redistest.New(b)
	h := &nopHandler{}
	d := newDispatcher(b, DispatcherOptions{Handler: h})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	ts := newWebhook(b, WebhookOptions{Secret: testSecret, Dispatcher: d, Redis: rdb, Prefix: prefix})
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := int(next.Add(1))
			req, _ := http.NewRequest("POST", ts.URL, bytes.NewReader(updateJSON(id, int64(id%500), "/start")))
			req.Header.Set("X-Telegram-Bot-Api-Secret-Token", testSecret)
			resp, err := hc.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.StopTimer()
	cancel()
	<-done
}
