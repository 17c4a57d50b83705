// Package telegramtest is a fake Telegram Bot API for tests: an httptest server that
// answers /bot<token>/<method> the way Telegram does, records every request, keeps what
// each chat holds (sends minus deletes, edits applied), queues updates for getUpdates, and
// can be told to fail (429, 403, 400, 500) or to rate-limit. It is built to be fast enough
// for delivery benchmarks pushing thousands of requests per second through it.
package telegramtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BotID and BotUsername are the fake bot's identity (getMe).
const (
	BotID       = 123456789
	BotUsername = "newsbot_test_bot"
)

// Request is one call the server received.
type Request struct {
	Method string
	// Params are the decoded parameters: JSON-looking values (reply_markup,
	// link_preview_options, entities) parsed into map[string]any / []any; integer-valued
	// id fields (chat_id, message_id, user_id, from_chat_id, offset...) as int64, "@channel"
	// chat ids as the string; "true"/"false" of flag fields as bool; everything else as
	// the string sent.
	Params map[string]any
	Time   time.Time
	// Status is the HTTP status the server answered (200, 429, 403...).
	Status int
	// MessageID is the message_id the server assigned or edited, when there was one.
	MessageID int

	seq uint64
}

// ChatID returns the request's chat_id as the fake resolved it (int64 or "@name" string),
// or nil.
func (r Request) ChatID() any { return r.Params["chat_id"] }

// Text returns the request's text, or its caption for media.
func (r Request) Text() string {
	if s, ok := r.Params["text"].(string); ok {
		return s
	}
	s, _ := r.Params["caption"].(string)
	return s
}

// Response is what a SetHandler function answers instead of the default behaviour.
type Response struct {
	// Result is JSON-encoded as the "result" of an ok answer (nil: true).
	Result any
	// Failure, when set, makes the answer an error.
	Failure *Failure
	// Raw, when set, is written as the body as is with Status (default 200): for
	// answers that are not Bot API JSON.
	Raw    []byte
	Status int
}

const nShards = 64

// Server is the fake Bot API. All methods are safe for concurrent use.
type Server struct {
	ts     *httptest.Server
	token  string
	prefix string // "/bot<token>/"
	done   chan struct{}
	closed sync.Once
	start  time.Time

	record  atomic.Bool
	seq     atomic.Uint64
	counts  sync.Map // method -> *atomic.Int64
	limited atomic.Int64

	shards [nShards]shard

	handler atomic.Pointer[func(Request) *Response]

	failMu   sync.Mutex
	failN    atomic.Int64
	failures []pendingFailure

	rateMu sync.Mutex
	rate   float64
	tokens float64
	rateAt time.Time
	rateOn atomic.Bool

	namesMu   sync.Mutex
	names     map[string]int64 // "@channel" -> its numeric id
	usernames map[int64]string // and back

	membersMu sync.Mutex
	members   map[[2]int64]string

	upMu      sync.Mutex
	updates   []queuedUpdate
	upNotify  chan struct{}
	nextUpdID int
	webhook   string
	secret    string
}

type shard struct {
	mu    sync.Mutex
	reqs  []Request
	chats map[int64]*chatState
	_     [40]byte // keep shards on separate cache lines
}

type chatState struct {
	lastID int
	msgs   map[int]*Request
}

// New starts a fake Bot API closed when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := NewServer()
	t.Cleanup(s.Close)
	return s
}

// NewServer starts a fake Bot API; the caller must Close it.
func NewServer() *Server {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	s := &Server{
		token:     "123456789:TEST" + hex.EncodeToString(b),
		done:      make(chan struct{}),
		start:     time.Now(),
		names:     map[string]int64{},
		usernames: map[int64]string{},
		members:   map[[2]int64]string{},
		upNotify:  make(chan struct{}),
	}
	s.prefix = "/bot" + s.token + "/"
	s.record.Store(true)
	for i := range s.shards {
		s.shards[i].chats = map[int64]*chatState{}
	}
	s.ts = httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
	s.ts.Config.ReadHeaderTimeout = 10 * time.Second
	s.ts.Start()
	return s
}

