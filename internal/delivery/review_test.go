package delivery

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"newsbot/internal/redistest"
	"newsbot/internal/subscriber"
	"newsbot/internal/telegramtest"
)

// A channel the bot was removed from (or whose name changed) answers every post with a
// refusal. Readers must still get the story: a broken channel must not stop the fan-out.
func TestChannelRefusingThePostDoesNotStopTheFanOut(t *testing.T) {
	for name, f := range map[string]telegramtest.Failure{
		"kicked":      {Code: 403, Description: "Forbidden: bot is not a member of the channel chat"},
		"not found":   telegramtest.ChatNotFound(),
		"bad request": telegramtest.BadRequest("wrong file identifier/HTTP URL specified"),
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			chats := e.readers(100, 3, "en")
			eng, _ := e.engine(Options{})
			run(t, eng)
			e.tg.FailNext("sendMessage", "@news_en", f)
			if err := eng.Publish(context.Background(), story("c1", "en")); err != nil {
				t.Logf("Publish: %v", err)
			}
			waitIdle(t, eng, 10*time.Second)
			exactlyOne(t, e, chats)
		})
	}
}

// A shutdown while the channel post waits for its slot (a 429 pause in force) sends
// nothing; the story must still reach the channel when the story is handed on again.
func TestChannelPostCutOffBeforeSendingIsPostedLater(t *testing.T) {
	e := newEnv(t)
	eng, _ := e.engine(Options{})
	if err := eng.lim.pause(context.Background(), 2*time.Second); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := eng.Publish(ctx, story("c2", "en")); err == nil {
		t.Fatal("Publish cut off by its ctx returned nil")
	}
	if n := e.tg.Count("sendMessage"); n != 0 {
		t.Fatalf("%d sends during the pause", n)
	}
	time.Sleep(2 * time.Second) // the pause ends
	if err := eng.Publish(context.Background(), story("c2", "en")); err != nil {
		t.Fatal(err)
	}
	if got := e.channelPosts("Story c2"); len(got) != 1 {
		t.Errorf("channel holds %q, want the story once", got)
	}
}

// A correction that adds a photo deletes the text post and posts anew; when the new post
// fails, the correction is retried (the source offers it again) and must bring the story
// back to the channel rather than leave it with none.
func TestFailedRepostIsRetried(t *testing.T) {
	e := newEnv(t)
	eng, _ := e.engine(Options{Retries: 1})
	ctx := context.Background()
	s := story("c3", "en")
	if err := eng.Publish(ctx, s); err != nil {
		t.Fatal(err)
	}
	s.ImageURL = "https://example.kz/c3.jpg"
	e.tg.FailNext("sendPhoto", "@news_en", telegramtest.ServerError())
	e.tg.FailNext("sendPhoto", "@news_en", telegramtest.ServerError())
	if err := eng.Correct(ctx, s); err == nil {
		t.Fatal("Correct with a failing repost returned nil")
	}
	if err := eng.Correct(ctx, s); err != nil {
		t.Fatal(err)
	}
	if got := e.channelPosts("Story c3"); len(got) != 1 || !strings.HasPrefix(got[0], "sendPhoto") {
		t.Errorf("channel holds %q, want one photo post", got)
	}
}

// A correction while the story is still being fanned out: readers who have not been sent
// the story yet get the corrected text; nobody gets two copies.
func TestCorrectionDuringFanOutReachesReadersNotYetSent(t *testing.T) {
	e := newEnv(t)
	chats := e.readers(1000, 40, "en")
	eng, _ := e.engine(Options{SendRate: 20, PageSize: 5, Workers: 1})
	run(t, eng)
	ctx := context.Background()
	s := story("fix1", "en")
	s.Title = "Minister resigns"
	if err := eng.Publish(ctx, s); err != nil {
		t.Fatal(err)
	}
	e.tg.WaitFor(t, "sendMessage", 6, 10*time.Second) // the channel post and some readers
	s.Title = "Minister stays"
	if err := eng.Correct(ctx, s); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, eng, 20*time.Second)
	exactlyOne(t, e, chats)
	last := e.tg.Messages(chats[len(chats)-1])
	if len(last) != 1 || !strings.Contains(last[0].Text(), "Minister stays") {
		t.Errorf("the last reader, sent long after the correction, holds %q; want the corrected story", last[0].Text())
	}
}

