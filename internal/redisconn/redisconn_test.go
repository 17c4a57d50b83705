package redisconn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"newsbot/internal/redistest"
)

func newClient(t *testing.T, srv *redistest.Server, reg prometheus.Registerer) redis.UniversalClient {
	t.Helper()
	errs := NewErrorCounter()
	if reg != nil {
		reg.MustRegister(errs)
	}
	rdb, err := New(&redis.UniversalOptions{Addrs: []string{srv.Addr()}}, errs)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

func errorCount(t *testing.T, reg *prometheus.Registry, command, kind string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "newsbot_redis_errors_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["command"] == command && labels["kind"] == kind {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func TestMain(m *testing.M) {
	// go-redis prints every failed dial of the outage tests to stderr otherwise.
	RouteLibraryLogs(slog.New(slog.DiscardHandler))
	os.Exit(m.Run())
}

func TestNewLeavesOptionsAndSetsDefaults(t *testing.T) {
	opt := &redis.UniversalOptions{Addrs: []string{"127.0.0.1:1"}, ReadTimeout: 7 * time.Second}
	before := *opt
	rdb, err := New(opt, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer rdb.Close()
	if opt.ClientName != before.ClientName || opt.DialTimeout != before.DialTimeout || opt.PoolSize != before.PoolSize {
		t.Errorf("New changed the caller's options: %+v", opt)
	}
	c, ok := rdb.(*redis.Client)
	if !ok {
		t.Fatalf("one address gave a %T, want *redis.Client", rdb)
	}
	got := c.Options()
	if got.ReadTimeout != 7*time.Second {
		t.Errorf("ReadTimeout = %s, want the 7s given", got.ReadTimeout)
	}
	if got.ClientName != "newsbot" || got.DialTimeout != defaultDialTimeout || got.PoolSize < minPoolSize || !got.ContextTimeoutEnabled {
		t.Errorf("defaults not applied: client_name=%q dial=%s pool=%d ctx_timeout=%v",
			got.ClientName, got.DialTimeout, got.PoolSize, got.ContextTimeoutEnabled)
	}
}

func TestNewPicksClientKind(t *testing.T) {
	tests := []struct {
		name string
		opt  redis.UniversalOptions
		want string
	}{
		{"single", redis.UniversalOptions{Addrs: []string{"127.0.0.1:1"}}, "*redis.Client"},
		{"sentinel", redis.UniversalOptions{Addrs: []string{"127.0.0.1:1", "127.0.0.1:2"}, MasterName: "mymaster"}, "*redis.Client"},
		{"cluster", redis.UniversalOptions{Addrs: []string{"127.0.0.1:1", "127.0.0.1:2"}}, "*redis.ClusterClient"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rdb, err := New(&tt.opt, nil)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			defer rdb.Close()
			if got := fmt.Sprintf("%T", rdb); got != tt.want {
				t.Errorf("client is %s, want %s", got, tt.want)
			}
		})
	}
	if _, err := New(nil, nil); err == nil {
		t.Error("New(nil) gave no error")
	}
}

func TestPingFollowsOutage(t *testing.T) {
	srv := redistest.Start(t)
	reg := prometheus.NewRegistry()
	rdb := newClient(t, srv, reg)
	ping := Ping(rdb)
	ctx := context.Background()

	if err := ping(ctx); err != nil {
		t.Fatalf("ping a running server: %v", err)
	}
	srv.Stop()
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	err := ping(pctx)
	cancel()
	if err == nil {
		t.Fatal("ping a stopped server: no error")
	}
	if n := errorCount(t, reg, "ping", kindConnection) + errorCount(t, reg, "ping", kindTimeout); n < 1 {
		t.Errorf("newsbot_redis_errors_total{command=ping} = %v after a failed ping, want >= 1", n)
	}
	srv.Restart(t)
	if err := ping(ctx); err != nil {
		t.Fatalf("ping after restart: %v", err)
	}
}

func TestErrorCounterCountsFailuresOnly(t *testing.T) {
	srv := redistest.Start(t)
	reg := prometheus.NewRegistry()
	rdb := newClient(t, srv, reg)
	ctx := context.Background()

	// Outcomes that are not failures.
	if err := rdb.Get(ctx, "missing").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GET missing: %v, want redis.Nil", err)
	}
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Get(ctx, "missing")
		p.Set(ctx, "k", "v", 0)
		return nil
	})
	if !errors.Is(err, redis.Nil) {
		t.Fatalf("pipeline with a miss: %v, want redis.Nil", err)
	}
	if err := rdb.XGroupCreateMkStream(ctx, "s", "g", "0").Err(); err != nil {
		t.Fatalf("XGROUP CREATE: %v", err)
	}
	if err := rdb.XGroupCreateMkStream(ctx, "s", "g", "0").Err(); err == nil {
		t.Fatal("second XGROUP CREATE: no BUSYGROUP")
	}
	script := redis.NewScript(`return 1`)
	if err := script.Run(ctx, rdb, nil).Err(); err != nil { // EVALSHA → NOSCRIPT → EVAL
		t.Fatalf("script: %v", err)
	}
	if n := testutil.CollectAndCount(reg, "newsbot_redis_errors_total"); n != 0 {
		t.Fatalf("misses, BUSYGROUP, NOSCRIPT and the connection handshake counted as %d errors, want none", n)
	}

	// A real failure: the wrong type.
	if err := rdb.LPush(ctx, "k", "x").Err(); err == nil {
		t.Fatal("LPUSH on a string: no error")
	}
	if got := errorCount(t, reg, "lpush", kindReply); got != 1 {
		t.Errorf("lpush reply errors = %v, want 1", got)
	}
	_, _ = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Get(ctx, "missing")
		p.LPush(ctx, "k", "x")
		return nil
	})
	if got := errorCount(t, reg, "pipeline", kindReply); got != 1 {
		t.Errorf("pipeline reply errors = %v, want 1", got)
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		err  error
		kind string // "" = not a failure
	}{
		{"nil", nil, ""},
		{"miss", redis.Nil, ""},
		{"wrapped miss", fmt.Errorf("load: %w", redis.Nil), ""},
		{"lost transaction", redis.TxFailedErr, ""},
		{"cancelled", context.Canceled, ""},
		{"noscript", redis.ErrNoScript, ""},
		{"deadline", context.DeadlineExceeded, kindTimeout},
		{"io deadline", os.ErrDeadlineExceeded, kindTimeout},
		{"pool timeout", redis.ErrPoolTimeout, kindTimeout},
		{"net timeout", &net.OpError{Op: "read", Err: timeoutErr{}}, kindTimeout},
		{"eof", io.EOF, kindConnection},
		{"refused", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, kindConnection},
		{"readonly", redis.ErrCrossSlot, kindReply},
	}
	for _, tt := range tests {
		kind, ok := classify(tt.err)
		if kind != tt.kind || ok != (tt.kind != "") {
			t.Errorf("%s: classify(%v) = %q, %v; want %q", tt.name, tt.err, kind, ok, tt.kind)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// syncBuffer is a log sink that a test reads while WaitReady writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestWaitReadyRidesOutAnOutage(t *testing.T) {
	srv := redistest.Start(t)
	reg := prometheus.NewRegistry()
	rdb := newClient(t, srv, reg)
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ctx := t.Context()

	if err := WaitReady(ctx, rdb, log); err != nil {
		t.Fatalf("WaitReady with Redis up: %v", err)
	}
	if logs.String() != "" {
		t.Errorf("WaitReady with Redis up logged %q, want nothing", logs.String())
	}

	srv.Stop()
	done := make(chan error, 1)
	go func() { done <- WaitReady(ctx, rdb, log) }()
	// Let it fail several times, so the test sees that failures are not logged one by one.
	deadline := time.Now().Add(time.Minute)
	for errorCount(t, reg, "ping", kindConnection)+errorCount(t, reg, "ping", kindTimeout) < 3 {
		select {
		case err := <-done:
			t.Fatalf("WaitReady returned %v while Redis was down", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("WaitReady made fewer than 3 attempts in a minute")
		}
		time.Sleep(20 * time.Millisecond)
	}
	srv.Restart(t)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("WaitReady after restart: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("WaitReady did not return within a minute of Redis coming back")
	}
	out := logs.String()
	if n := strings.Count(out, "redis is unreachable"); n != 1 {
		t.Errorf("%d 'unreachable' lines, want 1 for the whole outage:\n%s", n, out)
	}
	if n := strings.Count(out, "redis is reachable again"); n != 1 {
		t.Errorf("%d 'reachable again' lines, want 1:\n%s", n, out)
	}
	if err := rdb.Set(ctx, "after", "1", 0).Err(); err != nil {
		t.Errorf("SET after the outage: %v", err)
	}
}

// A wrong password is not an outage: the log says to fix REDIS_URL, and WaitReady carries on
// once the password matches (here: the server stops requiring one).
func TestWaitReadyWrongPassword(t *testing.T) {
	srv := redistest.Start(t)
	admin := srv.Client(t)
	ctx := t.Context()
	if err := admin.ConfigSet(ctx, "requirepass", "right-password").Err(); err != nil {
		t.Fatal(err)
	}
	rdb, err := New(&redis.UniversalOptions{Addrs: []string{srv.Addr()}, Password: "wrong-password"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	var logs syncBuffer
	done := make(chan error, 1)
	go func() { done <- WaitReady(ctx, rdb, slog.New(slog.NewTextHandler(&logs, nil))) }()

	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(logs.String(), "refuses the user or password of REDIS_URL") {
		if time.Now().After(deadline) {
			t.Fatalf("log after a refused password: %q", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if strings.Contains(logs.String(), "unreachable") || strings.Contains(logs.String(), "wrong-password") {
		t.Errorf("log calls it an outage or shows the password: %q", logs.String())
	}
	if err := admin.ConfigSet(ctx, "requirepass", "").Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("WaitReady = %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("WaitReady did not return once the password was accepted")
	}
}

func TestWaitReadyStopsWithContext(t *testing.T) {
	srv := redistest.Start(t)
	rdb := newClient(t, srv, nil)
	srv.Stop()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- WaitReady(ctx, rdb, slog.New(slog.DiscardHandler)) }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("WaitReady after cancel = %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("WaitReady ignored the cancelled context")
	}
}

func TestRouteLibraryLogsLevels(t *testing.T) {
	var buf bytes.Buffer
	l := libraryLogger{log: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	ctx := context.Background()
	l.Printf(ctx, "redis: connection pool: failed to dial after %d attempts: %s", 2, "connection refused")
	l.Printf(ctx, "sentinel: GetMasterAddrByName name=%q failed: %s", "mymaster", "refused")
	if buf.Len() != 0 {
		t.Errorf("per-attempt library lines reached info level: %s", buf.String())
	}
	l.Printf(ctx, "sentinel: new master=%q addr=%q", "mymaster", "10.0.0.2:6379")
	if !strings.Contains(buf.String(), `sentinel: new master=\"mymaster\" addr=\"10.0.0.2:6379\"`) {
		t.Errorf("a Sentinel failover is not logged at info: %q", buf.String())
	}
}

func slogDiscard() *slog.Logger { return slog.New(slog.DiscardHandler) }
