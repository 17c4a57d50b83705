package delivery

import (
	"bufio"
	"context"
	"log/slog"

	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"newsbot/internal/redistest"
	"newsbot/internal/subscriber"
	"newsbot/internal/telegramtest"
)

// rttCounter counts Redis round trips: each command sent alone, and each pipeline, is one.
type rttCounter struct{ n atomic.Int64 }

func (c *rttCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *rttCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}
func (c *rttCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmds)
	}
}

// fastAnswer makes the fake Bot API answer every call with one fixed message and keep
// nothing (count-only): the benchmark measures delivery, not the fake's bookkeeping.
func fastAnswer(tg *telegramtest.Server) {
	tg.SetRecord(false)
	raw := []byte(`{"ok":true,"result":{"message_id":7,"date":1764219600,"chat":{"id":1,"type":"private"}}}`)
	tg.SetHandler(func(telegramtest.Request) *telegramtest.Response {
		return &telegramtest.Response{Raw: raw, Status: 200}
	})
}

// benchEnv is an env whose store and engine share one Redis client with a round-trip counter.
func benchEnv(b *testing.B, rdb *redis.Client, prefix string) (*env, *redis.Client, *rttCounter) {
	e := newEnvWith(b, rdb, prefix)
	counted := redis.NewClient(&redis.Options{Addr: rdb.Options().Addr, DB: rdb.Options().DB})
	b.Cleanup(func() { _ = counted.Close() })
	rtt := &rttCounter{}
	counted.AddHook(rtt)
	e.store = subscriber.NewStore(counted, prefix, testLangs, testTopics)
	return e, counted, rtt
}

func quietOptions(o Options) Options {
	o.Channels = map[string]string{}
	o.Log = slog.New(slog.DiscardHandler)
	return o
}

// fanOut publishes stories one after another to the readers and waits for each job to end;
// it returns the wall time spent.
func fanOut(b *testing.B, eng *Engine, stories int, tag string) time.Duration {
	b.Helper()
	start := time.Now()
	for i := range stories {
		if err := eng.Publish(context.Background(), story(tag+strconv.Itoa(i), "en")); err != nil {
			b.Fatal(err)
		}
		waitIdle(b, eng, 30*time.Minute)
	}
	return time.Since(start)
}

// (a) With no global limit, against a local fake Bot API that only counts: sustained
// messages per second of one copy, and Redis round trips per message.
func BenchmarkFanOutUnlimited(b *testing.B) {
	rdb, prefix := redistest.New(b)
	e, counted, rtt := benchEnv(b, rdb, prefix)
	fastAnswer(e.tg)
	const audience = 50_000
	e.readers(1, audience, "en")
	eng, _ := e.engine(quietOptions(Options{}), counted)
	run(b, eng)
	b.ResetTimer()
	rtt.n.Store(0)
	sent0 := e.tg.Count("sendMessage")
	var elapsed time.Duration
	for i := 0; b.Loop(); i++ {
		elapsed += fanOut(b, eng, 1, "a"+strconv.Itoa(i)+"-")
	}
	sent := e.tg.Count("sendMessage") - sent0
	b.ReportMetric(float64(sent)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(rtt.n.Load())/float64(sent), "rtt/msg")
	b.ReportMetric(0, "ns/op")
}

// (b) SEND_RATE=30 and the fake enforcing 30/s: achieved rate / 30 and the 429s it answered.
func BenchmarkFanOutAtSendRate30(b *testing.B) {
	rdb, prefix := redistest.New(b)
	e := newEnvWith(b, rdb, prefix)
	const rate, audience = 30, 300 // ~10 s per run
	e.tg.SetRateLimit(rate)
	e.readers(1, audience, "en")
	eng, _ := e.engine(quietOptions(Options{SendRate: rate}))
	run(b, eng)
	var ratio float64
	runs := 0
	for i := 0; b.Loop(); i++ {
		from := len(e.tg.Requests("sendMessage"))
		fanOut(b, eng, 1, "b"+strconv.Itoa(i)+"-")
		reqs := e.tg.Requests("sendMessage")[from:]
		span := reqs[len(reqs)-1].Time.Sub(reqs[0].Time).Seconds()
		ratio += float64(len(reqs)-1) / span / rate
		runs++
	}
	b.ReportMetric(ratio/float64(runs), "rate/limit")
	b.ReportMetric(float64(e.tg.RateLimited()), "429s")
	b.ReportMetric(0, "ns/op")
}

