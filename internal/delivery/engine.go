// Package delivery gets stories to Telegram: the channel post of each new story, then a
// fan-out job that sends it to every reader in its audience — as fast as the global SEND_RATE
// allows, at most once per (story, chat), whatever crashes or how many copies run.
//
// Everything is kept in Redis so that any running copy can pick up any job:
//   - jobs sit in two queues (priority: breaking stories and admin pushes; normal); workers
//     always drain the priority queue first, also between two pages of a running job;
//   - a job's audience is walked in pages by a cursor that a Lua script advances atomically,
//     so copies share one job without overlap; each claimed page is leased, and a page whose
//     worker died is taken over when its lease expires;
//   - one Lua script hands out send slots on a global schedule (GCRA), a batch per round trip,
//     and keeps per-chat pacing (1/s private chats, 20/min groups); a 429 pauses everyone;
//   - a ledger per story marks each chat "sending" right before its message goes out and
//     "sent" after: a chat already in the ledger is never sent the story again.
//
// At most once. A chat is marked "sending" (ledger HSET, in one script for a group of chats)
// only when its slot is due within 20 ms, and "sent:<message id>" is recorded for every 64
// results or every 100 ms, whichever comes first. A copy that dies outright therefore leaves
// in doubt only the chats whose sends were in flight or not yet recorded: at most ~100 ms of
// sends (or 64 per page worker at full speed) plus those marked within 20 ms of their slot.
// When the dead copy's page lease expires (LeaseTTL), the copy taking the page over marks
// those chats "u" (in doubt), counts them as failed with reason in_doubt, and never sends
// them the story again — a reader may miss the story in that case, but never gets it twice.
// A copy that is shut down (ctx cancelled) lets in-flight sends finish, records them and
// hands the rest of its page back: nothing is in doubt. A send that got no answer at all (a
// timeout: Telegram may have delivered it) is in doubt too and not retried; 5xx answers and
// failed dials are retried.
//
// Corrections: Telegram cannot turn a text message into a photo or back, so when a correction
// adds or removes the photo the channel post is deleted and posted anew (the channel still
// holds one copy, with a new message id); otherwise it is edited in place. Readers' private
// copies are never edited, but a fan-out still running carries on with the corrected story:
// readers it has not reached yet get the corrected text (pages already claimed finish with
// the text they were claimed with).
package delivery

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"newsbot/internal/article"
	"newsbot/internal/post"
	"newsbot/internal/subscriber"
	"newsbot/internal/telegram"
)

// Sender calls the Bot API (*telegram.Client). Errors are *telegram.Error.
type Sender interface {
	Send(ctx context.Context, method string, params map[string]any) (telegram.Message, error)
}

// Readers is the subscriber store (*subscriber.Store): who gets a story, and what to do with
// chats Telegram says are gone or moved.
type Readers interface {
	AudiencePage(ctx context.Context, lang string, topics []string, breaking bool, after int64, n int) ([]int64, error)
	SetStatus(ctx context.Context, chatID int64, st subscriber.Status) error
	Delete(ctx context.Context, chatID int64) error
	Migrate(ctx context.Context, from, to int64) error
}

// LangLookup is optionally implemented by Readers: the interface language of each chat, in
// one round trip, so that a reader's copy carries labels (buttons, "Photo:") in the reader's
// language. Without it every copy is labelled in the story's language.
type LangLookup interface {
	InterfaceLangs(ctx context.Context, chatIDs []int64) ([]string, error)
}

// Renderer renders a story for one label language (*post.Renderer).
type Renderer interface {
	Render(a article.Article, lang string, chatID any) (post.Post, error)
}

