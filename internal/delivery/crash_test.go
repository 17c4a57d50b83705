package delivery

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"newsbot/internal/redistest"
	"newsbot/internal/subscriber"
	"newsbot/internal/telegram"
	"newsbot/internal/telegramtest"
	"newsbot/internal/testkit"
)

// A copy stopped mid-fan-out (deploy, scale-down) hands its pages back; another copy finishes
// the job and every reader holds exactly one copy.
func TestStoppedEngineHandsOverWithoutDuplicates(t *testing.T) {
	e := newEnv(t)
	chats := e.readers(1000, 600, "en")
	a, _ := e.engine(Options{SendRate: 300, PageSize: 50})
	stopA := run(t, a)
	if err := a.Publish(context.Background(), story("k1", "en")); err != nil {
		t.Fatal(err)
	}
	e.tg.WaitFor(t, "sendMessage", 150, 20*time.Second)
	stopA()
	before := e.tg.Count("sendMessage")
	if before >= 1+len(chats) {
		t.Fatalf("engine finished before it was stopped (%d sends); the test proves nothing", before)
	}

	b, _ := e.engine(Options{SendRate: 300, PageSize: 50})
	run(t, b)
	waitIdle(t, b, 30*time.Second)
	exactlyOne(t, e, chats)
	t.Logf("first engine sent %d, second the rest", before-1)
}

// A copy that dies outright (its Redis connection gone mid-send, nothing more recorded) leaves
// its pages leased; after the lease expires another copy takes them over. Nobody gets two
// copies; chats whose messages were marked "sending" when it died are in doubt and not sent
// again (at most once) — their number is bounded by the chats in flight.
func TestCrashedEngineLeavesNoDuplicates(t *testing.T) {
	e := newEnv(t)
	chats := e.readers(1000, 600, "en")
	rdbA := redis.NewClient(&redis.Options{Addr: e.rdb.Options().Addr, DB: e.rdb.Options().DB})
	const lease = time.Second
	a, _ := e.engine(Options{SendRate: 300, PageSize: 50, LeaseTTL: lease}, rdbA)
	ctxA, crash := context.WithCancel(context.Background())
	doneA := make(chan struct{})
	go func() { _ = a.Run(ctxA); close(doneA) }()
	if err := a.Publish(context.Background(), story("k2", "en")); err != nil {
		t.Fatal(err)
	}
	e.tg.WaitFor(t, "sendMessage", 150, 20*time.Second)
	_ = rdbA.Close() // the crash: from here on, nothing A does reaches Redis
	crash()
	<-doneA

	b, _ := e.engine(Options{SendRate: 300, PageSize: 50, LeaseTTL: lease})
	run(t, b)
	st := waitIdle(t, b, 30*time.Second)

	zero := 0
	for c, n := range e.copies(chats) {
		switch {
		case n > 1:
			t.Errorf("chat %d holds %d copies", c, n)
		case n == 0:
			zero++
		}
	}
	ledger, err := e.rdb.HGetAll(context.Background(), b.keys.ledger("k2")).Result()
	if err != nil {
		t.Fatal(err)
	}
	doubt := 0
	for _, v := range ledger {
		if strings.HasPrefix(v, "u:") {
			doubt++
		}
	}
	if zero > doubt {
		t.Errorf("%d chats got nothing but only %d are in doubt: a chat was lost", zero, doubt)
	}
	// In flight at most: the chats marked in one group per worker (the slots falling due
	// within markWindow) and the sends on their way.
	if limit := 4 * 16; doubt > limit {
		t.Errorf("%d chats in doubt after the crash, want at most %d", doubt, limit)
	}
	if st.Failed[reasonInDoubt] != int64(doubt) {
		t.Errorf("Stats.Failed[in_doubt] = %d, ledger holds %d", st.Failed[reasonInDoubt], doubt)
	}
	t.Logf("crash: %d chats in doubt, %d of them hold no copy, %d hold one", doubt, zero, len(chats)-zero)
}

