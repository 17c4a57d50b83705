package intake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"newsbot/internal/backoff"
	"newsbot/internal/redistest"
	"newsbot/internal/telegram"
	"newsbot/internal/telegramtest"
)

// pushMessages queues n text messages spread over chats and returns their update ids.
func pushMessages(srv *telegramtest.Server, n, chats int) []int {
	ids := make([]int, n)
	for i := range n {
		chat := int64(i%chats + 1)
		ids[i] = srv.PushUpdate(map[string]any{"message": map[string]any{
			"message_id": i + 1, "date": 1700000000, "text": fmt.Sprint("msg ", i),
			"chat": map[string]any{"id": chat, "type": "private"},
			"from": map[string]any{"id": chat, "is_bot": false, "first_name": "R"},
		}})
	}
	return ids
}

// intakeRun is one running copy of the intake: a dispatcher and a poller.
type intakeRun struct {
	d      *Dispatcher
	p      *Poller
	cancel context.CancelFunc
	wg     sync.WaitGroup
	err    atomic.Value
}

func startPolling(t *testing.T, h Handler, api UpdatesAPI, rdb redis.UniversalClient, prefix string, tweak ...func(*PollerOptions, *DispatcherOptions)) *intakeRun {
	t.Helper()
	return startPollingCtx(t, context.Background(), h, api, rdb, prefix, tweak...)
}