// (c) Memory of one copy fanning out to 1,000,000 readers. Seeding and sending take minutes,
// so it runs only with DELIVERY_BENCH_MILLION=1:
//
//	DELIVERY_BENCH_MILLION=1 go test -run '^$' -bench FanOutMillion -benchtime 1x ./internal/delivery/
func BenchmarkFanOutMillion(b *testing.B) {
	if os.Getenv("DELIVERY_BENCH_MILLION") == "" {
		b.Skip("set DELIVERY_BENCH_MILLION=1 to fan out to 1,000,000 readers (minutes)")
	}
	srv := redistest.Start(b)
	rdb := srv.Client(b)
	e, counted, rtt := benchEnv(b, rdb, "bench:")
	fastAnswer(e.tg)
	const audience = 1_000_000
	seed := time.Now()
	e.readers(1, audience, "en")
	b.Logf("seeded %d readers in %v", audience, time.Since(seed).Round(time.Second))
	// Seeding is not the engine's memory: hand it back to the OS and reset the high-water
	// mark (clear_refs 5), so that VmHWM below is the fan-out's peak.
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	base := procStatus("VmRSS")
	eng, _ := e.engine(quietOptions(Options{}), counted)
	run(b, eng)

	mem := watchMemory()
	rtt.n.Store(0)
	var elapsed time.Duration
	for i := 0; b.Loop(); i++ {
		elapsed += fanOut(b, eng, 1, "c"+strconv.Itoa(i)+"-")
	}
	mem.report(b, base)
	sent := e.tg.Count("sendMessage")
	b.ReportMetric(float64(sent)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(rtt.n.Load())/float64(sent), "rtt/msg")
	b.ReportMetric(0, "ns/op")
}

// memWatch samples this process's RSS and Go heap every 100 ms.
type memWatch struct {
	peakRSS, peakHeap atomic.Int64
	stop              chan struct{}
}

func watchMemory() *memWatch {
	w := &memWatch{stop: make(chan struct{})}
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			select {
			case <-w.stop:
				return
			case <-t.C:
			}
			if r := procStatus("VmRSS"); r > w.peakRSS.Load() {
				w.peakRSS.Store(r)
			}
			runtime.ReadMemStats(&ms)
			if h := int64(ms.HeapInuse); h > w.peakHeap.Load() {
				w.peakHeap.Store(h)
			}
		}
	}()
	return w
}

// report stops the sampling and reports the peaks (base: the RSS before the work began).
func (w *memWatch) report(b *testing.B, base int64) {
	close(w.stop)
	b.ReportMetric(float64(w.peakRSS.Load())/(1<<20), "peak-RSS-MB")
	b.ReportMetric(float64(base)/(1<<20), "RSS-before-MB")
	b.ReportMetric(float64(procStatus("VmHWM"))/(1<<20), "VmHWM-MB")
	b.ReportMetric(float64(w.peakHeap.Load())/(1<<20), "peak-heap-MB")
}

