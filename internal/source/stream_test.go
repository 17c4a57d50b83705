package source

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"newsbot/internal/article"
	"newsbot/internal/redistest"
	"newsbot/internal/testkit"
)

var fastStream = StreamOptions{Poll: 10 * time.Millisecond, ClaimIdle: 200 * time.Millisecond, RetryBase: 20 * time.Millisecond, RetryMax: 100 * time.Millisecond}

type streamEnv struct {
	*env
	rdb    *redis.Client
	stream string
}

func newStreamEnv(t *testing.T) *streamEnv {
	rdb, prefix := redistest.New(t)
	e := newEnvOn(t, NewStore(rdb, prefix, StoreOptions{}))
	return &streamEnv{env: e, rdb: rdb, stream: prefix + "cms:articles"}
}

func (se *streamEnv) add(t *testing.T, values ...any) string {
	t.Helper()
	id, err := se.rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: se.stream, Values: values}).Result()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (se *streamEnv) addStory(t *testing.T, a article.Article) string {
	t.Helper()
	return se.add(t, "article", string(mustJSON(t, a)))
}

func (se *streamEnv) pending(t *testing.T) int64 {
	t.Helper()
	p, err := se.rdb.XPending(context.Background(), se.stream, se.store.keys.group()).Result()
	if err != nil {
		t.Fatal(err)
	}
	return p.Count
}

// waitPending waits for the group to exist (a watcher makes it again after a flush) with want
// entries pending.
func (se *streamEnv) waitPending(t *testing.T, want int64) {
	t.Helper()
	testkit.WaitFor(t, fmt.Sprintf("%d entries pending", want), 10*time.Second, func() bool {
		p, err := se.rdb.XPending(context.Background(), se.stream, se.store.keys.group()).Result()
		return err == nil && p.Count == want
	})
}

func (se *streamEnv) started(t *testing.T, e *env, opt StreamOptions) (stop func()) {
	t.Helper()
	stop = run(t, NewStream(e.deps, se.rdb, se.stream, opt))
	waitInitialised(t, se.store, "stream:"+se.stream)
	return stop
}

func TestStreamFirstStartThenNewCorrectionRetraction(t *testing.T) {
	t.Parallel()
	se := newStreamEnv(t)
	base := time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC)
	for i := range 3 {
		se.addStory(t, story(fmt.Sprintf("cms-%d", i), "ru", base.Add(time.Duration(i)*time.Minute)))
	}
	se.started(t, se.env, fastStream)
	se.waitPending(t, 0)
	se.rec.none(t, 200*time.Millisecond)
	if latest, err := se.store.Latest(context.Background(), []string{"ru"}, 10); err != nil || len(latest) != 3 {
		t.Fatalf("Latest = %d, %v; want the 3 stories already in the stream", len(latest), err)
	}

	a := story("cms-9", "ru", base)
	id := se.addStory(t, a)
	ev := se.rec.next(t)
	if ev.Method != "Publish" || ev.Article.ID != "cms-9" {
		t.Fatalf("got %s %s, want Publish cms-9", ev.Method, ev.Article.ID)
	}
	if l := se.handedOn(t, "cms-9"); l == nil || l["origin"] != "stream:"+id {
		t.Errorf("hand-on log line %v, want origin stream:%s", l, id)
	}
	se.addStory(t, a) // the CMS re-sends unchanged
	a.Lead = "Уточнено: заседание перенесено."
	se.addStory(t, a)
	if ev := se.rec.next(t); ev.Method != "Correct" || ev.Article.Lead != a.Lead {
		t.Fatalf("got %s %q, want the correction", ev.Method, ev.Article.Lead)
	}
	a.Retracted = true
	se.addStory(t, a)
	if ev := se.rec.next(t); ev.Method != "Retract" {
		t.Fatalf("got %s, want retraction", ev.Method)
	}
	se.waitPending(t, 0)
	se.rec.none(t, 200*time.Millisecond)
}

func TestStreamBackfill(t *testing.T) {
	t.Parallel()
	se := newStreamEnv(t)
	for i := range 4 {
		se.addStory(t, story(fmt.Sprintf("cms-%d", i), "kk", testNow))
	}
	opt := fastStream
	opt.Backfill = 2
	se.started(t, se.env, opt)
	if a, b := se.rec.next(t).Article.ID, se.rec.next(t).Article.ID; a != "cms-2" || b != "cms-3" {
		t.Errorf("backfilled %s, %s; want cms-2, cms-3", a, b)
	}
	se.rec.none(t, 200*time.Millisecond)
}

