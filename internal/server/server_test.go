package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"newsbot/internal/redisconn"
	"newsbot/internal/redistest"
)

func TestMain(m *testing.M) {
	// go-redis prints every failed dial of the outage test to stderr otherwise.
	redisconn.RouteLibraryLogs(slog.New(slog.DiscardHandler))
	os.Exit(m.Run())
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func newServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	s, err := New(cfg, quiet())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func do(t *testing.T, h http.Handler, method, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func readyz(t *testing.T, h http.Handler) (int, readyBody) {
	t.Helper()
	rec := do(t, h, http.MethodGet, "/readyz", "")
	var body readyBody
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("/readyz body %q is not JSON: %v", rec.Body.String(), err)
	}
	return rec.Code, body
}

func TestHealthz(t *testing.T) {
	s := newServer(t, Config{Checks: map[string]Check{
		"redis": func(context.Context) error { return errors.New("down") },
	}})
	rec := do(t, s.Handler(), http.MethodGet, "/healthz", "")
	if rec.Code != http.StatusOK || rec.Body.String() != "ok\n" {
		t.Errorf("/healthz with a failing dependency = %d %q, want 200 ok: liveness must not follow Redis",
			rec.Code, rec.Body.String())
	}
	if rec := do(t, s.Handler(), http.MethodHead, "/healthz", ""); rec.Code != http.StatusOK {
		t.Errorf("HEAD /healthz = %d, want 200", rec.Code)
	}
	if rec := do(t, s.Handler(), http.MethodPost, "/healthz", ""); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /healthz = %d, want 405", rec.Code)
	}
}

