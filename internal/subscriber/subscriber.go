// Package subscriber keeps the bot's readers in Redis: each reader's interface language, story
// languages, topics and status, and the audience indexes delivery pages through to find who
// gets a story. Every change moves a reader's record, indexes and counters together in one Lua
// script, so the indexes never disagree with the records, whatever runs concurrently.
package subscriber

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
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
}

// Follows reports whether the reader gets a (non-breaking) story of lang with topics.
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
	AllTopics   map[string]int64            // active readers following all topics, by story language
	ByTopic     map[string]map[string]int64 // active followers by story language, then topic (all-topics followers not included)
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
)

// Start is the after value of the first AudiencePage: below every chat id, groups' negative
// ids included.
const Start int64 = math.MinInt64

// maxChatID bounds chat ids to what a float64 score holds exactly (Telegram promises at most
// 52 significant bits).
const maxChatID = 1 << 53

// Store keeps readers in Redis. It is safe for concurrent use.
type Store struct {
	rdb    redis.UniversalClient
	keys   keys
	langs  []string
	topics []string
	now    func() time.Time
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

// Get returns the reader of chatID; false when there is none.
func (s *Store) Get(ctx context.Context, chatID int64) (Reader, bool, error) {
	m, err := s.rdb.HGetAll(ctx, s.keys.record(chatID)).Result()
	if err != nil {
		return Reader{}, false, fmt.Errorf("get reader %d: %w", chatID, err)
	}
	if len(m) == 0 {
		return Reader{}, false, nil
	}
	r, err := decode(chatID, m)
	if err != nil {
		return Reader{}, false, fmt.Errorf("get reader %d: %w", chatID, err)
	}
	return r, true, nil
}

// Save writes r: record, audience indexes and counters in one atomic step. Story languages and
// topics are stored in the configured order without duplicates. An unknown language, topic or
// status is an error naming it (ErrInvalid), and nothing is written.
func (s *Store) Save(ctx context.Context, r Reader) error {
	args, err := s.saveArgs(r)
	if err != nil {
		return fmt.Errorf("save reader %d: %w", r.ChatID, err)
	}
	if err := saveScript.Run(ctx, s.rdb, []string{s.keys.record(r.ChatID)}, args...).Err(); err != nil {
		return fmt.Errorf("save reader %d: %w", r.ChatID, err)
	}
	return nil
}

// SaveMany saves readers in one pipelined round trip (each reader still atomically); for
// imports and the benchmark. Nothing is written when any reader is invalid.
func (s *Store) SaveMany(ctx context.Context, rs []Reader) error {
	all := make([][]any, len(rs))
	for i, r := range rs {
		args, err := s.saveArgs(r)
		if err != nil {
			return fmt.Errorf("save reader %d: %w", r.ChatID, err)
		}
		all[i] = args
	}
	run := func(sha bool) ([]redis.Cmder, error) {
		return s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, r := range rs {
				if sha {
					saveScript.EvalSha(ctx, p, []string{s.keys.record(r.ChatID)}, all[i]...)
				} else {
					saveScript.Eval(ctx, p, []string{s.keys.record(r.ChatID)}, all[i]...)
				}
			}
			return nil
		})
	}
	cmds, err := run(true)
	if err != nil && redis.HasErrorPrefix(firstErr(cmds), "NOSCRIPT") {
		// The script cache was empty (first use, restart, SCRIPT FLUSH): EVAL loads it.
		// Re-saving readers that did get saved writes the same again.
		cmds, err = run(false)
	}
	if err != nil {
		return fmt.Errorf("save %d readers: %w", len(rs), firstErrOr(cmds, err))
	}
	return nil
}

func firstErr(cmds []redis.Cmder) error {
	for _, c := range cmds {
		if c.Err() != nil {
			return c.Err()
		}
	}
	return nil
}

func firstErrOr(cmds []redis.Cmder, err error) error {
	if e := firstErr(cmds); e != nil {
		return e
	}
	return err
}

