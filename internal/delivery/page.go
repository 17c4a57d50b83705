package delivery

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"
)

// markWindow groups slots falling due within it into one "sending" mark; markLead is how long
// before the first slot of a group the mark is made (a round trip, with margin). A chat marked
// and not yet written to the wire when a copy dies is the one kind of reader at-most-once can
// cost a story, so both are small: at 30 or 100 messages a second each chat is marked on its
// own, a couple of milliseconds before its request leaves; without a rate limit a mark covers
// the chats of one reservation, all leaving at once.
const (
	flushEvery = 100 * time.Millisecond
	markWindow = 5 * time.Millisecond
	markLead   = time.Millisecond
)

// yieldAfter: a page whose chats all have to wait longer than this (their per-chat pace, a 429
// pause) is handed back, due again when they may be sent, and the worker looks for other work
// meanwhile — a breaking story does not wait behind readers paced for a second.
const yieldAfter = 50 * time.Millisecond

// pageRun sends one leased page: slots for a batch (one round trip), mark the chats due
// together "sending" (one), send each at its slot, record outcomes (one per batch, which also
// renews the lease).
type pageRun struct {
	e       *Engine
	ctx     context.Context // the worker's: shutdown stops taking new slots
	sendCtx context.Context // in-flight requests: outlives ctx by DrainTimeout
	sem     chan struct{}
	p       *page

	msgs      map[int64]chatMsg // what each chat is sent
	pending   []int64           // chats still to send
	lost      bool              // another worker took the page over
	retracted bool              // the story was withdrawn mid-page
	yieldTill time.Time         // the page was handed back until then (yieldAfter)
	lastFlush time.Time

	mu       sync.Mutex
	results  []result
	inFlight sync.WaitGroup
}

func (r *pageRun) add(res result) {
	r.mu.Lock()
	r.results = append(r.results, res)
	r.mu.Unlock()
}

func (r *pageRun) take() []result {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := r.results
	r.results = nil
	return res
}

func (r *pageRun) unrecorded() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.results)
}

// handBack gives chats back unsent: their marks are removed at the next flush.
func (r *pageRun) handBack(chats []int64) {
	for _, c := range chats {
		r.add(result{chat: c})
	}
}

// flushDue: results are recorded a batch at a time, or every flushEvery at low rates — the
// sends of the last flushEvery are all a crash can leave unrecorded — and the lease is renewed
// well before it expires.
func (r *pageRun) flushDue() bool {
	n, since := r.unrecorded(), time.Since(r.lastFlush)
	return n >= r.e.opt.Batch || (n > 0 && since > flushEvery) || since > r.e.opt.LeaseTTL/3
}

// flush records what was sent so far. It goes through even after shutdown began: it records
// sends that did happen.
func (r *pageRun) flush(action string) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), 5*time.Second)
	defer cancel()
	if err := r.e.flush(fctx, r.p, r.take(), action); err != nil {
		if errors.Is(err, errLeaseLost) {
			r.lost = true
		} else if r.ctx.Err() == nil {
			r.e.log.Error("record sends", "job_id", string(r.p.job.id), "err", err)
		}
	}
	r.lastFlush = time.Now()
}

func (r *pageRun) going() bool { return r.ctx.Err() == nil && !r.lost && !r.retracted }

