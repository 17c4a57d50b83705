package delivery

import (
	"container/heap"
	"context"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"newsbot/internal/article"
	"newsbot/internal/redistest"
	"newsbot/internal/schedule"
	"newsbot/internal/subscriber"
)

// A simulated day: who gets what is decided by the real subscriber store (100,000 readers in
// Redis, their audiences walked as fan-out walks them) and delivery's own rules (breaking
// stories to every mode, digests of what each reader follows since their last digest time,
// stale instant pushes skipped); when each message leaves is a model of the engine's queue:
// SEND_RATE messages a second for everyone, breaking stories ahead of the rest, the rest in
// the order they came. It reports the messages sent, the stale skips and the longest wait.
//
//	go test -run '^$' -bench SimulatedDay -benchtime 1x ./internal/delivery/

// simJob is one fan-out or digest in the model's queue.
type simJob struct {
	at       time.Time // when it was queued
	story    time.Time // the story's time (staleness); zero for digests
	high     bool      // breaking: ahead of the queue
	messages int
	seq      int
}

type simQueue []*simJob

func (q simQueue) Len() int { return len(q) }
func (q simQueue) Less(i, j int) bool {
	if q[i].high != q[j].high {
		return q[i].high
	}
	return q[i].seq < q[j].seq
}
func (q simQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *simQueue) Push(x any)   { *q = append(*q, x.(*simJob)) }
func (q *simQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

type simResult struct {
	sent, stale int
	longestWait time.Duration
}

// simulate runs the queue model over the day's jobs at rate messages a second.
func simulate(jobs []*simJob, rate float64, maxAge time.Duration) simResult {
	var res simResult
	var q simQueue
	interval := time.Duration(float64(time.Second) / rate)
	next := 0
	var now time.Time
	if len(jobs) > 0 {
		now = jobs[0].at
	}
	for next < len(jobs) || q.Len() > 0 {
		for next < len(jobs) && !jobs[next].at.After(now) {
			heap.Push(&q, jobs[next])
			next++
		}
		if q.Len() == 0 {
			now = jobs[next].at
			continue
		}
		j := q[0]
		if !j.story.IsZero() && !j.high && now.After(j.story.Add(maxAge)) {
			// The engine skips a stale page without sending it: no slot spent.
			res.stale += j.messages
			heap.Pop(&q)
			continue
		}
		res.sent++
		if w := now.Sub(j.at); w > res.longestWait {
			res.longestWait = w
		}
		now = now.Add(interval)
		if j.messages--; j.messages == 0 {
			heap.Pop(&q)
		}
	}
	return res
}

func BenchmarkSimulatedDay(b *testing.B) {
	rdb, prefix := redistest.New(b)
	store := subscriber.NewStore(rdb, prefix, testLangs, testTopics)
	rng := rand.New(rand.NewPCG(2026, 11))
	const readers = 100_000
	pickLangs := func() []string {
		switch x := rng.IntN(100); {
		case x < 35:
			return []string{"kk"}
		case x < 70:
			return []string{"ru"}
		case x < 85:
			return []string{"en"}
		default:
			return []string{"kk", "ru"}
		}
	}
	all := make([]subscriber.Reader, readers)
	for i := range all {
		r := subscriber.Reader{ChatID: int64(1 + i), Langs: pickLangs(), Status: subscriber.Active}
		r.Lang = r.Langs[0]
		if rng.IntN(3) == 0 {
			r.AllTopics = true
		} else {
			r.Topics = []string{testTopics[rng.IntN(len(testTopics))], testTopics[rng.IntN(len(testTopics))]}
		}
		switch x := rng.IntN(100); {
		case x < 60:
			r.Mode = subscriber.Instant
		case x < 90:
			r.Mode = subscriber.Digest
			if rng.IntN(4) == 0 {
				r.DigestTimes = []string{[]string{"08:00", "19:00"}[rng.IntN(2)]}
			}
		default:
			r.Mode = subscriber.Breaking
		}
		all[i] = r
	}
	// The day's 120 stories: most in the working day, a morning peak, 6 breaking.
	day := time.Date(2026, 11, 28, 0, 0, 0, 0, almaty)
	stories := make([]article.Article, 120)
	for i := range stories {
		hour := 6 + rng.Float64()*17
		if i < 40 {
			hour = 7 + rng.Float64()*4
		}
		a := story("sim"+strconv.Itoa(i), testLangs[rng.IntN(3)], testTopics[rng.IntN(len(testTopics))])
		a.PublishedAt = day.Add(time.Duration(hour * float64(time.Hour)))
		a.Breaking = i%20 == 0
		stories[i] = a
	}
	slicesSortByTime(stories)

	ctx := context.Background()
	jobsFor := func(everyoneInstant bool) []*simJob {
		rs := all
		if everyoneInstant {
			rs = make([]subscriber.Reader, len(all))
			for i, r := range all {
				r.Mode, r.DigestTimes = subscriber.Instant, nil
				rs[i] = r
			}
		}
		for i := 0; i < len(rs); i += 5000 {
			if err := store.SaveMany(ctx, rs[i:min(i+5000, len(rs))]); err != nil {
				b.Fatal(err)
			}
		}
		var jobs []*simJob
		for _, a := range stories {
			n := 0
			for after := subscriber.Start; ; {
				ids, err := store.AudiencePage(ctx, a.Lang, a.Topics, a.Breaking, after, 5000)
				if err != nil {
					b.Fatal(err)
				}
				n += len(ids)
				if len(ids) < 5000 {
					break
				}
				after = ids[len(ids)-1]
			}
			jobs = append(jobs, &simJob{at: a.PublishedAt, story: a.PublishedAt, high: a.Breaking, messages: n})
		}
		if !everyoneInstant {
			e := &Engine{opt: Options{Location: almaty, DigestTimes: clocks(b, "08:00", "19:00")}}
			for _, c := range []string{"08:00", "19:00"} {
				clock, _ := schedule.ParseClock(c)
				at := schedule.On(2026, 11, 28, clock, almaty)
				n := 0
				for _, r := range rs {
					if !r.KeepsDigest(c) {
						continue
					}
					from := e.digestStart(r, at)
					for _, a := range stories {
						if !a.Breaking && !a.PublishedAt.Before(from) && a.PublishedAt.Before(at) && follows(r, a) {
							n++
							break
						}
					}
				}
				jobs = append(jobs, &simJob{at: at, messages: n})
			}
		}
		slicesSortJobs(jobs)
		for i, j := range jobs {
			j.seq = i
		}
		return jobs
	}
	for _, c := range []struct {
		name    string
		instant bool
	}{{"modes", false}, {"everyone-instant", true}} {
		b.Run(c.name, func(b *testing.B) {
			jobs := jobsFor(c.instant)
			var res simResult
			for b.Loop() {
				copies := make([]*simJob, len(jobs))
				for i, j := range jobs {
					x := *j
					copies[i] = &x
				}
				res = simulate(copies, 30, 6*time.Hour)
			}
			b.ReportMetric(float64(res.sent), "sent")
			b.ReportMetric(float64(res.stale), "stale")
			b.ReportMetric(res.longestWait.Minutes(), "longest-wait-min")
			b.ReportMetric(0, "ns/op")
		})
	}
}

func slicesSortByTime(s []article.Article) {
	slices.SortFunc(s, func(a, b article.Article) int { return a.PublishedAt.Compare(b.PublishedAt) })
}

func slicesSortJobs(s []*simJob) {
	slices.SortStableFunc(s, func(a, b *simJob) int { return a.at.Compare(b.at) })
}
