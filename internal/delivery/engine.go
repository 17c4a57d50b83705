// Package delivery gets stories to Telegram: the channel post of each new story and a fan-out
// job that sends it to every reader in its audience — as fast as the global SEND_RATE allows,
// at most once per (story, chat), whatever crashes or how many copies run — and the bot's
// replies to readers, which take their slots ahead of fan-out.
//
// Handing a story on (Publish, Correct, Retract, Push) only writes to Redis: the story, a
// channel task and a fan-out job. Workers of every running copy do the sending:
//   - jobs sit in two queues (priority: breaking stories and admin pushes; normal); workers
//     always drain the priority queue first, also between two pages of a running job
//     (jobs.go);
//   - a job's audience is walked in pages by a cursor that a Lua script advances atomically,
//     so copies share one job without overlap; each claimed page is leased, and a page whose
//     worker died is taken over when its lease expires (lease.go, page.go);
//   - the channel post is a task of its own that brings the channel in line with the story:
//     post, edit after a correction, delete after a retraction (channel.go);
//   - one Lua script hands out send slots on a global schedule (GCRA), a batch per round trip,
//     and keeps per-chat pacing (1/s private chats, 20/min groups and channels); a 429 pauses
//     everyone (limiter.go);
//   - a ledger per story marks each chat "sending" right before its message goes out and
//     "sent" after: a chat already in the ledger is never sent the story again (ledger.go).
//
// What Telegram answers decides what happens next (send.go): a request that never left (a
// refused connection, a 5xx, a 429) is sent again, with backoff and the global pause, until
// the story is stale (MaxAge); a reader who blocked the bot is marked so; a moved group is
// followed; a photo Telegram cannot fetch is replaced by the text form of the story; a request
// that left without an answer is in doubt and never repeated.
//
// At most once. A chat is marked "sending" (ledger HSET, in one script for a group of chats)
// only right before its slot — the group is the chats whose slots fall within markWindow —
// and "sent:<message id>" is recorded for every 64 results or every 100 ms, whichever comes
// first. A copy that dies outright leaves in doubt the chats whose sends were in flight or not
// yet recorded; of those, the readers who did not get the message are only the ones marked
// and not yet written to the wire: at most one mark group (markWindow of slots plus a Redis
// round trip). When the dead copy's page lease expires (LeaseTTL), the copy taking the page
// over marks those chats in doubt, counts them as failed with reason in_doubt, and never sends
// them the story again — a reader may miss the story in that case, but never gets it twice.
// A copy that is shut down (ctx cancelled) lets in-flight sends finish, records them and
// hands the rest of its page back: nothing is in doubt.
//
// Corrections: a fan-out still running carries on with the corrected story (readers it has
// not reached yet get the corrected text); readers' private copies already sent are never
// edited.
package delivery

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"newsbot/internal/article"
	"newsbot/internal/post"
	"newsbot/internal/schedule"
	"newsbot/internal/subscriber"
	"newsbot/internal/telegram"
)

// Sender calls the Bot API (*telegram.Client).
type Sender interface {
	Send(ctx context.Context, method string, params map[string]any) (telegram.Message, error)
}

// Readers is the subscriber store (*subscriber.Store): who gets a story, in which language
// its labels are, and what to do with chats Telegram says are gone or moved.
type Readers interface {
	AudiencePage(ctx context.Context, lang string, topics []string, breaking bool, after int64, n int) ([]int64, error)
	AudienceSize(ctx context.Context, lang string, topics []string, breaking bool) (int64, error)
	DigestPage(ctx context.Context, after int64, n int) ([]int64, error)
	DigestSize(ctx context.Context) (int64, error)
	Prefs(ctx context.Context, chatIDs []int64) ([]subscriber.Prefs, error)
	Readers(ctx context.Context, chatIDs []int64) ([]subscriber.Reader, []bool, error)
	SetStatus(ctx context.Context, chatID int64, st subscriber.Status) error
	Delete(ctx context.Context, chatID int64) error
	Migrate(ctx context.Context, from, to int64) error
}

// Renderer renders a story for one label language, and a reader's digest (*post.Renderer).
type Renderer interface {
	Render(a article.Article, lang string, chatID any) (post.Post, error)
	Digest(in post.DigestInput, lang string) (string, bool)
}

