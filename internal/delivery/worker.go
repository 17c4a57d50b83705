package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"newsbot/internal/article"
	"newsbot/internal/post"
	"newsbot/internal/subscriber"
	"newsbot/internal/telegram"
)

// jobRun is what a copy knows about a job it works on: the story and its posts, rendered once
// per label language (only chat_id changes per reader).
type jobRun struct {
	id       JobID
	art      article.Article
	breaking bool
	version  string    // the job's revision ("v"): a correction bumps it
	used     time.Time // last claim; guarded by Engine.mu

	mu    sync.Mutex
	posts map[string]post.Post
	errs  map[string]error
}

// post returns the job's post for readers of label language lang.
func (j *jobRun) post(r Renderer, log *slog.Logger, lang string) (post.Post, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if p, ok := j.posts[lang]; ok {
		return p, nil
	}
	if err, ok := j.errs[lang]; ok {
		return post.Post{}, err
	}
	p, err := r.Render(j.art, lang, int64(0))
	if err != nil {
		j.errs[lang] = err
		log.Error("render story; its readers of this language are not sent it", "article_id", j.art.ID, "lang", lang, "err", err)
		return post.Post{}, err
	}
	j.posts[lang] = p
	return p, nil
}

// page is a leased part of a job's audience.
type page struct {
	job   *jobRun
	name  string // "from:to", the lease's member
	chats []int64
}

// Run works on fan-out jobs until ctx is done: Workers pages at a time, at most Concurrency
// sends in flight. On shutdown it stops taking work, lets in-flight sends finish (for at most
// DrainTimeout), records their outcome and hands unfinished pages back, then returns nil.
func (e *Engine) Run(ctx context.Context) error {
	// In-flight sends outlive ctx by up to DrainTimeout so that a message that is on its way
	// gets its outcome recorded rather than left in doubt.
	sendCtx, cancelSends := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSends()
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(e.opt.DrainTimeout, cancelSends)
		context.AfterFunc(sendCtx, func() { t.Stop() })
	})
	defer stop()

	sem := make(chan struct{}, e.opt.Concurrency)
	g, gctx := errgroup.WithContext(ctx)
	for range e.opt.Workers {
		g.Go(func() error {
			e.work(gctx, sendCtx, sem)
			return nil
		})
	}
	return g.Wait()
}

// maxPollBackoff bounds the wait between polls for work while Redis fails.
const maxPollBackoff = 5 * time.Second

// work is one worker's loop: take the next page (priority queue first), send it, repeat.
func (e *Engine) work(ctx, sendCtx context.Context, sem chan struct{}) {
	idle := time.NewTimer(0)
	defer idle.Stop()
	// A Redis outage makes every poll fail: one line when it starts, one when it ends, and
	// polls backing off to maxPollBackoff meanwhile, rather than an error line per poll.
	var (
		failures  int
		failingAt time.Time
	)
	for ctx.Err() == nil {
		p, err := e.next(ctx)
		wait := e.opt.IdlePoll
		switch {
		case err != nil && ctx.Err() == nil:
			failures++
			if failures == 1 {
				failingAt = time.Now()
				e.log.Error("find delivery work failed; retrying with backoff", "err", err)
			} else {
				e.log.Debug("find delivery work failed again", "err", err, "failures", failures)
			}
			wait = min(e.opt.IdlePoll<<min(failures, 6), maxPollBackoff)
		case err == nil && failures > 0:
			e.log.Info("delivery work found again", "failures", failures, "down_for", time.Since(failingAt).Round(time.Millisecond).String())
			failures = 0
		}
		if p != nil {
			e.process(ctx, sendCtx, sem, p)
			continue
		}
		idle.Reset(wait)
		select {
		case <-ctx.Done():
		case <-idle.C:
		case <-e.wake:
		}
	}
}