func (s *Store) saveArgs(r Reader) ([]any, error) {
	if err := checkID(r.ChatID); err != nil {
		return nil, err
	}
	if !slices.Contains(s.langs, r.Lang) {
		return nil, fmt.Errorf("%w: unknown interface language %q", ErrInvalid, r.Lang)
	}
	langs, err := ordered(r.Langs, s.langs, "language")
	if err != nil {
		return nil, err
	}
	topics, err := ordered(r.Topics, s.topics, "topic")
	if err != nil {
		return nil, err
	}
	if !r.Status.valid() {
		return nil, fmt.Errorf("%w: unknown status %q", ErrInvalid, r.Status)
	}
	if strings.ContainsAny(r.LangCode, ",") || len(r.LangCode) > 35 {
		return nil, fmt.Errorf("%w: bad language code %q", ErrInvalid, r.LangCode)
	}
	var joined int64
	if !r.JoinedAt.IsZero() {
		joined = r.JoinedAt.Unix()
	}
	return []any{
		s.keys.base, r.ChatID, s.now().Unix(),
		r.Lang, strings.Join(langs, ","), strings.Join(topics, ","), flag(r.AllTopics), string(r.Status),
		joined, flag(r.Group), r.LangCode,
	}, nil
}

func checkID(id int64) error {
	if id == 0 || id >= maxChatID || id <= -maxChatID {
		return fmt.Errorf("%w: chat id %d out of range", ErrInvalid, id)
	}
	return nil
}

// ordered checks that every one of vals is in known and returns them in the order of known,
// without duplicates.
func ordered(vals, known []string, what string) ([]string, error) {
	for _, v := range vals {
		if !slices.Contains(known, v) {
			return nil, fmt.Errorf("%w: unknown %s %q", ErrInvalid, what, v)
		}
	}
	out := make([]string, 0, len(vals))
	for _, k := range known {
		if slices.Contains(vals, k) {
			out = append(out, k)
		}
	}
	return out, nil
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return ""
}

// SetStatus moves a reader to st: blocked and stopped readers leave the audience indexes,
// active ones come back with their languages and topics. ErrNotFound when there is no reader.
func (s *Store) SetStatus(ctx context.Context, chatID int64, st Status) error {
	if !st.valid() {
		return fmt.Errorf("set status of reader %d: %w: unknown status %q", chatID, ErrInvalid, st)
	}
	if _, err := s.patch(ctx, chatID, "status", string(st)); err != nil {
		return fmt.Errorf("set status of reader %d: %w", chatID, err)
	}
	return nil
}

// ToggleTopic follows topic if the reader does not, else unfollows it, atomically: two quick
// presses never lose one another. Pressing a topic while following all topics leaves all the
// other topics followed. Returns the reader as it now is.
func (s *Store) ToggleTopic(ctx context.Context, chatID int64, topic string) (Reader, error) {
	if !slices.Contains(s.topics, topic) {
		return Reader{}, fmt.Errorf("toggle topic of reader %d: %w: unknown topic %q", chatID, ErrInvalid, topic)
	}
	r, err := s.patch(ctx, chatID, "toggle", topic)
	if err != nil {
		return Reader{}, fmt.Errorf("toggle topic of reader %d: %w", chatID, err)
	}
	return r, nil
}

// SetAllTopics makes the reader follow all topics, or (false) just their own topics again.
func (s *Store) SetAllTopics(ctx context.Context, chatID int64, all bool) (Reader, error) {
	r, err := s.patch(ctx, chatID, "all", flag(all))
	if err != nil {
		return Reader{}, fmt.Errorf("set all topics of reader %d: %w", chatID, err)
	}
	return r, nil
}

// SetLanguages sets the reader's story languages.
func (s *Store) SetLanguages(ctx context.Context, chatID int64, langs []string) (Reader, error) {
	ls, err := ordered(langs, s.langs, "language")
	if err != nil {
		return Reader{}, fmt.Errorf("set languages of reader %d: %w", chatID, err)
	}
	r, err := s.patch(ctx, chatID, "langs", strings.Join(ls, ","))
	if err != nil {
		return Reader{}, fmt.Errorf("set languages of reader %d: %w", chatID, err)
	}
	return r, nil
}

