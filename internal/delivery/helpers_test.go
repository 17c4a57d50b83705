package delivery

import (
	"context"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"newsbot/internal/article"
	"newsbot/internal/locale"
	"newsbot/internal/post"
	"newsbot/internal/redistest"
	"newsbot/internal/subscriber"
	"newsbot/internal/telegram"
	"newsbot/internal/telegramtest"
	"newsbot/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

var (
	testLangs  = []string{"kk", "ru", "en"}
	testTopics = []string{"politics", "economy", "society", "world", "sport", "culture", "tech"}
)

// env is one test's world: a real Redis, the fake Bot API, the real subscriber store and
// renderer.
type env struct {
	t      testing.TB
	rdb    *redis.Client
	prefix string
	tg     *telegramtest.Server
	store  *subscriber.Store
	render *post.Renderer
}

func newEnv(t testing.TB) *env {
	t.Helper()
	rdb, prefix := redistest.New(t)
	return newEnvWith(t, rdb, prefix)
}

func newEnvWith(t testing.TB, rdb *redis.Client, prefix string) *env {
	t.Helper()
	b, err := locale.Load()
	if err != nil {
		t.Fatal(err)
	}
	return &env{
		t: t, rdb: rdb, prefix: prefix,
		tg:     telegramtest.New(t),
		store:  subscriber.NewStore(rdb, prefix, testLangs, testTopics),
		render: post.NewRenderer(b, time.UTC),
	}
}

// countingSender counts the calls an engine makes (to tell two engines' work apart).
type countingSender struct {
	Sender
	n atomic.Int64
}

func (c *countingSender) Send(ctx context.Context, method string, params map[string]any) (telegram.Message, error) {
	c.n.Add(1)
	return c.Sender.Send(ctx, method, params)
}

func (e *env) client() *telegram.Client {
	return telegram.New(e.tg.Token(), e.tg.URL(), nil, nil)
}

// engine returns an engine on the env's Redis with fast test timings.
func (e *env) engine(opt Options, rdb ...redis.UniversalClient) (*Engine, *countingSender) {
	e.t.Helper()
	opt.Prefix = e.prefix
	if opt.Channels == nil {
		opt.Channels = map[string]string{"en": "@news_en", "ru": "@news_ru", "kk": "@news_kk"}
	}
	if opt.Backoff == 0 {
		opt.Backoff = 20 * time.Millisecond
	}
	if opt.IdlePoll == 0 {
		opt.IdlePoll = 20 * time.Millisecond
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.NewTextHandler(testWriter{e.t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	var client redis.UniversalClient = e.rdb
	if len(rdb) > 0 {
		client = rdb[0]
	}
	cs := &countingSender{Sender: e.client()}
	return New(client, cs, e.store, e.render, opt), cs
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p[:len(p)-1]))
	return len(p), nil
}

// run runs eng until the test ends (or stop is called).
func run(t testing.TB, eng *Engine) (stop func()) {
	return testkit.Run(t, eng.Run)
}

// readers saves n active readers of lang following topics (all topics when none), with chat
// ids from first on.
func (e *env) readers(first int64, n int, lang string, topics ...string) []int64 {
	e.t.Helper()
	ids := make([]int64, n)
	// In chunks, so that seeding a million readers does not hold a million records at once.
	rs := make([]subscriber.Reader, 0, min(n, 5000))
	for i := range ids {
		id := first + int64(i)
		ids[i] = id
		rs = append(rs, subscriber.Reader{ChatID: id, Lang: lang, Langs: []string{lang}, Topics: topics,
			AllTopics: len(topics) == 0, Status: subscriber.Active, Group: id < 0})
		if len(rs) == cap(rs) || i == n-1 {
			if err := e.store.SaveMany(context.Background(), rs); err != nil {
				e.t.Fatal(err)
			}
			rs = rs[:0]
		}
	}
	return ids
}

func story(id, lang string, topics ...string) article.Article {
	return article.Article{
		ID: id, URL: "https://example.kz/" + lang + "/" + id, Lang: lang,
		Title:       "Story " + id,
		PublishedAt: time.Now().Add(-time.Minute).Truncate(time.Second),
		Lead:        "What happened, in one paragraph.",
		Topics:      topics,
	}
}

// waitIdle waits until no job or channel task is queued or running.
func waitIdle(t testing.TB, eng *Engine, timeout time.Duration) Stats {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s, err := eng.Stats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if s.High+s.Normal+s.Channel == 0 {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("jobs still running after %v: %+v", timeout, s.Jobs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// copies returns how many copies of the story with title each chat holds.
func (e *env) copies(chats []int64) map[int64]int {
	out := make(map[int64]int, len(chats))
	for _, c := range chats {
		out[c] = len(e.tg.Messages(c))
	}
	return out
}

func exactlyOne(t testing.TB, e *env, chats []int64) {
	t.Helper()
	bad := 0
	for c, n := range e.copies(chats) {
		if n != 1 {
			if bad < 10 {
				t.Errorf("chat %d holds %d copies, want 1", c, n)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d chats hold other than one copy", bad, len(chats))
	}
}
