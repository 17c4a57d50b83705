package subscriber

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

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
	var digest *redis.IntCmd
	langCmds := make(map[string]*redis.IntCmd)
	allCmds := make(map[string]*redis.IntCmd)
	topicCmds := make(map[string]map[string]*redis.IntCmd)
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		stats = p.HGetAll(ctx, s.keys.stats())
		digest = p.ZCard(ctx, s.keys.digest())
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
		ByMode:      map[Mode]int64{Instant: 0, Digest: 0, Breaking: 0},
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
		case kind == "m" && Mode(name).Valid():
			c.ByMode[Mode(name)] = n
		}
	}
	c.Digest = digest.Val()
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

// Prefs is what a send needs to know of a chat beside its id.
type Prefs struct {
	Lang      string    // interface language; "" when the chat has no record any more
	Quiet     bool      // its pushes go silently in the quiet hours
	ModeSince time.Time // when it took its reading mode
}

// Prefs returns the send preferences of each chat, in order, in one round trip, so that a
// fan-out labels each copy in the reader's language and knows who wants quiet nights.
func (s *Store) Prefs(ctx context.Context, chatIDs []int64) ([]Prefs, error) {
	if len(chatIDs) == 0 {
		return nil, nil
	}
	cmds := make([]*redis.SliceCmd, len(chatIDs))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range chatIDs {
			cmds[i] = p.HMGet(ctx, s.keys.record(id), "l", "q", "ms", "j")
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("preferences of %d chats: %w", len(chatIDs), err)
	}
	out := make([]Prefs, len(chatIDs))
	for i, c := range cmds {
		v := c.Val()
		str := func(k int) string {
			if k < len(v) {
				s, _ := v[k].(string)
				return s
			}
			return ""
		}
		out[i] = Prefs{Lang: str(0), Quiet: str(1) != "0"}
		since := str(2)
		if since == "" {
			since = str(3)
		}
		if sec, err := strconv.ParseInt(since, 10, 64); err == nil {
			out[i].ModeSince = time.Unix(sec, 0).UTC()
		}
	}
	return out, nil
}

// Readers returns the readers of chatIDs, in order, in one round trip; found[i] is false for a
// chat without a readable record.
func (s *Store) Readers(ctx context.Context, chatIDs []int64) (rs []Reader, found []bool, err error) {
	cmds := make([]*redis.MapStringStringCmd, len(chatIDs))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range chatIDs {
			cmds[i] = p.HGetAll(ctx, s.keys.record(id))
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("read %d readers: %w", len(chatIDs), err)
	}
	rs, found = make([]Reader, len(chatIDs)), make([]bool, len(chatIDs))
	for i, c := range cmds {
		if m := c.Val(); len(m) > 0 {
			r, err := decode(chatIDs[i], m)
			if err == nil {
				rs[i], found[i] = s.current(r), true
			}
		}
	}
	return rs, found, nil
}

// DigestPage returns up to n chat ids, ascending, all greater than after, of the active
// digest readers (whatever digest times they keep: see Reader.KeepsDigest). Paging as
// AudiencePage. One round trip.
func (s *Store) DigestPage(ctx context.Context, after int64, n int) ([]int64, error) {
	if n <= 0 {
		return nil, nil
	}
	if after == 0 {
		after = Start
	}
	ms, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: s.keys.digest(), Start: "(" + strconv.FormatInt(after, 10),
		Stop: "+inf", ByScore: true, Count: int64(n)}).Result()
	if err != nil {
		return nil, fmt.Errorf("digest page after %d: %w", after, err)
	}
	ids := make([]int64, 0, len(ms))
	for _, m := range ms {
		id, err := strconv.ParseInt(m, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("digest page: %w: index member %q", ErrCorrupt, m)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// AudienceSize estimates how many readers AudiencePage walks for a story: exact for breaking
// stories and a single topic, an upper bound when a reader follows several of the story's
// topics (counted once per topic). One round trip.
func (s *Store) AudienceSize(ctx context.Context, lang string, topics []string, breaking bool) (int64, error) {
	if !slices.Contains(s.langs, lang) {
		return 0, fmt.Errorf("audience size: %w: unknown language %q", ErrInvalid, lang)
	}
	keys := []string{s.keys.lang(lang)}
	if !breaking {
		keys = []string{s.keys.allTopics(lang)}
		for _, t := range topics {
			keys = append(keys, s.keys.topic(lang, t))
		}
	}
	cmds := make([]*redis.IntCmd, len(keys))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.ZCard(ctx, k)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("audience size of %s: %w", lang, err)
	}
	var n int64
	for _, c := range cmds {
		n += c.Val()
	}
	return n, nil
}

// DigestSize is the number of active digest readers.
func (s *Store) DigestSize(ctx context.Context) (int64, error) {
	n, err := s.rdb.ZCard(ctx, s.keys.digest()).Result()
	if err != nil {
		return 0, fmt.Errorf("digest readers: %w", err)
	}
	return n, nil
}