// SetInterfaceLanguage sets the language the bot talks to the reader in.
func (s *Store) SetInterfaceLanguage(ctx context.Context, chatID int64, lang string) (Reader, error) {
	if !slices.Contains(s.langs, lang) {
		return Reader{}, fmt.Errorf("set interface language of reader %d: %w: unknown language %q", chatID, ErrInvalid, lang)
	}
	r, err := s.patch(ctx, chatID, "lang", lang)
	if err != nil {
		return Reader{}, fmt.Errorf("set interface language of reader %d: %w", chatID, err)
	}
	return r, nil
}

func (s *Store) patch(ctx context.Context, chatID int64, op, val string) (Reader, error) {
	if err := checkID(chatID); err != nil {
		return Reader{}, err
	}
	v, err := patchScript.Run(ctx, s.rdb, []string{s.keys.record(chatID)},
		s.keys.base, chatID, s.now().Unix(), op, val, strings.Join(s.topics, ",")).Slice()
	if errors.Is(err, redis.Nil) {
		return Reader{}, ErrNotFound
	}
	if err != nil {
		return Reader{}, err
	}
	return decodeFlat(chatID, v)
}

// Update changes a reader with fn atomically: fn gets the stored reader (exists false and a
// Reader with just ChatID when there is none) and edits it; the result is validated and saved
// like Save, unless fn returns an error, which Update returns with nothing written. A concurrent
// change of the same reader makes Update read again and call fn again, so fn must have no other
// effects. A stored record that cannot be read (ErrCorrupt) is given to fn as none (exists
// false), so that writing a new one repairs it. For changes no single method covers, e.g. /start of a returning reader (active
// again, plus a deep-link topic and language). Returns the reader as saved.
func (s *Store) Update(ctx context.Context, chatID int64, fn func(r *Reader, exists bool) error) (Reader, error) {
	if err := checkID(chatID); err != nil {
		return Reader{}, fmt.Errorf("update reader %d: %w", chatID, err)
	}
	key := s.keys.record(chatID)
	var saved Reader
	txf := func(tx *redis.Tx) error {
		m, err := tx.HGetAll(ctx, key).Result()
		if err != nil {
			return err
		}
		r, exists := Reader{ChatID: chatID}, len(m) > 0
		if exists {
			d, err := decode(chatID, m)
			switch {
			case errors.Is(err, ErrCorrupt):
				// Unreadable (damaged, or written by another release): fn starts afresh, so
				// that the reader is not locked out; the save takes the old record out of
				// whatever indexes it was in.
				exists = false
			case err != nil:
				return err
			default:
				r = d
			}
		}
		if err := fn(&r, exists); err != nil {
			return err
		}
		r.ChatID = chatID
		args, err := s.saveArgs(r)
		if err != nil {
			return err
		}
		var cmd *redis.Cmd
		if _, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			// EVAL, not EVALSHA: a missing script cannot be retried inside MULTI.
			cmd = saveScript.Eval(ctx, p, []string{key}, args...)
			return nil
		}); err != nil {
			return err
		}
		v, err := cmd.Slice()
		if err != nil {
			return err
		}
		saved, err = decodeFlat(chatID, v)
		return err
	}
	for attempt := 0; ; attempt++ {
		err := s.rdb.Watch(ctx, txf, key)
		if err == nil {
			return saved, nil
		}
		if !errors.Is(err, redis.TxFailedErr) || attempt >= 100 {
			return Reader{}, fmt.Errorf("update reader %d: %w", chatID, err)
		}
	}
}

// Delete forgets a reader (Telegram says the chat does not exist). Deleting a reader that is
// not there is not an error.
func (s *Store) Delete(ctx context.Context, chatID int64) error {
	if err := deleteScript.Run(ctx, s.rdb, []string{s.keys.record(chatID)}, s.keys.base, chatID).Err(); err != nil {
		return fmt.Errorf("delete reader %d: %w", chatID, err)
	}
	return nil
}

