package delivery

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"newsbot/internal/subscriber"
	"newsbot/internal/telegram"
	"newsbot/internal/telegramtest"
)

// deadFirst sends its chat's first request to an address where nothing listens (the
// connection is refused before a byte is written), the rest to the fake Bot API.
type deadFirst struct {
	Sender
	dead *telegram.Client
	chat int64
	once sync.Once
}

func (d *deadFirst) Send(ctx context.Context, method string, params map[string]any) (telegram.Message, error) {
	if params["chat_id"] == d.chat {
		first := false
		d.once.Do(func() { first = true })
		if first {
			return d.dead.Send(ctx, method, params)
		}
	}
	return d.Sender.Send(ctx, method, params)
}

// TestEveryAnswerAndItsLedgerEffect: what each answer Telegram (or the network) gives to a
// reader's send means for that reader — the copies the chat ends with, the ledger state, the
// reader record and the counted reason.
func TestEveryAnswerAndItsLedgerEffect(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const (
		ok, blocked, deactivated, gone, flaky, bad, limited, slow, refused = 100, 101, 102, 103, 104, 105, 106, 107, 108
		group, newGroup                                                    = int64(-300), int64(-1009999)
	)
	e.readers(ok, 9, "en")
	e.readers(group, 1, "en")
	e.tg.FailNext("sendMessage", int64(blocked), telegramtest.Blocked())
	e.tg.FailNext("sendMessage", int64(deactivated), telegramtest.Deactivated())
	e.tg.FailNext("sendMessage", int64(gone), telegramtest.ChatNotFound())
	for range 5 { // more than the three retries of old: not sent is tried until it leaves
		e.tg.FailNext("sendMessage", int64(flaky), telegramtest.ServerError())
	}
	e.tg.FailNext("sendMessage", int64(bad), telegramtest.BadRequest("message text is empty"))
	e.tg.FailNext("sendMessage", int64(limited), telegramtest.RetryAfter(1))
	e.tg.FailNext("sendMessage", group, telegramtest.Migrated(newGroup))
	// The request reaches Telegram and no answer comes back in time.
	release := make(chan struct{})
	defer close(release)
	e.tg.SetHandler(func(r telegramtest.Request) *telegramtest.Response {
		if r.ChatID() == int64(slow) {
			<-release
		}
		return nil
	})

	dead := telegramtest.NewServer()
	deadURL := dead.URL()
	dead.Close()
	hc := telegram.NewHTTPClient()
	hc.Timeout = 500 * time.Millisecond
	sender := &deadFirst{
		Sender: telegram.New(e.tg.Token(), e.tg.URL(), hc, nil),
		dead:   telegram.New(e.tg.Token(), deadURL, nil, nil),
		chat:   refused,
	}
	eng := New(e.rdb, sender, e.store, e.render, Options{Prefix: e.prefix, Backoff: 20 * time.Millisecond, IdlePoll: 20 * time.Millisecond})
	run(t, eng)
	ctx := context.Background()
	a := story("e1", "en")
	if err := eng.Publish(ctx, a); err != nil {
		t.Fatal(err)
	}
	st := waitIdle(t, eng, 30*time.Second)

	ledger, err := e.rdb.HGetAll(ctx, eng.keys.ledger(a.ID)).Result()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		chat   int64
		copies int
		state  string // ledger state prefix
		status subscriber.Status
		stored bool
	}{
		{"sent", ok, 1, "s:", subscriber.Active, true},
		{"403 blocked: reader blocked, never again", blocked, 0, "x:blocked", subscriber.Blocked, true},
		{"403 deactivated: likewise", deactivated, 0, "x:blocked", subscriber.Blocked, true},
		{"400 chat not found: reader removed", gone, 0, "x:chat_not_found", "", false},
		{"5xx five times: sent when it goes through", flaky, 1, "s:", subscriber.Active, true},
		{"refused connection before writing: sent again", refused, 1, "s:", subscriber.Active, true},
		{"429: everyone pauses, then sent", limited, 1, "s:", subscriber.Active, true},
		{"other 400: failed, a later push may try", bad, 0, "f:0:bad_request", subscriber.Active, true},
		{"timeout after the request left: in doubt, never again", slow, 0, "u:0", subscriber.Active, true},
		{"migrated: followed to the new id", group, 0, "m:-1009999", "", false},
		{"the supergroup gets it", newGroup, 1, "s:", subscriber.Active, true},
	}
	for _, tt := range tests {
		if got := len(e.tg.Messages(tt.chat)); got != tt.copies && !(tt.chat == slow && got == 1) {
			t.Errorf("%s: chat %d holds %d copies, want %d", tt.name, tt.chat, got, tt.copies)
		}
		if v := ledger[itoa(tt.chat)]; !strings.HasPrefix(v, tt.state) {
			t.Errorf("%s: ledger of chat %d = %q, want %q…", tt.name, tt.chat, v, tt.state)
		}
		r, found, err := e.store.Get(ctx, tt.chat)
		if err != nil || found != tt.stored || (found && r.Status != tt.status) {
			t.Errorf("%s: reader %d = %+v found=%v err=%v, want stored=%v status %q", tt.name, tt.chat, r, found, err, tt.stored, tt.status)
		}
	}
	wantFailed := map[string]int64{"blocked": 2, "chat_not_found": 1, "bad_request": 1, "in_doubt": 1}
	for k, v := range wantFailed {
		if st.Failed[k] != v {
			t.Errorf("Stats.Failed[%s] = %d, want %d (all: %v)", k, st.Failed[k], v, st.Failed)
		}
	}
	if st.Failed["transient"] != 0 {
		t.Errorf("sends that never left counted as failures: %v", st.Failed)
	}
	if st.RateLimited != 1 {
		t.Errorf("Stats.RateLimited = %d, want 1", st.RateLimited)
	}

	// Blocked and removed readers are left out of the next story; the moved group gets it.
	if err := eng.Publish(ctx, story("e2", "en")); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, eng, 30*time.Second)
	for _, c := range []int64{blocked, deactivated, gone} {
		if n := len(e.tg.Messages(c)); n != 0 {
			t.Errorf("chat %d got the next story (%d copies)", c, n)
		}
	}
	if n := len(e.tg.Messages(newGroup)); n != 2 {
		t.Errorf("migrated group holds %d stories, want 2", n)
	}
}

