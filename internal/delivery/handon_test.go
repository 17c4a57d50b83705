package delivery

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"newsbot/internal/article"
	"newsbot/internal/source"
	"newsbot/internal/telegramtest"
	"newsbot/internal/testkit"
)

// countingSink counts the stories the watcher hands on, and when each was.
type countingSink struct {
	*Engine
	mu     sync.Mutex
	handed map[string]time.Time
	n      atomic.Int64
}

func (c *countingSink) Publish(ctx context.Context, a article.Article) error {
	if err := c.Engine.Publish(ctx, a); err != nil {
		return err
	}
	c.mu.Lock()
	c.handed[a.ID] = time.Now()
	c.mu.Unlock()
	c.n.Add(1)
	return nil
}

// watch runs the real directory watcher over a new directory, handing on to eng.
func (e *env) watch(t *testing.T, eng *Engine) (string, *countingSink) {
	t.Helper()
	dir := t.TempDir()
	sink := &countingSink{Engine: eng, handed: map[string]time.Time{}}
	w := source.NewDir(source.Deps{
		Store: source.NewStore(e.rdb, e.prefix, source.StoreOptions{}),
		Sink:  sink,
		Rules: article.Rules{Languages: testLangs, Topics: testTopics},
		Owner: "test",
	}, dir, source.DirOptions{Rescan: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	// The first start records what is there; wait until the watcher has looked.
	time.Sleep(200 * time.Millisecond)
	return dir, sink
}

func drop(t testing.TB, dir string, a article.Article) {
	t.Helper()
	raw, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "."+a.ID+".tmp")
	if err := os.WriteFile(tmp, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, a.ID+".json")); err != nil {
		t.Fatal(err)
	}
}

// TestChannel429DoesNotHoldUpTheWatcher: the channel answers its first post with 429, retry
// after 30 s. The directory watcher hands on the next 50 stories without waiting, and once the
// pause has passed every one reaches the channel and the readers, once.
func TestChannel429DoesNotHoldUpTheWatcher(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	chats := e.readers(100, 3, "en")
	e.tg.FailNext("sendMessage", "@news_en", telegramtest.RetryAfter(30))
	eng, _ := e.engine(Options{GroupGap: 10 * time.Millisecond, PrivateGap: 10 * time.Millisecond})
	run(t, eng)
	dir, sink := e.watch(t, eng)
	drop(t, dir, story("s0", "en"))
	e.tg.WaitFor(t, "sendMessage", 1, 10*time.Second) // the channel's 429
	start := time.Now()
	for i := 1; i <= 50; i++ {
		drop(t, dir, story("s"+itoa(int64(i)), "en"))
	}
	testkit.WaitFor(t, "the watcher to hand on 51 stories", 10*time.Second, func() bool { return sink.n.Load() == 51 })
	t.Logf("50 stories handed on %v after they were dropped, with the channel paused", time.Since(start).Round(time.Millisecond))
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("handing on took %v", d)
	}
	// Nothing goes out during the pause but what was on its way when the 429 came.
	var paused time.Time
	for _, r := range e.tg.Requests("sendMessage") {
		if r.Status == 429 {
			paused = r.Time
		}
	}
	for _, r := range e.tg.Requests("sendMessage") {
		if r.Time.After(paused.Add(300*time.Millisecond)) && r.Time.Before(paused.Add(29*time.Second)) {
			t.Errorf("a send to %v %v after the 429, during the 30 s pause", r.ChatID(), r.Time.Sub(paused))
		}
	}
	waitIdle(t, eng, time.Minute)
	if got := len(e.tg.Messages("@news_en")); got != 51 {
		t.Errorf("channel holds %d posts, want 51", got)
	}
	for _, c := range chats {
		if got := len(e.tg.Messages(c)); got != 51 {
			t.Errorf("reader %d holds %d stories, want 51", c, got)
		}
	}
}

// TestBreakingStoryOvertakesAChannelBacklog: ten stories for one channel (paced at 20 posts a
// minute, so half a minute of channel posts), then a breaking story in another language: its
// readers have it within a second. And a thousand files dropped at once are all handed on
// within a minute.
func TestBreakingStoryOvertakesAChannelBacklog(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.readers(100, 5, "en")
	kazakh := e.readers(900, 5, "kk")
	eng, _ := e.engine(Options{})
	run(t, eng)
	dir, sink := e.watch(t, eng)
	for i := range 10 {
		drop(t, dir, story("en"+itoa(int64(i)), "en"))
	}
	testkit.WaitFor(t, "ten stories handed on", 10*time.Second, func() bool { return sink.n.Load() == 10 })
	b := story("kkbreaking", "kk")
	b.Breaking = true
	dropped := time.Now()
	drop(t, dir, b)
	testkit.WaitFor(t, "the breaking story in every Kazakh reader's chat", 5*time.Second, func() bool {
		for _, c := range kazakh {
			if len(e.tg.Messages(c)) == 0 {
				return false
			}
		}
		return true
	})
	took := time.Since(dropped)
	t.Logf("breaking story reached its readers %v after its file was dropped", took.Round(time.Millisecond))
	if took > time.Second {
		t.Errorf("the breaking story took %v to reach its readers, want under 1 s", took)
	}

	start := time.Now()
	for i := range 1000 {
		drop(t, dir, story("bulk"+itoa(int64(i)), "ru"))
	}
	testkit.WaitFor(t, "1,000 files handed on", 2*time.Minute, func() bool { return sink.n.Load() == 1011 })
	took = time.Since(start)
	t.Logf("1,000 files dropped at once handed on in %v", took.Round(time.Millisecond))
	if took > time.Minute {
		t.Errorf("1,000 files took %v to hand on, want under a minute", took)
	}
}
