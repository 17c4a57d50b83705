package subscriber

import (
	"context"
	"fmt"
	"newsbot/internal/schedule"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

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
	r = s.current(r)
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
	mode := r.Mode
	if mode == "" {
		mode = Instant
	}
	if !mode.Valid() {
		return nil, fmt.Errorf("%w: unknown reading mode %q", ErrInvalid, r.Mode)
	}
	times, err := clocks(r.DigestTimes)
	if err != nil {
		return nil, err
	}
	quiet := ""
	if r.QuietOff {
		quiet = "0"
	}
	var joined int64
	if !r.JoinedAt.IsZero() {
		joined = r.JoinedAt.Unix()
	}
	return []any{
		s.keys.base, r.ChatID, s.now().Unix(),
		r.Lang, strings.Join(langs, ","), strings.Join(topics, ","), flag(r.AllTopics), string(r.Status),
		joined, flag(r.Group), r.LangCode, string(mode), strings.Join(times, ","), quiet,
	}, nil
}

// clocks checks digest times ("08:00") and returns them sorted without duplicates.
func clocks(vals []string) ([]string, error) {
	out := make([]string, 0, len(vals))
	for _, v := range vals {
		c, err := schedule.ParseClock(v)
		if err != nil {
			return nil, fmt.Errorf("%w: digest time %q: %v", ErrInvalid, v, err)
		}
		out = append(out, c.String())
	}
	slices.Sort(out)
	return slices.Compact(out), nil
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
		ChatID:      chatID,
		Lang:        m["l"],
		Langs:       splitList(m["sl"]),
		Topics:      splitList(m["t"]),
		AllTopics:   m["a"] == "1",
		Status:      Status(m["s"]),
		Group:       m["g"] == "1",
		LangCode:    m["c"],
		Mode:        Mode(m["m"]),
		DigestTimes: splitList(m["dt"]),
		QuietOff:    m["q"] == "0",
	}
	if r.Mode == "" {
		r.Mode = Instant
	}
	if !r.Mode.Valid() {
		return Reader{}, fmt.Errorf("%w: reading mode %q", ErrCorrupt, m["m"])
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
	r.ModeSince = r.JoinedAt // records older than reading modes: instant since they joined
	if ms, err := strconv.ParseInt(m["ms"], 10, 64); err == nil {
		r.ModeSince = time.Unix(ms, 0).UTC()
	}
	return r, nil
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// current fits a stored reader to the configuration: digest times no longer in DIGEST_TIMES
// are dropped, and a reader left with none of theirs keeps all of them (rather than getting no
// digest at all).
func (s *Store) current(r Reader) Reader {
	if len(r.DigestTimes) == 0 || len(s.digestTimes) == 0 {
		return r
	}
	kept := make([]string, 0, len(r.DigestTimes))
	for _, c := range r.DigestTimes {
		if slices.Contains(s.digestTimes, c) {
			kept = append(kept, c)
		}
	}
	if len(kept) == 0 {
		kept = nil
	}
	r.DigestTimes = kept
	return r
}
