package delivery

import (
	"context"
	"newsbot/internal/subscriber"
	"testing"
	"time"
)

// TestDeliveredAndJob: what the editors' desk asks delivery about a story — whether it went
// out already (so /publish asks before pushing again) and how a push ended (for /audit).
func TestDeliveredAndJob(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	readers := e.readers(1000, 30, "en", "politics")
	had := e.readers(3000, 5, "en", "sport") // reached by the breaking push only
	eng, _ := e.engine(Options{PageSize: 10})
	ctx := context.Background()
	a := story("h1", "en", "politics")

	if ok, err := eng.Delivered(ctx, a.ID); err != nil || ok {
		t.Fatalf("Delivered before anything was sent = %v, %v; want false", ok, err)
	}
	if _, ok, err := eng.Job(ctx, newJobID(a.ID, 0)); err != nil || ok {
		t.Fatalf("Job of a story never published = %v, %v; want not found", ok, err)
	}

	// The watcher publishes it; the engine is not running yet, so its job waits in the queue.
	if err := eng.Publish(ctx, a); err != nil {
		t.Fatal(err)
	}
	if ok, err := eng.Delivered(ctx, a.ID); err != nil || !ok {
		t.Fatalf("Delivered after Publish = %v, %v; want true", ok, err)
	}
	auto := newJobID(a.ID, 0)
	j, ok, err := eng.Job(ctx, auto)
	if err != nil || !ok {
		t.Fatalf("Job(%s) = %v, %v", auto, ok, err)
	}
	if j.State != JobRunning || !j.Finished.IsZero() || j.Title != a.Title || j.Lang != "en" || j.By != 0 {
		t.Errorf("queued job = %+v; want running, not finished, the story's title and language", j)
	}

	stop := run(t, eng)
	waitIdle(t, eng, 30*time.Second)
	j, ok, err = eng.Job(ctx, auto)
	if err != nil || !ok {
		t.Fatalf("Job(%s) after it finished = %v, %v", auto, ok, err)
	}
	if j.State != JobDone || j.Finished.IsZero() || j.Sent != int64(len(readers)) || j.Failed != 0 || j.Skipped != 0 {
		t.Errorf("finished job = %+v; want done, %d sent", j, len(readers))
	}

	// An admin pushes it again as breaking: those who have it are skipped, the rest get it.
	id, err := eng.Push(ctx, a, PushOptions{Breaking: true, By: 77})
	if err != nil {
		t.Fatal(err)
	}
	waitIdle(t, eng, 30*time.Second)
	stop()
	j, ok, err = eng.Job(ctx, id)
	if err != nil || !ok {
		t.Fatalf("Job(%s) = %v, %v", id, ok, err)
	}
	if j.State != JobDone || j.By != 77 || !j.Breaking || !j.Priority ||
		j.Sent != int64(len(had)) || j.Skipped != int64(len(readers)) || j.Handled() != int64(len(readers)+len(had)) {
		t.Errorf("pushed job = %+v; want done by 77, %d sent, %d skipped", j, len(had), len(readers))
	}
	exactlyOne(t, e, append(readers, had...))
	if _, ok, err := eng.Job(ctx, newJobID(a.ID, 9)); err != nil || ok {
		t.Errorf("Job of a job never made = %v, %v; want not found", ok, err)
	}
}

// TestDeliveredByAPushAlone: a story no channel takes and nobody reads still counts as
// delivered once an admin pushed it.
func TestDeliveredByAPushAlone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	eng, _ := e.engine(Options{Channels: map[string]string{}})
	ctx := context.Background()
	a := story("h2", "kk")
	if _, err := eng.Push(ctx, a, PushOptions{By: 1}); err != nil {
		t.Fatal(err)
	}
	if ok, err := eng.Delivered(ctx, a.ID); err != nil || !ok {
		t.Errorf("Delivered after a push = %v, %v; want true", ok, err)
	}
	if ok, err := eng.Delivered(ctx, "other"); err != nil || ok {
		t.Errorf("Delivered of another story = %v, %v; want false", ok, err)
	}
}

// TestDeliveredByAChannelPostAlone: a channel post made before delivery kept the mark of the
// first job (or whose job was lost) still counts.
func TestDeliveredByAChannelPostAlone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	eng, _ := e.engine(Options{})
	ctx := context.Background()
	a := story("h3", "en")
	if err := e.rdb.HSet(ctx, eng.keys.channels(a.ID), "@news_en", "p:7:sendMessage:").Err(); err != nil {
		t.Fatal(err)
	}
	if ok, err := eng.Delivered(ctx, a.ID); err != nil || !ok {
		t.Errorf("Delivered with only a channel post = %v, %v; want true", ok, err)
	}
}