// Options tune an Engine; zero values take the defaults in brackets.
type Options struct {
	Prefix   string            // REDIS_PREFIX
	Channels map[string]string // CHANNELS: story language → "@channel" or "-100…" id
	SendRate float64           // SEND_RATE, messages/s for all copies together; <= 0: no limit

	Concurrency  int           // sends in flight per copy [64]
	Workers      int           // pages worked at once per copy [4]
	PageSize     int           // readers per claimed page [500]
	Batch        int           // chats per slot reservation and ledger round trip [64]
	LeaseTTL     time.Duration // a page whose worker stops renewing is taken over after this [30s]
	Retries      int           // retries of a transient failure [3]
	Backoff      time.Duration // first retry delay, doubled each time [1s]
	PrivateGap   time.Duration // least time between two messages to one private chat [1s]
	GroupGap     time.Duration // same for groups and channels (negative ids, "@name"): 20/min [3s]
	IdlePoll     time.Duration // how often idle workers look for work [250ms]
	DrainTimeout time.Duration // after shutdown, how long in-flight sends may take [5s]
	LedgerTTL    time.Duration // how long a story's ledger and jobs are kept [30 days]

	Log        *slog.Logger
	Registerer prometheus.Registerer // nil: metrics are kept but not registered
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
	def(&o.Retries, 3)
	defd(&o.LeaseTTL, 30*time.Second)
	defd(&o.Backoff, time.Second)
	defd(&o.PrivateGap, time.Second)
	defd(&o.GroupGap, 3*time.Second)
	defd(&o.IdlePoll, 250*time.Millisecond)
	defd(&o.DrainTimeout, 5*time.Second)
	defd(&o.LedgerTTL, 30*24*time.Hour)
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
}

// Engine publishes stories and runs fan-out jobs. It is safe for concurrent use; any number of
// copies may run against one Redis.
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
	owner   string        // this engine's token on page leases
	wake    chan struct{} // a job was queued by this copy

	mu   sync.Mutex
	jobs map[JobID]*jobRun // jobs this copy works on, with their rendered posts
}

// New returns an engine. It does no network I/O; it fails only when the metrics cannot be
// registered.
func New(rdb redis.UniversalClient, tg Sender, readers Readers, r Renderer, opt Options) (*Engine, error) {
	opt.defaults()
	met := newMetrics()
	if opt.Registerer != nil {
		if err := met.register(opt.Registerer); err != nil {
			return nil, fmt.Errorf("register delivery metrics: %w", err)
		}
	}
	k := newKeys(opt.Prefix)
	var tok [8]byte
	_, _ = rand.Read(tok[:])
	return &Engine{
		rdb: rdb, keys: k, tg: tg, readers: readers, render: r, opt: opt, log: opt.Log,
		lim:   newLimiter(rdb, k, opt.SendRate, opt.PrivateGap, opt.GroupGap),
		met:   met,
		owner: hex.EncodeToString(tok[:]),
		wake:  make(chan struct{}, 1),
		jobs:  make(map[JobID]*jobRun),
	}, nil
}

// PushOptions are an admin's choices for /publish.
type PushOptions struct {
	Breaking bool  // send to every reader of the language, whatever their topics
	By       int64 // the admin's user id, kept on the job for /stats
}

// Publish delivers a new story: the channel post of its language first, then a fan-out job
// over its audience (breaking stories jump the queue). Publishing a story again (a replay, a
// restart, a second copy) does nothing new: the channel post and the job are made once.
func (e *Engine) Publish(ctx context.Context, a article.Article) error {
	if a.Retracted {
		return e.Retract(ctx, a)
	}
	retracted, err := e.rdb.HExists(ctx, e.keys.meta(a.ID), "retracted").Result()
	if err != nil {
		return fmt.Errorf("publish %s: %w", a.ID, err)
	}
	if retracted {
		e.log.Info("story was retracted, not publishing", "article_id", a.ID)
		return nil
	}
	if err := e.postChannel(ctx, a); err != nil && !e.channelRefused(a, err) {
		return fmt.Errorf("publish %s: %w", a.ID, err)
	}
	if _, err := e.enqueue(ctx, a, newJobID(a.ID, 0), a.Breaking, a.Breaking, 0); err != nil {
		return fmt.Errorf("publish %s: %w", a.ID, err)
	}
	return nil
}