// URL is the base URL to use as TELEGRAM_API_URL.
func (s *Server) URL() string { return s.ts.URL }

// Token is the only token the server accepts; any other gets 401 Unauthorized.
func (s *Server) Token() string { return s.token }

// Close stops the server, releasing long-polling requests first.
func (s *Server) Close() {
	s.closed.Do(func() {
		close(s.done)
		s.ts.CloseClientConnections()
		s.ts.Close()
	})
}

// SetRecord turns recording of requests and chat contents on or off (on by default).
// Off leaves only the counters, for benchmarks; message ids still increase per chat.
func (s *Server) SetRecord(on bool) { s.record.Store(on) }

// Count returns how many requests of method were answered (all methods for ""), whatever
// the answer; getUpdates counts on arrival.
func (s *Server) Count(method string) int {
	if method != "" {
		if c, ok := s.counts.Load(method); ok {
			return int(c.(*atomic.Int64).Load())
		}
		return 0
	}
	n := 0
	s.counts.Range(func(_, v any) bool { n += int(v.(*atomic.Int64).Load()); return true })
	return n
}

// RateLimited returns how many requests SetRateLimit answered with 429.
func (s *Server) RateLimited() int { return int(s.limited.Load()) }

// Requests returns the recorded requests of method ("" = all) in arrival order.
func (s *Server) Requests(method string) []Request {
	var out []Request
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for _, r := range sh.reqs {
			if method == "" || r.Method == method {
				out = append(out, r)
			}
		}
		sh.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

// WaitFor waits until n requests of method have arrived and returns the recorded ones; it
// fails the test after timeout.
func (s *Server) WaitFor(t testing.TB, method string, n int, timeout time.Duration) []Request {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for s.Count(method) < n {
		if time.Now().After(deadline) {
			t.Fatalf("telegramtest: %d %s requests after %v, want %d", s.Count(method), method, timeout, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return s.Requests(method)
}

// Messages returns what a chat holds: the messages sent to it (sendMessage, sendPhoto,
// copyMessage... answered ok) minus deleted ones, with edits applied, by message id.
// chatID is an int/int64 id or an "@channel" name.
func (s *Server) Messages(chatID any) []Request {
	id, ok := s.resolve(chatID)
	if !ok {
		return nil
	}
	sh := s.shardOf(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	c := sh.chats[id]
	if c == nil {
		return nil
	}
	out := make([]Request, 0, len(c.msgs))
	for _, m := range c.msgs {
		cp := *m
		cp.Params = cloneParams(m.Params)
		out = append(out, cp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].MessageID < out[j].MessageID })
	return out
}

// SetHandler installs a function consulted before the default behaviour (after token
// check, rate limit and FailNext); a nil Response falls through to the default. nil
// removes it.
func (s *Server) SetHandler(h func(Request) *Response) {
	if h == nil {
		s.handler.Store(nil)
		return
	}
	s.handler.Store(&h)
}

// SetChatMember sets what getChatMember answers for (chatID, userID): "creator",
// "administrator", "member" (the default), "restricted", "left" or "kicked".
func (s *Server) SetChatMember(chatID, userID int64, status string) {
	s.membersMu.Lock()
	s.members[[2]int64{chatID, userID}] = status
	s.membersMu.Unlock()
}

// Webhook returns the URL and secret of the last setWebhook ("" when none is set).
func (s *Server) Webhook() (url, secret string) {
	s.upMu.Lock()
	defer s.upMu.Unlock()
	return s.webhook, s.secret
}

func (s *Server) count(method string) {
	c, ok := s.counts.Load(method)
	if !ok {
		c, _ = s.counts.LoadOrStore(method, new(atomic.Int64))
	}
	c.(*atomic.Int64).Add(1)
}

func (s *Server) shardOf(chat int64) *shard {
	u := uint64(chat)
	u ^= u >> 33
	u *= 0xff51afd7ed558ccd
	u ^= u >> 33
	return &s.shards[u%nShards]
}

func (s *Server) closing(ctx context.Context) bool {
	select {
	case <-s.done:
		return true
	case <-ctx.Done():
		return true
	default:
		return false
	}
}
