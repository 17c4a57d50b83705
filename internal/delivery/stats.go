package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"newsbot/internal/article"
)

// statsWindow is how far back /stats looks; hourly counters live a little longer.
const statsWindow = 24 * time.Hour

// Stats is what the admin /stats shows about delivery.
type Stats struct {
	Since       time.Time        // start of the window the counters cover (the last 24 hours)
	Stories     int64            // stories delivered (published or pushed), each counted once, at its first job
	Sent        int64            // messages delivered to readers
	Failed      map[string]int64 // messages not delivered, by reason
	RateLimited int64            // 429 answers
	High        int              // priority jobs queued or running
	Normal      int              // other jobs queued or running
	Channel     int              // channel tasks queued (posts, edits, deletions to make)
	Jobs        []JobStatus      // queued or running jobs, priority first, oldest first
	Budget      Budget
}

// Budget is Telegram's message budget in view: what waits, how long it takes at SEND_RATE,
// and the day's sends against the day's capacity.
type Budget struct {
	Waiting  int64         // messages still to send in the running jobs (an estimate: audiences are counted when a job is made)
	WaitTime time.Duration // Waiting at SEND_RATE; 0 without a rate
	Capacity int64         // messages a day at SEND_RATE (SEND_RATE × 86,400); 0 without a rate
	MaxAge   time.Duration // PUSH_MAX_AGE
}

// Overdue reports whether the queue takes longer to send than PUSH_MAX_AGE: instant pushes
// are then skipped as stale, and the budget should be looked at (digests, paid broadcasts).
func (b Budget) Overdue() bool { return b.WaitTime > b.MaxAge }

// JobState is where a fan-out job stands.
type JobState string

// Job states, as kept in the job's hash.
const (
	JobRunning   JobState = "running"   // queued, or pages are being sent
	JobDone      JobState = "done"      // the whole audience was dealt with
	JobRetracted JobState = "retracted" // stopped because the story was withdrawn
	JobAbandoned JobState = "invalid"   // the story can have no audience (language or topic gone)
)

// JobStatus is the progress of one fan-out job.
type JobStatus struct {
	ID        JobID
	State     JobState
	ArticleID string
	Lang      string
	Title     string
	Breaking  bool
	Priority  bool
	By        int64     // admin who pushed it; 0 for a story published on its own
	Queued    time.Time // when the job was made
	Sent      int64
	Failed    int64
	Skipped   int64     // readers who already had the story, or had nothing to get (digests)
	Done      bool      // the whole audience has been claimed; the last pages are being sent
	Finished  time.Time // when the job ended; zero while it runs
	Estimate  int64     // the audience counted when the job was made
	Digest    time.Time // the digest time of a digest job; zero for a story's
}

// Waiting is what the job still has to send, by its estimate.
func (j JobStatus) Waiting() int64 { return max(0, j.Estimate-j.Handled()) }

// Handled is how many readers the job has dealt with so far (the audience is walked in pages,
// so its total is only known at the end).
func (j JobStatus) Handled() int64 { return j.Sent + j.Failed + j.Skipped }

// Stats returns the delivery counters of the last 24 hours and the jobs in the queues.
func (e *Engine) Stats(ctx context.Context) (Stats, error) {
	now := time.Now().UTC().Truncate(time.Hour)
	s := Stats{Since: now.Add(-statsWindow + time.Hour), Failed: map[string]int64{}}
	hours := make([]*redis.MapStringStringCmd, 0, 24)
	var high, normal *redis.StringSliceCmd
	var chans *redis.IntCmd
	_, err := e.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		chans = p.ZCard(ctx, e.keys.chanQueue())
		for h := range 24 {
			hours = append(hours, p.HGetAll(ctx, e.keys.stats(now.Add(-time.Duration(h)*time.Hour))))
		}
		high = p.ZRange(ctx, e.keys.queue(true), 0, 99)
		normal = p.ZRange(ctx, e.keys.queue(false), 0, 99)
		return nil
	})
	if err != nil {
		return Stats{}, fmt.Errorf("read delivery stats: %w", err)
	}
	for _, h := range hours {
		for k, v := range h.Val() {
			n, _ := strconv.ParseInt(v, 10, 64)
			switch {
			case k == "sent":
				s.Sent += n
			case k == "stories":
				s.Stories += n
			case k == "429":
				s.RateLimited += n
			case strings.HasPrefix(k, "failed:"):
				s.Failed[strings.TrimPrefix(k, "failed:")] += n
			}
		}
	}
	s.High, s.Normal, s.Channel = len(high.Val()), len(normal.Val()), int(chans.Val())
	ids := append(high.Val(), normal.Val()...)
	cmds := make([]*redis.SliceCmd, len(ids))
	stories := make([]*redis.StringCmd, len(ids))
	_, err = e.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HMGet(ctx, e.keys.job(JobID(id)), jobFields...)
			stories[i] = p.HGet(ctx, e.keys.meta(JobID(id).story()), "a")
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return Stats{}, fmt.Errorf("read delivery jobs: %w", err)
	}
	for i, id := range ids {
		if j, ok := parseJob(JobID(id), cmds[i].Val(), stories[i].Val()); ok && j.State == JobRunning {
			s.Jobs = append(s.Jobs, j)
			s.Budget.Waiting += j.Waiting()
		}
	}
	s.Budget.Waiting += int64(s.Channel)
	s.Budget.MaxAge = e.opt.MaxAge
	if e.opt.SendRate > 0 {
		s.Budget.WaitTime = time.Duration(float64(s.Budget.Waiting) / e.opt.SendRate * float64(time.Second))
		s.Budget.Capacity = int64(e.opt.SendRate * 86400)
	}
	return s, nil
}