// Options tune an Engine; zero values take the defaults in brackets.
type Options struct {
	Prefix   string            // REDIS_PREFIX
	Channels map[string]string // CHANNELS: story language → "@channel" or "-100…" id
	SendRate float64           // SEND_RATE, messages/s for all copies together; <= 0: no limit
	// MaxAge is PUSH_MAX_AGE: an instant push later than this after its story is skipped as
	// stale, and a send that could not leave is tried again until then (after an editor's
	// push, until this long after the push) [6h].
	MaxAge time.Duration
	// PaidBroadcast sends readers' messages with allow_paid_broadcast (PAID_BROADCAST).
	PaidBroadcast bool

	Location    *time.Location   // TIMEZONE, of digest times and quiet hours [UTC]
	DigestTimes []schedule.Clock // DIGEST_TIMES; none: no digests
	QuietHours  schedule.Window  // QUIET_HOURS; zero: none
	// RatesLine is the day's exchange rates line in a language, atop digests; nil or "": none.
	RatesLine func(ctx context.Context, lang string) string
	// Clock is the time [time.Now]; tests and simulations move it.
	Clock func() time.Time

	Concurrency  int           // sends in flight per copy [64]
	Workers      int           // pages worked at once per copy [4]
	PageSize     int           // readers per claimed page [500]
	Batch        int           // chats per slot reservation and ledger round trip [64]
	LeaseTTL     time.Duration // a page whose worker stops renewing is taken over after this [30s]
	Backoff      time.Duration // first wait before sending again what did not leave [1s]
	MaxBackoff   time.Duration // the longest such wait [30s]
	PrivateGap   time.Duration // least time between two messages to one private chat [1s]
	GroupGap     time.Duration // same for groups and channels (negative ids, "@name"): 20/min [3s]
	IdlePoll     time.Duration // how often idle workers look for work [250ms]
	DrainTimeout time.Duration // after shutdown, how long in-flight sends may take [5s]
	LedgerTTL    time.Duration // how long a story's ledger and jobs are kept [30 days]
	// ReplyPatience is how long a reply to a reader is tried before it is given up [30s].
	ReplyPatience time.Duration

	Log *slog.Logger // [discard]
}

func (o *Options) defaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.Concurrency, 64)
	def(&o.Workers, 4)
	def(&o.PageSize, 500)
	def(&o.Batch, 64)
	defd(&o.MaxAge, 6*time.Hour)
	defd(&o.LeaseTTL, 30*time.Second)
	defd(&o.Backoff, time.Second)
	defd(&o.MaxBackoff, 30*time.Second)
	defd(&o.PrivateGap, time.Second)
	defd(&o.GroupGap, 3*time.Second)
	defd(&o.IdlePoll, 250*time.Millisecond)
	defd(&o.DrainTimeout, 5*time.Second)
	defd(&o.LedgerTTL, 30*24*time.Hour)
	defd(&o.ReplyPatience, 30*time.Second)
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
}

// Engine publishes stories, runs channel tasks and fan-out jobs, and sends the bot's replies.
// It is safe for concurrent use; any number of copies may run against one Redis. Its metrics
// are a prometheus.Collector: register the Engine.
type Engine struct {
	rdb     redis.UniversalClient
	keys    keys
	tg      Sender
	readers Readers
	render  Renderer
	opt     Options
	log     *slog.Logger
	lim     *limiter
	met     *metrics
	owner   string        // this engine's token on leases
	wake    chan struct{} // work was queued by this copy

	mu   sync.Mutex
	jobs map[JobID]*jobRun // jobs this copy works on, with their rendered posts
}

// New returns an engine. It does no network I/O.
func New(rdb redis.UniversalClient, tg Sender, readers Readers, r Renderer, opt Options) *Engine {
	opt.defaults()
	k := newKeys(opt.Prefix)
	var tok [8]byte
	_, _ = rand.Read(tok[:])
	return &Engine{
		rdb: rdb, keys: k, tg: tg, readers: readers, render: r, opt: opt, log: opt.Log,
		lim:   newLimiter(rdb, k, opt.SendRate, opt.PrivateGap, opt.GroupGap),
		met:   newMetrics(),
		owner: hex.EncodeToString(tok[:]),
		wake:  make(chan struct{}, 1),
		jobs:  make(map[JobID]*jobRun),
	}
}

// Run works on channel tasks and fan-out jobs until ctx is done: Workers pages at a time, at
// most Concurrency sends in flight. On shutdown it stops taking work, lets in-flight sends
// finish (for at most DrainTimeout), records their outcome and hands unfinished pages back,
// then returns nil.
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
	g.Go(func() error {
		e.keepTime(gctx)
		return nil
	})
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

// work is one worker's loop: take the next channel task or page (priority queue first), do
// it, repeat.
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
		w, err := e.next(ctx)
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
		if w.page != nil {
			run := &pageRun{e: e, ctx: ctx, sendCtx: sendCtx, sem: sem, p: w.page}
			run.run()
			continue
		}
		if w.did {
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

func (e *Engine) now() time.Time { return e.opt.Clock() }

// notify wakes an idle worker of this copy: work was just queued.
func (e *Engine) notify() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}