func TestStreamGarbageIsDeadLetteredAndAcked(t *testing.T) {
	t.Parallel()
	se := newStreamEnv(t)
	se.started(t, se.env, fastStream)
	noField := se.add(t, "title", "no article here")
	notJSON := se.add(t, "article", `{"id": "x", "title": `)
	bad := story("cms-bad", "de", testNow)
	invalid := se.addStory(t, bad)
	se.addStory(t, story("cms-ok", "en", testNow))

	if ev := se.rec.next(t); ev.Article.ID != "cms-ok" {
		t.Fatalf("got %s, want cms-ok (valid entry after garbage)", ev.Article.ID)
	}
	se.waitPending(t, 0)
	lines := se.logs.Records("invalid stream entry")
	want := map[string]string{noField: "article", notJSON: "article", invalid: "lang"}
	if len(lines) != 3 {
		t.Fatalf("%d log lines, want 3: %v", len(lines), lines)
	}
	for _, l := range lines {
		id, _ := l["entry_id"].(string)
		if want[id] == "" || l["field"] != want[id] {
			t.Errorf("log line %v: want entry_id and field %q", l, want[id])
		}
	}
	if n := se.invalidCount("stream"); n != 3 {
		t.Errorf("invalid metric %v, want 3", n)
	}
	dead, err := se.rdb.XRange(context.Background(), se.store.keys.deadLetter(), "-", "+").Result()
	if err != nil || len(dead) != 3 || dead[2].Values["entry_id"] != invalid || dead[2].Values["field"] != "lang" {
		t.Errorf("dead-letter stream %v, %v; want the 3 entries with id and field", dead, err)
	}
}

func TestStreamTwoConsumersShareEntries(t *testing.T) {
	t.Parallel()
	se := newStreamEnv(t)
	other := newEnvOn(t, se.store)
	opt := fastStream
	opt.Count = 1
	se.started(t, se.env, opt)
	se.started(t, other, opt)
	const n = 40
	for i := range n {
		se.addStory(t, story(fmt.Sprintf("cms-%02d", i), "kk", testNow))
	}
	seen := map[string]int{}
	for range n {
		select {
		case ev := <-se.rec.ch:
			seen[ev.Article.ID]++
		case ev := <-other.rec.ch:
			seen[ev.Article.ID]++
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d of %d handed on", len(seen), n)
		}
	}
	se.rec.none(t, 300*time.Millisecond)
	other.rec.none(t, 10*time.Millisecond)
	for id, c := range seen {
		if c != 1 {
			t.Errorf("%s handed on %d times", id, c)
		}
	}
	consumers, err := se.rdb.XInfoConsumers(context.Background(), se.stream, se.store.keys.group()).Result()
	if err != nil || len(consumers) != 2 || consumers[0].Name == consumers[1].Name {
		t.Errorf("consumers %v, %v; want two distinct", consumers, err)
	}
	se.waitPending(t, 0)
}

func TestStreamSinkFailureLeavesEntryPendingUntilHandedOn(t *testing.T) {
	t.Parallel()
	se := newStreamEnv(t)
	var mu sync.Mutex
	failing := true
	se.rec.setFail(func(call) error {
		mu.Lock()
		defer mu.Unlock()
		if failing {
			return errors.New("delivery unavailable")
		}
		return nil
	})
	se.started(t, se.env, fastStream)
	se.addStory(t, story("cms-1", "en", testNow))
	testkit.WaitFor(t, "the failing hand-on to be retried", 10*time.Second, func() bool {
		return len(se.logs.Records("story not handed on")) >= 2
	})
	if p := se.pending(t); p != 1 {
		t.Errorf("%d pending while the sink fails, want 1 (not acked)", p)
	}
	mu.Lock()
	failing = false
	mu.Unlock()
	if ev := se.rec.next(t); ev.Method != "Publish" || ev.Article.ID != "cms-1" {
		t.Fatalf("got %s %s, want new cms-1", ev.Method, ev.Article.ID)
	}
	se.waitPending(t, 0)
	se.rec.none(t, 200*time.Millisecond)
}

func TestStreamEntriesOfADeadConsumerAreClaimed(t *testing.T) {
	t.Parallel()
	se := newStreamEnv(t)
	stop := se.started(t, se.env, fastStream)
	stop()
	se.addStory(t, story("cms-orphan", "kk", testNow))
	// A copy reads the entry and dies before acknowledging it.
	ctx := context.Background()
	res, err := se.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: se.store.keys.group(), Consumer: "dead-copy", Streams: []string{se.stream, ">"}, Count: 10}).Result()
	if err != nil || len(res[0].Messages) != 1 {
		t.Fatalf("dead copy read %v, %v", res, err)
	}
	e2 := newEnvOn(t, se.store)
	run(t, NewStream(e2.deps, se.rdb, se.stream, fastStream))
	if ev := e2.rec.next(t); ev.Article.ID != "cms-orphan" {
		t.Fatalf("got %s, want the orphaned entry", ev.Article.ID)
	}
	se.waitPending(t, 0)
}