// Two copies on one Redis share one job: no chat twice, both work, and together they keep to
// SEND_RATE.
func TestTwoEnginesShareJobWithinRate(t *testing.T) {
	e := newEnv(t)
	chats := e.readers(1000, 400, "en")
	const rate = 100
	e.tg.SetRateLimit(rate) // the fake answers 429 beyond rate/s (token bucket of one second)
	a, ca := e.engine(Options{SendRate: rate, PageSize: 20})
	b, cb := e.engine(Options{SendRate: rate, PageSize: 20})
	run(t, a)
	run(t, b)
	if err := a.Publish(context.Background(), story("two", "en")); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, a, 30*time.Second)
	exactlyOne(t, e, chats)
	if ca.n.Load() == 0 || cb.n.Load() == 0 {
		t.Errorf("one engine did all the work: %d and %d sends", ca.n.Load(), cb.n.Load())
	}
	reqs := e.tg.Requests("")
	worst := 0
	for i, j := 0, 0; i < len(reqs); i++ {
		for reqs[i].Time.Sub(reqs[j].Time) >= time.Second {
			j++
		}
		worst = max(worst, i-j+1)
	}
	// Slots are exactly 1/rate apart on Redis's clock; arrivals at the fake jitter by the
	// scheduling delays of a loaded machine (tens of ms under -race), which may move a few
	// requests into a neighbouring second — never more than that, and never a 429.
	if worst > rate+rate/10 {
		t.Errorf("%d requests within one second, SEND_RATE is %d", worst, rate)
	}
	if n := e.tg.RateLimited(); n != 0 {
		t.Errorf("the fake enforcing %d/s answered %d requests with 429", rate, n)
	}
	first, last := reqs[0].Time, reqs[len(reqs)-1].Time
	overall := float64(len(reqs)-1) / last.Sub(first).Seconds()
	if overall > rate*1.01 {
		t.Errorf("overall rate %.1f/s, SEND_RATE is %d", overall, rate)
	}
	t.Logf("engines sent %d + %d; busiest second %d requests; overall %.1f/s", ca.n.Load(), cb.n.Load(), worst, overall)
}

// Shutdown cannot hang on a Telegram that does not answer: in-flight sends get DrainTimeout,
// then they are cut off (and their chats are in doubt, never sent twice).
func TestShutdownDoesNotWaitForeverOnTelegram(t *testing.T) {
	e := newEnv(t)
	e.readers(100, 20, "en")
	release := make(chan struct{})
	var arrived atomic.Int64
	e.tg.SetHandler(func(r telegramtest.Request) *telegramtest.Response {
		if r.Method == "sendMessage" {
			arrived.Add(1)
			select {
			case <-release:
			case <-time.After(20 * time.Second):
			}
		}
		return nil
	})
	t.Cleanup(func() { close(release) })
	eng, _ := e.engine(Options{DrainTimeout: 200 * time.Millisecond, Channels: map[string]string{}})
	stop := run(t, eng)
	if err := eng.Publish(context.Background(), story("hang", "en")); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); arrived.Load() < 5; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d sends reached the fake", arrived.Load())
		}
	}
	stop() // fails the test if Run does not return within 10 s
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

// While Redis is down an idle engine's workers back off and log the outage once each, and
// once more when work can be found again — not a line per poll.
func TestRedisOutageIsLoggedOncePerWorker(t *testing.T) {
	srv := redistest.Start(t)
	// No client-side retries (as redisconn configures the service's client, nearly): each
	// poll during the outage fails at once instead of riding it out.
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1, DialerRetries: 1})
	t.Cleanup(func() { _ = rdb.Close() })
	e := newEnvWith(t, rdb, "quiet:")
	var logs testkit.Log
	eng, _ := e.engine(Options{Workers: 2, Log: logs.TextLogger()})
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
	if n := strings.Count(out, "find delivery work failed;"); n < 1 || n > 2 {
		t.Errorf("%d error lines for one outage with 2 workers, want 1–2:\n%s", n, out)
	}
	if !strings.Contains(out, "delivery work found again") {
		t.Errorf("no line when Redis came back:\n%s", out)
	}
}

// switchable sends to the fake Bot API, or to an address where nothing listens while down.
type switchable struct {
	up, dead *telegram.Client
	down     atomic.Bool
}

func (s *switchable) Send(ctx context.Context, method string, params map[string]any) (telegram.Message, error) {
	if s.down.Load() {
		return s.dead.Send(ctx, method, params)
	}
	return s.up.Send(ctx, method, params)
}