// next claims a page of the first job in the queues that has one.
func (e *Engine) next(ctx context.Context) (*page, error) {
	var high, normal *redis.StringSliceCmd
	var nh, nn *redis.IntCmd
	_, err := e.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		high = p.ZRange(ctx, e.keys.queue(true), 0, 31)
		normal = p.ZRange(ctx, e.keys.queue(false), 0, 31)
		nh = p.ZCard(ctx, e.keys.queue(true))
		nn = p.ZCard(ctx, e.keys.queue(false))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read job queues: %w", err)
	}
	e.pruneJobs(time.Now())
	e.met.queue.WithLabelValues("high").Set(float64(nh.Val()))
	e.met.queue.WithLabelValues("normal").Set(float64(nn.Val()))
	var errs []error
	for _, id := range append(high.Val(), normal.Val()...) {
		p, err := e.claim(ctx, JobID(id))
		if errors.Is(err, subscriber.ErrInvalid) {
			// The story cannot have an audience (a language or topic no longer
			// configured): give the job up rather than retry it forever.
			e.abandon(ctx, JobID(id), err)
			continue
		}
		if err != nil {
			errs = append(errs, err) // one job's trouble must not hold up the others
			continue
		}
		if p != nil {
			return p, nil
		}
	}
	return nil, errors.Join(errs...)
}

// abandon ends a job that can never be worked.
func (e *Engine) abandon(ctx context.Context, id JobID, cause error) {
	e.log.Error("fan-out abandoned", "job", string(id), "article_id", id.story(), "err", cause)
	_, err := e.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, e.keys.job(id), "st", "invalid", "fin", time.Now().UnixMilli())
		// Pages leased before the job became impossible are never finished: drop their
		// leases, which have no TTL of their own.
		p.Del(ctx, e.keys.leases(id), e.keys.owners(id))
		return nil
	})
	if err != nil {
		e.log.Error("abandon fan-out", "job", string(id), "err", err)
		return
	}
	e.dequeue(ctx, id)
}

