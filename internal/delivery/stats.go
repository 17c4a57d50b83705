package delivery

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// statsWindow is how far back /stats looks; hourly counters live a little longer.
const statsWindow = 24 * time.Hour

// Stats is what the admin /stats shows about delivery.
type Stats struct {
	Since       time.Time        // start of the window the counters cover (the last 24 hours)
	Sent        int64            // messages delivered to readers
	Failed      map[string]int64 // messages not delivered, by reason
	RateLimited int64            // 429 answers
	High        int              // priority jobs queued or running
	Normal      int              // other jobs queued or running
	Jobs        []JobStatus      // queued or running jobs, priority first, oldest first
}

// JobStatus is the progress of one fan-out job.
type JobStatus struct {
	ID        JobID
	ArticleID string
	Lang      string
	Title     string
	Breaking  bool
	Priority  bool
	By        int64     // admin who pushed it; 0 for a story published on its own
	Queued    time.Time // when the job was made
	Sent      int64
	Failed    int64
	Skipped   int64 // readers who already had the story
	Done      bool  // the whole audience has been claimed; the last pages are being sent
}

// Handled is how many readers the job has dealt with so far (the audience is walked in pages,
// so its total is only known at the end).
func (j JobStatus) Handled() int64 { return j.Sent + j.Failed + j.Skipped }

// Stats returns the delivery counters of the last 24 hours and the jobs in the queues.
func (e *Engine) Stats(ctx context.Context) (Stats, error) {
	now := time.Now().UTC().Truncate(time.Hour)
	s := Stats{Since: now.Add(-statsWindow + time.Hour), Failed: map[string]int64{}}
	hours := make([]*redis.MapStringStringCmd, 0, 24)
	var high, normal *redis.StringSliceCmd
	_, err := e.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
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
			case k == "429":
				s.RateLimited += n
			case strings.HasPrefix(k, "failed:"):
				s.Failed[strings.TrimPrefix(k, "failed:")] += n
			}
		}
	}
	s.High, s.Normal = len(high.Val()), len(normal.Val())
	ids := append(high.Val(), normal.Val()...)
	cmds := make([]*redis.SliceCmd, len(ids))
	_, err = e.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HMGet(ctx, e.keys.job(JobID(id)), "a", "brk", "hi", "by", "at", "sent", "failed", "skipped", "ex", "st")
		}
		return nil
	})
	if err != nil {
		return Stats{}, fmt.Errorf("read delivery jobs: %w", err)
	}
	for i, id := range ids {
		v := cmds[i].Val()
		str := func(i int) string { s, _ := v[i].(string); return s }
		num := func(i int) int64 { n, _ := strconv.ParseInt(str(i), 10, 64); return n }
		if str(9) != "running" {
			continue
		}
		j := JobStatus{ID: JobID(id), ArticleID: JobID(id).story(), Breaking: str(1) == "1", Priority: str(2) == "1",
			By: num(3), Queued: time.UnixMilli(num(4)), Sent: num(5), Failed: num(6), Skipped: num(7), Done: str(8) == "1"}
		if a, err := decodeStory(str(0)); err == nil {
			j.Lang, j.Title = a.Lang, a.Title
		}
		s.Jobs = append(s.Jobs, j)
	}
	return s, nil
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