// refreshBudget sets the budget gauges from Stats.
func (e *Engine) refreshBudget(ctx context.Context) {
	s, err := e.Stats(ctx)
	if err != nil {
		return // Redis trouble is logged by the workers
	}
	e.met.waiting.Set(float64(s.Budget.Waiting))
	e.met.waitTime.Set(s.Budget.WaitTime.Seconds())
	e.met.sentDay.Set(float64(s.Sent))
	e.met.capacity.Set(float64(s.Budget.Capacity))
}

// jobFields are the fields of a job's hash that make its JobStatus, in parseJob's order.
var jobFields = []string{"brk", "hi", "by", "at", "sent", "failed", "skipped", "ex", "st", "fin", "est"}

// parseJob makes a JobStatus from HMGET jobFields and the story's JSON; false when the job
// does not exist.
func parseJob(id JobID, v []any, story string) (JobStatus, bool) {
	str := func(i int) string {
		if i >= len(v) {
			return ""
		}
		s, _ := v[i].(string)
		return s
	}
	num := func(i int) int64 { n, _ := strconv.ParseInt(str(i), 10, 64); return n }
	if str(8) == "" {
		return JobStatus{}, false
	}
	j := JobStatus{ID: id, State: JobState(str(8)), ArticleID: id.story(), Breaking: str(0) == "1", Priority: str(1) == "1",
		By: num(2), Queued: time.UnixMilli(num(3)), Sent: num(4), Failed: num(5), Skipped: num(6), Done: str(7) == "1"}
	if ms := num(9); ms > 0 {
		j.Finished = time.UnixMilli(ms)
	}
	j.Estimate = num(10)
	if at, ok := id.digestAt(); ok {
		j.Digest = at
		j.ArticleID = ""
	}
	var a article.Article
	if json.Unmarshal([]byte(story), &a) == nil {
		j.Lang, j.Title = a.Lang, a.Title
	}
	return j, true
}

// Job returns the status of any job, running or finished, for as long as its story's records
// are kept (LedgerTTL); false when there is no such job. One round trip.
func (e *Engine) Job(ctx context.Context, id JobID) (JobStatus, bool, error) {
	var job *redis.SliceCmd
	var story *redis.StringCmd
	_, err := e.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		job = p.HMGet(ctx, e.keys.job(id), jobFields...)
		story = p.HGet(ctx, e.keys.meta(id.story()), "a")
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return JobStatus{}, false, fmt.Errorf("read job %s: %w", id, err)
	}
	j, ok := parseJob(id, job.Val(), story.Val())
	return j, ok, nil
}

// Delivered reports whether a story went out before: it has a channel post (or one whose
// outcome a crash left unknown), or a fan-out job — made when the watcher published it or
// when an admin pushed it. One round trip. Stories older than LedgerTTL are forgotten.
func (e *Engine) Delivered(ctx context.Context, articleID string) (bool, error) {
	var posts *redis.StringSliceCmd
	var meta *redis.SliceCmd
	var auto *redis.IntCmd
	_, err := e.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		posts = p.HVals(ctx, e.keys.channels(articleID))
		meta = p.HMGet(ctx, e.keys.meta(articleID), "first", "seq")
		// Stories delivered before the "first" mark existed: the job Publish makes, or any push.
		auto = p.Exists(ctx, e.keys.job(newJobID(articleID, 0)))
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("delivery history of %s: %w", articleID, err)
	}
	if m := meta.Val(); len(m) == 2 && (m[0] != nil || m[1] != nil) || auto.Val() > 0 {
		return true, nil
	}
	for _, v := range posts.Val() {
		if v == chanPosting || strings.HasPrefix(v, "p:") {
			return true, nil
		}
	}
	return false, nil
}

// storyCmds counts one more story delivered in the current hour.
func (e *Engine) storyCmds(ctx context.Context, p redis.Pipeliner) {
	k := e.keys.stats(time.Now())
	p.HIncrBy(ctx, k, "stories", 1)
	p.Expire(ctx, k, statsWindow+2*time.Hour)
}

// statsCmds queues the hourly counter updates on p.
func (e *Engine) statsCmds(ctx context.Context, p redis.Pipeliner, sent int64, failed map[string]int64, limited int64) {
	k := e.keys.stats(time.Now())
	if sent > 0 {
		p.HIncrBy(ctx, k, "sent", sent)
	}
	for r, n := range failed {
		p.HIncrBy(ctx, k, "failed:"+r, n)
	}
	if limited > 0 {
		p.HIncrBy(ctx, k, "429", limited)
	}
	p.Expire(ctx, k, statsWindow+2*time.Hour)
}

// countStats updates the hourly counters on their own (rare events: 429s, pages in doubt).
func (e *Engine) countStats(ctx context.Context, sent int64, failed map[string]int64, limited int64) {
	_, err := e.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		e.statsCmds(ctx, p, sent, failed, limited)
		return nil
	})
	if err != nil && ctx.Err() == nil {
		e.log.Error("count delivery stats", "err", err)
	}
}
