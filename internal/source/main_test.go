package source

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"newsbot/internal/article"
	"newsbot/internal/redistest"
	"newsbot/internal/testkit"
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

// testNow is the clock of validation in these tests (published_at at most a day ahead of it),
// and the date of the stories they write.
var testNow = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

var testRules = article.Rules{
	Languages: []string{"kk", "ru", "en"},
	Topics:    []string{"politics", "economy", "society", "world", "sport", "culture", "tech"},
	Now:       func() time.Time { return testNow },
}

// call is one call the watchers made on the Sink.
type call struct {
	Method  string // "Publish", "Correct" or "Retract"
	Article article.Article
}

// recorder is a Sink that records every call by method and can be told to fail.
type recorder struct {
	mu    sync.Mutex
	calls []call
	ch    chan call
	fail  func(call) error
}

var _ Sink = (*recorder)(nil)

func newRecorder() *recorder { return &recorder{ch: make(chan call, 10000)} }

func (r *recorder) Publish(ctx context.Context, a article.Article) error {
	return r.record(call{"Publish", a})
}

func (r *recorder) Correct(ctx context.Context, a article.Article) error {
	return r.record(call{"Correct", a})
}

func (r *recorder) Retract(ctx context.Context, a article.Article) error {
	return r.record(call{"Retract", a})
}

func (r *recorder) record(c call) error {
	r.mu.Lock()
	fail := r.fail
	r.mu.Unlock()
	if fail != nil {
		if err := fail(c); err != nil {
			return err
		}
	}
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
	r.ch <- c
	return nil
}

func (r *recorder) setFail(f func(call) error) {
	r.mu.Lock()
	r.fail = f
	r.mu.Unlock()
}

func (r *recorder) all() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...)
}

// next waits for one call.
func (r *recorder) next(t *testing.T) call {
	t.Helper()
	select {
	case c := <-r.ch:
		return c
	case <-time.After(10 * time.Second):
		t.Fatalf("nothing handed on within 10s (so far: %v)", summary(r.all()))
		return call{}
	}
}

// none asserts that nothing is handed on for a while.
func (r *recorder) none(t *testing.T, wait time.Duration) {
	t.Helper()
	select {
	case c := <-r.ch:
		t.Fatalf("unexpected %s of %s", c.Method, c.Article.ID)
	case <-time.After(wait):
	}
}

func summary(calls []call) []string {
	var s []string
	for _, c := range calls {
		s = append(s, c.Method+":"+c.Article.ID)
	}
	return s
}

type env struct {
	store   *Store
	rec     *recorder
	logs    *testkit.Log
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
	e := &env{store: st, rec: newRecorder(), logs: &testkit.Log{}, reg: prometheus.NewRegistry()}
	e.metrics = NewMetrics()
	e.reg.MustRegister(e.metrics)
	e.deps = Deps{
		Store:   st,
		Sink:    e.rec,
		Rules:   testRules,
		Log:     e.logs.Logger(),
		Metrics: e.metrics,
		Owner:   InstanceID(),
	}
	return e
}

// handedOn waits for the "story handed on" log line of the story (written once the Sink
// returned) and returns it, nil when none comes.
func (e *env) handedOn(t *testing.T, id string) map[string]any {
	t.Helper()
	var line map[string]any
	testkit.WaitFor(t, "the hand-on log line of "+id, 10*time.Second, func() bool {
		for _, l := range e.logs.Records("story handed on") {
			if l["story_id"] == id {
				line = l
				return true
			}
		}
		return false
	})
	return line
}

func (e *env) invalidCount(kind string) float64 {
	return testutil.ToFloat64(e.metrics.invalid.WithLabelValues(kind))
}

// run runs w until the test ends (or stop is called).
func run(t *testing.T, w Watcher) (stop func()) {
	return testkit.Run(t, w.Run)
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
