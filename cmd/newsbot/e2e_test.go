package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"newsbot/internal/redistest"
	"newsbot/internal/subscriber"
	"newsbot/internal/telegramtest"
)

// The end-to-end tests run the built binary as an operator would: a real redis-server, the
// fake Bot API, an article directory, signals.

func buildBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test builds the binary; skipped with -short")
	}
	bin := filepath.Join(t.TempDir(), "newsbot")
	cmd := exec.Command("go", "build", "-race", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// service is one running newsbot process.
type service struct {
	t    *testing.T
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan error
	addr string
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startService(t *testing.T, bin string, env []string) *service {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(bin, "run")
	// RATES_URL empty unless env sets it: tests never reach the real bank.
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HTTP_ADDR=" + addr, "ENV_FILE=" + filepath.Join(t.TempDir(), "none.env"), "RATES_URL="}, env...)
	s := &service{t: t, cmd: cmd, out: &lockedBuffer{}, done: make(chan error, 1), addr: addr}
	cmd.Stdout, cmd.Stderr = s.out, s.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-s.done
		}
		if t.Failed() {
			t.Logf("newsbot output:\n%s", s.out.String())
		}
	})
	s.waitReady()
	return s
}

func (s *service) waitReady() {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-s.done:
			s.t.Fatalf("newsbot exited before it was ready: %v\n%s", err, s.out.String())
		default:
		}
		resp, err := http.Get("http://" + s.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.Contains(s.out.String(), "newsbot running") {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("newsbot not ready within 30s\n%s", s.out.String())
}

// stop sends SIGTERM and requires a clean exit within 10 s.
func (s *service) stop() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		s.t.Fatal(err)
	}
	select {
	case err := <-s.done:
		if err != nil {
			s.t.Fatalf("newsbot exited with %v after SIGTERM\n%s", err, s.out.String())
		}
	case <-time.After(10 * time.Second):
		s.t.Fatalf("newsbot still running 10s after SIGTERM\n%s", s.out.String())
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func writeArticle(t *testing.T, dir, id, lang, title string) {
	t.Helper()
	body := fmt.Sprintf(`{"id":%q,"url":"https://news.example.kz/%s/%s","lang":%q,"title":%q,`+
		`"lead":"Lead of %s.","topics":["politics"],"published_at":%q}`,
		id, lang, id, lang, title, id, time.Now().UTC().Format(time.RFC3339))
	// Editors' tools write a temporary file and rename it into place.
	tmp := filepath.Join(dir, "."+id+".json.tmp")
	if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, id+".json")); err != nil {
		t.Fatal(err)
	}
}

func startUpdate(userID int64, lang, text string) map[string]any {
	return map[string]any{
		"message": map[string]any{
			"message_id": 1,
			"date":       time.Now().Unix(),
			"chat":       map[string]any{"id": userID, "type": "private", "first_name": "Reader"},
			"from":       map[string]any{"id": userID, "is_bot": false, "first_name": "Reader", "language_code": lang},
			"text":       text,
			"entities":   []map[string]any{{"type": "bot_command", "offset": 0, "length": len(strings.Fields(text)[0])}},
		},
	}
}

// holding returns the messages of chat whose text contains s.
func holding(tg *telegramtest.Server, chat any, s string) int {
	n := 0
	for _, m := range tg.Messages(chat) {
		if strings.Contains(m.Text(), s) {
			n++
		}
	}
	return n
}