// TestReadyzFollowsRedis stops a real redis-server under a running readiness check and
// starts it again: not ready while it is down, ready again without any help once it is back.
func TestReadyzFollowsRedis(t *testing.T) {
	srv := redistest.Start(t)
	reg := prometheus.NewRegistry()
	errs := redisconn.NewErrorCounter()
	reg.MustRegister(errs)
	rdb, err := redisconn.New(&redis.UniversalOptions{Addrs: []string{srv.Addr()}}, errs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	s := newServer(t, Config{
		Checks: map[string]Check{
			"redis":    redisconn.Ping(rdb),
			"telegram": func(context.Context) error { return nil },
		},
		Registry: reg,
	})
	h := s.Handler()

	if code, body := readyz(t, h); code != http.StatusOK || body.Status != "ok" ||
		body.Checks["redis"] != "ok" || body.Checks["telegram"] != "ok" {
		t.Fatalf("/readyz with Redis up = %d %+v, want 200 and both checks ok", code, body)
	}

	srv.Stop()
	code, body := readyz(t, h)
	if code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with Redis stopped = %d %+v, want 503", code, body)
	}
	if len(body.Failed) != 1 || body.Failed[0] != "redis" || body.Checks["redis"] == "ok" || body.Checks["telegram"] != "ok" {
		t.Errorf("/readyz with Redis stopped names %+v, want just redis failing, with its error", body)
	}

	srv.Restart(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body = readyz(t, h)
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz 30s after Redis came back = %d %+v, want 200", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The outage shows on /metrics too.
	metrics := do(t, h, http.MethodGet, "/metrics", "").Body.String()
	if !strings.Contains(metrics, `newsbot_redis_errors_total{command="ping"`) {
		t.Errorf("/metrics after the outage has no Redis ping errors:\n%s", grepLines(metrics, "newsbot_"))
	}
}

func TestReadyzCheckTimeout(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	s := newServer(t, Config{
		CheckTimeout: 50 * time.Millisecond,
		Checks: map[string]Check{
			// Ignores its context, like a client without timeouts would.
			"stuck": func(context.Context) error { <-release; return nil },
			"fine":  func(context.Context) error { return nil },
		},
	})
	code, body := readyz(t, s.Handler())
	if code != http.StatusServiceUnavailable || len(body.Failed) != 1 || body.Failed[0] != "stuck" {
		t.Fatalf("/readyz with a hanging check = %d %+v, want 503 naming it", code, body)
	}
	if !strings.Contains(body.Checks["stuck"], "no answer within 50ms") {
		t.Errorf("hanging check reported as %q, want it to say it timed out", body.Checks["stuck"])
	}
}

func TestReadyzLogsChangesOnly(t *testing.T) {
	var down atomic.Bool
	var logs strings.Builder
	s, err := New(Config{Checks: map[string]Check{
		"redis": func(context.Context) error {
			if down.Load() {
				return errors.New("connection refused")
			}
			return nil
		},
	}}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	readyz(t, h)
	down.Store(true)
	for range 5 {
		readyz(t, h)
	}
	down.Store(false)
	readyz(t, h)
	readyz(t, h)
	out := logs.String()
	if n := strings.Count(out, "readiness check failing"); n != 1 {
		t.Errorf("%d 'failing' lines for one outage probed 5 times, want 1:\n%s", n, out)
	}
	if n := strings.Count(out, "readiness check passing again"); n != 1 {
		t.Errorf("%d 'passing again' lines, want 1:\n%s", n, out)
	}
}

func TestRemember(t *testing.T) {
	var calls atomic.Int32
	var fail atomic.Bool
	fail.Store(true)
	getMe := func(context.Context) error {
		calls.Add(1)
		if fail.Load() {
			return errors.New("telegram unreachable")
		}
		return nil
	}
	ctx := t.Context()

	once := Remember(getMe, 0)
	if once(ctx) == nil {
		t.Fatal("Remember passed before the check ever did")
	}
	fail.Store(false)
	if err := once(ctx); err != nil {
		t.Fatalf("Remember after a success: %v", err)
	}
	fail.Store(true)
	calls.Store(0)
	for range 3 {
		if err := once(ctx); err != nil {
			t.Fatalf("Remember(ttl 0) forgot a success: %v", err)
		}
	}
	if calls.Load() != 0 {
		t.Errorf("Remember(ttl 0) called the check %d times after a success, want 0", calls.Load())
	}

	fail.Store(false)
	recent := Remember(getMe, time.Nanosecond)
	if err := recent(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Millisecond)
	fail.Store(true)
	if recent(ctx) == nil {
		t.Error("Remember kept a success past its ttl")
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	sent := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "newsbot_test_sends_total", Help: "test",
	}, []string{"result"})
	reg.MustRegister(sent)
	sent.WithLabelValues("ok").Add(3)
	s := newServer(t, Config{Registry: reg, Version: "v1.4.0"})

	rec := do(t, s.Handler(), http.MethodGet, "/metrics", "")
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics = %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("/metrics Content-Type = %q, want Prometheus text", ct)
	}
	body := rec.Body.String()
	for _, want := range []string{
		`newsbot_test_sends_total{result="ok"} 3`,
		`newsbot_build_info{go_version="` + runtime.Version() + `",version="v1.4.0"} 1`,
		"go_goroutines ",
		"process_resident_memory_bytes ",
		"process_start_time_seconds ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	// The caller may have registered the runtime collectors already; that is not an error.
	if _, err := New(Config{Registry: reg}, quiet()); err != nil {
		t.Errorf("second server on the same registry: %v", err)
	}
}

func TestWebhookMounted(t *testing.T) {
	var got atomic.Value
	hook := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.Store(string(b))
		w.WriteHeader(http.StatusOK)
	})
	s := newServer(t, Config{WebhookURL: "https://news.example.kz/telegram/hook-7f3a", Webhook: hook})
	h := s.Handler()

	if rec := do(t, h, http.MethodPost, "/telegram/hook-7f3a", `{"update_id":1}`); rec.Code != http.StatusOK {
		t.Fatalf("POST to the webhook path = %d, want 200", rec.Code)
	}
	if got.Load() != `{"update_id":1}` {
		t.Errorf("webhook handler got %v, want the update", got.Load())
	}
	for _, path := range []string{"/", "/telegram", "/telegram/hook-7f3a/", "/telegram/hook-7f3b", "/favicon.ico"} {
		if rec := do(t, h, http.MethodPost, path, "{}"); rec.Code != http.StatusNotFound {
			t.Errorf("POST %s = %d, want 404", path, rec.Code)
		}
	}
	if rec := do(t, h, http.MethodGet, "/healthz", ""); rec.Code != http.StatusOK {
		t.Errorf("/healthz beside the webhook = %d", rec.Code)
	}
	metrics := do(t, h, http.MethodGet, "/metrics", "").Body.String()
	if !strings.Contains(metrics, `newsbot_webhook_requests_total{code="200"} 1`) {
		t.Errorf("/metrics does not count the webhook request:\n%s", grepLines(metrics, "webhook"))
	}

	// Long polling: the same path is nobody's.
	polling := newServer(t, Config{Webhook: hook})
	if rec := do(t, polling.Handler(), http.MethodPost, "/telegram/hook-7f3a", "{}"); rec.Code != http.StatusNotFound {
		t.Errorf("webhook path without WEBHOOK_URL = %d, want 404", rec.Code)
	}
}

