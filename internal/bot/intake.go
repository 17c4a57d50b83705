package bot

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"newsbot/internal/telegram"
)

// How update intake keeps "neither lost nor repeated" across restarts.
//
// Telegram forgets every update below the offset of the last getUpdates call, so the poller
// must not ask for the next batch before the current one is safely handled. It therefore
// works batch by batch: it takes a batch, skips the updates of it already handled (the
// bot:{poll}:done set), hands the rest to the Dispatcher (concurrently across chats, in
// order within a chat), adds each to the done set as its handler returns, waits until all
// have, and only then, in one MULTI, stores offset = last update_id + 1 and clears the done
// set; then it asks for more.
//
//   - Dies before the batch is done: the stored offset is the old one and Telegram was not
//     told otherwise, so the batch comes again; the updates already handled are skipped.
//     Nothing is lost.
//   - Dies after the MULTI but before the next getUpdates: the restart asks from the stored
//     offset, which confirms the batch to Telegram. Nothing is repeated.
//   - Dies between a handler returning and its id reaching the done set: that one update
//     is handled a second time. This window (one Redis write) is the only repeat left;
//     closing it would need handlers to commit their effects and the mark atomically.
//   - A handler that panics counts as handled, so a poisonous update cannot loop. Updates
//     still queued when the Dispatcher's shutdown grace runs out were never started: they
//     are not marked and come again.
//
// Webhook updates are claimed (SET NX bot:upd:<id>, 25h) before they are queued, because
// Telegram retries a webhook delivery it thinks failed while the first may still be queued.
// Once answered 200 an update is Telegram's no more: one queued when the process dies is
// lost, which is why the Dispatcher drains its queues for a grace period at shutdown.

// UpdatesAPI is the part of the Telegram client the poller uses.
type UpdatesAPI interface {
	GetUpdates(ctx context.Context, offset int, timeout time.Duration, allowedUpdates ...string) ([]telegram.Update, error)
	DeleteWebhook(ctx context.Context, dropPending bool) error
}

// DefaultAllowedUpdates are the update kinds the bot asks Telegram for.
func DefaultAllowedUpdates() []string {
	return []string{"message", "callback_query", "my_chat_member"}
}

// seenTTL outlives Telegram's own 24-hour retention of undelivered updates.
const seenTTL = 25 * time.Hour

// Seen remembers, in Redis, which webhook update ids were taken in.
type Seen struct {
	rdb    redis.UniversalClient
	prefix string
}

// NewSeen returns the update-id memory under prefix.
func NewSeen(rdb redis.UniversalClient, prefix string) *Seen {
	return &Seen{rdb: rdb, prefix: prefix}
}

// Claim marks id as taken in and reports whether it was new.
func (s *Seen) Claim(ctx context.Context, id int) (bool, error) {
	ok, err := s.rdb.SetNX(ctx, keyUpdateSeen(s.prefix, id), 1, seenTTL).Result()
	if err != nil {
		return false, fmt.Errorf("claim update %d: %w", id, err)
	}
	return ok, nil
}

// Release forgets a claim whose update could not be queued, so a retry is taken in.
func (s *Seen) Release(ctx context.Context, id int) error {
	if err := s.rdb.Del(ctx, keyUpdateSeen(s.prefix, id)).Err(); err != nil {
		return fmt.Errorf("release update %d: %w", id, err)
	}
	return nil
}

// handledIn reports, for each id, whether it is in the done set, in one round trip.
func handledIn(ctx context.Context, rdb redis.UniversalClient, key string, ids []int) ([]bool, error) {
	pipe := rdb.Pipeline()
	cmds := make([]*redis.BoolCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.SIsMember(ctx, key, id)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("check handled updates: %w", err)
	}
	out := make([]bool, len(ids))
	for i, c := range cmds {
		out[i] = c.Val()
	}
	return out, nil
}

// Poller takes updates in by long polling.
type Poller struct {
	api    UpdatesAPI
	d      *Dispatcher
	rdb    redis.UniversalClient
	prefix string
	log    *slog.Logger
	owner  string // this copy's lock token

	// Timeout is the long-poll wait of each getUpdates (default 30s).
	Timeout time.Duration
	// AllowedUpdates are the kinds asked for (default DefaultAllowedUpdates()).
	AllowedUpdates []string
	// MinBackoff and MaxBackoff bound the wait after a failure (defaults 1s and 1m);
	// each wait is drawn at random up to a bound that doubles per failure in a row.
	MinBackoff, MaxBackoff time.Duration
	// LockTTL is how long this copy keeps the polling lock without renewing it (default
	// Timeout + 30s). Several copies of the bot may run; one polls at a time.
	LockTTL time.Duration
}