// Migrate moves a group's subscription to its new chat id (the group became a supergroup), with
// its place in every index, atomically. When the new id already has a record it is kept (it
// holds the newer choices) and the old one is dropped; when the move already happened it is not
// an error. ErrNotFound when neither id is known.
func (s *Store) Migrate(ctx context.Context, from, to int64) error {
	if err := checkID(from); err != nil {
		return fmt.Errorf("migrate reader %d to %d: %w", from, to, err)
	}
	if err := checkID(to); err != nil {
		return fmt.Errorf("migrate reader %d to %d: %w", from, to, err)
	}
	if from == to {
		return nil
	}
	n, err := migrateScript.Run(ctx, s.rdb, []string{s.keys.record(from), s.keys.record(to)},
		s.keys.base, from, to, s.now().Unix()).Int()
	if err != nil {
		return fmt.Errorf("migrate reader %d to %d: %w", from, to, err)
	}
	if n == 0 {
		return fmt.Errorf("migrate reader %d to %d: %w", from, to, ErrNotFound)
	}
	return nil
}

// AudiencePage returns up to n chat ids, ascending, all greater than after, of the active
// readers who get a story of lang with topics: followers of any of the topics and readers of
// lang who follow all topics; with breaking, every active reader of lang. Pass Start (or 0,
// which no chat has) for the first page and the last id of a page for the next; a page shorter
// than n is the last. No id appears twice. One round trip to Redis.
func (s *Store) AudiencePage(ctx context.Context, lang string, topics []string, breaking bool, after int64, n int) ([]int64, error) {
	if !slices.Contains(s.langs, lang) {
		return nil, fmt.Errorf("audience page: %w: unknown language %q", ErrInvalid, lang)
	}
	for _, t := range topics {
		if !slices.Contains(s.topics, t) {
			return nil, fmt.Errorf("audience page: %w: unknown topic %q", ErrInvalid, t)
		}
	}
	if n <= 0 {
		return nil, nil
	}
	if after == 0 {
		after = Start
	}
	var sets []string
	if breaking {
		sets = []string{s.keys.lang(lang)}
	} else {
		sets = append(sets, s.keys.allTopics(lang))
		for _, t := range topics {
			if k := s.keys.topic(lang, t); !slices.Contains(sets, k) {
				sets = append(sets, k)
			}
		}
	}
	// Each set's first n ids above after include every id of the union's first n, so merging
	// these and cutting at n is exact.
	lo := "(" + strconv.FormatInt(after, 10)
	cmds := make([]*redis.StringSliceCmd, len(sets))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range sets {
			cmds[i] = p.ZRangeArgs(ctx, redis.ZRangeArgs{Key: k, Start: lo, Stop: "+inf", ByScore: true, Count: int64(n)})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("audience page of %s after %d: %w", lang, after, err)
	}
	ids := make([]int64, 0, min(n, 4096))
	for _, c := range cmds {
		for _, m := range c.Val() {
			id, err := strconv.ParseInt(m, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("audience page of %s: %w: index member %q", lang, ErrCorrupt, m)
			}
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) > n {
		ids = ids[:n]
	}
	return ids, nil
}

// Counts returns reader numbers for /stats, from counters and index sizes (no scan): one
// round trip whatever the number of readers.
func (s *Store) Counts(ctx context.Context) (Counts, error) {
	var stats *redis.MapStringStringCmd
	langCmds := make(map[string]*redis.IntCmd)
	allCmds := make(map[string]*redis.IntCmd)
	topicCmds := make(map[string]map[string]*redis.IntCmd)
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		stats = p.HGetAll(ctx, s.keys.stats())
		for _, l := range s.langs {
			langCmds[l] = p.ZCard(ctx, s.keys.lang(l))
			allCmds[l] = p.ZCard(ctx, s.keys.allTopics(l))
			topicCmds[l] = make(map[string]*redis.IntCmd)
			for _, t := range s.topics {
				topicCmds[l][t] = p.ZCard(ctx, s.keys.topic(l, t))
			}
		}
		return nil
	})
	if err != nil {
		return Counts{}, fmt.Errorf("count readers: %w", err)
	}
	c := Counts{
		ByStatus:    map[Status]int64{Active: 0, Stopped: 0, Blocked: 0},
		Groups:      map[Status]int64{Active: 0, Stopped: 0, Blocked: 0},
		ByInterface: make(map[string]int64),
		ByLang:      make(map[string]int64),
		AllTopics:   make(map[string]int64),
		ByTopic:     make(map[string]map[string]int64),
	}
	for f, v := range stats.Val() {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return Counts{}, fmt.Errorf("count readers: %w: counter %s = %q", ErrCorrupt, f, v)
		}
		kind, name, _ := strings.Cut(f, ":")
		switch {
		case kind == "s" && Status(name).valid():
			c.ByStatus[Status(name)] = n
		case kind == "g" && Status(name).valid():
			c.Groups[Status(name)] = n
		case kind == "ui" && slices.Contains(s.langs, name):
			c.ByInterface[name] = n
		}
	}
	for _, l := range s.langs {
		if _, ok := c.ByInterface[l]; !ok {
			c.ByInterface[l] = 0 // every configured language is listed, also with no readers
		}
		c.ByLang[l] = langCmds[l].Val()
		c.AllTopics[l] = allCmds[l].Val()
		c.ByTopic[l] = make(map[string]int64)
		for _, t := range s.topics {
			c.ByTopic[l][t] = topicCmds[l][t].Val()
		}
	}
	return c, nil
}