func (r *pageRun) run() {
	e, jr := r.e, r.p.job
	r.lastFlush = time.Now()
	if err := r.prepare(); err != nil {
		if r.ctx.Err() == nil {
			e.log.Error("prepare a page; it is handed back", "job_id", jr.id.String(), "err", err)
		}
		r.pending = r.p.chats
		r.yieldTill = time.Now().Add(time.Second)
		r.finish()
		return
	}
	for len(r.pending) > 0 && r.going() {
		batch := r.pending[:min(e.opt.Batch, len(r.pending))]
		r.pending = r.pending[len(batch):]
		res, err := e.lim.reserve(r.ctx, chatArgs(batch), false)
		if err != nil {
			if r.ctx.Err() == nil {
				e.log.Error("reserve send slots", "job_id", string(jr.id), "err", err)
			}
			r.pending = append(r.pending, batch...)
			_ = sleepUntil(r.ctx, time.Now().Add(time.Second))
			continue
		}
		r.pending = append(r.pending, chatIDs(res.later)...)
		if len(res.granted) == 0 {
			if time.Until(res.retryAt) > yieldAfter {
				r.yieldTill = res.retryAt
				break
			}
			if r.flushDue() {
				r.flush(leaseRenew)
			}
			// Never sleep through a lease renewal (a 429 pause may be long).
			_ = sleepUntil(r.ctx, minTime(res.retryAt, time.Now().Add(e.opt.LeaseTTL/3)))
			continue
		}
		unused := r.sendGranted(res.granted)
		// Slots not used (shutdown, a Redis error) go back to pending: not marked, so nothing
		// is lost; their slots on the schedule are simply wasted.
		r.pending = append(r.pending, slotChats(unused)...)
		if len(unused) > 0 && r.going() {
			_ = sleepUntil(r.ctx, time.Now().Add(time.Second))
		}
		if r.flushDue() {
			r.flush(leaseRenew)
		}
	}
	r.finish()
}

// sendGranted marks and sends the chats of one reservation, a group of slots falling due
// together at a time, right before they go out. It returns the slots it did not use.
func (r *pageRun) sendGranted(granted []slot) []slot {
	e, jr := r.e, r.p.job
	for len(granted) > 0 && r.ctx.Err() == nil && !r.lost {
		n := 1
		for n < len(granted) && granted[n].at.Sub(granted[0].at) < markWindow {
			n++
		}
		group := granted[:n]
		if err := sleepUntil(r.ctx, group[0].at.Add(-markLead)); err != nil {
			return granted
		}
		marked, err := e.mark(r.ctx, r.p, group)
		switch {
		case errors.Is(err, errLeaseLost):
			r.lost = true
			return granted
		case errors.Is(err, errStoryRetracted):
			// Nobody else on the page gets it; the page is done, and the next claim ends
			// the job as retracted.
			e.log.Info("story retracted mid-page: its fan-out stops", "job_id", string(jr.id), "page", r.p.name)
			r.retracted = true
			r.pending = nil
			return nil
		case err != nil:
			if r.ctx.Err() == nil {
				e.log.Error("mark chats sending", "job_id", string(jr.id), "err", err)
			}
			return granted
		}
		granted = granted[n:]
		for i, s := range marked {
			if err := e.lim.sleepSlot(r.ctx, s.at); err != nil {
				// Shut down, or a 429 arrived since these slots were handed out: give the
				// chats back (unmarked at once, so that they can be marked again) and queue
				// them for new slots after the pause.
				rest := slotChats(marked[i:])
				r.handBack(rest)
				if r.ctx.Err() == nil {
					r.flush(leaseRenew)
					r.pending = append(r.pending, rest...)
				}
				return granted
			}
			select {
			case r.sem <- struct{}{}:
			case <-r.ctx.Done():
				r.handBack(slotChats(marked[i:]))
				return granted
			}
			r.inFlight.Add(1)
			go func(chat int64) {
				defer func() { <-r.sem; r.inFlight.Done() }()
				r.add(e.deliver(r.ctx, r.sendCtx, jr, chat, r.msgs[chat]))
			}(s.chat.(int64))
		}
	}
	return granted
}