// NewPoller returns a poller feeding d, with its offset, lock and update marks in Redis
// under prefix.
func NewPoller(api UpdatesAPI, d *Dispatcher, rdb redis.UniversalClient, prefix string, log *slog.Logger) *Poller {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := make([]byte, 8)
	_, _ = crand.Read(b)
	return &Poller{
		api: api, d: d, rdb: rdb, prefix: prefix, log: log,
		owner:          hex.EncodeToString(b),
		Timeout:        30 * time.Second,
		AllowedUpdates: DefaultAllowedUpdates(),
		MinBackoff:     time.Second,
		MaxBackoff:     time.Minute,
	}
}

// Run polls until ctx ends. It returns nil then, and an error only when the Dispatcher
// has stopped or the token is refused.
func (p *Poller) Run(ctx context.Context) error {
	failures := 0
	for ctx.Err() == nil {
		err := p.step(ctx)
		if err == nil {
			failures = 0
			continue
		}
		if ctx.Err() != nil {
			break
		}
		if telegram.OutcomeOf(err) == telegram.Unauthorized {
			// Revoked or mistyped: retrying cannot help, and the operator must act.
			p.log.Error("telegram refused the bot token; polling stops (check TELEGRAM_BOT_TOKEN)", "err", err)
			p.unlock()
			return fmt.Errorf("poll updates: telegram refused TELEGRAM_BOT_TOKEN: %w", err)
		}
		if errors.Is(err, ErrStopped) {
			p.unlock()
			return fmt.Errorf("poll updates: %w", err)
		}
		if errors.Is(err, errNotLeader) {
			// Another copy polls: check again in a while, without counting a failure.
			failures = 0
			if !sleep(ctx, p.lockTTL()/3) {
				break
			}
			continue
		}
		failures++
		wait := p.backoff(failures, err)
		p.log.Warn("poll updates failed", "err", err, "attempt", failures, "retry_in", wait.Round(time.Millisecond).String())
		if !sleep(ctx, wait) {
			break
		}
	}
	p.unlock()
	return nil
}

var errNotLeader = errors.New("another copy is polling")

// step polls once and handles the batch.
func (p *Poller) step(ctx context.Context) error {
	if err := p.lock(ctx); err != nil {
		return err
	}
	offset, err := p.loadOffset(ctx)
	if err != nil {
		return err
	}
	ups, err := p.api.GetUpdates(ctx, offset, p.Timeout, p.AllowedUpdates...)
	var tgErr *telegram.Error
	if errors.As(err, &tgErr) && tgErr.Code == 409 && strings.Contains(strings.ToLower(tgErr.Description), "webhook") {
		// A webhook is set (a previous deployment used one): switch Telegram back to
		// getUpdates, keeping pending updates.
		p.log.Info("webhook is set; deleting it to poll")
		if err := p.api.DeleteWebhook(ctx, false); err != nil {
			return fmt.Errorf("delete webhook: %w", err)
		}
		return nil
	}
	if err != nil {
		return err
	}
	if len(ups) == 0 {
		return nil
	}
	if err := p.handleBatch(ctx, ups); err != nil {
		return err
	}
	next := ups[len(ups)-1].UpdateID + 1
	for _, u := range ups {
		next = max(next, u.UpdateID+1)
	}
	_, err = p.rdb.TxPipelined(ctx, func(tx redis.Pipeliner) error {
		tx.Set(ctx, keyPollOffset(p.prefix), next, 0)
		tx.Del(ctx, keyPollDone(p.prefix))
		return nil
	})
	if err != nil {
		return fmt.Errorf("save update offset: %w", err)
	}
	return nil
}

