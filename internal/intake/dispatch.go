package intake

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"newsbot/internal/telegram"
)

// Handler handles one Telegram update; *bot.Bot is the one the service runs. It is called
// from the Dispatcher's workers, never concurrently for two updates of the same chat. It
// need not recover from panics: the Dispatcher does, for every handler.
type Handler interface {
	HandleUpdate(ctx context.Context, u telegram.Update)
}

// ErrStopped is returned by Dispatch once the Dispatcher has stopped taking updates.
var ErrStopped = errors.New("dispatcher stopped")

// Dispatcher runs updates concurrently, but strictly in order per chat: every chat maps to
// one of a fixed number of queues, each served by one goroutine. Memory and goroutines are
// bounded (workers × queueLen); a full queue makes Dispatch wait, which slows intake
// instead of growing without limit. A slow chat can delay the chats that share its queue,
// which is the price of the bound; with many workers that is rare.
//
// A Dispatcher is a prometheus.Collector: updates by kind, handling latency, panics.
type Dispatcher struct {
	h      Handler
	log    *slog.Logger
	queues []chan job
	grace  time.Duration

	stopOnce sync.Once
	stopping chan struct{} // closed when Run's ctx ends: Dispatch refuses new updates

	updates  *prometheus.CounterVec
	duration prometheus.Histogram
	panics   prometheus.Counter
}

type job struct {
	u    telegram.Update
	kind string
	done func(handled bool) // nil, or told whether a handler ran it (false: abandoned at shutdown)
}

// queueLen is each worker's backlog. Long polling hands over at most 100 updates at once.
const queueLen = 64

// DispatcherOptions are a Dispatcher's dependencies and settings. Handler is required.
type DispatcherOptions struct {
	Handler Handler
	// Workers is how many queues (and goroutines) serve the chats; zero: DefaultWorkers.
	Workers int
	// Grace is how long queued updates are still handled once Run's ctx ends; zero: 5s;
	// negative: none, what is queued is abandoned at once.
	Grace time.Duration
	// Log takes the Dispatcher's lines, among them each panic with its stack; nil: discarded.
	Log *slog.Logger
}

// DefaultWorkers is the number of queues when DispatcherOptions.Workers is zero.
const DefaultWorkers = 32

// NewDispatcher returns a Dispatcher feeding o.Handler; Run starts its workers.
func NewDispatcher(o DispatcherOptions) (*Dispatcher, error) {
	if o.Handler == nil {
		return nil, errors.New("new dispatcher: missing Handler")
	}
	workers := o.Workers
	if workers <= 0 {
		workers = DefaultWorkers
	}
	grace := o.Grace
	switch {
	case grace == 0:
		grace = 5 * time.Second
	case grace < 0:
		grace = 0
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Dispatcher{
		h:        o.Handler,
		log:      log,
		queues:   make([]chan job, workers),
		grace:    grace,
		stopping: make(chan struct{}),
		updates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "newsbot_bot_updates_total",
			Help: "Telegram updates handled, by kind.",
		}, []string{"kind"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "newsbot_bot_update_duration_seconds",
			Help:    "Time to handle one Telegram update.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "newsbot_bot_update_panics_total",
			Help: "Update handlers that panicked (recovered).",
		}),
	}
	for i := range d.queues {
		d.queues[i] = make(chan job, queueLen)
	}
	return d, nil
}

// Describe implements prometheus.Collector.
func (d *Dispatcher) Describe(ch chan<- *prometheus.Desc) {
	d.updates.Describe(ch)
	d.duration.Describe(ch)
	d.panics.Describe(ch)
}

// Collect implements prometheus.Collector.
func (d *Dispatcher) Collect(ch chan<- prometheus.Metric) {
	d.updates.Collect(ch)
	d.duration.Collect(ch)
	d.panics.Collect(ch)
}

// Dispatch queues u for its chat's worker. It waits while that queue is full, and fails
// when ctx ends or the Dispatcher has stopped.
func (d *Dispatcher) Dispatch(ctx context.Context, u telegram.Update) error {
	return d.dispatch(ctx, u, nil)
}

func (d *Dispatcher) dispatch(ctx context.Context, u telegram.Update, done func(bool)) error {
	select {
	case <-d.stopping:
		return ErrStopped
	default:
	}
	q := d.queues[shardOf(ChatKey(u), len(d.queues))]
	select {
	case q <- job{u: u, kind: UpdateKind(u), done: done}:
		return nil
	case <-d.stopping:
		return ErrStopped
	case <-ctx.Done():
		return fmt.Errorf("dispatch update %d: %w", u.UpdateID, ctx.Err())
	}
}

// Run serves the queues until ctx ends. Then it stops taking updates, lets handlers finish
// what is queued for a short grace period (an update taken in from a webhook has already
// been acknowledged to Telegram), and returns once every worker has.
func (d *Dispatcher) Run(ctx context.Context) error {
	// Handlers run on a context that outlives ctx by the grace period, so a shutdown does
	// not cut a reply in half.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	var wg sync.WaitGroup
	for _, q := range d.queues {
		wg.Go(func() { d.serve(ctx, work, q) })
	}

	<-ctx.Done()
	d.stopOnce.Do(func() { close(d.stopping) })
	grace := time.AfterFunc(d.grace, cancelWork)
	defer grace.Stop()
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(d.grace + time.Second):
		// A handler ignores its cancelled ctx. Shutting down matters more than waiting
		// for it; its worker ends whenever the handler returns.
		d.log.Error("update handlers still running after shutdown grace; leaving them")
		return nil
	}

	// A Dispatch racing with the stop may have queued after its worker drained: tell its
	// owner it was not handled, so a poller does not wait for it.
	for _, q := range d.queues {
		for {
			select {
			case j := <-q:
				if j.done != nil {
					j.done(false)
				}
				continue
			default:
			}
			break
		}
	}
	return nil
}