func waitUntil(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestEndToEnd(t *testing.T) {
	bin := buildBinary(t)
	redis := redistest.Start(t)
	tg := telegramtest.New(t)
	dir := t.TempDir()

	// A story already in the store at the very first start is recorded, not pushed.
	writeArticle(t, dir, "old-story", "en", "Old story before the first start")

	env := []string{
		"TELEGRAM_BOT_TOKEN=" + tg.Token(),
		"TELEGRAM_API_URL=" + tg.URL(),
		"REDIS_URL=" + redis.URL(),
		"REDIS_PREFIX=e2e:",
		"ARTICLES_DIR=" + dir,
		"CHANNELS=en=@news_en,kk=@news_kk,ru=@news_ru",
		"LOG_FORMAT=json",
		"LOG_LEVEL=debug",
	}
	svc := startService(t, bin, env)

	const reader = 424242
	tg.PushUpdate(startUpdate(reader, "en", "/start"))
	waitUntil(t, "the welcome message", 15*time.Second, func() bool { return len(tg.Messages(int64(reader))) > 0 })

	writeArticle(t, dir, "story-1", "en", "Parliament passes the budget")
	waitUntil(t, "story-1 at the reader and in the channel", 15*time.Second, func() bool {
		return holding(tg, int64(reader), "Parliament passes the budget") == 1 && holding(tg, "@news_en", "Parliament passes the budget") == 1
	})
	svc.stop()

	// While stopped, another story arrives; after the restart it is delivered, and nothing
	// delivered before is repeated.
	writeArticle(t, dir, "story-2", "en", "Senate approves the budget")
	svc = startService(t, bin, env)
	waitUntil(t, "story-2 after the restart", 15*time.Second, func() bool {
		return holding(tg, int64(reader), "Senate approves the budget") == 1 && holding(tg, "@news_en", "Senate approves the budget") == 1
	})
	// Let the restarted copy finish its start-up rescan and fan-out before counting.
	time.Sleep(1500 * time.Millisecond)
	svc.stop()

	for _, chat := range []any{int64(reader), "@news_en"} {
		if n := holding(tg, chat, "Parliament passes the budget"); n != 1 {
			t.Errorf("%v holds story-1 %d times, want once", chat, n)
		}
		if n := holding(tg, chat, "Senate approves the budget"); n != 1 {
			t.Errorf("%v holds story-2 %d times, want once", chat, n)
		}
		if n := holding(tg, chat, "Old story before the first start"); n != 0 {
			t.Errorf("%v got the story that was there before the first start", chat)
		}
	}
	if n := len(tg.Messages("@news_kk")); n != 0 {
		t.Errorf("the Kazakh channel got %d English stories", n)
	}
	if strings.Contains(svc.out.String(), tg.Token()) {
		t.Error("the bot token appears in the log")
	}
}

func TestEndToEndWebhook(t *testing.T) {
	bin := buildBinary(t)
	redis := redistest.Start(t)
	tg := telegramtest.New(t)
	svc := startService(t, bin, []string{
		"TELEGRAM_BOT_TOKEN=" + tg.Token(),
		"TELEGRAM_API_URL=" + tg.URL(),
		"REDIS_URL=" + redis.URL(),
		"ARTICLES_DIR=" + t.TempDir(),
		"WEBHOOK_URL=https://bot.example.kz/telegram/hook",
		"WEBHOOK_SECRET=s3cret-value",
	})
	waitUntil(t, "setWebhook with the secret", 10*time.Second, func() bool {
		url, secret := tg.Webhook()
		return url == "https://bot.example.kz/telegram/hook" && secret == "s3cret-value"
	})

	post := func(secret string, body string) int {
		req, err := http.NewRequest(http.MethodPost, "http://"+svc.addr+"/telegram/hook", strings.NewReader(body))
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
	update := `{"update_id":7001,"message":{"message_id":5,"date":1700000000,` +
		`"chat":{"id":5150,"type":"private"},"from":{"id":5150,"is_bot":false,"first_name":"Айгүл","language_code":"kk"},` +
		`"text":"/start","entities":[{"type":"bot_command","offset":0,"length":6}]}}`

	if code := post("", update); code != http.StatusUnauthorized {
		t.Errorf("no secret: %d, want 401", code)
	}
	if code := post("wrong", update); code != http.StatusUnauthorized {
		t.Errorf("wrong secret: %d, want 401", code)
	}
	if code := post("s3cret-value", "{garbage"); code != http.StatusBadRequest {
		t.Errorf("garbage body: %d, want 400", code)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(tg.Messages(int64(5150))); n != 0 {
		t.Fatalf("refused requests reached the bot: the reader got %d messages", n)
	}
	if code := post("s3cret-value", update); code != http.StatusOK {
		t.Fatalf("right secret: %d, want 200", code)
	}
	waitUntil(t, "the Kazakh welcome", 10*time.Second, func() bool { return len(tg.Messages(int64(5150))) == 1 })
	if txt := tg.Messages(int64(5150))[0].Text(); !strings.Contains(txt, "Қош келдіңіз") {
		t.Errorf("welcome of a Kazakh reader = %q, want Kazakh", txt)
	}
	// Telegram retries an update it thinks failed: the reader is not welcomed twice.
	if code := post("s3cret-value", update); code != http.StatusOK {
		t.Errorf("redelivered update: %d, want 200", code)
	}
	time.Sleep(500 * time.Millisecond)
	if n := len(tg.Messages(int64(5150))); n != 1 {
		t.Errorf("after a redelivered update the reader holds %d messages, want 1", n)
	}
	if tg.Count("getUpdates") != 0 {
		t.Error("webhook mode also polled getUpdates")
	}
	svc.stop()
}

func TestEndToEndSIGTERMMidFanOut(t *testing.T) {
	bin := buildBinary(t)
	redis := redistest.Start(t)
	tg := telegramtest.New(t)
	dir := t.TempDir()

	// 400 readers of English stories, subscribed before the service starts.
	const readers = 400
	store := subscriber.NewStore(redis.Client(t), "e2e:", []string{"kk", "ru", "en"},
		[]string{"politics", "economy", "society", "world", "sport", "culture", "tech"})
	batch := make([]subscriber.Reader, 0, readers)
	for i := range readers {
		batch = append(batch, subscriber.Reader{ChatID: int64(1_000_000 + i), Lang: "en", Langs: []string{"en"},
			AllTopics: true, Status: subscriber.Active})
	}
	if err := store.SaveMany(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"TELEGRAM_BOT_TOKEN=" + tg.Token(),
		"TELEGRAM_API_URL=" + tg.URL(),
		"REDIS_URL=" + redis.URL(),
		"REDIS_PREFIX=e2e:",
		"ARTICLES_DIR=" + dir,
		"SEND_RATE=50", // 400 readers take about 8 s: SIGTERM lands in the middle
	}
	svc := startService(t, bin, env)
	writeArticle(t, dir, "fanout-story", "en", "Budget passes after long debate")

	delivered := func() int {
		n := 0
		for i := range readers {
			n += holding(tg, int64(1_000_000+i), "Budget passes after long debate")
		}
		return n
	}
	waitUntil(t, "the fan-out to be under way", 20*time.Second, func() bool { return delivered() >= 60 })
	stoppedAt := time.Now()
	svc.stop() // fails unless the exit is clean and within 10 s
	before := delivered()
	if before >= readers {
		t.Fatalf("the fan-out finished (%d) before SIGTERM: nothing tested", before)
	}
	t.Logf("SIGTERM after %d of %d readers; exited in %s", before, readers, time.Since(stoppedAt).Round(time.Millisecond))

	svc = startService(t, bin, env)
	waitUntil(t, "the fan-out to finish after the restart", 60*time.Second, func() bool { return delivered() >= readers })
	time.Sleep(time.Second)
	svc.stop()
	for i := range readers {
		if n := holding(tg, int64(1_000_000+i), "Budget passes after long debate"); n != 1 {
			t.Errorf("reader %d holds the story %d times, want exactly once", 1_000_000+i, n)
		}
	}
}

func TestEndToEndRedisOutage(t *testing.T) {
	bin := buildBinary(t)
	redis := redistest.Start(t)
	tg := telegramtest.New(t)
	dir := t.TempDir()
	env := []string{
		"TELEGRAM_BOT_TOKEN=" + tg.Token(),
		"TELEGRAM_API_URL=" + tg.URL(),
		"REDIS_URL=" + redis.URL(),
		"ARTICLES_DIR=" + dir,
		"CHANNELS=en=@news_en",
	}
	svc := startService(t, bin, env)
	const reader = 777
	tg.PushUpdate(startUpdate(reader, "en", "/start"))
	waitUntil(t, "the welcome", 15*time.Second, func() bool { return len(tg.Messages(int64(reader))) == 1 })

	redis.Stop()
	readyz := func() int {
		resp, err := http.Get("http://" + svc.addr + "/readyz")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	waitUntil(t, "/readyz to report the outage", 10*time.Second, func() bool { return readyz() == http.StatusServiceUnavailable })
	// A story written during the outage is not lost.
	writeArticle(t, dir, "outage-story", "en", "Story written while Redis was down")
	time.Sleep(2 * time.Second)
	select {
	case err := <-svc.done:
		t.Fatalf("newsbot exited during the Redis outage: %v\n%s", err, svc.out.String())
	default:
	}
	if resp, err := http.Get("http://" + svc.addr + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz during the outage: %v %v", resp, err)
	}

	redis.Restart(t)
	waitUntil(t, "/readyz to recover", 20*time.Second, func() bool { return readyz() == http.StatusOK })
	waitUntil(t, "the story written during the outage", 90*time.Second, func() bool {
		return holding(tg, int64(reader), "Story written while Redis was down") == 1 && holding(tg, "@news_en", "Story written while Redis was down") == 1
	})
	svc.stop()
}