// (d) Composing and sending one digest to 1,000,000 readers (limit off, the fake in process):
// messages per second, Redis round trips per message, peak RSS. Readers differ in languages,
// topics and digest times; 60 stories of the day. Runs with DELIVERY_BENCH_MILLION=1.
func BenchmarkDigestMillion(b *testing.B) {
	if os.Getenv("DELIVERY_BENCH_MILLION") == "" {
		b.Skip("set DELIVERY_BENCH_MILLION=1 to send a digest to 1,000,000 readers (minutes)")
	}
	srv := redistest.Start(b)
	rdb := srv.Client(b)
	e, counted, rtt := benchEnv(b, rdb, "bench:")
	fastAnswer(e.tg)
	audience := 1_000_000
	if n, err := strconv.Atoi(os.Getenv("DIGEST_BENCH_READERS")); err == nil && n > 0 {
		audience = n // a smaller run, for profiling
	}
	day := time.Date(2026, 11, 28, 0, 0, 0, 0, almaty)
	clock := &fakeClock{t: day.Add(time.Hour)}
	e.store.SetClock(func() time.Time { return day.Add(-24 * time.Hour) })
	seed := time.Now()
	langs := [][]string{{"kk"}, {"ru"}, {"en"}, {"kk", "ru"}}
	rs := make([]subscriber.Reader, 0, 5000)
	for i := range audience {
		r := subscriber.Reader{ChatID: int64(1 + i), Langs: langs[i%len(langs)], Status: subscriber.Active, Mode: subscriber.Digest}
		r.Lang = r.Langs[0]
		if i%3 == 0 {
			r.AllTopics = true
		} else {
			r.Topics = []string{testTopics[i%len(testTopics)], testTopics[(i/7)%len(testTopics)]}
		}
		if i%5 == 0 {
			r.DigestTimes = []string{"08:00"}
		}
		rs = append(rs, r)
		if len(rs) == cap(rs) || i == audience-1 {
			if err := e.store.SaveMany(context.Background(), rs); err != nil {
				b.Fatal(err)
			}
			rs = rs[:0]
		}
	}
	eng, _ := e.engine(quietOptions(Options{Clock: clock.Now, Location: almaty, DigestTimes: clocks(b, "08:00", "19:00")}), counted)
	for i := range 60 {
		a := story("day"+strconv.Itoa(i), []string{"kk", "ru", "en"}[i%3], testTopics[i%len(testTopics)])
		clock.Set(day.Add(time.Hour + time.Duration(i)*6*time.Minute))
		a.PublishedAt = clock.Now()
		if err := eng.Publish(context.Background(), a); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("seeded %d digest readers and 60 stories in %v", audience, time.Since(seed).Round(time.Second))
	run(b, eng)
	waitIdle(b, eng, time.Minute) // the stories' own fan-outs: nobody reads instantly
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	base := procStatus("VmRSS")
	mem := watchMemory()
	rtt.n.Store(0)
	sent0 := e.tg.Count("sendMessage")
	var elapsed time.Duration
	for i := 0; b.Loop(); i++ {
		at := day.Add(time.Duration(8+11*(i%2))*time.Hour + time.Duration(i/2)*24*time.Hour)
		clock.Set(at.Add(time.Second))
		start := time.Now()
		if err := eng.makeDigests(context.Background()); err != nil {
			b.Fatal(err)
		}
		waitIdle(b, eng, 30*time.Minute)
		elapsed += time.Since(start)
	}
	mem.report(b, base)
	sent := e.tg.Count("sendMessage") - sent0
	b.ReportMetric(float64(sent)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(rtt.n.Load())/float64(sent), "rtt/msg")
	b.ReportMetric(float64(sent), "digests")
	b.ReportMetric(0, "ns/op")
}

// procStatus reads a memory figure of this process from /proc/self/status, in bytes.
func procStatus(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// (e) The window of doubt: a copy killed (its Redis connection gone, no shutdown) in the middle
// of a fan-out at 30 and 100 messages a second, five times each; another copy finishes. Reported
// per kill: chats left in doubt, and of those the readers who got nothing (marked "sending"
// but not yet written to the wire when the copy died).
func BenchmarkWindowOfDoubt(b *testing.B) {
	for _, rate := range []float64{30, 100} {
		b.Run("rate"+strconv.Itoa(int(rate)), func(b *testing.B) {
			var doubt, lost, kills int
			for b.Loop() {
				for range 5 {
					d, l := killMidFanOut(b, rate)
					doubt, lost, kills = doubt+d, lost+l, kills+1
				}
			}
			b.ReportMetric(float64(doubt)/float64(kills), "in-doubt/kill")
			b.ReportMetric(float64(lost)/float64(kills), "lost/kill")
			b.ReportMetric(0, "ns/op")
		})
	}
}

func killMidFanOut(b *testing.B, rate float64) (doubt, lost int) {
	rdb, prefix := redistest.New(b)
	e := newEnvWith(b, rdb, prefix)
	e.t = b
	chats := e.readers(1000, 200, "en")
	rdbA := redis.NewClient(&redis.Options{Addr: rdb.Options().Addr, DB: rdb.Options().DB})
	opt := quietOptions(Options{SendRate: rate, PageSize: 50, LeaseTTL: time.Second})
	a, _ := e.engine(opt, rdbA)
	ctx, crash := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = a.Run(ctx); close(done) }()
	if err := a.Publish(context.Background(), story("w", "en")); err != nil {
		b.Fatal(err)
	}
	e.tg.WaitFor(b, "sendMessage", 40, 20*time.Second)
	_ = rdbA.Close()
	crash()
	<-done
	bEng, _ := e.engine(opt)
	stop := run(b, bEng)
	waitIdle(b, bEng, time.Minute)
	stop()
	ledger, err := rdb.HGetAll(context.Background(), bEng.keys.ledger("w")).Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, v := range ledger {
		if strings.HasPrefix(v, prefixDoubt) {
			doubt++
		}
	}
	for c, n := range e.copies(chats) {
		if n == 0 {
			lost++
		}
		if n > 1 {
			b.Errorf("chat %d holds %d copies", c, n)
		}
	}
	return doubt, lost
}
