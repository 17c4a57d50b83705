package main

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"newsbot/internal/redistest"
	"newsbot/internal/subscriber"
	"newsbot/internal/telegramtest"
	"newsbot/internal/testkit"
)

// serveInProcess runs `newsbot run` in this process with env until the test ends.
func serveInProcess(t *testing.T, env map[string]string) *testkit.Log {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	env["HTTP_ADDR"] = ln.Addr().String()
	_ = ln.Close()
	env["ENV_FILE"] = filepath.Join(t.TempDir(), "none.env")
	if _, ok := env["RATES_URL"]; !ok {
		env["RATES_URL"] = "" // tests never reach the real bank
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	logs := &testkit.Log{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"run"}, lookup, logs, logs) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("the service did not stop within 15 s")
		}
	})
	return logs
}

// TestRepliesUnderFanOut: a thousand readers send /start at once with SEND_RATE=30 while a
// story fans out to 5,000: every one gets the answer, Telegram (the fake, enforcing 30/s)
// answers no 429, and fan-out uses what the replies leave, so that together they keep to the
// whole rate.
func TestRepliesUnderFanOut(t *testing.T) {
	if testing.Short() {
		t.Skip("35 s of sending at 30 messages a second")
	}
	srv := redistest.Start(t)
	tg := telegramtest.New(t)
	tg.SetRateLimit(30)
	const prefix = "load:"
	readers := subscriber.NewStore(srv.Client(t), prefix, []string{"kk", "ru", "en"}, []string{"politics"})
	batch := make([]subscriber.Reader, 0, 5000)
	for i := range 5000 {
		batch = append(batch, subscriber.Reader{ChatID: int64(1_000_000 + i), Lang: "en", Langs: []string{"en"},
			AllTopics: true, Status: subscriber.Active})
	}
	if err := readers.SaveMany(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	logs := serveInProcess(t, map[string]string{
		"TELEGRAM_BOT_TOKEN": tg.Token(), "TELEGRAM_API_URL": tg.URL(), "REDIS_URL": srv.URL(),
		"REDIS_PREFIX": prefix, "ARTICLES_DIR": dir, "TOPICS": "politics", "SEND_RATE": "30",
		"LOG_LEVEL": "info",
	})
	testkit.WaitFor(t, "the service to run", 20*time.Second, func() bool { return logs.Count("newsbot running") > 0 })
	time.Sleep(300 * time.Millisecond) // the watcher's first look at the directory
	writeArticle(t, dir, "load1", "en", "A story for five thousand")
	tg.WaitFor(t, "sendMessage", 30, 20*time.Second) // the fan-out is under way

	var wg sync.WaitGroup
	for i := range 1000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tg.PushUpdate(startUpdate(int64(10+i), "en", "/start"))
		}()
	}
	wg.Wait()
	pushed := time.Now()
	answered := func() int {
		n := 0
		for i := range 1000 {
			for _, m := range tg.Messages(int64(10 + i)) {
				if m.Params["reply_markup"] != nil && m.Method == "sendMessage" && !isStory(m) {
					n++
					break
				}
			}
		}
		return n
	}
	testkit.WaitFor(t, "1,000 answers to /start", 2*time.Minute, func() bool { return answered() == 1000 })
	window := time.Since(pushed)
	var inWindow int
	for _, r := range tg.Requests("") {
		if r.Status == 200 && !r.Time.Before(pushed) && r.Time.Before(pushed.Add(window)) && sends(r.Method) {
			inWindow++
		}
	}
	use := float64(inWindow) / window.Seconds() / 30
	t.Logf("1,000 answers in %v; %d messages in that time: %.3f of SEND_RATE; 429s: %d", window.Round(time.Millisecond), inWindow, use, tg.RateLimited())
	if n := tg.RateLimited(); n != 0 {
		t.Errorf("the fake enforcing 30/s answered %d requests with 429", n)
	}
	if use < 0.95 {
		t.Errorf("replies and fan-out together used %.3f of SEND_RATE while readers waited, want ≥ 0.95", use)
	}
	fanout := 0
	for i := range 5000 {
		fanout += len(tg.Messages(int64(1_000_000 + i)))
	}
	if fanout == 0 {
		t.Error("the fan-out stopped while replies went out")
	}
	t.Logf("fan-out reached %d of 5,000 readers meanwhile", fanout)
}

func isStory(r telegramtest.Request) bool {
	return strings.Contains(r.Text(), "A story for five thousand")
}

// sends reports whether a Bot API method puts something in a chat (what SEND_RATE counts).
func sends(method string) bool {
	switch method {
	case "getUpdates", "getMe", "setMyCommands", "getChatMember", "setWebhook", "deleteWebhook":
		return false
	}
	return true
}