// claim takes a page of job id: one taken over from a dead worker, or the next one after the
// job's cursor. nil when the job has none to give right now.
func (e *Engine) claim(ctx context.Context, id JobID) (*page, error) {
	k := e.keys
	lease := e.opt.LeaseTTL.Milliseconds()
	for range 16 { // bounded: each round either moves the cursor or loses a race to someone who did
		res, err := nextScript.Run(ctx, e.rdb, []string{k.job(id), k.leases(id), k.owners(id), k.meta(id.story())},
			e.owner, lease).StringSlice()
		if err != nil {
			return nil, fmt.Errorf("claim work in job %s: %w", id, err)
		}
		switch res[0] {
		case "gone", "done":
			e.dequeue(ctx, id)
			return nil, nil
		case "busy":
			return nil, nil
		case "finished":
			e.finished(ctx, id, res[1:])
			return nil, nil
		}
		if len(res) < 3 {
			return nil, fmt.Errorf("claim work in job %s: bad answer %q", id, res)
		}
		jr, err := e.jobRun(ctx, id, res[2])
		if err != nil {
			return nil, err
		}
		if res[0] == "retake" {
			p, err := e.retake(ctx, jr, res[1])
			if err != nil || p != nil {
				return p, err
			}
			continue
		}
		// res[0] == "cursor"
		after, err := strconv.ParseInt(res[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("claim work in job %s: bad cursor %q", id, res[1])
		}
		ids, err := e.readers.AudiencePage(ctx, jr.art.Lang, jr.art.Topics, jr.breaking, after, e.opt.PageSize)
		if err != nil {
			return nil, fmt.Errorf("claim work in job %s: %w", id, err)
		}
		last, exhausted := after, len(ids) < e.opt.PageSize
		if len(ids) > 0 {
			last = ids[len(ids)-1]
		}
		args := make([]any, 0, 6+len(ids))
		args = append(args, e.owner, lease, id.num(), res[1], last, flag(exhausted))
		for _, c := range ids {
			args = append(args, c)
		}
		adv, err := advanceScript.Run(ctx, e.rdb, []string{k.job(id), k.leases(id), k.owners(id), k.ledger(id.story())}, args...).StringSlice()
		if err != nil {
			return nil, fmt.Errorf("claim work in job %s: %w", id, err)
		}
		switch adv[0] {
		case "done":
			return nil, nil
		case "moved", "empty":
			continue
		}
		p := &page{job: jr, name: adv[1], chats: parseIDs(adv[2:])}
		if len(p.chats) == 0 {
			// Everybody on the page already has the story (an admin re-push, say).
			if err := e.flush(ctx, p, nil, leaseRelease); err != nil {
				return nil, err
			}
			continue
		}
		return p, nil
	}
	return nil, nil
}

// retake re-reads the audience of a page taken over from a dead or stopped worker. Chats the
// ledger shows "sending" for this job are in doubt and left alone (at most once).
func (e *Engine) retake(ctx context.Context, jr *jobRun, name string) (*page, error) {
	from, to, ok := parsePage(name)
	if !ok {
		return nil, fmt.Errorf("take over page %q of job %s: bad page name", name, jr.id)
	}
	var chats []int64
	for after := from; ; {
		ids, err := e.readers.AudiencePage(ctx, jr.art.Lang, jr.art.Topics, jr.breaking, after, e.opt.PageSize)
		if err != nil {
			return nil, fmt.Errorf("take over page of job %s: %w", jr.id, err)
		}
		for _, id := range ids {
			if id <= to {
				chats = append(chats, id)
			}
		}
		if len(ids) < e.opt.PageSize || ids[len(ids)-1] >= to {
			break
		}
		after = ids[len(ids)-1]
	}
	p := &page{job: jr, name: name}
	for start := 0; start < len(chats) || start == 0; start += 1000 {
		part := chats[start:min(start+1000, len(chats))]
		args := make([]any, 0, 1+len(part))
		args = append(args, jr.id.num())
		for _, c := range part {
			args = append(args, c)
		}
		res, err := filterScript.Run(ctx, e.rdb, []string{e.keys.ledger(jr.id.story()), e.keys.job(jr.id)}, args...).Int64Slice()
		if err != nil {
			return nil, fmt.Errorf("take over page of job %s: %w", jr.id, err)
		}
		if res[0] > 0 {
			e.met.failed.WithLabelValues(reasonInDoubt).Add(float64(res[0]))
			e.countStats(ctx, 0, map[string]int64{reasonInDoubt: res[0]}, 0)
			e.log.Warn("page taken over: chats in doubt are not sent again", "job", string(jr.id), "page", name, "in_doubt", res[0])
		}
		p.chats = append(p.chats, res[1:]...)
		if len(chats) == 0 {
			break
		}
	}
	if len(p.chats) == 0 {
		return nil, e.flush(ctx, p, nil, leaseRelease)
	}
	return p, nil
}

// jobRun loads a job's story once per copy and revision (version; "" takes any revision).
func (e *Engine) jobRun(ctx context.Context, id JobID, version string) (*jobRun, error) {
	now := time.Now()
	e.mu.Lock()
	jr, ok := e.jobs[id]
	if ok && (version == "" || jr.version == version) {
		jr.used = now
		e.mu.Unlock()
		return jr, nil
	}
	e.mu.Unlock()
	vals, err := e.rdb.HMGet(ctx, e.keys.job(id), "a", "brk", "v").Result()
	if err != nil {
		return nil, fmt.Errorf("load job %s: %w", id, err)
	}
	raw, _ := vals[0].(string)
	ver, _ := vals[2].(string)
	if ver == "" {
		ver = "0"
	}
	jr = &jobRun{id: id, breaking: vals[1] == "1", version: ver, used: now,
		posts: map[string]post.Post{}, errs: map[string]error{}}
	if err := json.Unmarshal([]byte(raw), &jr.art); err != nil {
		return nil, fmt.Errorf("load job %s: story: %w", id, err)
	}
	e.mu.Lock()
	e.jobs[id] = jr
	e.mu.Unlock()
	return jr, nil
}

// jobCacheIdle is how long a job's story stays cached after this copy last claimed a page
// of it. Another copy may finish the job and take it off the queue; without this the story
// and its rendered posts would stay in this copy's memory for good.
const jobCacheIdle = 10 * time.Minute

// pruneJobs forgets the stories of jobs this copy has not claimed a page of lately (a job
// still running is simply loaded again at its next claim).
func (e *Engine) pruneJobs(now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for id, jr := range e.jobs {
		if now.Sub(jr.used) > jobCacheIdle {
			delete(e.jobs, id)
		}
	}
}

func (e *Engine) dequeue(ctx context.Context, id JobID) {
	e.mu.Lock()
	delete(e.jobs, id)
	e.mu.Unlock()
	_, err := e.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.ZRem(ctx, e.keys.queue(true), string(id))
		p.ZRem(ctx, e.keys.queue(false), string(id))
		return nil
	})
	if err != nil && ctx.Err() == nil {
		e.log.Error("remove finished job from queue", "job", string(id), "err", err)
	}
}

