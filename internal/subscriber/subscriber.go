// Package subscriber keeps the bot's readers in Redis: each reader's interface language, story
// languages, topics and status, and the audience indexes delivery pages through to find who
// gets a story. Every change moves a reader's record, indexes and counters together in one Lua
// script, so the indexes never disagree with the records, whatever runs concurrently.
package subscriber

import (
	"errors"
	"math"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"
)

// Status is where a reader stands with the bot.
type Status string

// Only active readers are in the audience indexes.
const (
	Active  Status = "active"
	Stopped Status = "stopped" // the reader sent /stop; /start brings their choices back
	Blocked Status = "blocked" // Telegram said the chat is gone (bot blocked, user deactivated)
)

func (s Status) valid() bool { return s == Active || s == Stopped || s == Blocked }

// Mode is how a reader gets the news.
type Mode string

// Reading modes. Breaking stories reach every mode at once.
const (
	Instant  Mode = "instant"  // every story as it comes
	Digest   Mode = "digest"   // one message per digest time with the stories since the last
	Breaking Mode = "breaking" // breaking stories only
)

// Modes are the reading modes, in the order /settings shows them.
var Modes = []Mode{Instant, Digest, Breaking}

// Valid reports whether m is a reading mode.
func (m Mode) Valid() bool { return m == Instant || m == Digest || m == Breaking }

// Reader is one subscribed chat: a person or a group.
type Reader struct {
	ChatID    int64
	Lang      string   // interface language, one of LANGUAGES
	Langs     []string // story languages, in the order of LANGUAGES
	Topics    []string // followed topics, in the order of TOPICS; kept (not indexed) while AllTopics is set, so that unsetting it brings the choice back
	AllTopics bool     // follows every topic, also stories without topics and topics added later
	Status    Status
	JoinedAt  time.Time // zero in Save: keep the stored time, or now for a new reader
	UpdatedAt time.Time // set by the store
	Group     bool
	LangCode  string // the Telegram language_code the reader came with (empty in Save: keep the stored one)

	Mode        Mode      // reading mode; "" in Save is Instant
	DigestTimes []string  // the digest times ("08:00") of DIGEST_TIMES the reader keeps; none: all
	QuietOff    bool      // pushes in the quiet hours notify too (quiet hours are on by default)
	ModeSince   time.Time // when the mode last changed (set by the store)
}

// Quiet reports whether the reader's pushes go silently in the quiet hours.
func (r Reader) Quiet() bool { return !r.QuietOff }

// KeepsDigest reports whether the reader gets the digest at clock ("08:00"): a digest reader
// keeping that time, or all times.
func (r Reader) KeepsDigest(clock string) bool {
	return r.Mode == Digest && (len(r.DigestTimes) == 0 || slices.Contains(r.DigestTimes, clock))
}

// Follows reports whether the reader follows a (non-breaking) story of lang with topics, in any
// reading mode.
func (r Reader) Follows(lang string, topics []string) bool {
	if r.Status != Active || !slices.Contains(r.Langs, lang) {
		return false
	}
	if r.AllTopics {
		return true
	}
	for _, t := range topics {
		if slices.Contains(r.Topics, t) {
			return true
		}
	}
	return false
}

// Counts is what /stats shows about readers.
type Counts struct {
	ByStatus    map[Status]int64            // every known chat by status
	Groups      map[Status]int64            // groups among them, by status
	ByInterface map[string]int64            // active readers by interface language
	ByLang      map[string]int64            // active readers by story language (a reader of two languages counts in both)
	AllTopics   map[string]int64            // active instant readers following all topics, by story language
	ByTopic     map[string]map[string]int64 // active instant followers by story language, then topic (all-topics followers not included)
	ByMode      map[Mode]int64              // active readers by reading mode
	Digest      int64                       // active digest readers
}

// Total is the number of known chats, whatever their status.
func (c Counts) Total() int64 {
	var n int64
	for _, v := range c.ByStatus {
		n += v
	}
	return n
}

// Errors of the store; they come wrapped with the action and the chat id.
var (
	ErrNotFound = errors.New("no such reader")
	ErrInvalid  = errors.New("invalid reader")        // unknown language, topic or status; bad chat id
	ErrCorrupt  = errors.New("corrupt reader record") // a stored record that cannot be read
	// ErrLastDigestTime: a digest reader keeps at least one digest time.
	ErrLastDigestTime = errors.New("the last digest time is kept")
)

// Start is the after value of the first AudiencePage: below every chat id, groups' negative
// ids included.
const Start int64 = math.MinInt64

// maxChatID bounds chat ids to what a float64 score holds exactly (Telegram promises at most
// 52 significant bits).
const maxChatID = 1 << 53

// Store keeps readers in Redis. It is safe for concurrent use.
type Store struct {
	rdb         redis.UniversalClient
	keys        keys
	langs       []string
	topics      []string
	digestTimes []string // DIGEST_TIMES ("08:00"), for toggling away from "all of them"
	now         func() time.Time
}

// NewStore returns a store of readers under prefix; langs and topics are the configured
// LANGUAGES and TOPICS, which every saved reader is checked against. No network I/O.
func NewStore(rdb redis.UniversalClient, prefix string, langs, topics []string) *Store {
	return &Store{
		rdb:    rdb,
		keys:   newKeys(prefix),
		langs:  slices.Clone(langs),
		topics: slices.Clone(topics),
		now:    time.Now,
	}
}