// TestStaleSendsAreGivenUp: a send that cannot leave is tried again only until the story is
// MaxAge old; then it is counted as stale and the fan-out ends.
func TestStaleSendsAreGivenUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	chats := e.readers(100, 3, "en")
	e.tg.SetHandler(func(r telegramtest.Request) *telegramtest.Response {
		if r.Method == "sendMessage" && r.ChatID() == chats[1] {
			return &telegramtest.Response{Failure: &telegramtest.Failure{Code: http.StatusBadGateway, Description: "Bad Gateway"}}
		}
		return nil
	})
	eng, _ := e.engine(Options{MaxAge: time.Minute + 1500*time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	run(t, eng)
	a := story("st1", "en")
	a.PublishedAt = time.Now().Add(-time.Minute) // stale 1.5 s from now
	if err := eng.Publish(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	st := waitIdle(t, eng, 10*time.Second)
	exactlyOne(t, e, []int64{chats[0], chats[2]})
	if st.Failed["stale"] != 1 {
		t.Errorf("Stats.Failed = %v, want one stale", st.Failed)
	}
	if n := e.tg.Count("sendMessage"); n < 4 {
		t.Errorf("%d sends in all: the failing chat was not tried again until the story went stale", n)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestFlakyTelegramLosesNobody: with the Bot API answering 500 to 30% of sends, every reader
// still gets the story once.
func TestFlakyTelegramLosesNobody(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	chats := e.readers(100, 300, "en")
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(7, 7))
	e.tg.SetHandler(func(r telegramtest.Request) *telegramtest.Response {
		mu.Lock()
		bad := rng.Float64() < 0.3
		mu.Unlock()
		if bad {
			return &telegramtest.Response{Failure: &telegramtest.Failure{Code: 500, Description: "Internal Server Error"}}
		}
		return nil
	})
	eng, _ := e.engine(Options{Backoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Channels: map[string]string{}})
	run(t, eng)
	if err := eng.Publish(context.Background(), story("flaky", "en")); err != nil {
		t.Fatal(err)
	}
	st := waitIdle(t, eng, time.Minute)
	exactlyOne(t, e, chats)
	if st.Sent != int64(len(chats)) || len(st.Failed) != 0 {
		t.Errorf("Stats: sent %d, failed %v; want all %d sent", st.Sent, st.Failed, len(chats))
	}
}