// TestStatsCountsStoriesOnce: the day's stories count each story once, however often it is
// published (replays, a second copy) or pushed again.
func TestStatsCountsStoriesOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.readers(1000, 3, "en")
	one, _ := e.engine(Options{})
	two, _ := e.engine(Options{})
	ctx := context.Background()
	for _, a := range []struct {
		eng *Engine
		id  string
	}{{one, "c1"}, {two, "c1"}, {one, "c2"}, {two, "c2"}} {
		if err := a.eng.Publish(ctx, story(a.id, "en")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := two.Push(ctx, story("c1", "en"), PushOptions{By: 5}); err != nil {
		t.Fatal(err)
	}
	if _, err := one.Push(ctx, story("c3", "en"), PushOptions{By: 5}); err != nil { // pushed, never published
		t.Fatal(err)
	}
	st, err := one.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Stories != 3 {
		t.Errorf("Stats.Stories = %d, want 3 (c1, c2, c3)", st.Stories)
	}
}

// A copy that worked on a job another copy finished must not keep the job's story (and its
// rendered posts) in memory for good.
func TestFinishedJobsAreNotCachedForever(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.readers(100, 3, "en")
	a, _ := e.engine(Options{})
	b, _ := e.engine(Options{})
	ctx := context.Background()
	if err := a.Publish(ctx, story("mem1", "en")); err != nil {
		t.Fatal(err)
	}
	// b loads the job (as when it claims a page); a does the work and finishes it.
	if _, err := b.loadJob(ctx, newJobID("mem1", 0), ""); err != nil {
		t.Fatal(err)
	}
	run(t, a)
	waitIdle(t, a, 10*time.Second)
	// b keeps looking for work; once the job has been idle long enough it is forgotten.
	b.mu.Lock()
	for _, jr := range b.jobs {
		jr.used = time.Now().Add(-jobCacheIdle - time.Second)
	}
	b.mu.Unlock()
	if _, err := b.next(ctx); err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	n := len(b.jobs)
	b.mu.Unlock()
	if n != 0 {
		t.Errorf("b still caches %d finished jobs", n)
	}
}

// Every record of a story expires with LedgerTTL, also when the copy sending it died before
// recording any result, and when the story is withdrawn.
func TestStoryRecordsExpire(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	chats := e.readers(100, 3, "en")
	eng, _ := e.engine(Options{})
	ctx := context.Background()
	a := story("ttl1", "en")
	if err := eng.Publish(ctx, a); err != nil {
		t.Fatal(err)
	}
	// A worker claims a page and marks its chats "sending", then dies.
	p, err := eng.claim(ctx, newJobID(a.ID, 0))
	if err != nil || p == nil {
		t.Fatalf("claim: %v, %v", p, err)
	}
	slots := make([]slot, len(chats))
	for i, c := range chats {
		slots[i] = slot{chat: c, at: time.Now()}
	}
	if _, err := eng.mark(ctx, p, slots); err != nil {
		t.Fatal(err)
	}
	if err := eng.Retract(ctx, a); err != nil {
		t.Fatal(err)
	}
	// A story withdrawn long after it went out (its records expired) is remembered for a
	// while, not for good.
	old := story("ttl2", "en")
	if err := eng.Retract(ctx, old); err != nil {
		t.Fatal(err)
	}
	// The channel tasks run (the channel post is deleted, the retraction recorded).
	run(t, eng)
	waitIdle(t, eng, 10*time.Second)
	k := eng.keys
	for _, key := range []string{k.ledger(a.ID), k.meta(a.ID), k.channels(a.ID), k.job(newJobID(a.ID, 0)), k.meta(old.ID), k.channels(old.ID)} {
		ttl, err := e.rdb.TTL(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if ttl <= 0 {
			t.Errorf("%s: TTL %v, want it to expire", key, ttl)
		}
	}
}

// A job given up because its story can have no audience any more (LANGUAGES changed while it
// ran) leaves no page leases behind for good.
func TestAbandonedJobLeavesNoLeases(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.readers(100, 5, "en")
	a, _ := e.engine(Options{PageSize: 2})
	ctx := context.Background()
	if err := a.Publish(ctx, story("ab1", "en")); err != nil {
		t.Fatal(err)
	}
	if p, err := a.claim(ctx, newJobID("ab1", 0)); err != nil || p == nil { // a page leased, then the copy stops
		t.Fatalf("claim: %v, %v", p, err)
	}
	// The service comes back with English no longer among LANGUAGES.
	e.store = subscriber.NewStore(e.rdb, e.prefix, []string{"kk", "ru"}, testTopics)
	b, _ := e.engine(Options{PageSize: 2})
	for range 3 { // a channel task may come first
		if _, err := b.next(ctx); err != nil {
			t.Logf("next: %v", err)
		}
	}
	j, _, err := b.Job(ctx, newJobID("ab1", 0))
	if err != nil || j.State != JobAbandoned {
		t.Fatalf("job %+v, %v; want abandoned", j, err)
	}
	id := newJobID("ab1", 0)
	if n, _ := e.rdb.Exists(ctx, b.keys.leases(id), b.keys.owners(id)).Result(); n != 0 {
		t.Errorf("%d lease keys left behind by the abandoned job", n)
	}
}
