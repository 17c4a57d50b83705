package playground

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"newsbot/internal/redistest"
	"newsbot/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

// lockedBuffer is the banner's stdout.
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

// running is one Run of the playground with a stand-in service that writes a key under its
// REDIS_PREFIX, as the real one does, and waits.
type running struct {
	page   string
	env    map[string]string
	banner *lockedBuffer
	stop   func() error
}

func startRun(t *testing.T, getenv map[string]string) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	envc := make(chan map[string]string, 1)
	ready := make(chan string, 1)
	out := &lockedBuffer{}
	log := &testkit.Log{}
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{
			Addr:   "127.0.0.1:0",
			Getenv: func(k string) string { return getenv[k] },
			Log:    log.Logger(),
			Stdout: out,
			Ready:  func(u string) { ready <- u },
			Service: func(ctx context.Context, env map[string]string) error {
				opt, err := redis.ParseURL(env["REDIS_URL"])
				if err != nil {
					return err
				}
				rdb := redis.NewClient(opt)
				defer rdb.Close()
				if err := rdb.Set(ctx, env["REDIS_PREFIX"]+"subscriber:1001", "reader", 0).Err(); err != nil {
					return err
				}
				envc <- env
				<-ctx.Done()
				return nil
			},
		})
	}()
	r := &running{banner: out}
	select {
	case r.page = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("Run returned before the page answered: %v\n%s", err, log.String())
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatalf("no page after 30s\n%s", log.String())
	}
	select {
	case r.env = <-envc:
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatalf("the service never started\n%s", log.String())
	}
	stopped := false
	r.stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(20 * time.Second):
			t.Fatal("Run still running 20s after its context ended")
			return nil
		}
	}
	t.Cleanup(func() { _ = r.stop() })
	return r
}

func TestRunStartsItsOwnRedisAndLeavesNothingBehind(t *testing.T) {
	r := startRun(t, map[string]string{"REDIS_URL": "redis://127.0.0.1:1/0", "LANGUAGES": "kk,ru"})

	m := regexp.MustCompile(`its own redis-server at (127\.0\.0\.1:\d+)`).FindStringSubmatch(r.banner.String())
	if m == nil || !strings.Contains(r.banner.String(), r.page) || !strings.Contains(r.banner.String(), "set TELEGRAM_BOT_TOKEN in .env to go live") {
		t.Fatalf("banner %q", r.banner.String())
	}
	redisAddr := m[1]
	if r.env["REDIS_URL"] != "redis://"+redisAddr+"/0" || !strings.HasPrefix(r.env["REDIS_PREFIX"], Prefix) {
		t.Errorf("service env REDIS_URL=%q REDIS_PREFIX=%q", r.env["REDIS_URL"], r.env["REDIS_PREFIX"])
	}
	if r.env["CHANNELS"] != "kk=@newsbot_playground_kk,ru=@newsbot_playground_ru" || r.env["ADMIN_IDS"] != "424242" ||
		r.env["FEEDS"] != "" || r.env["WEBHOOK_URL"] != "" {
		t.Errorf("service env %v", r.env)
	}
	if fi, err := os.Stat(r.env["ARTICLES_DIR"]); err != nil || !fi.IsDir() {
		t.Errorf("ARTICLES_DIR %q: %v", r.env["ARTICLES_DIR"], err)
	}
	// The stand-in answers the service's token, and only it.
	resp, err := http.Get(r.env["TELEGRAM_API_URL"] + "/bot" + r.env["TELEGRAM_BOT_TOKEN"] + "/getMe")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"username":"newsbot_playground_bot"`) {
		t.Errorf("getMe: %s", b)
	}
	if !strings.HasPrefix(r.page, "http://localhost:") {
		t.Errorf("page at %s, want a localhost address", r.page)
	}
	resp, err = http.Get(r.page)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "@newsbot_playground_ru") {
		t.Errorf("page: %d\n%s", resp.StatusCode, b)
	}

	if err := r.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if c, err := net.DialTimeout("tcp", redisAddr, time.Second); err == nil {
		c.Close()
		t.Errorf("redis-server still answers at %s after the playground stopped", redisAddr)
	}
	if pids := redisProcesses(t, redisAddr); len(pids) > 0 {
		t.Errorf("redis-server processes left behind: %v", pids)
	}
	if _, err := os.Stat(r.env["ARTICLES_DIR"]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the article store %s is left behind: %v", r.env["ARTICLES_DIR"], err)
	}
}

func TestRunOnASharedRedisKeepsToItsPrefix(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	if err := rdb.Set(ctx, "newsbot:subscriber:42", "a live bot's reader", 0).Err(); err != nil {
		t.Fatal(err)
	}
	r := startRun(t, map[string]string{"REDIS_URL": srv.URL()})
	if r.env["REDIS_URL"] != srv.URL() || !strings.Contains(r.banner.String(), "Redis: REDIS_URL") {
		t.Fatalf("env %q, banner %q", r.env["REDIS_URL"], r.banner.String())
	}
	if n, _ := rdb.Exists(ctx, r.env["REDIS_PREFIX"]+"subscriber:1001").Result(); n != 1 {
		t.Fatal("the service's key is not under its prefix")
	}
	if err := r.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if keys, _ := rdb.Keys(ctx, Prefix+"*").Result(); len(keys) != 0 {
		t.Errorf("keys left behind: %v", keys)
	}
	if v, _ := rdb.Get(ctx, "newsbot:subscriber:42").Result(); v != "a live bot's reader" {
		t.Errorf("the live bot's key became %q", v)
	}
}

func TestRunEndsWhenTheServiceFails(t *testing.T) {
	srv := redistest.Start(t)
	err := Run(context.Background(), Options{
		Addr:    "127.0.0.1:0",
		Getenv:  func(k string) string { return map[string]string{"REDIS_URL": srv.URL()}[k] },
		Service: func(context.Context, map[string]string) error { return errors.New("TOPICS: bad") },
	})
	if err == nil || !strings.Contains(err.Error(), "TOPICS: bad") {
		t.Errorf("Run: %v", err)
	}
}

func TestPageIsOnLoopbackOnly(t *testing.T) {
	for in, want := range map[string]string{
		"": "127.0.0.1:8080", ":8080": "127.0.0.1:8080", "0.0.0.0:9000": "127.0.0.1:9000",
		"localhost:9000": "127.0.0.1:9000", "[::1]:9000": "[::1]:9000", "192.168.1.5:80": "127.0.0.1:80",
	} {
		if got, err := loopback(in); err != nil || got != want {
			t.Errorf("loopback(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// redisProcesses returns the pids of redis-server processes serving addr.
func redisProcesses(t *testing.T, addr string) []string {
	t.Helper()
	_, port, _ := net.SplitHostPort(addr)
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skip("no /proc to look for processes in")
	}
	var out []string
	for _, e := range entries {
		cmd, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		args := strings.Split(string(cmd), "\x00")
		if len(args) > 0 && strings.HasSuffix(args[0], "redis-server") {
			for i := range args[:len(args)-1] {
				if args[i] == "--port" && args[i+1] == port {
					out = append(out, e.Name())
				}
			}
		}
	}
	return out
}