func TestStreamRestartHandsOnOnlyWhatCameWhileStopped(t *testing.T) {
	t.Parallel()
	se := newStreamEnv(t)
	se.addStory(t, story("before", "ru", testNow))
	stop := se.started(t, se.env, fastStream)
	se.addStory(t, story("during", "ru", testNow))
	if ev := se.rec.next(t); ev.Article.ID != "during" {
		t.Fatalf("got %s, want during", ev.Article.ID)
	}
	se.waitPending(t, 0)
	stop()
	se.addStory(t, story("while-stopped", "ru", testNow))

	e2 := newEnvOn(t, se.store)
	run(t, NewStream(e2.deps, se.rdb, se.stream, fastStream))
	if ev := e2.rec.next(t); ev.Article.ID != "while-stopped" {
		t.Fatalf("got %s, want while-stopped", ev.Article.ID)
	}
	e2.rec.none(t, 300*time.Millisecond)
}

// The CMS appends a corrected story as a new entry. When the first version's hand-on fails
// and the correction is handed on meanwhile, the first version's retry is older news: it
// must not be handed on as a correction that puts the old text back.
func TestStreamRetryOfAnOlderVersionDoesNotUndoANewerOne(t *testing.T) {
	t.Parallel()
	se := newStreamEnv(t)
	var mu sync.Mutex
	newerOut := false
	se.rec.setFail(func(ev call) error {
		mu.Lock()
		defer mu.Unlock()
		if ev.Article.Title == "Version 1" && !newerOut {
			return errors.New("delivery unavailable")
		}
		if ev.Article.Title == "Version 2" {
			newerOut = true
		}
		return nil
	})
	se.started(t, se.env, fastStream)
	a := story("cms-v", "en", testNow)
	a.Title = "Version 1"
	se.addStory(t, a)
	testkit.WaitFor(t, "the first version to be tried", 10*time.Second, func() bool {
		return len(se.logs.Records("story not handed on")) >= 1
	})
	a.Title = "Version 2"
	se.addStory(t, a)
	if ev := se.rec.next(t); ev.Method != "Publish" || ev.Article.Title != "Version 2" {
		t.Fatalf("first event %s %q, want new %q", ev.Method, ev.Article.Title, "Version 2")
	}
	se.waitPending(t, 0)
	se.rec.none(t, 300*time.Millisecond)
	got, ok, err := se.store.Get(context.Background(), a.ID)
	if err != nil || !ok || got.Title != "Version 2" {
		t.Errorf("stored story %q (found %v, %v), want %q", got.Title, ok, err, "Version 2")
	}
}

// At the very first start, a story whose correction is already in the stream is recorded
// with its newest version, so /latest and /publish show the corrected text.
func TestStreamFirstStartRecordsTheNewestVersion(t *testing.T) {
	t.Parallel()
	se := newStreamEnv(t)
	a := story("cms-seed", "en", testNow)
	a.Title = "Version 1"
	se.addStory(t, a)
	a.Title = "Version 2"
	se.addStory(t, a)
	se.started(t, se.env, fastStream)
	se.waitPending(t, 0)
	se.rec.none(t, 200*time.Millisecond)
	got, ok, err := se.store.Get(context.Background(), a.ID)
	if err != nil || !ok || got.Title != "Version 2" {
		t.Errorf("stored story %q (found %v, %v), want %q", got.Title, ok, err, "Version 2")
	}
}

// Redis emptied under a running stream watcher, then restored from a backup taken before
// newsbot ever read the stream: the entries in it are old news, recorded as seen, not posted
// again (not even the Backfill newest); an entry added afterwards is handed on.
func TestStreamFlushAllDoesNotRepostTheArchive(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	se := &streamEnv{env: newEnvOn(t, NewStore(rdb, "flush:", StoreOptions{})), rdb: rdb, stream: "cms:articles"}
	ctx := context.Background()
	base := time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC)
	for i := range 3 {
		se.addStory(t, story(fmt.Sprintf("old-%d", i), "ru", base.Add(time.Duration(i)*time.Minute)))
	}
	backup, err := rdb.Dump(ctx, se.stream).Result()
	if err != nil {
		t.Fatal(err)
	}
	opt := fastStream
	opt.Backfill = 1
	se.started(t, se.env, opt)
	if c := se.rec.next(t); c.Article.ID != "old-2" {
		t.Fatalf("got %s, want the newest entry backfilled", c.Article.ID)
	}
	se.addStory(t, story("fresh", "ru", base))
	if c := se.rec.next(t); c.Article.ID != "fresh" {
		t.Fatalf("got %s, want fresh", c.Article.ID)
	}
	se.waitPending(t, 0)

	// FLUSHALL and the restore at once, as a restart of Redis from the old dump would be.
	if _, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.FlushAll(ctx)
		p.RestoreReplace(ctx, se.stream, 0, backup)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "the first start to be redone", 10*time.Second, func() bool {
		return len(se.logs.Records("first-start marker of articles stream is gone")) == 1
	})
	se.waitPending(t, 0)
	se.rec.none(t, 300*time.Millisecond)
	if latest, err := se.store.Latest(ctx, []string{"ru"}, 10); err != nil || len(latest) != 3 {
		t.Errorf("Latest after the restore = %d stories, %v; want the 3 in the stream", len(latest), err)
	}

	se.addStory(t, story("after", "ru", base))
	if c := se.rec.next(t); c.Method != "Publish" || c.Article.ID != "after" {
		t.Fatalf("got %s %s, want the entry added after the restore", c.Method, c.Article.ID)
	}
	se.rec.none(t, 200*time.Millisecond)
}