// A copy that worked on a job another copy finished must not keep the job's story (and its
// rendered posts) in memory for good.
func TestFinishedJobsAreNotCachedForever(t *testing.T) {
	e := newEnv(t)
	e.readers(100, 3, "en")
	a, _ := e.engine(Options{})
	b, _ := e.engine(Options{})
	ctx := context.Background()
	if err := a.Publish(ctx, story("mem1", "en")); err != nil {
		t.Fatal(err)
	}
	// b loads the job (as when it claims a page); a does the work and finishes it.
	if _, err := b.jobRun(ctx, newJobID("mem1", 0), ""); err != nil {
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

// A channel is paced like a group (Telegram allows about 20 posts a minute to one), however
// CHANNELS names it: "@name" or "-100…" id.
func TestChannelPostsArePacedLikeGroups(t *testing.T) {
	e := newEnv(t)
	eng, _ := e.engine(Options{})
	ctx := context.Background()
	for _, id := range []string{"g1", "g2"} {
		if err := eng.Publish(ctx, story(id, "en")); err != nil {
			t.Fatal(err)
		}
	}
	var times []time.Time
	for _, r := range e.tg.Requests("sendMessage") {
		if r.ChatID() == "@news_en" {
			times = append(times, r.Time)
		}
	}
	if len(times) != 2 {
		t.Fatalf("%d channel posts, want 2", len(times))
	}
	// Allow for the request's own jitter on its way to the fake, as TestPerChatPacing does.
	if d := times[1].Sub(times[0]); d < 3*time.Second-200*time.Millisecond {
		t.Errorf("two channel posts %v apart, want at least 3s (20 a minute)", d)
	}
}

// Redis going away in the middle of a fan-out: the workers wait it out, resume, and every
// reader ends with exactly one copy.
func TestRedisOutageMidFanOut(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	e := newEnvWith(t, rdb, "outage:")
	chats := e.readers(100, 40, "en")
	eng, _ := e.engine(Options{SendRate: 20, PageSize: 10})
	run(t, eng)
	if err := eng.Publish(context.Background(), story("o1", "en")); err != nil {
		t.Fatal(err)
	}
	e.tg.WaitFor(t, "sendMessage", 10, 10*time.Second)
	srv.Stop()
	time.Sleep(1500 * time.Millisecond)
	srv.Restart(t)
	waitIdle(t, eng, 30*time.Second)
	exactlyOne(t, e, chats)
}

// Every record of a story expires with LedgerTTL, also when the copy sending it died before
// recording any result, and when the story is withdrawn.
func TestStoryRecordsExpire(t *testing.T) {
	e := newEnv(t)
	chats := e.readers(100, 3, "en")
	eng, _ := e.engine(Options{})
	ctx := context.Background()
	a := story("ttl1", "en")
	if err := eng.Publish(ctx, a); err != nil {
		t.Fatal(err)
	}
	// A worker claims a page and marks its chats "sending", then dies.
	p, err := eng.next(ctx)
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
	k := eng.keys
	for _, key := range []string{k.ledger(a.ID), k.meta(a.ID), k.channels(a.ID)} {
		ttl, err := e.rdb.TTL(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if ttl <= 0 {
			t.Errorf("%s: TTL %v, want it to expire", key, ttl)
		}
	}
	// A story withdrawn long after it went out (its records expired) is remembered for a
	// while, not for good.
	old := story("ttl2", "en")
	if err := eng.Retract(ctx, old); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{k.meta(old.ID), k.channels(old.ID)} {
		if ttl, _ := e.rdb.TTL(ctx, key).Result(); ttl <= 0 {
			t.Errorf("%s: TTL %v, want it to expire", key, ttl)
		}
	}
}

// A retraction stops the fan-out at once, also in the middle of a page: readers not sent the
// story yet never get it.
func TestRetractionStopsAPageMidway(t *testing.T) {
	e := newEnv(t)
	chats := e.readers(100, 40, "en")
	eng, _ := e.engine(Options{SendRate: 10, PageSize: 40, Workers: 1})
	run(t, eng)
	ctx := context.Background()
	a := story("r1", "en")
	if err := eng.Publish(ctx, a); err != nil {
		t.Fatal(err)
	}
	e.tg.WaitFor(t, "sendMessage", 5, 10*time.Second) // the channel post and 4 readers
	if err := eng.Retract(ctx, a); err != nil {
		t.Fatal(err)
	}
	st := waitIdle(t, eng, 20*time.Second)
	got := 0
	for _, n := range e.copies(chats) {
		got += n
	}
	// At 10/s a few slots may already be handed out when the retraction lands.
	if got > 10 {
		t.Errorf("%d of %d readers got the story after all, want the fan-out stopped (%+v)", got, len(chats), st)
	}
	j, ok, err := eng.Job(ctx, newJobID(a.ID, 0))
	if err != nil || !ok || j.State != JobRetracted {
		t.Errorf("job %+v (found %v, %v), want retracted", j, ok, err)
	}
}

// A shutdown while the channel post is on its way lets it finish (as fan-out sends do), so
// the post is recorded and later corrections can edit it, instead of a post that is in the
// channel but unknown to newsbot.
func TestShutdownDuringChannelPostRecordsIt(t *testing.T) {
	e := newEnv(t)
	eng, _ := e.engine(Options{})
	e.tg.SetHandler(func(r telegramtest.Request) *telegramtest.Response {
		if r.Method == "sendMessage" && r.ChatID() == "@news_en" {
			time.Sleep(300 * time.Millisecond) // Telegram is slow to answer
		}
		return nil
	})
	a := story("sd1", "en")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_ = eng.Publish(ctx, a) // cut off: the source offers the story again
	e.tg.WaitFor(t, "sendMessage", 1, 5*time.Second)
	e.tg.SetHandler(nil)
	if err := eng.Publish(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	a.Title = "Story sd1, corrected"
	if err := eng.Correct(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if got := e.channelPosts("Story sd1"); len(got) != 1 || !strings.Contains(got[0], "corrected") {
		t.Errorf("channel holds %q, want the one post, corrected", got)
	}
}

// A copy whose hand-on of a new story outlived its claim publishes the story's first text
// while the copy that took it over publishes the corrected one (or the other way round):
// the channel ends with the text published last, in one post.
func TestPublishOfANewerTextBringsTheChannelPostUpToDate(t *testing.T) {
	e := newEnv(t)
	eng, _ := e.engine(Options{})
	ctx := context.Background()
	a := story("up1", "en")
	if err := eng.Publish(ctx, a); err != nil {
		t.Fatal(err)
	}
	a.Title = "Story up1, corrected"
	if err := eng.Publish(ctx, a); err != nil {
		t.Fatal(err)
	}
	if got := e.channelPosts("Story up1"); len(got) != 1 || !strings.Contains(got[0], "corrected") {
		t.Errorf("channel holds %q, want the one post, corrected", got)
	}
	// Publishing the same text again changes nothing.
	if err := eng.Publish(ctx, a); err != nil {
		t.Fatal(err)
	}
	if n := e.tg.Count("editMessageText"); n != 1 {
		t.Errorf("%d edits, want 1", n)
	}
}

// Telegram lets a bot delete a channel post only within 48 hours. Retracting an older story
// is refused for good: Retract must say so in the log and finish (so the watcher records the
// retraction and /latest drops the story) instead of failing on every retry forever.
func TestRetractionOfAPostTelegramWillNotDelete(t *testing.T) {
	e := newEnv(t)
	var logs syncBuffer
	eng, _ := e.engine(Options{Log: slog.New(slog.NewTextHandler(&logs, nil))})
	ctx := context.Background()
	a := story("old1", "en")
	if err := eng.Publish(ctx, a); err != nil {
		t.Fatal(err)
	}
	e.tg.FailNext("deleteMessage", "@news_en", telegramtest.BadRequest("message can't be deleted"))
	if err := eng.Retract(ctx, a); err != nil {
		t.Errorf("Retract: %v, want it done (Telegram will never delete the post)", err)
	}
	if !strings.Contains(logs.String(), "delete it by hand") {
		t.Errorf("no log line asking an editor to delete the post:\n%s", logs.String())
	}
	// A correction refused for good likewise.
	b := story("old2", "en")
	if err := eng.Publish(ctx, b); err != nil {
		t.Fatal(err)
	}
	e.tg.FailNext("editMessageText", "@news_en", telegramtest.BadRequest("message can't be edited"))
	b.Title = "Story old2, corrected"
	if err := eng.Correct(ctx, b); err != nil {
		t.Errorf("Correct: %v, want it done (Telegram will never edit the post)", err)
	}
}

// A job given up because its story can have no audience any more (LANGUAGES changed while it
// ran) leaves no page leases behind for good.
func TestAbandonedJobLeavesNoLeases(t *testing.T) {
	e := newEnv(t)
	e.readers(100, 5, "en")
	a, _ := e.engine(Options{PageSize: 2})
	ctx := context.Background()
	if err := a.Publish(ctx, story("ab1", "en")); err != nil {
		t.Fatal(err)
	}
	if p, err := a.next(ctx); err != nil || p == nil { // a page leased, then the copy stops
		t.Fatalf("claim: %v, %v", p, err)
	}
	// The service comes back with English no longer among LANGUAGES.
	e.store = subscriber.NewStore(e.rdb, e.prefix, []string{"kk", "ru"}, testTopics)
	b, _ := e.engine(Options{PageSize: 2})
	if _, err := b.next(ctx); err != nil {
		t.Fatal(err)
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

// While Redis is down an idle engine's workers back off and log the outage once each, and
// once more when work can be found again — not a line per poll.
func TestRedisOutageIsLoggedOncePerWorker(t *testing.T) {
	srv := redistest.Start(t)
	// No client-side retries (as redisconn configures the service's client, nearly): each
	// poll during the outage fails at once instead of riding it out.
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1, DialerRetries: 1})
	t.Cleanup(func() { _ = rdb.Close() })
	e := newEnvWith(t, rdb, "quiet:")
	var logs syncBuffer
	eng, _ := e.engine(Options{Workers: 2, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	run(t, eng)
	time.Sleep(100 * time.Millisecond)
	srv.Stop()
	time.Sleep(3 * time.Second)
	srv.Restart(t)
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(logs.String(), "delivery work found again") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	out := logs.String()
	if n := strings.Count(out, "find delivery work failed"); n < 1 || n > 2 {
		t.Errorf("%d error lines for one outage with 2 workers, want 1–2:\n%s", n, out)
	}
	if !strings.Contains(out, "delivery work found again") {
		t.Errorf("no line when Redis came back:\n%s", out)
	}
}