// handleBatch dispatches the updates not yet handled and waits until all are.
func (p *Poller) handleBatch(ctx context.Context, ups []telegram.Update) error {
	ids := make([]int, len(ups))
	for i, u := range ups {
		ids[i] = u.UpdateID
	}
	seen, err := handledIn(ctx, p.rdb, keyPollDone(p.prefix), ids)
	if err != nil {
		return err
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		unfinish int
	)
	for i, u := range ups {
		if seen[i] {
			p.log.Debug("skipping update handled before", "update_id", u.UpdateID)
			continue
		}
		wg.Add(1)
		err := p.d.dispatch(ctx, u, func(handled bool) {
			defer wg.Done()
			if !handled {
				mu.Lock()
				unfinish++
				mu.Unlock()
				return
			}
			// The poller's ctx may be ending: the mark must still be written.
			mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := p.markHandled(mctx, u.UpdateID); err != nil {
				p.log.Warn("update handled but not marked; a restart may repeat it", "update_id", u.UpdateID, "err", err)
			}
		})
		if err != nil {
			wg.Done()
			return err
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	// A batch may take longer than the lock lives (handlers waiting out a 429, a slow
	// Redis): keep it, or another copy would fetch this batch again and handle its
	// unfinished updates a second time.
	renew := time.NewTicker(p.lockTTL() / 3)
	defer renew.Stop()
wait:
	for {
		select {
		case <-done:
			break wait
		case <-ctx.Done():
			return ctx.Err()
		case <-renew.C:
			if err := p.lock(ctx); err != nil {
				p.log.Warn("polling lock not renewed while a batch is handled; another copy may repeat it", "err", err)
			}
		}
	}
	if unfinish > 0 {
		return fmt.Errorf("%d updates were not handled to the end", unfinish)
	}
	return nil
}

// markHandled adds id to the done set. The expiry only guards against a set left behind
// by a copy that stopped polling for good; the MULTI after each batch is what clears it.
func (p *Poller) markHandled(ctx context.Context, id int) error {
	_, err := p.rdb.TxPipelined(ctx, func(tx redis.Pipeliner) error {
		tx.SAdd(ctx, keyPollDone(p.prefix), id)
		tx.Expire(ctx, keyPollDone(p.prefix), seenTTL)
		return nil
	})
	if err != nil {
		return fmt.Errorf("mark update %d handled: %w", id, err)
	}
	return nil
}

func (p *Poller) loadOffset(ctx context.Context) (int, error) {
	s, err := p.rdb.Get(ctx, keyPollOffset(p.prefix)).Result()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("load update offset: %w", err)
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("load update offset: bad value %q: %w", s, err)
	}
	return n, nil
}

func (p *Poller) lockTTL() time.Duration {
	if p.LockTTL > 0 {
		return p.LockTTL
	}
	return p.Timeout + 30*time.Second
}

// lockScript takes or renews the polling lock: the holder renews, anyone takes a free one.
var lockScript = redis.NewScript(`
local cur = redis.call("GET", KEYS[1])
if cur == false or cur == ARGV[1] then
  redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
  return 1
end
return 0`)

var unlockScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end
return 0`)

func (p *Poller) lock(ctx context.Context) error {
	ok, err := lockScript.Run(ctx, p.rdb, []string{keyPollLock(p.prefix)}, p.owner, p.lockTTL().Milliseconds()).Int()
	if err != nil {
		return fmt.Errorf("take polling lock: %w", err)
	}
	if ok == 0 {
		return errNotLeader
	}
	return nil
}

// unlock lets another copy poll at once instead of after the lock expires.
func (p *Poller) unlock() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := unlockScript.Run(ctx, p.rdb, []string{keyPollLock(p.prefix)}, p.owner).Err(); err != nil {
		p.log.Warn("release polling lock", "err", err)
	}
}

// backoff is "full jitter": random up to min(max, min·2^(n-1)); a 429 waits what it says.
func (p *Poller) backoff(n int, err error) time.Duration {
	var tgErr *telegram.Error
	if errors.As(err, &tgErr) && tgErr.RetryAfter > 0 {
		return tgErr.RetryAfter
	}
	lo, hi := p.MinBackoff, p.MaxBackoff
	if lo <= 0 {
		lo = time.Second
	}
	if hi < lo {
		hi = lo
	}
	bound := lo
	for i := 1; i < n && bound < hi; i++ {
		bound *= 2
	}
	bound = min(bound, hi)
	return lo/2 + rand.N(bound-lo/2+1)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