// channelRefused logs a channel post Telegram turned down for good and reports whether it
// was one. Readers must not pay for a misconfigured channel (the bot removed from it, a
// renamed channel): the fan-out goes ahead, and as nothing was posted, the next push of the
// story tries the channel again.
func (e *Engine) channelRefused(a article.Article, err error) bool {
	if !refused(err) {
		return false
	}
	e.log.Error("channel refused the story; readers get it all the same", "article_id", a.ID,
		"lang", a.Lang, "channel", e.opt.Channels[a.Lang], "err", err)
	return true
}

// ErrRetracted is Push's answer for a story that was withdrawn.
var ErrRetracted = errors.New("story was retracted")

// Push is an admin's /publish: the channel post if the channel does not hold the story yet,
// and a new priority fan-out job. Readers who already got the story are skipped.
func (e *Engine) Push(ctx context.Context, a article.Article, opt PushOptions) (JobID, error) {
	retracted, err := e.rdb.HExists(ctx, e.keys.meta(a.ID), "retracted").Result()
	if err != nil {
		return "", fmt.Errorf("push %s: %w", a.ID, err)
	}
	if retracted || a.Retracted {
		return "", fmt.Errorf("push %s: %w", a.ID, ErrRetracted)
	}
	if err := e.postChannel(ctx, a); err != nil && !e.channelRefused(a, err) {
		return "", fmt.Errorf("push %s: %w", a.ID, err)
	}
	n, err := e.rdb.HIncrBy(ctx, e.keys.meta(a.ID), "seq", 1).Result()
	if err != nil {
		return "", fmt.Errorf("push %s: new job: %w", a.ID, err)
	}
	id := newJobID(a.ID, n)
	if _, err := e.enqueue(ctx, a, id, a.Breaking || opt.Breaking, true, opt.By); err != nil {
		return "", fmt.Errorf("push %s: %w", a.ID, err)
	}
	return id, nil
}

// enqueue creates job id unless it exists and puts it in its queue unless it is finished.
// Putting it in the queue again is harmless (a finished job leaves the queue when a worker
// sees it), and it heals a crash between the two steps.
func (e *Engine) enqueue(ctx context.Context, a article.Article, id JobID, breaking, high bool, by int64) (JobID, error) {
	raw, err := json.Marshal(a)
	if err != nil {
		return "", fmt.Errorf("encode story: %w", err)
	}
	now := time.Now().UnixMilli()
	st, err := createScript.Run(ctx, e.rdb, []string{e.keys.job(id), e.keys.meta(a.ID)}, now,
		"st", "running", "a", raw, "brk", flag(breaking), "hi", flag(high), "by", by,
		"at", now, "cur", strconv.FormatInt(math.MinInt64, 10), "sent", 0, "failed", 0).Text()
	if err != nil {
		return "", fmt.Errorf("create job %s: %w", id, err)
	}
	first := st == "first"
	if first {
		st = "created"
	}
	if st != "created" && st != "running" {
		return id, nil // finished or retracted: nothing more to send
	}
	ttl := e.opt.LedgerTTL
	_, err = e.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Expire(ctx, e.keys.job(id), ttl)
		p.Expire(ctx, e.keys.meta(a.ID), ttl)
		p.ZAddNX(ctx, e.keys.queue(high), redis.Z{Score: float64(now), Member: string(id)})
		if first {
			// Counted here, in the round trip the job needs anyway. The hourly key lives in
			// another hash slot than the story, so it cannot share the script: a crash between
			// the two leaves the story uncounted, never counted twice.
			e.storyCmds(ctx, p)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("queue job %s: %w", id, err)
	}
	select {
	case e.wake <- struct{}{}:
	default:
	}
	if st == "running" {
		return id, nil // a replay; the queue entry above heals a crash between create and queue
	}
	e.log.Info("fan-out queued", "job", string(id), "article_id", a.ID, "lang", a.Lang,
		"breaking", breaking, "priority", high)
	return id, nil
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// chatParam is a CHANNELS value as a chat_id parameter: numeric ids as numbers.
func chatParam(ch string) any {
	if id, err := strconv.ParseInt(ch, 10, 64); err == nil {
		return id
	}
	return ch
}
