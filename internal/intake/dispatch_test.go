package intake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	"newsbot/internal/article"
	"newsbot/internal/bot"
	"newsbot/internal/delivery"
	"newsbot/internal/desk"
	"newsbot/internal/locale"
	"newsbot/internal/post"
	"newsbot/internal/redistest"
	"newsbot/internal/source"
	"newsbot/internal/subscriber"
	"newsbot/internal/telegram"
	"newsbot/internal/telegramtest"
	"newsbot/internal/testkit"
)

// intakeRecorder is an UpdateHandler that records, per chat, the order of what it handled,
// and how many handlers ran at once.
type intakeRecorder struct {
	mu       sync.Mutex
	perChat  map[int64][]int
	times    map[int]int // update id -> times handled
	total    atomic.Int64
	running  atomic.Int64
	maxRun   atomic.Int64
	jitter   bool
	onHandle func(u telegram.Update) // optional, runs first
}

func newIntakeRecorder() *intakeRecorder {
	return &intakeRecorder{perChat: map[int64][]int{}, times: map[int]int{}}
}

func (r *intakeRecorder) HandleUpdate(_ context.Context, u telegram.Update) {
	n := r.running.Add(1)
	defer r.running.Add(-1)
	for {
		m := r.maxRun.Load()
		if n <= m || r.maxRun.CompareAndSwap(m, n) {
			break
		}
	}
	if r.onHandle != nil {
		r.onHandle(u)
	}
	if r.jitter {
		time.Sleep(time.Duration(rand.N(300)) * time.Microsecond)
	}
	r.mu.Lock()
	r.perChat[ChatKey(u)] = append(r.perChat[ChatKey(u)], u.UpdateID)
	r.times[u.UpdateID]++
	r.mu.Unlock()
	r.total.Add(1)
}

// check fails unless every id in want was handled exactly once and each chat's updates
// came in increasing update_id order.
func (r *intakeRecorder) check(t *testing.T, want []int) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range want {
		if r.times[id] != 1 {
			t.Errorf("update %d handled %d times, want once", id, r.times[id])
		}
	}
	if len(r.times) != len(want) {
		t.Errorf("%d distinct updates handled, want %d", len(r.times), len(want))
	}
	for chat, ids := range r.perChat {
		for i := 1; i < len(ids); i++ {
			if ids[i] <= ids[i-1] {
				t.Errorf("chat %d: update %d handled after %d", chat, ids[i], ids[i-1])
				break
			}
		}
	}
}

// waitUntil waits for cond; the deadline only guards against a hang.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testkit.WaitFor(t, what, 20*time.Second, cond)
}

// testUpdate is a text message update as Telegram sends it.
func testUpdate(id int, chat int64, text string) telegram.Update {
	raw := fmt.Sprintf(`{"update_id":%d,"message":{"message_id":%d,"date":1700000000,"chat":{"id":%d,"type":"private"},"from":{"id":%d,"is_bot":false,"first_name":"R"},"text":%q}}`,
		id, id, chat, chat, text)
	var u telegram.Update
	if err := json.Unmarshal([]byte(raw), &u); err != nil {
		panic(err)
	}
	return u
}

