// Package backoff hands out growing waits for the retry loops of every part of newsbot (Redis
// reconnects, article sources, delivery workers, the update intake, Telegram calls), so that
// they all back off the same way: from Min, doubling up to Max, with jitter so that copies
// that failed together do not retry together.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff is the state of one retry loop. The zero value waits 100ms, doubling up to 5s.
// It is not safe for concurrent use: each loop keeps its own.
type Backoff struct {
	Min, Max time.Duration
	next     time.Duration
	failures int
}

// Next returns the wait before the next attempt: Min, then twice the previous wait up to
// Max, each plus up to a fifth at random.
func (b *Backoff) Next() time.Duration {
	lo, hi := b.Min, b.Max
	if lo <= 0 {
		lo = 100 * time.Millisecond
	}
	if hi < lo {
		hi = max(lo, 5*time.Second)
	}
	if b.next < lo {
		b.next = lo
	}
	d := b.next
	b.next = min(2*b.next, hi)
	b.failures++
	if j := int64(d / 5); j > 0 {
		d += time.Duration(rand.Int64N(j))
	}
	return d
}

// Failures is how many waits were handed out since the last Reset: the failures in a row.
func (b *Backoff) Failures() int { return b.failures }

// Reset starts again from Min after a success.
func (b *Backoff) Reset() { b.next, b.failures = 0, 0 }

// Wait sleeps for Next(), or returns ctx.Err() as soon as ctx ends.
func (b *Backoff) Wait(ctx context.Context) error { return Sleep(ctx, b.Next()) }

// Sleep waits d, or returns ctx.Err() as soon as ctx ends.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
