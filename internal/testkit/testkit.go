// Package testkit is what the tests of every package share: a log that tests can read while
// the code under test writes to it from many goroutines, and waiting for a condition. It is
// imported by tests only.
package testkit

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// Log is a concurrency-safe sink for log output (an io.Writer) with ways to read it back.
type Log struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p; it is safe to call from any goroutine.
func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String is everything written so far.
func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Count is how many lines written so far contain substr.
func (l *Log) Count(substr string) int {
	n := 0
	for _, line := range strings.Split(l.String(), "\n") {
		if strings.Contains(line, substr) {
			n++
		}
	}
	return n
}

// Logger is a debug-level JSON logger writing to l, so that tests can read every line and
// its attributes (Records).
func (l *Log) Logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TextLogger is a debug-level text logger writing to l, for tests of what an operator reads.
func (l *Log) TextLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Records returns the JSON log lines (Logger) whose message contains msg, decoded.
func (l *Log) Records(msg string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(l.String(), "\n") {
		var m map[string]any
		if line == "" || json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		if s, _ := m["msg"].(string); strings.Contains(s, msg) {
			out = append(out, m)
		}
	}
	return out
}

// WaitFor polls cond every 10 ms until it holds, failing the test after timeout with what
// was awaited.
func WaitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Run starts run(ctx) — a part's Run method — and stops it when the test ends or when stop is
// called, failing the test if it returns an error or does not return within 15 s of stop.
func Run(t testing.TB, run func(ctx context.Context) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Errorf("Run did not return within 15 s of shutdown")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}