func newDispatcher(t testing.TB, o DispatcherOptions) *Dispatcher {
	t.Helper()
	d, err := NewDispatcher(o)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func startDispatcher(t *testing.T, h Handler, workers int) (*Dispatcher, context.CancelFunc, chan error) {
	t.Helper()
	d := newDispatcher(t, DispatcherOptions{Handler: h, Workers: workers})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return d, cancel, done
}

func TestDispatcherKeepsOrderPerChatUnderConcurrency(t *testing.T) {
	t.Parallel()
	rec := newIntakeRecorder()
	rec.jitter = true
	d, _, _ := startDispatcher(t, rec, 8)
	const chats, per = 40, 25
	var want []int
	id := 0
	for i := range per {
		for c := range chats {
			id++
			want = append(want, id)
			// Private chats, groups and supergroups alike.
			chat := int64(c + 1)
			if c%3 == 1 {
				chat = -int64(c + 1)
			} else if c%3 == 2 {
				chat = -1000000000000 - int64(c)
			}
			if err := d.Dispatch(context.Background(), testUpdate(id, chat, fmt.Sprint(i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitUntil(t, "all updates handled", func() bool { return rec.total.Load() == int64(len(want)) })
	rec.check(t, want)
	if rec.maxRun.Load() < 2 {
		t.Errorf("at most %d handler ran at once; chats should be handled concurrently", rec.maxRun.Load())
	}
}

func TestDispatcherSurvivesPanics(t *testing.T) {
	t.Parallel()
	rec := newIntakeRecorder()
	rec.onHandle = func(u telegram.Update) {
		if u.Message.Text == "boom" {
			panic("handler bug")
		}
	}
	d, _, _ := startDispatcher(t, rec, 2)
	ctx := context.Background()
	_ = d.Dispatch(ctx, testUpdate(1, 5, "before"))
	_ = d.Dispatch(ctx, testUpdate(2, 5, "boom"))
	_ = d.Dispatch(ctx, testUpdate(3, 5, "after"))
	waitUntil(t, "the update after the panic", func() bool { return rec.total.Load() == 2 })
	rec.check(t, []int{1, 3})
	waitUntil(t, "panic counted", func() bool { return testutilCount(d.panics) == 1 })
}

func TestDispatcherStopsCleanly(t *testing.T) {
	before := runtime.NumGoroutine()
	rec := newIntakeRecorder()
	d := newDispatcher(t, DispatcherOptions{Handler: rec, Workers: 16})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	for i := range 100 {
		if err := d.Dispatch(ctx, testUpdate(i+1, int64(i%7), "x")); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
	// Queued updates were drained within the grace period.
	if rec.total.Load() != 100 {
		t.Errorf("%d of 100 queued updates handled at shutdown", rec.total.Load())
	}
	if err := d.Dispatch(context.Background(), testUpdate(500, 1, "late")); !errors.Is(err, ErrStopped) {
		t.Errorf("Dispatch after stop = %v, want ErrStopped", err)
	}
	waitUntil(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}

func TestDispatchWaitsWhenFull(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	rec := newIntakeRecorder()
	rec.onHandle = func(telegram.Update) { <-release }
	d, _, _ := startDispatcher(t, rec, 1)
	// One update in the handler, queueLen waiting: the queue is full.
	for i := range queueLen + 1 {
		if err := d.Dispatch(context.Background(), testUpdate(i+1, 1, "x")); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := d.Dispatch(ctx, testUpdate(1000, 2, "x")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Dispatch into a full queue = %v, want it to wait until ctx ends", err)
	}
	close(release)
	waitUntil(t, "queue drained", func() bool { return rec.total.Load() == queueLen+1 })
}

func TestChatKeyAndKind(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw  string
		chat int64
		kind string
	}{
		{`{"update_id":1,"message":{"message_id":1,"chat":{"id":42,"type":"private"}}}`, 42, "message"},
		{`{"update_id":1,"edited_message":{"message_id":1,"chat":{"id":-7,"type":"group"}}}`, -7, "edited_message"},
		{`{"update_id":1,"channel_post":{"message_id":1,"chat":{"id":-1001,"type":"channel"}}}`, -1001, "channel_post"},
		{`{"update_id":1,"callback_query":{"id":"q","from":{"id":9},"message":{"message_id":3,"chat":{"id":-55,"type":"group"}},"data":"x"}}`, -55, "callback_query"},
		{`{"update_id":1,"callback_query":{"id":"q","from":{"id":9},"inline_message_id":"i","data":"x"}}`, 9, "callback_query"},
		{`{"update_id":1,"my_chat_member":{"chat":{"id":-77,"type":"supergroup"},"from":{"id":1},"date":1,"old_chat_member":{"status":"left"},"new_chat_member":{"status":"member"}}}`, -77, "my_chat_member"},
		{`{"update_id":1,"inline_query":{"id":"q","from":{"id":12},"query":"x"}}`, 12, "inline_query"},
		{`{"update_id":1,"message_reaction":{"chat":{"id":5}}}`, 0, "other"},
	}
	for _, tt := range tests {
		var u telegram.Update
		if err := json.Unmarshal([]byte(tt.raw), &u); err != nil {
			t.Fatal(err)
		}
		if got := ChatKey(u); got != tt.chat {
			t.Errorf("ChatKey(%s) = %d, want %d", tt.raw, got, tt.chat)
		}
		if got := UpdateKind(u); got != tt.kind {
			t.Errorf("UpdateKind(%s) = %q, want %q", tt.raw, got, tt.kind)
		}
	}
}

func testutilCount(c interface{ Write(*dto.Metric) error }) float64 {
	var m dto.Metric
	_ = c.Write(&m)
	return m.GetCounter().GetValue()
}

func TestDispatcherMetrics(t *testing.T) {
	t.Parallel()
	rec := newIntakeRecorder()
	d, _, _ := startDispatcher(t, rec, 2)
	reg := prometheus.NewRegistry()
	if err := reg.Register(d); err != nil {
		t.Fatal(err)
	}
	_ = d.Dispatch(context.Background(), testUpdate(1, 1, "x"))
	_ = d.Dispatch(context.Background(), testUpdate(2, 2, "y"))
	var cb telegram.Update
	_ = json.Unmarshal([]byte(`{"update_id":3,"callback_query":{"id":"q","from":{"id":3},"data":"x"}}`), &cb)
	_ = d.Dispatch(context.Background(), cb)
	waitUntil(t, "three updates", func() bool { return rec.total.Load() == 3 })
	waitUntil(t, "metrics", func() bool {
		return testutilCount(d.updates.WithLabelValues("message")) == 2 &&
			testutilCount(d.updates.WithLabelValues("callback_query")) == 1
	})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	if !names["newsbot_bot_updates_total"] || !names["newsbot_bot_update_duration_seconds"] {
		t.Errorf("registered metrics: %v", names)
	}
}

func TestDispatcherShutdownDoesNotWaitForAStuckHandler(t *testing.T) {
	t.Parallel()
	stuck := make(chan struct{})
	defer close(stuck)
	rec := newIntakeRecorder()
	rec.onHandle = func(telegram.Update) { <-stuck } // ignores its ctx
	d := newDispatcher(t, DispatcherOptions{Handler: rec, Workers: 2, Grace: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	_ = d.Dispatch(context.Background(), testUpdate(1, 1, "x"))
	waitUntil(t, "the handler to start", func() bool { return rec.running.Load() == 1 })
	cancel()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Run waits for a handler that ignores its ctx")
	}
}

type nopHandler struct{ n atomic.Int64 }

func (h *nopHandler) HandleUpdate(context.Context, telegram.Update) { h.n.Add(1) }

// BenchmarkDispatch is the Dispatcher's own cost per update (no Redis, no network).
func BenchmarkDispatch(b *testing.B) {
	h := &nopHandler{}
	d := newDispatcher(b, DispatcherOptions{Handler: h})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	u := testUpdate(1, 1, "/start")
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		u.Message.Chat.ID = int64(i % 1000)
		if err := d.Dispatch(ctx, u); err != nil {
			b.Fatal(err)
		}
	}
	for h.n.Load() < int64(b.N) {
		runtime.Gosched()
	}
	b.StopTimer()
	cancel()
	<-done
}

// wiredBot is the update handler as cmd/newsbot builds it: the bot with the editors' desk, on
// the real subscriber store, story store, delivery engine, renderer and translations, talking
// to the fake Bot API. stories, when not nil, wraps the story store /latest reads.
func wiredBot(t *testing.T, srv *telegramtest.Server, rdb redis.UniversalClient, prefix string, stories func(*source.Store) bot.Stories, log *slog.Logger) *bot.Bot {
	t.Helper()
	texts, err := locale.Load()
	if err != nil {
		t.Fatal(err)
	}
	langs, topics := []string{"kk", "ru", "en"}, []string{"politics", "economy", "sport"}
	tg := telegram.New(srv.Token(), srv.URL(), nil, log)
	readers := subscriber.NewStore(rdb, prefix, langs, topics)
	store := source.NewStore(rdb, prefix, source.StoreOptions{})
	renderer := post.NewRenderer(texts, time.UTC)
	engine := delivery.New(rdb, tg, readers, renderer, delivery.Options{Prefix: prefix, Log: log})
	editors, err := desk.New(desk.Options{
		API: tg, Texts: texts, Stories: store, Audience: readers, Publisher: engine, Renderer: renderer,
		Redis: rdb, Prefix: prefix, Languages: langs, Topics: topics, Log: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	var latest bot.Stories = store
	if stories != nil {
		latest = stories(store)
	}
	b, err := bot.New(bot.Options{
		API: tg, Readers: readers, Stories: latest, Texts: texts, Redis: rdb, Prefix: prefix,
		Languages: langs, DefaultLanguage: "kk", Topics: topics, Username: telegramtest.BotUsername,
		Admins: []int64{501}, Desk: editors, Log: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// buggyStories is a story store with a bug: /latest panics in it.
type buggyStories struct{ *source.Store }

func (buggyStories) Latest(context.Context, []string, int) ([]article.Article, error) {
	var counts map[string]int
	counts["latest"]++ // assignment to entry in nil map
	return nil, nil
}

// TestPanicInTheRealWiring: a handler that panics, in the bot as the service runs it, fed by
// getUpdates and by the webhook alike, is counted by newsbot_bot_update_panics_total, logged
// once with its stack, and the next update — of the same chat, on the same worker — is
// answered.
func TestPanicInTheRealWiring(t *testing.T) {
	t.Parallel()
	for _, via := range []string{"polling", "webhook"} {
		t.Run(via, func(t *testing.T) {
			t.Parallel()
			srv := telegramtest.New(t)
			rdb, prefix := redistest.New(t)
			logs := &testkit.Log{}
			log := logs.Logger()
			b := wiredBot(t, srv, rdb, prefix, func(s *source.Store) bot.Stories { return buggyStories{s} }, log)
			d := newDispatcher(t, DispatcherOptions{Handler: b, Workers: 4, Log: log})
			reg := prometheus.NewRegistry()
			if err := reg.Register(d); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			t.Cleanup(func() { cancel(); wg.Wait() })
			wg.Go(func() { _ = d.Run(ctx) })

			const reader = 4242
			updates := []telegram.Update{testUpdate(1, reader, "/latest"), testUpdate(2, reader, "/help"), testUpdate(3, reader+1, "/help")}
			switch via {
			case "polling":
				p, err := NewPoller(PollerOptions{API: telegram.New(srv.Token(), srv.URL(), nil, nil), Dispatcher: d, Redis: rdb, Prefix: prefix, Timeout: time.Second, Log: log})
				if err != nil {
					t.Fatal(err)
				}
				wg.Go(func() { _ = p.Run(ctx) })
				for _, u := range updates {
					srv.PushUpdate(updateJSON(u.UpdateID, u.Message.Chat.ID, u.Message.Text))
				}
			case "webhook":
				ts := newWebhook(t, WebhookOptions{Secret: testSecret, Dispatcher: d, Redis: rdb, Prefix: prefix, Log: log})
				for _, u := range updates {
					if got := deliver(t, ts.URL, "POST", testSecret, updateJSON(u.UpdateID, u.Message.Chat.ID, u.Message.Text)); got != 200 {
						t.Fatalf("webhook answered %d", got)
					}
				}
			}

			// The update after the panic is answered, in the same chat.
			waitUntil(t, "the answers to both /help", func() bool {
				return len(srv.Messages(int64(reader))) == 1 && len(srv.Messages(int64(reader+1))) == 1
			})
			if text := srv.Messages(int64(reader))[0].Text(); !strings.Contains(text, "/latest") {
				t.Errorf("answer after the panic %q, want the help", text)
			}
			// Counted where operators look: the metric the service registers.
			waitUntil(t, "the panic counted", func() bool { return gathered(t, reg, "newsbot_bot_update_panics_total") == 1 })
			if n := gathered(t, reg, "newsbot_bot_updates_total"); n != 3 {
				t.Errorf("newsbot_bot_updates_total = %v, want 3", n)
			}
			// Logged once, with the stack that leads to the bug.
			time.Sleep(100 * time.Millisecond) // a second line, or a redelivery, would show up now
			recs := logs.Records("panicked")
			if len(recs) != 1 || logs.Count("panic") != 1 {
				t.Fatalf("%d panic records, %d lines mentioning a panic, want 1 of each:\n%s", len(recs), logs.Count("panic"), logs.String())
			}
			stack, _ := recs[0]["stack"].(string)
			if !strings.Contains(stack, "buggyStories.Latest") || !strings.Contains(stack, "cmdLatest") {
				t.Errorf("stack does not lead to the bug:\n%s", stack)
			}
			if p, _ := recs[0]["panic"].(string); !strings.Contains(p, "nil map") || recs[0]["update_id"] != float64(1) {
				t.Errorf("panic record %v", recs[0])
			}
		})
	}
}

// gathered sums the samples of a counter family in reg.
func gathered(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}
