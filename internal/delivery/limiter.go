package delivery

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// limiter is the client side of the global send schedule kept in Redis (reserveScript): one
// round trip hands out slots for a whole batch of chats, and the caller sleeps until each
// slot, so messages leave evenly spaced at the configured rate for all copies together while
// Redis sees one call per batch.
type limiter struct {
	rdb        redis.UniversalClient
	keys       keys
	interval   time.Duration // 0: no global limit (429 pauses and per-chat pacing still apply)
	horizon    time.Duration // slots are handed out at most this far ahead
	privateGap time.Duration
	groupGap   time.Duration

	// pausedUntil (unix ns) makes this copy's senders stop at once on a 429 one of them got,
	// or one another copy got and a reservation found, without a round trip per message.
	pausedUntil atomic.Int64
}

func newLimiter(rdb redis.UniversalClient, k keys, rate float64, privateGap, groupGap time.Duration) *limiter {
	l := &limiter{rdb: rdb, keys: k, privateGap: privateGap, groupGap: groupGap}
	if rate > 0 {
		l.interval = time.Duration(float64(time.Second) / rate)
		// A horizon of ~1/8 s keeps batches small at low rates (smooth, and a 429 pause
		// strands few reserved slots) and big enough at high rates to keep round trips rare.
		l.horizon = max(125*time.Millisecond, 2*l.interval)
	}
	return l
}

// slot is a chat's turn on the schedule. chat is an int64 id, or a channel's "@name".
type slot struct {
	chat any
	at   time.Time
}

// reservation is the answer for a batch: chats with a slot, and the rest to retry no earlier
// than retryAt.
type reservation struct {
	granted []slot
	later   []any
	retryAt time.Time
}

// unpaced marks a chat for reserveScript as exempt from per-chat pacing: edits and answers to
// button presses, which are not new messages in the chat.
func unpaced(chat any) string { return "!" + fmt.Sprint(chat) }

// reserve asks for slots for chats (at most a batch). A priority reservation (a reply to a
// reader) is granted beyond the horizon, ahead of fan-out. It never blocks beyond the round
// trip.
func (l *limiter) reserve(ctx context.Context, chats []any, prio bool) (reservation, error) {
	var r reservation
	wait, codes, err := l.run(ctx, chats, prio)
	if err != nil {
		return r, err
	}
	now := time.Now()
	if codes == nil {
		r.later = chats
		r.retryAt = now.Add(wait)
		return r, nil
	}
	var soonest time.Duration = -1
	for i, code := range codes {
		switch {
		case code >= 0:
			r.granted = append(r.granted, slot{chat: chats[i], at: now.Add(time.Duration(code) * time.Microsecond)})
		case code == -1:
			r.later = append(r.later, chats[i])
		default:
			r.later = append(r.later, chats[i])
			if d := time.Duration(-(code + 2)) * time.Microsecond; soonest < 0 || d < soonest {
				soonest = d
			}
		}
	}
	switch {
	case len(r.granted) > 0:
		r.retryAt = now // the rest may fit the schedule in the next round trip
	case soonest >= 0 && len(r.later) > 0 && wait == 0:
		r.retryAt = now.Add(max(soonest, time.Millisecond))
	default:
		r.retryAt = now.Add(max(wait, time.Millisecond))
	}
	return r, nil
}

// run calls reserveScript. codes is nil while sending is paused; wait is how long until the
// schedule has room again (or the pause ends).
func (l *limiter) run(ctx context.Context, members []any, prio bool) (wait time.Duration, codes []int64, err error) {
	if until := l.pausedUntil.Load(); until > time.Now().UnixNano() {
		return time.Until(time.Unix(0, until)), nil, nil
	}
	args := make([]any, 0, 5+len(members))
	args = append(args, l.interval.Microseconds(), l.horizon.Microseconds(),
		l.privateGap.Microseconds(), l.groupGap.Microseconds(), flag(prio))
	args = append(args, members...)
	res, err := reserveScript.Run(ctx, l.rdb, []string{l.keys.gcra(), l.keys.pause(), l.keys.pace()}, args...).Int64Slice()
	if err != nil {
		return 0, nil, fmt.Errorf("reserve send slots: %w", err)
	}
	if len(res) == 0 {
		return 0, nil, fmt.Errorf("reserve send slots: empty answer")
	}
	if res[0] < 0 {
		// Paused by a 429 (maybe another copy's): this copy's senders hold back too.
		wait := time.Duration(-res[0]) * time.Microsecond
		l.holdUntil(time.Now().Add(wait))
		return wait, nil, nil
	}
	return time.Duration(res[0]) * time.Microsecond, res[1:], nil
}

// paused reports whether this copy knows of a 429 pause in force.
func (l *limiter) paused() bool { return l.pausedUntil.Load() > time.Now().UnixNano() }

func (l *limiter) holdUntil(t time.Time) {
	until := t.UnixNano()
	for {
		cur := l.pausedUntil.Load()
		if cur >= until || l.pausedUntil.CompareAndSwap(cur, until) {
			return
		}
	}
}

// pause stops sending for everyone for d (a 429's retry_after).
func (l *limiter) pause(ctx context.Context, d time.Duration) error {
	l.holdUntil(time.Now().Add(d))
	ms := max(d.Milliseconds(), 1)
	if err := pauseScript.Run(ctx, l.rdb, []string{l.keys.gcra(), l.keys.pause()}, strconv.FormatInt(ms, 10)).Err(); err != nil {
		return fmt.Errorf("pause sending for %s: %w", d, err)
	}
	return nil
}

// errPaused: a 429 pause began after the slot was handed out; the slot must not be used.
var errPaused = errors.New("sending paused after a 429")

// sleepSlot waits until a slot's time and checks that no pause began meanwhile: a slot booked
// before a pause is not used until the pause ends (errPaused: reserve again).
func (l *limiter) sleepSlot(ctx context.Context, at time.Time) error {
	if err := sleepUntil(ctx, at); err != nil {
		return err
	}
	if l.paused() {
		return errPaused
	}
	return nil
}

// waitSlot waits for one slot for one chat, as long as the schedule, pacing or a pause
// require — for retries and replies.
func (l *limiter) waitSlot(ctx context.Context, chat any, prio bool) error {
	for {
		r, err := l.reserve(ctx, []any{chat}, prio)
		if err != nil {
			return err
		}
		if len(r.granted) == 1 {
			err := l.sleepSlot(ctx, r.granted[0].at)
			if !errors.Is(err, errPaused) {
				return err
			}
			continue
		}
		if err := sleepUntil(ctx, r.retryAt); err != nil {
			return err
		}
	}
}

// sleepUntil waits until t or ctx is done.
func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}
