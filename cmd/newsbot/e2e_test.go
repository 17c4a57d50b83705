package main

import (
	"bytes"
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
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HTTP_ADDR=" + addr, "ENV_FILE=" + filepath.Join(t.TempDir(), "none.env")}, env...)
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