func TestWebhookAtRoot(t *testing.T) {
	hook := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) })
	s := newServer(t, Config{WebhookURL: "https://bot.example.kz", Webhook: hook})
	if rec := do(t, s.Handler(), http.MethodPost, "/", "{}"); rec.Code != http.StatusAccepted {
		t.Errorf("POST / with a WEBHOOK_URL without path = %d, want the webhook", rec.Code)
	}
	if rec := do(t, s.Handler(), http.MethodPost, "/other", "{}"); rec.Code != http.StatusNotFound {
		t.Errorf("POST /other = %d, want 404", rec.Code)
	}
}

func TestWebhookBodyLimit(t *testing.T) {
	hook := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, "too big", http.StatusRequestEntityTooLarge)
			return
		}
	})
	s := newServer(t, Config{WebhookURL: "https://bot.example.kz/hook", Webhook: hook})
	big := strings.Repeat("x", maxWebhookBody+1)
	if rec := do(t, s.Handler(), http.MethodPost, "/hook", big); rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("POST of %d bytes = %d, want the handler to be cut off", len(big), rec.Code)
	}
}

func TestNewRejectsBadWebhookConfig(t *testing.T) {
	hook := http.NotFoundHandler()
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no handler", Config{WebhookURL: "https://x.kz/hook"}, "no webhook handler"},
		{"taken path", Config{WebhookURL: "https://x.kz/metrics", Webhook: hook}, "taken"},
		{"relative", Config{WebhookURL: "/hook", Webhook: hook}, "absolute"},
		{"bad", Config{WebhookURL: "https://x.kz/%zz", Webhook: hook}, "WEBHOOK_URL"},
	}
	for _, tt := range tests {
		_, err := New(tt.cfg, quiet())
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: New = %v, want an error about %q", tt.name, err, tt.want)
		}
	}
}

// TestRunShutsDownGracefully serves over a real socket, cancels the context while a webhook
// request is in flight, and expects that request to finish and Run to return nil.
func TestRunShutsDownGracefully(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	hook := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		_, _ = w.Write([]byte("done"))
	})
	s := newServer(t, Config{WebhookURL: "https://bot.example.kz/hook", Webhook: hook, ShutdownTimeout: 30 * time.Second})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()

	if resp, err := http.Get(base + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz over the socket: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	type result struct {
		body string
		err  error
	}
	inflight := make(chan result, 1)
	go func() {
		resp, err := http.Post(base+"/hook", "application/json", strings.NewReader("{}"))
		if err != nil {
			inflight <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		inflight <- result{string(b), err}
	}()
	<-entered
	cancel()
	// Shutdown has begun once readiness drains; the request is still held by the handler.
	for !s.ready.draining.Load() {
		time.Sleep(time.Millisecond)
	}
	if code, _ := readyz(t, s.Handler()); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz while shutting down = %d, want 503", code)
	}
	close(release)
	if r := <-inflight; r.err != nil || r.body != "done" {
		t.Errorf("in-flight webhook request across shutdown: %q %v, want it answered", r.body, r.err)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve after shutdown = %v, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("server still answers after shutdown")
	}
}

// TestRunGivesUpOnStuckRequests: a handler that never returns cannot hold the process past
// the shutdown deadline.
func TestRunGivesUpOnStuckRequests(t *testing.T) {
	entered := make(chan struct{})
	stuck := make(chan struct{})
	t.Cleanup(func() { close(stuck) })
	hook := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		select {
		case <-stuck:
		case <-r.Context().Done():
		}
	})
	s := newServer(t, Config{WebhookURL: "https://bot.example.kz/hook", Webhook: hook, ShutdownTimeout: 50 * time.Millisecond})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	go func() {
		resp, err := http.Post("http://"+ln.Addr().String()+"/hook", "application/json", strings.NewReader("{}"))
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-entered
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve with a stuck request = %v, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a stuck request held Serve past its shutdown deadline")
	}
}

func TestRunReportsListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s := newServer(t, Config{Addr: ln.Addr().String()})
	err = s.Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "HTTP_ADDR") {
		t.Errorf("Run on a taken port = %v, want an error naming HTTP_ADDR", err)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