// finished logs the one line per fan-out and records its duration; res is nextScript's answer
// after "finished": state, sent, failed, created ms, finished ms.
func (e *Engine) finished(ctx context.Context, id JobID, res []string) {
	var lang string
	if jr, err := e.jobRun(ctx, id, ""); err == nil {
		lang = jr.art.Lang
	}
	e.dequeue(ctx, id)
	n := func(i int) int64 { v, _ := strconv.ParseInt(res[i], 10, 64); return v }
	d := time.Duration(n(4)-n(3)) * time.Millisecond
	e.met.duration.Observe(d.Seconds())
	e.log.Info("fan-out finished", "job", string(id), "article_id", id.story(), "lang", lang,
		"state", res[0], "sent", n(1), "failed", n(2), "duration", d.Round(time.Millisecond).String())
}

// Lease actions of flushScript.
const (
	leaseRenew    = "0"
	leaseRelease  = "1"
	leaseHandBack = "2"
)

// result is the outcome of sending to one chat.
type result struct {
	chat   int64
	state  string // ledger state; "" hands the chat back (not sent, someone may send later)
	reason string // failure reason for the counters; "" when sent or handed back
	extra  *result
}

// collector gathers results of a page's in-flight sends for the next flush.
type collector struct {
	mu  sync.Mutex
	res []result
	wg  sync.WaitGroup
}

func (c *collector) add(r result) {
	c.mu.Lock()
	c.res = append(c.res, r)
	c.mu.Unlock()
}

func (c *collector) take() []result {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.res
	c.res = nil
	return r
}

func (c *collector) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.res)
}

