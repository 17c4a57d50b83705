package delivery

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"newsbot/internal/telegram"
	"newsbot/internal/telegramtest"
)

// TestRepliesGoAheadOfFanOut: readers answering the bot while a fan-out runs at SEND_RATE get
// every answer, the fake enforcing the rate answers no 429, and the fan-out uses what the
// replies leave of the rate.
func TestRepliesGoAheadOfFanOut(t *testing.T) {
	e := newEnv(t)
	const rate = 30
	readers := e.readers(1, 400, "en")
	e.tg.SetRateLimit(rate)
	eng, _ := e.engine(Options{SendRate: rate, Channels: map[string]string{}})
	run(t, eng)
	replies := eng.Replies(e.client())
	ctx := context.Background()
	if err := eng.Publish(ctx, story("f1", "en")); err != nil {
		t.Fatal(err)
	}
	e.tg.WaitFor(t, "sendMessage", 30, 10*time.Second)
	// 60 new readers write to the bot at once (2 seconds of the whole rate).
	start := time.Now()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := range 60 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := replies.Call(ctx, "sendMessage", map[string]any{"chat_id": int64(10000 + i), "text": "Welcome"}); err != nil {
				failed.Add(1)
				t.Errorf("reply %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	waitIdle(t, eng, time.Minute)
	exactlyOne(t, e, readers)
	if n := e.tg.RateLimited(); n != 0 {
		t.Errorf("the fake enforcing %d/s answered %d requests with 429", rate, n)
	}
	// 60 replies at 30/s need 2 s; fan-out holds at most ~1/8 s of slots ahead of them.
	if took > 4*time.Second {
		t.Errorf("60 replies took %v with fan-out running", took)
	}
	reqs := e.tg.Requests("sendMessage")
	first, last := reqs[0].Time, reqs[len(reqs)-1].Time
	use := float64(len(reqs)-1) / last.Sub(first).Seconds() / rate
	if use < 0.95 {
		t.Errorf("replies and fan-out together used %.2f of SEND_RATE, want ≥ 0.95", use)
	}
	t.Logf("60 replies in %v; %d messages at %.3f of the rate", took, len(reqs), use)
}

// TestRepliesThatDidNotLeaveAreSentAgain: with the Bot API answering 500 to 30% of requests,
// every reply and every answer to a button press arrives once; a reply that meets a 429 waits
// it out and is sent.
func TestRepliesThatDidNotLeaveAreSentAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(1, 2))
	e.tg.SetHandler(func(r telegramtest.Request) *telegramtest.Response {
		mu.Lock()
		bad := rng.Float64() < 0.3
		mu.Unlock()
		if bad {
			return &telegramtest.Response{Failure: &telegramtest.Failure{Code: 500, Description: "Internal Server Error"}}
		}
		return nil
	})
	eng, _ := e.engine(Options{Backoff: 50 * time.Millisecond})
	replies := eng.Replies(e.client())
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := replies.Call(ctx, "sendMessage", map[string]any{"chat_id": int64(1 + i), "text": "Welcome"}); err != nil {
				t.Errorf("reply to %d: %v", 1+i, err)
			}
			if err := replies.AnswerCallbackQuery(ctx, "cb"+itoa(int64(i)), "", false); err != nil {
				t.Errorf("answer to press %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	for i := range 100 {
		if n := len(e.tg.Messages(int64(1 + i))); n != 1 {
			t.Errorf("reader %d holds %d replies, want 1", 1+i, n)
		}
	}
	answered := map[any]int{}
	for _, r := range e.tg.Requests("answerCallbackQuery") {
		if r.Status == 200 {
			answered[r.Params["callback_query_id"]]++
		}
	}
	if len(answered) != 100 {
		t.Errorf("%d of 100 presses answered", len(answered))
	}

	e.tg.SetHandler(nil)
	e.tg.FailNext("sendMessage", int64(500), telegramtest.RetryAfter(1))
	start := time.Now()
	if _, err := replies.Call(ctx, "sendMessage", map[string]any{"chat_id": int64(500), "text": "Latest"}); err != nil {
		t.Fatalf("reply after a 429: %v", err)
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("reply sent again %v after a 429 asking for 1s", d)
	}
}

// TestReplyInDoubtIsNotRepeated: a reply whose request left without an answer may have
// arrived; it is not sent again.
func TestReplyInDoubtIsNotRepeated(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	release := make(chan struct{})
	defer close(release)
	var arrived atomic.Int64
	e.tg.SetHandler(func(r telegramtest.Request) *telegramtest.Response {
		arrived.Add(1)
		<-release
		return nil
	})
	eng, _ := e.engine(Options{})
	hc := telegram.NewHTTPClient()
	hc.Timeout = 200 * time.Millisecond
	replies := eng.Replies(telegram.New(e.tg.Token(), e.tg.URL(), hc, nil))
	_, err := replies.Call(context.Background(), "sendMessage", map[string]any{"chat_id": int64(1), "text": "x"})
	if telegram.OutcomeOf(err) != telegram.InDoubt {
		t.Fatalf("err = %v, want in doubt", err)
	}
	time.Sleep(300 * time.Millisecond)
	if n := arrived.Load(); n != 1 {
		t.Errorf("%d requests for one reply in doubt, want 1", n)
	}
}
