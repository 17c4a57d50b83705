// Package botapi is a Telegram Bot API stand-in served in the process: an http.Handler that
// answers /bot<token>/<method> the way Telegram does and enforces what Telegram enforces
// (its HTML parse mode and tag list, 4096/1024 characters counted after parsing in UTF-16
// units, callback_data of 1–64 bytes, a global and a per-chat rate limit answered with 429
// and retry_after, 403 for a reader who blocked the bot). It keeps what every chat holds,
// with edits and deletions, queues updates for getUpdates, and plays the other side of the
// chats: readers who type, press buttons and block the bot.
//
// `newsbot playground` runs the real service against it; internal/telegramtest wraps it in
// an httptest server for the tests of every package. It is fast enough for delivery
// benchmarks pushing thousands of requests per second through it.
package botapi

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// BotID is the bot's user id (getMe), and the number its made-up token starts with.
const BotID = 123456789

// BotUsername is the bot's username unless Options names another.
const BotUsername = "newsbot_test_bot"

// Options configure a Server; the zero value is a test bot.
type Options struct {
	// Token is the only token the server accepts (default: a random one of BotID's shape).
	Token string
	// Username and FirstName are the bot's identity (getMe); defaults BotUsername, "Newsbot".
	Username, FirstName string
}

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

// ChatID returns the request's chat_id as the server resolved it (int64 or "@name"
// string), or nil.
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

// Server is the Bot API stand-in. All methods are safe for concurrent use.
type Server struct {
	token  string
	prefix string // "/bot<token>/"
	bot    userJSON
	done   chan struct{}
	closed sync.Once

	record  atomic.Bool
	seq     atomic.Uint64
	counts  sync.Map // method -> *atomic.Int64
	limited atomic.Int64
	stats   counters

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

	chatLimits atomic.Pointer[ChatLimits]
	nBlocked   atomic.Int64

	namesMu   sync.Mutex
	names     map[string]int64 // "@channel" -> its numeric id
	usernames map[int64]string // and back

	membersMu sync.Mutex
	members   map[[2]int64]string

	usersMu sync.Mutex
	users   map[int64]User
	queries map[string]int64 // callback query id -> chat, until answered
	nextQID int64

	upMu      sync.Mutex
	updates   []queuedUpdate
	upNotify  chan struct{}
	nextUpdID int
	webhook   string
	secret    string

	watch watcher
}

type shard struct {
	mu    sync.Mutex
	reqs  []Request
	chats map[int64]*chatState
	_     [40]byte // keep shards on separate cache lines
}

// chatState is what one chat holds. Message ids are per chat and shared by both sides, as
// in Telegram's private chats.
type chatState struct {
	lastID  int
	msgs    map[int]*entry
	ver     uint64 // the server's version at this chat's last change
	blocked bool
	bucket  bucket // per-chat rate limit
	toast   *Toast
}

// entry is one message of a chat: the bot's (req) or a user's (from set).
type entry struct {
	req      Request
	from     *User
	edits    int
	deleted  bool
	deleteAt time.Time
}

// New returns a stand-in; it serves nothing until its ServeHTTP is mounted, and must be
// Closed to release waiting getUpdates calls.
func New(opt Options) *Server {
	if opt.Token == "" {
		b := make([]byte, 12)
		_, _ = rand.Read(b)
		opt.Token = strconv.Itoa(BotID) + ":TEST" + hex.EncodeToString(b)
	}
	if opt.Username == "" {
		opt.Username = BotUsername
	}
	if opt.FirstName == "" {
		opt.FirstName = "Newsbot"
	}
	s := &Server{
		token:     opt.Token,
		bot:       userJSON{ID: BotID, IsBot: true, FirstName: opt.FirstName, Username: opt.Username},
		done:      make(chan struct{}),
		names:     map[string]int64{},
		usernames: map[int64]string{},
		members:   map[[2]int64]string{},
		users:     map[int64]User{},
		queries:   map[string]int64{},
		upNotify:  make(chan struct{}),
	}
	s.prefix = "/bot" + s.token + "/"
	s.record.Store(true)
	for i := range s.shards {
		s.shards[i].chats = map[int64]*chatState{}
	}
	return s
}

// Token is the only token the server accepts; any other gets 401 Unauthorized.
func (s *Server) Token() string { return s.token }

// Username is the bot's username, without the "@".
func (s *Server) Username() string { return s.bot.Username }

// Close releases waiting getUpdates calls and wakes watchers; the handler keeps answering.
func (s *Server) Close() {
	s.closed.Do(func() {
		close(s.done)
		s.watch.wake()
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

// RateLimited returns how many requests the rate limits (SetRateLimit, SetChatLimits)
// answered with 429.
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

// Messages returns what a chat holds of the bot's: the messages sent to it (sendMessage,
// sendPhoto, copyMessage... answered ok) minus deleted ones, with edits applied, by
// message id. chatID is an int/int64 id or an "@channel" name. History has the whole chat.
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
		if m.deleted || m.from != nil {
			continue
		}
		cp := m.req
		cp.Params = cloneParams(m.req.Params)
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

// ChatID resolves a chat id or "@channel" name to the numeric id the server uses for it.
func (s *Server) ChatID(chat any) (int64, bool) { return s.resolve(chat) }

// Handler returns the server as an http.Handler (it is one itself).
func (s *Server) Handler() http.Handler { return s }

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

// chat returns the chat's state, creating it; the shard's lock must be held.
func (sh *shard) chat(id int64) *chatState {
	c := sh.chats[id]
	if c == nil {
		c = &chatState{msgs: map[int]*entry{}}
		sh.chats[id] = c
	}
	return c
}