// process sends a page: slots for a batch (one round trip), mark the batch "sending" (one),
// send each at its slot, record outcomes (one per batch, which also renews the lease).
func (e *Engine) process(ctx, sendCtx context.Context, sem chan struct{}, p *page) {
	jr := p.job
	langs := e.labelLangs(ctx, jr, p.chats)
	var col collector
	pending := p.chats
	lastFlush := time.Now()
	lost, retracted := false, false
	handBack := func(chats []int64) {
		for _, c := range chats {
			col.add(result{chat: c})
		}
	}
	// Results are recorded a batch at a time, or every flushEvery at low rates: the sends of
	// the last flushEvery are all a crash can leave unrecorded.
	flushDue := func() bool {
		n, since := col.len(), time.Since(lastFlush)
		return n >= e.opt.Batch || (n > 0 && since > flushEvery) || since > e.opt.LeaseTTL/3
	}
	// Flushes go through even after shutdown began: they record sends that did happen.
	flushCtx := context.WithoutCancel(ctx)
	doFlush := func(action string) {
		fctx, cancel := context.WithTimeout(flushCtx, 5*time.Second)
		defer cancel()
		if err := e.flush(fctx, p, col.take(), action); err != nil {
			if errors.Is(err, errLeaseLost) {
				lost = true
			} else if ctx.Err() == nil {
				e.log.Error("record sends", "job", string(jr.id), "err", err)
			}
		}
		lastFlush = time.Now()
	}

	for len(pending) > 0 && ctx.Err() == nil && !lost && !retracted {
		batch := pending[:min(e.opt.Batch, len(pending))]
		pending = pending[len(batch):]
		res, err := e.lim.reserve(ctx, batch)
		if err != nil {
			if ctx.Err() == nil {
				e.log.Error("reserve send slots", "job", string(jr.id), "err", err)
			}
			pending = append(pending, batch...)
			_ = sleepUntil(ctx, time.Now().Add(time.Second))
			continue
		}
		pending = append(pending, res.later...)
		if len(res.granted) == 0 {
			if flushDue() {
				doFlush(leaseRenew)
			}
			// Never sleep through a lease renewal (a 429 pause may be long).
			_ = sleepUntil(ctx, minTime(res.retryAt, time.Now().Add(e.opt.LeaseTTL/3)))
			continue
		}
		// Chats are marked "sending" in groups whose slots fall due together, right before
		// they go out: at full speed that is the whole batch in one round trip; at a low
		// rate it is a chat or two at a time, so that a crash leaves as few chats as
		// possible marked but not sent.
		granted := res.granted
		for len(granted) > 0 && ctx.Err() == nil && !lost {
			n := 1
			for n < len(granted) && granted[n].at.Sub(granted[0].at) < markWindow {
				n++
			}
			group := granted[:n]
			if err := sleepUntil(ctx, group[0].at.Add(-markLead)); err != nil {
				break
			}
			marked, err := e.mark(ctx, p, group)
			if err != nil {
				if errors.Is(err, errLeaseLost) {
					lost = true
					break
				}
				if errors.Is(err, errStoryRetracted) {
					// Nobody else on the page gets it; the page is done, and the
					// next claim ends the job as retracted.
					e.log.Info("story retracted mid-page: its fan-out stops", "job", string(jr.id), "page", p.name)
					retracted = true
					granted = nil
					pending = nil
					break
				}
				if ctx.Err() == nil {
					e.log.Error("mark chats sending", "job", string(jr.id), "err", err)
				}
				break
			}
			granted = granted[n:]
			for i, s := range marked {
				if err := sleepUntil(ctx, s.at); err != nil {
					handBack(slotChats(marked[i:]))
					break
				}
				if e.lim.paused() {
					// A 429 arrived since these slots were handed out: give the chats
					// back (unmarked at once, so that they can be marked again) and
					// queue them for new slots after the pause.
					rest := slotChats(marked[i:])
					handBack(rest)
					doFlush(leaseRenew)
					pending = append(pending, rest...)
					break
				}
				acquired := false
				select {
				case sem <- struct{}{}:
					acquired = true
				case <-ctx.Done():
				}
				if !acquired {
					handBack(slotChats(marked[i:]))
					break
				}
				col.wg.Add(1)
				go func(chat int64) {
					defer func() { <-sem; col.wg.Done() }()
					col.add(e.deliver(ctx, sendCtx, jr, chat, langs[chat]))
				}(s.chat)
			}
		}
		// Slots not used (shutdown, a Redis error) go back to pending: not marked, so
		// nothing is lost; their slots on the schedule are simply wasted.
		pending = append(pending, slotChats(granted)...)
		if len(granted) > 0 && ctx.Err() == nil && !lost {
			_ = sleepUntil(ctx, time.Now().Add(time.Second))
		}
		if flushDue() {
			doFlush(leaseRenew)
		}
	}
	// Wait for the sends in flight (a retry may wait out a long 429), renewing the lease
	// meanwhile so that nobody takes the page over and sees its chats as in doubt.
	done := make(chan struct{})
	go func() { col.wg.Wait(); close(done) }()
	renew := time.NewTicker(e.opt.LeaseTTL / 3)
	defer renew.Stop()
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		case <-renew.C:
			doFlush(leaseRenew)
		}
	}
	results := col.take()
	if lost {
		// Record what was sent all the same; the script leaves the lease to its new owner.
		_ = e.flush(flushCtx, p, results, leaseRenew)
		e.log.Warn("page lease lost, another worker took it over", "job", string(jr.id), "page", p.name)
		return
	}
	// The page is done only when every chat was dealt with; otherwise (shutdown, chats
	// handed back) it goes back for another worker to finish, the ledger skipping what was
	// sent.
	action := leaseRelease
	if len(pending) > 0 || ctx.Err() != nil || slices.ContainsFunc(results, func(r result) bool { return r.state == "" }) {
		action = leaseHandBack
	}
	fctx, cancel := context.WithTimeout(flushCtx, 5*time.Second)
	defer cancel()
	if err := e.flush(fctx, p, results, action); err != nil && !errors.Is(err, errLeaseLost) {
		e.log.Error("record sends", "job", string(jr.id), "err", err)
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func slotChats(s []slot) []int64 {
	out := make([]int64, len(s))
	for i, x := range s {
		out[i] = x.chat
	}
	return out
}

var (
	errLeaseLost      = errors.New("page lease lost")
	errStoryRetracted = errors.New("story retracted")
)

// markWindow groups slots falling due within it into one "sending" mark; markLead is how long
// before the first slot of a group the mark is made (a round trip, with margin).
const (
	flushEvery = 100 * time.Millisecond
	markWindow = 20 * time.Millisecond
	markLead   = 2 * time.Millisecond
)

// mark marks the granted chats "sending" and returns the slots of those this worker may send
// to (the others were served meanwhile by another job of the story).
func (e *Engine) mark(ctx context.Context, p *page, granted []slot) ([]slot, error) {
	args := make([]any, 0, 4+len(granted))
	args = append(args, p.name, e.owner, p.job.id.num(), e.opt.LedgerTTL.Milliseconds())
	for _, s := range granted {
		args = append(args, s.chat)
	}
	story := p.job.id.story()
	res, err := markScript.Run(ctx, e.rdb, []string{e.keys.ledger(story), e.keys.owners(p.job.id), e.keys.meta(story)}, args...).Int64Slice()
	if err != nil {
		return nil, fmt.Errorf("mark chats sending: %w", err)
	}
	switch res[0] {
	case 0:
		return nil, errLeaseLost
	case -1:
		return nil, errStoryRetracted
	}
	if len(res)-1 == len(granted) {
		return granted, nil
	}
	ok := make(map[int64]bool, len(res)-1)
	for _, c := range res[1:] {
		ok[c] = true
	}
	out := granted[:0:0]
	for _, s := range granted {
		if ok[s.chat] {
			out = append(out, s)
		}
	}
	return out, nil
}

// flush records results in the ledger and counters and renews, releases or hands back the
// page's lease — one round trip (a pipeline of the story's script and the hourly counters).
func (e *Engine) flush(ctx context.Context, p *page, results []result, action string) error {
	var sent, failed int64
	var reasons map[string]int64
	args := make([]any, 0, 6+2*len(results))
	args = append(args, p.name, e.owner, e.opt.LeaseTTL.Milliseconds(), action, 0, 0)
	for _, r := range results {
		for x := &r; x != nil; x = x.extra {
			args = append(args, x.chat, x.state)
		}
		switch {
		case r.reason != "":
			failed++
			if reasons == nil {
				reasons = map[string]int64{}
			}
			reasons[r.reason]++
		case r.state != "":
			sent++
		}
	}
	args[4], args[5] = sent, failed
	story := p.job.id.story()
	var cmd *redis.Cmd
	_, err := e.rdb.Pipelined(ctx, func(pp redis.Pipeliner) error {
		cmd = flushScript.Run(ctx, pp, []string{e.keys.ledger(story), e.keys.job(p.job.id), e.keys.leases(p.job.id), e.keys.owners(p.job.id)}, args...)
		if sent > 0 || failed > 0 {
			e.statsCmds(ctx, pp, sent, reasons, 0)
			pp.Expire(ctx, e.keys.ledger(story), e.opt.LedgerTTL)
		}
		return nil
	})
	if err != nil && redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
		// A pipeline cannot fall back from EVALSHA to EVAL by itself (first use on this
		// server, or after a SCRIPT FLUSH); the counters went through, the script runs now.
		cmd = flushScript.Run(ctx, e.rdb, []string{e.keys.ledger(story), e.keys.job(p.job.id), e.keys.leases(p.job.id), e.keys.owners(p.job.id)}, args...)
		err = cmd.Err()
	}
	if err != nil {
		return fmt.Errorf("record sends of job %s: %w", p.job.id, err)
	}
	if n, _ := cmd.Int(); n == 0 {
		return errLeaseLost
	}
	return nil
}