// decodeFlat reads a record as the scripts return it (field, value, ...).
func decodeFlat(chatID int64, v []any) (Reader, error) {
	m := make(map[string]string, len(v)/2)
	for i := 0; i+1 < len(v); i += 2 {
		k, ok1 := v[i].(string)
		val, ok2 := v[i+1].(string)
		if !ok1 || !ok2 {
			return Reader{}, fmt.Errorf("%w: unexpected script reply", ErrCorrupt)
		}
		m[k] = val
	}
	return decode(chatID, m)
}

// decode reads a record hash. A record this package could not have written is ErrCorrupt.
func decode(chatID int64, m map[string]string) (Reader, error) {
	r := Reader{
		ChatID:    chatID,
		Lang:      m["l"],
		Langs:     splitList(m["sl"]),
		Topics:    splitList(m["t"]),
		AllTopics: m["a"] == "1",
		Status:    Status(m["s"]),
		Group:     m["g"] == "1",
		LangCode:  m["c"],
	}
	if r.Lang == "" {
		return Reader{}, fmt.Errorf("%w: no interface language", ErrCorrupt)
	}
	if !r.Status.valid() {
		return Reader{}, fmt.Errorf("%w: status %q", ErrCorrupt, m["s"])
	}
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"j", &r.JoinedAt}, {"u", &r.UpdatedAt}} {
		sec, err := strconv.ParseInt(m[f.name], 10, 64)
		if err != nil {
			return Reader{}, fmt.Errorf("%w: field %s = %q", ErrCorrupt, f.name, m[f.name])
		}
		*f.dst = time.Unix(sec, 0).UTC()
	}
	return r, nil
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// InterfaceLangs returns the interface language of each chat, in order, in one round trip,
// so that a fan-out can label each reader's copy in the reader's language. A chat without a
// record (gone since the page was read) gets "".
func (s *Store) InterfaceLangs(ctx context.Context, chatIDs []int64) ([]string, error) {
	if len(chatIDs) == 0 {
		return nil, nil
	}
	cmds := make([]*redis.StringCmd, len(chatIDs))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range chatIDs {
			cmds[i] = p.HGet(ctx, s.keys.record(id), "l")
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("interface languages of %d chats: %w", len(chatIDs), err)
	}
	langs := make([]string, len(chatIDs))
	for i, c := range cmds {
		langs[i] = c.Val()
	}
	return langs, nil
}
