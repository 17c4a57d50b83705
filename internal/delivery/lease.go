package delivery

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// page is a leased part of a job's audience.
type page struct {
	job   *jobRun
	name  string // "from:to", the lease's member
	chats []int64
}

var (
	errLeaseLost      = errors.New("page lease lost")
	errStoryRetracted = errors.New("story retracted")
)

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
		case replyGone, replyDone:
			e.dequeue(ctx, id)
			return nil, nil
		case replyBusy:
			return nil, nil
		case replyFinished:
			e.finished(ctx, id, res[1:])
			return nil, nil
		}
		if len(res) < 3 {
			return nil, fmt.Errorf("claim work in job %s: bad answer %q", id, res)
		}
		jr, err := e.loadJob(ctx, id, res[2])
		if err != nil {
			return nil, err
		}
		if res[0] == replyRetake {
			p, err := e.retake(ctx, jr, res[1])
			if err != nil || p != nil {
				return p, err
			}
			continue
		}
		// res[0] == replyCursor
		after, err := strconv.ParseInt(res[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("claim work in job %s: bad cursor %q", id, res[1])
		}
		ids, err := e.audiencePage(ctx, jr, after)
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
		case replyDone:
			return nil, nil
		case replyMoved, replyEmpty:
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

// audiencePage is the next page of the job's audience after chat id after: the story's
// readers, or the digest readers.
func (e *Engine) audiencePage(ctx context.Context, jr *jobRun, after int64) ([]int64, error) {
	if jr.digest != nil {
		return e.readers.DigestPage(ctx, after, e.opt.PageSize)
	}
	a := jr.story.art
	return e.readers.AudiencePage(ctx, a.Lang, a.Topics, jr.breaking, after, e.opt.PageSize)
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
		ids, err := e.audiencePage(ctx, jr, after)
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
			e.log.Warn("page taken over: chats in doubt are not sent again", "job_id", string(jr.id), "page", name, "in_doubt", res[0])
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

// mark marks the granted chats "sending" and returns the slots of those this worker may send
// to (the others were served meanwhile by another job of the story).
func (e *Engine) mark(ctx context.Context, p *page, granted []slot) ([]slot, error) {
	args := make([]any, 0, 4+len(granted))
	args = append(args, p.name, e.owner, p.job.id.num(), e.opt.LedgerTTL.Milliseconds())
	for _, s := range granted {
		args = append(args, s.chat)
	}
	marked, err := e.markChats(ctx, p.job, args)
	if err != nil {
		return nil, err
	}
	if len(marked) == len(granted) {
		return granted, nil
	}
	ok := make(map[int64]bool, len(marked))
	for _, c := range marked {
		ok[c] = true
	}
	out := granted[:0:0]
	for _, s := range granted {
		if ok[s.chat.(int64)] {
			out = append(out, s)
		}
	}
	return out, nil
}

// markChats runs markScript for a job; args are its ARGV. It returns the marked chat ids.
func (e *Engine) markChats(ctx context.Context, jr *jobRun, args []any) ([]int64, error) {
	story := jr.id.story()
	raw, err := markScript.Run(ctx, e.rdb, []string{e.keys.ledger(story), e.keys.owners(jr.id), e.keys.meta(story)}, args...).Slice()
	if err != nil {
		return nil, fmt.Errorf("mark chats sending: %w", err)
	}
	res := make([]string, len(raw))
	for i, v := range raw {
		res[i] = fmt.Sprint(v)
	}
	switch res[0] {
	case markLeaseLost:
		return nil, errLeaseLost
	case markRetracted:
		return nil, errStoryRetracted
	}
	return parseIDs(res[1:]), nil
}

// flush records results in the ledger and counters and renews, releases or hands back the
// page's lease — one round trip (a pipeline of the story's script and the hourly counters).
func (e *Engine) flush(ctx context.Context, p *page, results []result, action string) error {
	return e.flushAt(ctx, p, results, action, time.Time{})
}

// flushAt is flush handing the page back for another worker to take over from notBefore on.
func (e *Engine) flushAt(ctx context.Context, p *page, results []result, action string, notBefore time.Time) error {
	var sent, failed, skipped int64
	var reasons map[string]int64
	lease := e.opt.LeaseTTL.Milliseconds()
	if action == leaseHandBack {
		lease = 0
		if !notBefore.IsZero() {
			lease = notBefore.UnixMilli()
		}
	}
	args := make([]any, 0, 7+2*len(results))
	args = append(args, p.name, e.owner, lease, action, 0, 0, 0)
	for _, r := range results {
		if r.skipped {
			skipped++
			continue
		}
		for x := &r; x != nil; x = x.extra {
			args = append(args, x.chat, string(x.state))
		}
		switch {
		case r.reason != "":
			failed++
			if reasons == nil {
				reasons = map[string]int64{}
			}
			reasons[r.reason]++
		case r.state != handBack:
			sent++
		}
	}
	args[4], args[5], args[6] = sent, failed, skipped
	story := p.job.id.story()
	keys := []string{e.keys.ledger(story), e.keys.job(p.job.id), e.keys.leases(p.job.id), e.keys.owners(p.job.id)}
	var cmd *redis.Cmd
	_, err := e.rdb.Pipelined(ctx, func(pp redis.Pipeliner) error {
		cmd = flushScript.Run(ctx, pp, keys, args...)
		if sent > 0 || failed > 0 {
			e.statsCmds(ctx, pp, sent, reasons, 0)
			pp.Expire(ctx, e.keys.ledger(story), e.opt.LedgerTTL)
		}
		return nil
	})
	if err != nil && redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
		// A pipeline cannot fall back from EVALSHA to EVAL by itself (first use on this
		// server, or after a SCRIPT FLUSH); the counters went through, the script runs now.
		cmd = flushScript.Run(ctx, e.rdb, keys, args...)
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