// TestTelegramOutageMidFanOut: Telegram unreachable for 15 s in the middle of a fan-out —
// connections refused, then 502 from a proxy in front of it — loses nobody: every reader ends
// with exactly one copy.
func TestTelegramOutageMidFanOut(t *testing.T) {
	e := newEnv(t)
	chats := e.readers(100, 300, "en")
	dead := telegramtest.NewServer()
	deadURL := dead.URL()
	dead.Close()
	s := &switchable{up: e.client(), dead: telegram.New(e.tg.Token(), deadURL, nil, nil)}
	eng := New(e.rdb, s, e.store, e.render, Options{Prefix: e.prefix, SendRate: 30,
		Channels: map[string]string{}, IdlePoll: 20 * time.Millisecond, MaxBackoff: 4 * time.Second})
	run(t, eng)
	if err := eng.Publish(context.Background(), story("out1", "en")); err != nil {
		t.Fatal(err)
	}
	e.tg.WaitFor(t, "sendMessage", 100, 20*time.Second)
	s.down.Store(true) // connection refused
	time.Sleep(8 * time.Second)
	s.down.Store(false)
	e.tg.SetHandler(func(r telegramtest.Request) *telegramtest.Response { // a proxy answers 502
		return &telegramtest.Response{Raw: []byte("<html>502 Bad Gateway</html>"), Status: 502}
	})
	time.Sleep(7 * time.Second)
	e.tg.SetHandler(nil)
	st := waitIdle(t, eng, time.Minute)
	exactlyOne(t, e, chats)
	if len(st.Failed) != 0 || st.Sent != int64(len(chats)) {
		t.Errorf("Stats: sent %d, failed %v; want all %d sent", st.Sent, st.Failed, len(chats))
	}
}

// TestCrashMidDigest: a copy killed in the middle of a digest leaves every digest reader with
// exactly one digest for that time once another copy has finished the job — apart from the
// chats in doubt, which get none rather than two.
func TestCrashMidDigest(t *testing.T) {
	day := time.Date(2026, 11, 28, 0, 0, 0, 0, almaty)
	clock := &fakeClock{t: day.Add(7 * time.Hour)}
	e := newEnv(t)
	e.store.SetClock(clock.Now)
	rs := make([]subscriber.Reader, 600)
	chats := make([]int64, 600)
	for i := range rs {
		chats[i] = int64(1000 + i)
		rs[i] = subscriber.Reader{ChatID: chats[i], Lang: "en", Langs: []string{"en"}, AllTopics: true,
			Status: subscriber.Active, Mode: subscriber.Digest}
	}
	if err := e.store.SaveMany(context.Background(), rs); err != nil {
		t.Fatal(err)
	}
	opt := func() Options {
		return Options{SendRate: 300, PageSize: 50, LeaseTTL: time.Second, Clock: clock.Now, Location: almaty,
			DigestTimes: clocks(t, "08:00"), Channels: map[string]string{}}
	}
	rdbA := redis.NewClient(&redis.Options{Addr: e.rdb.Options().Addr, DB: e.rdb.Options().DB})
	a, _ := e.engine(opt(), rdbA)
	d1 := story("d1", "en")
	d1.PublishedAt = clock.Now()
	if err := a.Publish(context.Background(), d1); err != nil {
		t.Fatal(err)
	}
	ctxA, crash := context.WithCancel(context.Background())
	doneA := make(chan struct{})
	go func() { _ = a.Run(ctxA); close(doneA) }()
	clock.Set(day.Add(8*time.Hour + time.Second))
	if err := a.makeDigests(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.tg.WaitFor(t, "sendMessage", 150, 20*time.Second)
	_ = rdbA.Close() // the kill: nothing A does reaches Redis any more
	crash()
	<-doneA

	b, _ := e.engine(opt())
	run(t, b)
	waitIdle(t, b, 30*time.Second)
	zero := 0
	for _, c := range chats {
		switch n := len(e.digests(c)); {
		case n > 1:
			t.Errorf("chat %d holds %d digests for 08:00", c, n)
		case n == 0:
			zero++
		}
	}
	ledger, err := e.rdb.HGetAll(context.Background(), b.keys.ledger(digestJobID(day.Add(8*time.Hour)).story())).Result()
	if err != nil {
		t.Fatal(err)
	}
	doubt := 0
	for _, v := range ledger {
		if strings.HasPrefix(v, prefixDoubt) {
			doubt++
		}
	}
	if zero > doubt {
		t.Errorf("%d digest readers got nothing but only %d are in doubt: a reader was skipped", zero, doubt)
	}
	t.Logf("kill -9 mid-digest: %d readers in doubt, %d of them without a digest", doubt, zero)
}