func startPollingCtx(t *testing.T, parent context.Context, h Handler, api UpdatesAPI, rdb redis.UniversalClient, prefix string, tweak ...func(*PollerOptions, *DispatcherOptions)) *intakeRun {
	t.Helper()
	do := DispatcherOptions{Handler: h, Workers: 8}
	po := PollerOptions{API: api, Redis: rdb, Prefix: prefix, Timeout: time.Second, MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
	for _, f := range tweak {
		f(&po, &do)
	}
	r := &intakeRun{d: newDispatcher(t, do)}
	po.Dispatcher = r.d
	var err error
	if r.p, err = NewPoller(po); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(parent)
	r.cancel = cancel
	r.wg.Go(func() { _ = r.d.Run(ctx) })
	r.wg.Go(func() {
		if err := r.p.Run(ctx); err != nil {
			r.err.Store(err)
		}
	})
	t.Cleanup(r.stop)
	return r
}

func (r *intakeRun) stop() { r.cancel(); r.wg.Wait() }

func TestPollerDeliversEveryUpdateOnceInOrder(t *testing.T) {
	t.Parallel()
	srv := telegramtest.New(t)
	rdb, prefix := redistest.New(t)
	api := telegram.New(srv.Token(), srv.URL(), nil, nil)
	rec := newIntakeRecorder()
	rec.jitter = true
	ids := pushMessages(srv, 250, 12) // more than one getUpdates batch (100)
	startPolling(t, rec, api, rdb, prefix)
	waitUntil(t, "250 updates", func() bool { return rec.total.Load() == 250 })
	rec.check(t, ids)
	waitUntil(t, "offset saved", func() bool {
		return rdb.Get(context.Background(), keyPollOffset(prefix)).Val() == fmt.Sprint(ids[len(ids)-1]+1)
	})
	// Long polling asks for the next updates with the saved offset and a timeout.
	var last map[string]any
	waitUntil(t, "the next poll", func() bool {
		reqs := srv.Requests("getUpdates")
		last = reqs[len(reqs)-1].Params
		return last["offset"] == int64(ids[len(ids)-1]+1)
	})
	if last["offset"] != int64(ids[len(ids)-1]+1) || last["timeout"] != int64(1) {
		t.Errorf("last getUpdates params %v", last)
	}
	if au, ok := last["allowed_updates"].([]any); !ok || len(au) == 0 {
		t.Errorf("allowed_updates %#v", last["allowed_updates"])
	}
}

// TestPollerRestartLosesAndRepeatsNothing stops the intake in the middle of a batch (the
// handler of the 10th update pulls the plug, and the rest of the batch is abandoned
// with no grace), starts a fresh copy on the same Redis, and checks every update was
// handled exactly once over both lives.
func TestPollerRestartLosesAndRepeatsNothing(t *testing.T) {
	t.Parallel()
	srv := telegramtest.New(t)
	rdb, prefix := redistest.New(t)
	api := telegram.New(srv.Token(), srv.URL(), nil, nil)
	rec := newIntakeRecorder()
	ids := pushMessages(srv, 40, 5)

	ctx, pullPlug := context.WithCancel(context.Background())
	defer pullPlug()
	rec.onHandle = func(u telegram.Update) {
		if u.UpdateID == ids[9] {
			pullPlug()
		}
	}
	first := startPollingCtx(t, ctx, rec, api, rdb, prefix, func(_ *PollerOptions, d *DispatcherOptions) { d.Grace = -1 })
	<-ctx.Done()
	first.stop()
	handledFirst := rec.total.Load()
	if handledFirst == 0 || handledFirst == 40 {
		t.Fatalf("first life handled %d of 40; the test needs a stop in the middle", handledFirst)
	}
	t.Logf("first life handled %d of 40", handledFirst)

	rec.onHandle = nil
	more := pushMessages(srv, 15, 5)
	startPolling(t, rec, api, rdb, prefix)
	all := append(ids, more...)
	waitUntil(t, "every update", func() bool { return rec.total.Load() >= int64(len(all)) })
	time.Sleep(50 * time.Millisecond) // a repeat would show up now
	rec.check(t, all)
	// What is kept to get there stays small: the done set is cleared with each batch.
	waitUntil(t, "the done set cleared", func() bool {
		return rdb.Exists(context.Background(), keyPollDone(prefix)).Val() == 0
	})
}

func TestPollerDeletesAWebhookFirst(t *testing.T) {
	t.Parallel()
	srv := telegramtest.New(t)
	rdb, prefix := redistest.New(t)
	api := telegram.New(srv.Token(), srv.URL(), nil, nil)
	if err := api.SetWebhook(context.Background(), "https://old.example/hook", "s", nil); err != nil {
		t.Fatal(err)
	}
	ids := pushMessages(srv, 3, 1)
	rec := newIntakeRecorder()
	startPolling(t, rec, api, rdb, prefix)
	waitUntil(t, "updates after deleting the webhook", func() bool { return rec.total.Load() == 3 })
	rec.check(t, ids)
	if srv.Count("deleteWebhook") != 1 {
		t.Errorf("deleteWebhook called %d times", srv.Count("deleteWebhook"))
	}
	if url, _ := srv.Webhook(); url != "" {
		t.Errorf("webhook still %q", url)
	}
}

func TestPollerBacksOffAndRecovers(t *testing.T) {
	t.Parallel()
	srv := telegramtest.New(t)
	rdb, prefix := redistest.New(t)
	api := telegram.New(srv.Token(), srv.URL(), nil, nil)
	srv.FailNext("getUpdates", nil, telegramtest.ServerError())
	srv.FailNext("getUpdates", nil, telegramtest.ServerError())
	srv.FailNext("getUpdates", nil, telegramtest.RetryAfter(1))
	ids := pushMessages(srv, 5, 2)
	rec := newIntakeRecorder()
	startPolling(t, rec, api, rdb, prefix)
	waitUntil(t, "updates after failures", func() bool { return rec.total.Load() == 5 })
	rec.check(t, ids)
	reqs := srv.Requests("getUpdates")
	if len(reqs) < 4 || reqs[3].Time.Sub(reqs[2].Time) < 900*time.Millisecond {
		t.Errorf("retry after a 429 did not wait its retry_after: %d polls", len(reqs))
	}
}

func TestPollerRefusedTokenStops(t *testing.T) {
	t.Parallel()
	srv := telegramtest.New(t)
	rdb, prefix := redistest.New(t)
	api := telegram.New(srv.Token()+"0", srv.URL(), nil, nil)
	r := startPolling(t, newIntakeRecorder(), api, rdb, prefix)
	waitUntil(t, "the poller to give up", func() bool { return r.err.Load() != nil })
	if err := r.err.Load().(error); telegram.OutcomeOf(err) != telegram.Unauthorized || !strings.Contains(err.Error(), "TELEGRAM_BOT_TOKEN") {
		t.Errorf("Run = %v, want ErrUnauthorized naming TELEGRAM_BOT_TOKEN", err)
	}
	// The lock is let go at once, so that a copy with a good token takes over without
	// waiting for it to expire.
	if n := rdb.Exists(context.Background(), keyPollLock(prefix)).Val(); n != 0 {
		t.Error("the polling lock is still held after the poller stopped")
	}
}

// TestTwoCopiesPollOneAtATime runs two copies of the bot on one Redis: one polls, the
// other waits, and every update is handled once.
func TestTwoCopiesPollOneAtATime(t *testing.T) {
	t.Parallel()
	srv := telegramtest.New(t)
	rdb, prefix := redistest.New(t)
	api := telegram.New(srv.Token(), srv.URL(), nil, nil)
	rec := newIntakeRecorder()
	short := func(p *PollerOptions, _ *DispatcherOptions) { p.LockTTL = 300 * time.Millisecond }
	a := startPolling(t, rec, api, rdb, prefix, short)
	startPolling(t, rec, api, rdb, prefix, short)
	ids := pushMessages(srv, 30, 3)
	waitUntil(t, "first 30", func() bool { return rec.total.Load() == 30 })
	// The polling copy goes away; the other takes over.
	a.stop()
	more := pushMessages(srv, 30, 3)
	waitUntil(t, "next 30", func() bool { return rec.total.Load() == 60 })
	time.Sleep(50 * time.Millisecond)
	rec.check(t, append(ids, more...))
}

// TestBackoffIsBoundedAndJittered: after failures the poller waits from MinBackoff, growing
// to MaxBackoff (plus package backoff's jitter of up to a fifth), never the same wait for
// every copy; a 429 waits exactly its retry_after.
func TestBackoffIsBoundedAndJittered(t *testing.T) {
	t.Parallel()
	seen := map[time.Duration]bool{}
	for range 20 {
		b := backoff.Backoff{Min: 100 * time.Millisecond, Max: time.Second}
		for n := 1; n < 20; n++ {
			d := retryWait(&b, errors.New("x"))
			if d < 100*time.Millisecond || d > time.Second+time.Second/5 {
				t.Fatalf("wait after %d failures = %v out of bounds", n, d)
			}
			seen[d] = true
		}
	}
	if len(seen) < 10 {
		t.Errorf("backoff barely varies: %d distinct waits", len(seen))
	}
	b := backoff.Backoff{Min: 100 * time.Millisecond, Max: time.Second}
	retryAfter := &telegram.Error{Outcome: telegram.RetryAfter, RetryAfter: 3 * time.Second}
	if d := retryWait(&b, retryAfter); d != 3*time.Second {
		t.Errorf("429 backoff %v, want its retry_after", d)
	}
}

// TestSlowBatchKeepsThePollingLock: a batch that takes longer than the lock's TTL (a handler
// waiting out a 429, a slow Redis) must not let another copy take the lock, fetch the same
// batch again and handle its unfinished updates a second time.
func TestSlowBatchKeepsThePollingLock(t *testing.T) {
	t.Parallel()
	srv := telegramtest.New(t)
	rdb, prefix := redistest.New(t)
	api := telegram.New(srv.Token(), srv.URL(), nil, nil)
	rec := newIntakeRecorder()
	ids := pushMessages(srv, 6, 3)
	slow := make(chan struct{})
	var once sync.Once
	rec.onHandle = func(u telegram.Update) {
		if u.UpdateID == ids[0] {
			once.Do(func() { close(slow) })
			time.Sleep(1200 * time.Millisecond) // four times the lock's TTL
		}
	}
	short := func(p *PollerOptions, _ *DispatcherOptions) { p.LockTTL = 300 * time.Millisecond }
	startPolling(t, rec, api, rdb, prefix, short)
	<-slow
	startPolling(t, rec, api, rdb, prefix, short)
	waitUntil(t, "6 updates", func() bool { return rec.total.Load() >= 6 })
	time.Sleep(2 * time.Second) // a repeat of the slow update would show up now
	rec.check(t, ids)
}

// TestBotBehindThePoller runs the bot as the service wires it behind the real intake:
// updates come by getUpdates from the fake Bot API, through the Dispatcher, in order per
// chat, and a press is answered once and edits the keyboard it sits in.
func TestBotBehindThePoller(t *testing.T) {
	t.Parallel()
	srv := telegramtest.New(t)
	rdb, prefix := redistest.New(t)
	b := wiredBot(t, srv, rdb, prefix, nil, nil)
	api := telegram.New(srv.Token(), srv.URL(), nil, nil)
	startPolling(t, b, api, rdb, prefix)

	const reader = 95
	user := map[string]any{"id": reader, "is_bot": false, "first_name": "R", "language_code": "ru"}
	chat := map[string]any{"id": reader, "type": "private"}
	for i, text := range []string{"/start", "/topics"} {
		srv.PushUpdate(map[string]any{"message": map[string]any{
			"message_id": i + 1, "date": 1700000000, "chat": chat, "from": user, "text": text,
		}})
	}
	srv.WaitFor(t, "sendMessage", 2, 10*time.Second)
	ms := srv.Messages(int64(reader))
	msg := ms[len(ms)-1]
	if !strings.Contains(msg.Text(), "Выберите темы") {
		t.Fatalf("last message %q, want the /topics keyboard after the welcome", msg.Text())
	}
	srv.PushUpdate(map[string]any{"callback_query": map[string]any{
		"id": "poll-cb", "from": user, "chat_instance": "c", "data": "t1:t:sport",
		"message": map[string]any{"message_id": msg.MessageID, "date": 1, "chat": chat},
	}})
	srv.WaitFor(t, "editMessageReplyMarkup", 1, 10*time.Second)
	ms = srv.Messages(int64(reader))
	raw, _ := json.Marshal(ms[len(ms)-1].Params["reply_markup"])
	if !strings.Contains(string(raw), `{"callback_data":"t1:t:sport","text":"Спорт"}`) {
		t.Errorf("sport still checked after the press: %s", raw)
	}
	if n := srv.Count("answerCallbackQuery"); n != 1 {
		t.Errorf("%d answers to one press", n)
	}
}