// finish waits for the sends in flight (a retry may wait out a long pause), renewing the lease
// meanwhile so that nobody takes the page over and sees its chats as in doubt, then records
// everything and lets the page go: released when every chat was dealt with, handed back for
// another worker (the ledger skipping what was sent) otherwise.
func (r *pageRun) finish() {
	e, jr := r.e, r.p.job
	done := make(chan struct{})
	go func() { r.inFlight.Wait(); close(done) }()
	renew := time.NewTicker(e.opt.LeaseTTL / 3)
	defer renew.Stop()
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		case <-renew.C:
			r.flush(leaseRenew)
		}
	}
	results := r.take()
	fctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), 5*time.Second)
	defer cancel()
	if r.lost {
		// Record what was sent all the same; the script leaves the lease to its new owner.
		_ = e.flush(fctx, r.p, results, leaseRenew)
		e.log.Warn("page lease lost, another worker took it over", "job_id", string(jr.id), "page", r.p.name)
		return
	}
	action := leaseRelease
	if len(r.pending) > 0 || r.ctx.Err() != nil || slices.ContainsFunc(results, func(x result) bool { return x.state == handBack && !x.skipped }) {
		action = leaseHandBack
	}
	if err := e.flushAt(fctx, r.p, results, action, r.yieldTill); err != nil && !errors.Is(err, errLeaseLost) {
		e.log.Error("record sends", "job_id", string(jr.id), "err", err)
	}
}

// chatMsg is what one chat of a page gets.
type chatMsg struct {
	lang   string // the label language of a story's copy
	text   string // a digest
	silent bool   // the reader's quiet hours: no notification
}

// prepare decides, for every chat of the page, what it is sent — or that it is sent nothing:
// an instant push past PUSH_MAX_AGE is stale (recorded, never sent); a story handed on before
// the reader took up instant reading is theirs in a digest already; a digest reader with
// nothing new gets no digest. One or two round trips for the page.
func (r *pageRun) prepare() error {
	e, jr := r.e, r.p.job
	now := e.now()
	quiet := !e.opt.QuietHours.IsZero() && e.opt.QuietHours.Contains(now, e.opt.Location)
	r.msgs = make(map[int64]chatMsg, len(r.p.chats))
	if jr.digest != nil {
		texts, silent, err := e.digestPage(r.ctx, jr.digest, r.p.chats)
		if err != nil {
			return err
		}
		for _, c := range r.p.chats {
			if text, ok := texts[c]; ok {
				r.msgs[c] = chatMsg{text: text, silent: quiet && silent[c]}
				r.pending = append(r.pending, c)
			} else {
				r.add(result{chat: c, skipped: true})
			}
		}
		return nil
	}
	a := jr.story.art
	auto := jr.by == 0 && !jr.breaking // the story's own fan-out, not breaking: rules apply
	if auto && now.After(a.PublishedAt.Add(e.opt.MaxAge)) {
		for _, c := range r.p.chats {
			r.add(r.stale(c))
		}
		return nil
	}
	prefs, err := e.readers.Prefs(r.ctx, r.p.chats)
	if err != nil {
		return err
	}
	for i, c := range r.p.chats {
		p := prefs[i]
		if auto && p.ModeSince.After(jr.story.first) {
			r.add(result{chat: c, skipped: true})
			continue
		}
		lang := p.Lang
		if lang == "" {
			lang = a.Lang
		}
		r.msgs[c] = chatMsg{lang: lang, silent: quiet && p.Quiet && !jr.breaking}
		r.pending = append(r.pending, c)
	}
	return nil
}

// stale records an instant push that would come later than PUSH_MAX_AGE after its story.
func (r *pageRun) stale(chat int64) result {
	r.e.met.failed.WithLabelValues(reasonStale).Inc()
	return result{chat: chat, state: failedState(r.p.job.id.num(), reasonStale), reason: reasonStale}
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
		out[i] = x.chat.(int64)
	}
	return out
}

func chatArgs(ids []int64) []any {
	out := make([]any, len(ids))
	for i, c := range ids {
		out[i] = c
	}
	return out
}

func chatIDs(v []any) []int64 {
	out := make([]int64, len(v))
	for i, c := range v {
		out[i] = c.(int64)
	}
	return out
}