// labelLangs maps each chat to the label language of its copy.
func (e *Engine) labelLangs(ctx context.Context, jr *jobRun, chats []int64) map[int64]string {
	out := make(map[int64]string, len(chats))
	ll, ok := e.readers.(LangLookup)
	if ok {
		langs, err := ll.InterfaceLangs(ctx, chats)
		if err == nil && len(langs) == len(chats) {
			for i, c := range chats {
				if langs[i] != "" {
					out[c] = langs[i]
				}
			}
		} else if err != nil && ctx.Err() == nil {
			e.log.Warn("look up readers' languages; labelling in the story's language", "job", string(jr.id), "err", err)
		}
	}
	for _, c := range chats {
		if out[c] == "" {
			out[c] = jr.art.Lang
		}
	}
	return out
}

// Failure reasons, as counted and shown in /stats.
const (
	reasonBlocked      = "blocked"
	reasonNotFound     = "chat_not_found"
	reasonBadRequest   = "bad_request"
	reasonTransient    = "transient"
	reasonRateLimited  = "rate_limited"
	reasonUnauthorized = "unauthorized"
	reasonRender       = "render"
	reasonInDoubt      = "in_doubt"
)

// deliver sends the story to one chat, handling every answer Telegram can give. ctx is the
// worker's (shutdown stops retries); sendCtx bounds the request itself.
func (e *Engine) deliver(ctx, sendCtx context.Context, jr *jobRun, chat int64, lang string) result {
	job := jr.id.num()
	failed := func(reason string) result {
		return result{chat: chat, state: "f:" + job + ":" + reason, reason: reason}
	}
	p, err := jr.post(e.render, e.log, lang)
	if err != nil {
		e.met.failed.WithLabelValues(reasonRender).Inc()
		return failed(reasonRender)
	}
	backoff := e.opt.Backoff
	transient, limited := 0, 0
	for {
		msg, err := e.tg.Send(sendCtx, p.Method, p.WithChat(chat).Params)
		if err == nil {
			e.met.sent.Inc()
			return result{chat: chat, state: "s:" + strconv.Itoa(msg.MessageID)}
		}
		switch outcome := telegram.OutcomeOf(err); {
		case outcome == telegram.RetryAfter:
			e.met.limited.Inc()
			e.countStats(ctx, 0, nil, 1)
			wait := telegram.RetryAfterOf(err)
			e.log.Warn("telegram says too many requests: everyone pauses", "retry_after", wait, "chat_id", chat)
			if err := e.lim.pause(ctx, wait); err != nil && ctx.Err() == nil {
				e.log.Error("pause sending", "err", err)
			}
			if limited++; limited > 10 {
				e.met.failed.WithLabelValues(reasonRateLimited).Inc()
				return failed(reasonRateLimited)
			}
		case outcome == telegram.Blocked:
			if err := e.readers.SetStatus(ctx, chat, subscriber.Blocked); err != nil {
				e.log.Error("mark reader blocked", "chat_id", chat, "err", err)
			}
			e.met.failed.WithLabelValues(reasonBlocked).Inc()
			return result{chat: chat, state: "x:" + reasonBlocked, reason: reasonBlocked}
		case outcome == telegram.ChatGone:
			if err := e.readers.Delete(ctx, chat); err != nil {
				e.log.Error("remove reader whose chat is gone", "chat_id", chat, "err", err)
			}
			e.met.failed.WithLabelValues(reasonNotFound).Inc()
			return result{chat: chat, state: "x:" + reasonNotFound, reason: reasonNotFound}
		case outcome == telegram.Migrated:
			return e.migrate(ctx, sendCtx, jr, chat, telegram.MigratedTo(err), lang)
		case outcome == telegram.Unauthorized:
			e.log.Error("telegram refuses the bot token", "err", err)
			e.met.failed.WithLabelValues(reasonUnauthorized).Inc()
			return failed(reasonUnauthorized)
		case outcome == telegram.InDoubt:
			// No answer: the message may or may not have arrived. Sending again could
			// give the reader two copies; the chat stays "sending" (in doubt).
			e.met.failed.WithLabelValues(reasonInDoubt).Inc()
			e.log.Warn("send outcome unknown, not retried", "chat_id", chat, "err", err)
			return result{chat: chat, state: "u:" + job, reason: reasonInDoubt}
		case outcome == telegram.NotSent && sendCtx.Err() == nil:
			if transient++; transient > e.opt.Retries {
				e.met.failed.WithLabelValues(reasonTransient).Inc()
				e.log.Warn("send failed after retries", "chat_id", chat, "article_id", jr.art.ID, "err", err)
				return failed(reasonTransient)
			}
			if err := sleepUntil(ctx, time.Now().Add(backoff)); err != nil {
				return result{chat: chat} // shutting down: hand back, it was not sent
			}
			backoff *= 2
		case outcome == telegram.NotSent:
			return result{chat: chat} // cut off at shutdown before it left: hand back
		default: // ErrBadRequest and anything unknown: sending again will not help
			e.met.failed.WithLabelValues(reasonBadRequest).Inc()
			e.log.Warn("telegram refused the message", "chat_id", chat, "article_id", jr.art.ID, "err", err)
			return failed(reasonBadRequest)
		}
		if err := e.lim.waitSlot(ctx, chat); err != nil {
			return result{chat: chat}
		}
	}
}

