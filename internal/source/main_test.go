package source

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"newsbot/internal/article"
	"newsbot/internal/redistest"
)

func TestMain(m *testing.M) {
	code := redistest.Main(m)
	for _, f := range cleanups {
		f()
	}
	os.Exit(code)
}

// cleanups run after all tests and benchmarks (fixtures shared between benchmark runs).
var cleanups []func()

var testRules = article.Rules{
	Languages: []string{"kk", "ru", "en"},
	Topics:    []string{"politics", "economy", "society", "world", "sport", "culture", "tech"},
}

// recorder is a Handler that records events and can be told to fail.
type recorder struct {
	mu     sync.Mutex
	events []Event
	ch     chan Event
	fail   func(Event) error
}

func newRecorder() *recorder { return &recorder{ch: make(chan Event, 10000)} }

func (r *recorder) handle(ctx context.Context, ev Event) error {
	r.mu.Lock()
	fail := r.fail
	r.mu.Unlock()
	if fail != nil {
		if err := fail(ev); err != nil {
			return err
		}
	}
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
	r.ch <- ev
	return nil
}

func (r *recorder) setFail(f func(Event) error) {
	r.mu.Lock()
	r.fail = f
	r.mu.Unlock()
}

func (r *recorder) all() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

// next waits for one event.
func (r *recorder) next(t *testing.T) Event {
	t.Helper()
	select {
	case ev := <-r.ch:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatalf("no event handed on within 10s (so far: %v)", summary(r.all()))
		return Event{}
	}
}

// none asserts that nothing is handed on for a while.
func (r *recorder) none(t *testing.T, wait time.Duration) {
	t.Helper()
	select {
	case ev := <-r.ch:
		t.Fatalf("unexpected event %s %s (%s)", ev.Kind, ev.Article.ID, ev.Origin)
	case <-time.After(wait):
	}
}

func summary(evs []Event) []string {
	var s []string
	for _, ev := range evs {
		s = append(s, ev.Kind.String()+":"+ev.Article.ID)
	}
	return s
}

// logBuf is a concurrency-safe log sink for asserting on log lines.
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// lines returns the decoded JSON log records whose msg contains substr.
func (l *logBuf) lines(substr string) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(l.buf.String(), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			continue
		}
		if msg, _ := rec["msg"].(string); strings.Contains(msg, substr) {
			out = append(out, rec)
		}
	}
	return out
}

type env struct {
	store   *Store
	rec     *recorder
	logs    *logBuf
	metrics *Metrics
	reg     *prometheus.Registry
	deps    Deps
}

func newEnv(t *testing.T) *env {
	t.Helper()
	rdb, prefix := redistest.New(t)
	return newEnvOn(t, NewStore(rdb, prefix, StoreOptions{}))
}

// newEnvOn is another running copy over the same store.
func newEnvOn(t *testing.T, st *Store) *env {
	e := &env{store: st, rec: newRecorder(), logs: &logBuf{}, reg: prometheus.NewRegistry()}
	e.metrics = NewMetrics(e.reg)
	e.deps = Deps{
		Store:   st,
		Handler: e.rec.handle,
		Rules:   testRules,
		Log:     slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics: e.metrics,
		Owner:   InstanceID(),
	}
	return e
}

func (e *env) invalidCount(kind string) float64 {
	return testutil.ToFloat64(e.metrics.invalid.WithLabelValues(kind))
}

// run starts w and returns a stop function that waits for it to return.
func run(t *testing.T, w Watcher) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
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
				t.Errorf("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func story(id, lang string, published time.Time) article.Article {
	return article.Article{
		ID:          id,
		URL:         "https://example.kz/" + lang + "/news/" + id,
		Lang:        lang,
		Title:       "Story " + id,
		PublishedAt: published.UTC().Truncate(time.Second),
		Lead:        "Lead of " + id,
		Topics:      []string{"politics"},
	}
}

func mustJSON(t testing.TB, a article.Article) []byte {
	t.Helper()
	b, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeAtomic writes the file the way editors and CMS exports do: a temp file, then rename.
func writeAtomic(t testing.TB, dir, name string, data []byte) {
	t.Helper()
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

func writeStory(t testing.TB, dir string, a article.Article) {
	t.Helper()
	writeAtomic(t, dir, a.ID+".json", mustJSON(t, a))
}
