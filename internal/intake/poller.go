package intake

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"newsbot/internal/backoff"
	"newsbot/internal/telegram"
)

// UpdatesAPI is the part of the Telegram client the poller uses; *telegram.Client satisfies it.
type UpdatesAPI interface {
	GetUpdates(ctx context.Context, offset int, timeout time.Duration, allowedUpdates ...string) ([]telegram.Update, error)
	DeleteWebhook(ctx context.Context, dropPending bool) error
}

// PollerOptions are a Poller's dependencies and settings. API, Dispatcher and Redis are
// required.
type PollerOptions struct {
	API        UpdatesAPI
	Dispatcher *Dispatcher
	// Redis and Prefix hold the offset, the done set of the current batch and the polling
	// lock, shared by every running copy.
	Redis  redis.UniversalClient
	Prefix string

	// Timeout is the long-poll wait of each getUpdates; zero: 30s.
	Timeout time.Duration
	// AllowedUpdates are the kinds asked for; nil: DefaultAllowedUpdates().
	AllowedUpdates []string
	// MinBackoff and MaxBackoff bound the wait after a failure (package backoff); zero: 1s
	// and 1m. A 429 waits what it says instead.
	MinBackoff, MaxBackoff time.Duration
	// LockTTL is how long this copy keeps the polling lock without renewing it; zero:
	// Timeout + 30s. Several copies of the bot may run; one polls at a time.
	LockTTL time.Duration
	// Log takes the poller's lines; nil: discarded.
	Log *slog.Logger
}

// Poller takes updates in by long polling.
type Poller struct {
	api     UpdatesAPI
	d       *Dispatcher
	rdb     redis.UniversalClient
	prefix  string
	timeout time.Duration
	allowed []string
	minWait time.Duration
	maxWait time.Duration
	lockTTL time.Duration
	log     *slog.Logger
	owner   string // this copy's lock token

	lockScript, unlockScript *redis.Script
}

// NewPoller returns a poller feeding o.Dispatcher; it does no I/O.
func NewPoller(o PollerOptions) (*Poller, error) {
	var missing []string
	if o.API == nil {
		missing = append(missing, "API")
	}
	if o.Dispatcher == nil {
		missing = append(missing, "Dispatcher")
	}
	if o.Redis == nil {
		missing = append(missing, "Redis")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("new poller: missing %s", strings.Join(missing, ", "))
	}
	p := &Poller{
		api: o.API, d: o.Dispatcher, rdb: o.Redis, prefix: o.Prefix,
		timeout: o.Timeout, allowed: o.AllowedUpdates,
		minWait: o.MinBackoff, maxWait: o.MaxBackoff, lockTTL: o.LockTTL,
		log: o.Log,
	}
	if p.timeout <= 0 {
		p.timeout = 30 * time.Second
	}
	if p.allowed == nil {
		p.allowed = DefaultAllowedUpdates()
	}
	if p.minWait <= 0 {
		p.minWait = time.Second
	}
	if p.maxWait <= 0 {
		p.maxWait = time.Minute
	}
	if p.lockTTL <= 0 {
		p.lockTTL = p.timeout + 30*time.Second
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	b := make([]byte, 8)
	_, _ = crand.Read(b)
	p.owner = hex.EncodeToString(b)
	p.lockScript, p.unlockScript = redis.NewScript(lockLua), redis.NewScript(unlockLua)
	return p, nil
}

// Run polls until ctx ends. It returns nil then, and an error only when the Dispatcher
// has stopped or the token is refused.
func (p *Poller) Run(ctx context.Context) error {
	defer p.unlock()
	retry := backoff.Backoff{Min: p.minWait, Max: p.maxWait}
	failures := 0
	for ctx.Err() == nil {
		err := p.step(ctx)
		if err == nil {
			failures = 0
			retry.Reset()
			continue
		}
		if ctx.Err() != nil {
			break
		}
		if telegram.OutcomeOf(err) == telegram.Unauthorized {
			// Revoked or mistyped: retrying cannot help, and the operator must act.
			p.log.Error("telegram refused the bot token; polling stops (check TELEGRAM_BOT_TOKEN)", "err", err)
			return fmt.Errorf("poll updates: telegram refused TELEGRAM_BOT_TOKEN: %w", err)
		}
		if errors.Is(err, ErrStopped) {
			return fmt.Errorf("poll updates: %w", err)
		}
		if errors.Is(err, errNotLeader) {
			// Another copy polls: check again in a while, without counting a failure.
			failures = 0
			retry.Reset()
			if backoff.Sleep(ctx, p.lockTTL/3) != nil {
				break
			}
			continue
		}
		failures++
		wait := retryWait(&retry, err)
		p.log.Warn("poll updates failed", "err", err, "attempt", failures, "retry_in", wait.Round(time.Millisecond).String())
		if backoff.Sleep(ctx, wait) != nil {
			break
		}
	}
	return nil
}

// retryWait is how long to wait after a failed poll: what a 429 asks for, else the next
// backoff step.
func retryWait(b *backoff.Backoff, err error) time.Duration {
	if d := telegram.RetryAfterOf(err); d > 0 {
		return d
	}
	return b.Next()
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
	ups, err := p.api.GetUpdates(ctx, offset, p.timeout, p.allowed...)
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
	// A batch may take longer than the lock lives (a slow handler, a slow Redis): keep it,
	// or another copy would fetch this batch again and handle its unfinished updates a
	// second time.
	renew := time.NewTicker(p.lockTTL / 3)
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

// lockLua takes or renews the polling lock: the holder renews, anyone takes a free one.
// KEYS[1] the lock; ARGV[1] this copy's token, ARGV[2] the TTL in ms. Returns 1 when this
// copy holds the lock, 0 when another does.
const lockLua = `
local cur = redis.call("GET", KEYS[1])
if cur == false or cur == ARGV[1] then
  redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
  return 1
end
return 0`

// unlockLua lets the lock go if this copy holds it. KEYS[1] the lock; ARGV[1] the token.
const unlockLua = `
if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end
return 0`

func (p *Poller) lock(ctx context.Context) error {
	ok, err := p.lockScript.Run(ctx, p.rdb, []string{keyPollLock(p.prefix)}, p.owner, p.lockTTL.Milliseconds()).Int()
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
	if err := p.unlockScript.Run(ctx, p.rdb, []string{keyPollLock(p.prefix)}, p.owner).Err(); err != nil {
		p.log.Warn("release polling lock", "err", err)
	}
}