// migrate follows a group that became a supergroup: the subscription moves, the old id is
// recorded as migrated and the story goes to the new id (unless it already has it).
func (e *Engine) migrate(ctx, sendCtx context.Context, jr *jobRun, from, to int64, lang string) result {
	if err := e.readers.Migrate(ctx, from, to); err != nil {
		e.log.Error("move migrated group", "chat_id", from, "new_chat_id", to, "err", err)
	}
	r := result{chat: from, state: "m:" + strconv.FormatInt(to, 10)}
	story := jr.id.story()
	res, err := markScript.Run(ctx, e.rdb, []string{e.keys.ledger(story), e.keys.owners(jr.id), e.keys.meta(story)},
		"", "", jr.id.num(), e.opt.LedgerTTL.Milliseconds(), to).Int64Slice()
	if err != nil {
		e.log.Error("mark migrated group sending", "chat_id", to, "err", err)
		r.state = ""
		return r
	}
	if len(res) < 2 {
		return r // the new id already has the story, or it was retracted
	}
	if err := e.lim.waitSlot(ctx, to); err != nil {
		x := result{chat: to}
		r.extra = &x
		return r
	}
	x := e.deliver(ctx, sendCtx, jr, to, lang)
	r.reason = x.reason
	x.reason = ""
	r.extra = &x
	return r
}

// parseIDs parses chat ids returned by a script (strings or integers).
func parseIDs(v []string) []int64 {
	out := make([]int64, 0, len(v))
	for _, s := range v {
		if id, err := strconv.ParseInt(s, 10, 64); err == nil {
			out = append(out, id)
		}
	}
	return out
}

func parsePage(name string) (from, to int64, ok bool) {
	a, b, found := strings.Cut(name, ":")
	if !found {
		return 0, 0, false
	}
	from, err1 := strconv.ParseInt(a, 10, 64)
	to, err2 := strconv.ParseInt(b, 10, 64)
	return from, to, err1 == nil && err2 == nil && from != math.MaxInt64
}