func (d *Dispatcher) serve(ctx, work context.Context, q chan job) {
	for {
		select {
		case j := <-q:
			d.handle(work, j)
		case <-ctx.Done():
			// Drain what is queued while the grace period lasts; abandon the rest.
			for {
				select {
				case j := <-q:
					if work.Err() != nil {
						if j.done != nil {
							j.done(false)
						}
						continue
					}
					d.handle(work, j)
				default:
					return
				}
			}
		}
	}
}

// handle runs one update. This is the one place a handler's panic is recovered, for the
// poller and the webhook alike: a bug triggered by one odd update costs that update only.
// The panic is counted and logged once, with its stack; the update then counts as handled,
// so that one poisonous update is not redelivered forever.
func (d *Dispatcher) handle(ctx context.Context, j job) {
	start := time.Now()
	handled := false
	defer func() {
		if r := recover(); r != nil {
			d.panics.Inc()
			d.log.Error("update handler panicked", "update_id", j.u.UpdateID, "kind", j.kind,
				"chat_id", ChatKey(j.u), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			handled = true
		}
		d.updates.WithLabelValues(j.kind).Inc()
		d.duration.Observe(time.Since(start).Seconds())
		if j.done != nil {
			j.done(handled)
		}
	}()
	d.h.HandleUpdate(ctx, j.u)
	// Returning is finishing: a handler has no error to give, and one cut short by the end
	// of the grace period has logged what it could not do. Redelivering it could repeat
	// what it did do. Only updates that never reached a handler go back to Telegram.
	handled = true
}

// ChatKey is the chat an update belongs to, the unit of ordering: the message's chat, the
// chat of a pressed button's message (the presser for inline-mode buttons), the chat whose
// membership changed; the sender for updates without a chat; 0 for none.
func ChatKey(u telegram.Update) int64 {
	switch {
	case u.Message != nil && u.Message.Chat != nil:
		return u.Message.Chat.ID
	case u.EditedMessage != nil && u.EditedMessage.Chat != nil:
		return u.EditedMessage.Chat.ID
	case u.ChannelPost != nil && u.ChannelPost.Chat != nil:
		return u.ChannelPost.Chat.ID
	case u.EditedChannelPost != nil && u.EditedChannelPost.Chat != nil:
		return u.EditedChannelPost.Chat.ID
	case u.CallbackQuery != nil:
		if m := u.CallbackQuery.Message; m != nil && m.Chat != nil {
			return m.Chat.ID
		}
		if u.CallbackQuery.From != nil {
			return u.CallbackQuery.From.ID
		}
	case u.MyChatMember != nil:
		return u.MyChatMember.Chat.ID
	case u.ChatMember != nil:
		return u.ChatMember.Chat.ID
	case u.ChatJoinRequest != nil:
		return u.ChatJoinRequest.Chat.ID
	case u.InlineQuery != nil && u.InlineQuery.From != nil:
		return u.InlineQuery.From.ID
	case u.ChosenInlineResult != nil && u.ChosenInlineResult.From != nil:
		return u.ChosenInlineResult.From.ID
	case u.ShippingQuery != nil && u.ShippingQuery.From != nil:
		return u.ShippingQuery.From.ID
	case u.PreCheckoutQuery != nil && u.PreCheckoutQuery.From != nil:
		return u.PreCheckoutQuery.From.ID
	case u.PollAnswer != nil:
		return u.PollAnswer.User.ID
	}
	return 0
}

// UpdateKind names an update's kind as Telegram does ("message", "callback_query"...),
// "other" for kinds newer than the library.
func UpdateKind(u telegram.Update) string {
	switch {
	case u.Message != nil:
		return "message"
	case u.EditedMessage != nil:
		return "edited_message"
	case u.ChannelPost != nil:
		return "channel_post"
	case u.EditedChannelPost != nil:
		return "edited_channel_post"
	case u.CallbackQuery != nil:
		return "callback_query"
	case u.MyChatMember != nil:
		return "my_chat_member"
	case u.ChatMember != nil:
		return "chat_member"
	case u.ChatJoinRequest != nil:
		return "chat_join_request"
	case u.InlineQuery != nil:
		return "inline_query"
	case u.ChosenInlineResult != nil:
		return "chosen_inline_result"
	case u.ShippingQuery != nil:
		return "shipping_query"
	case u.PreCheckoutQuery != nil:
		return "pre_checkout_query"
	case u.Poll != nil:
		return "poll"
	case u.PollAnswer != nil:
		return "poll_answer"
	}
	return "other"
}

func shardOf(chat int64, n int) int {
	x := uint64(chat)
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	return int(x % uint64(n))
}