// An entry over article.MaxSize (padded with other fields) and an entry with two "article"
// fields are dead-lettered with a reason, named in one log line each, and nothing of them is
// published; the valid entry after them is. The oversized entry is measured in Redis: its
// padding reaches neither the log nor the dead-letter copy.
func TestStreamOversizedAndDoubleArticleEntriesAreDeadLettered(t *testing.T) {
	t.Parallel()
	se := newStreamEnv(t)
	se.started(t, se.env, fastStream)
	draft, final := story("cms-two", "en", testNow), story("cms-two", "en", testNow)
	draft.Title, final.Title = "Draft", "Final"
	two := se.add(t, "article", string(mustJSON(t, draft)), "article", string(mustJSON(t, final)))
	padding := strings.Repeat("x", article.MaxSize)
	big := se.add(t, "article", string(mustJSON(t, story("cms-big", "en", testNow))), "padding", padding)
	se.addStory(t, story("cms-ok", "en", testNow))

	if c := se.rec.next(t); c.Article.ID != "cms-ok" {
		t.Fatalf("got %s %s, want cms-ok only", c.Method, c.Article.ID)
	}
	se.waitPending(t, 0)
	se.rec.none(t, 100*time.Millisecond)
	lines := se.logs.Records("invalid stream entry")
	if len(lines) != 2 {
		t.Fatalf("%d log lines, want 2: %v", len(lines), lines)
	}
	byID := map[string]map[string]any{}
	for _, l := range lines {
		byID[l["entry_id"].(string)] = l
	}
	if l := byID[two]; l == nil || l["field"] != "article" || l["reason"] != `2 "article" fields in the entry; one is expected` {
		t.Errorf("log line of the entry with two articles: %v", l)
	}
	size := float64(len("article") + len(mustJSON(t, story("cms-big", "en", testNow))) + len("padding") + len(padding))
	if l := byID[big]; l == nil || l["field"] != "article" || !strings.Contains(l["reason"].(string), "over the 4 MiB cap") || l["size"] != size {
		t.Errorf("log line of the oversized entry: %v; want the cap and size %v", l, size)
	}
	if strings.Contains(se.logs.String(), "xxxxxxxx") {
		t.Error("the padding of the oversized entry is in the log")
	}
	dead, err := se.rdb.XRange(context.Background(), se.store.keys.deadLetter(), "-", "+").Result()
	if err != nil || len(dead) != 2 {
		t.Fatalf("dead-letter stream %d entries, %v; want 2", len(dead), err)
	}
	fields := deadFields(t, se, dead[0].ID)
	if n := strings.Count(fields, `"title": "Draft"`) + strings.Count(fields, `"title": "Final"`); n != 2 {
		t.Errorf("dead-letter copy of the entry with two articles keeps %d of them: %s", n, fields)
	}
	if _, ok := dead[1].Values["article"]; ok || dead[1].Values["entry_id"] != big {
		t.Errorf("dead-letter copy of the oversized entry %v; want its id and no article", dead[1].Values["entry_id"])
	}
	if _, ok, _ := se.store.Get(context.Background(), "cms-two"); ok {
		t.Error("a version of the entry with two articles was recorded")
	}
}

// deadFields is the dead-letter entry's fields as Redis holds them (repeated names kept).
func deadFields(t *testing.T, se *streamEnv, id string) string {
	t.Helper()
	v, err := se.rdb.Do(context.Background(), "XRANGE", se.store.keys.deadLetter(), id, id).Slice()
	if err != nil || len(v) != 1 {
		t.Fatalf("XRANGE %s: %v, %v", id, v, err)
	}
	return fmt.Sprint(v[0])
}
