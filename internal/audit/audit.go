// Package audit keeps the editors' audit trail in Redis: who pushed which story by hand with
// /publish, when, whether as breaking news, under which delivery job, and to how many readers.
// It is a capped log (the newest entries) plus the newest entry per story.
package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultCap is how many entries the log keeps.
const DefaultCap = 1000

// storyTTL is how long a story's last push is remembered; delivery keeps its ledger as long.
const storyTTL = 30 * 24 * time.Hour

// Entry is one push by an admin.
type Entry struct {
	ArticleID string    `json:"article_id"`
	Title     string    `json:"title"`
	Lang      string    `json:"lang"`
	By        int64     `json:"by"`      // the admin's Telegram user id
	ByName    string    `json:"by_name"` // as Telegram showed the admin at the time
	At        time.Time `json:"at"`
	Breaking  bool      `json:"breaking"`
	JobID     string    `json:"job_id"`
	// Audience is the number of readers the story's audience held at push time. Readers who
	// had the story already are skipped by delivery, so fewer messages may go out.
	Audience int64 `json:"audience"`
}

// Store is the audit trail in Redis. It is safe for concurrent use, also by several running
// copies.
type Store struct {
	rdb    redis.UniversalClient
	prefix string
	cap    int64
}

// NewStore returns the trail under prefix, keeping the newest capacity entries (<= 0:
// DefaultCap). It does no I/O.
func NewStore(rdb redis.UniversalClient, prefix string, capacity int) *Store {
	if capacity <= 0 {
		capacity = DefaultCap
	}
	return &Store{rdb: rdb, prefix: prefix, cap: int64(capacity)}
}

// Record appends e to the log and remembers it as its story's last push, in one round trip.
// The keys need not share a hash slot: a lost story key only means a later /publish does not warn.
func (s *Store) Record(ctx context.Context, e Entry) error {
	raw, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("record push of %s: %w", e.ArticleID, err)
	}
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.LPush(ctx, keyLog(s.prefix), raw)
		p.LTrim(ctx, keyLog(s.prefix), 0, s.cap-1)
		p.Set(ctx, keyStory(s.prefix, e.ArticleID), raw, storyTTL)
		return nil
	})
	if err != nil {
		return fmt.Errorf("record push of %s: %w", e.ArticleID, err)
	}
	return nil
}

// Recent returns up to n entries, newest first. Entries that do not decode (written by a
// future release, or damaged) are skipped rather than hiding the rest.
func (s *Store) Recent(ctx context.Context, n int) ([]Entry, error) {
	if n <= 0 {
		return nil, nil
	}
	raws, err := s.rdb.LRange(ctx, keyLog(s.prefix), 0, int64(n)-1).Result()
	if err != nil {
		return nil, fmt.Errorf("read audit trail: %w", err)
	}
	out := make([]Entry, 0, len(raws))
	for _, r := range raws {
		var e Entry
		if json.Unmarshal([]byte(r), &e) == nil {
			out = append(out, e)
		}
	}
	return out, nil
}

// Since returns the entries at or after t, newest first, reading at most the whole log.
func (s *Store) Since(ctx context.Context, t time.Time) ([]Entry, error) {
	// Pages of 100: the entries are newest first, so the walk stops at the first older one.
	const page = 100
	var out []Entry
	for start := int64(0); start < s.cap; start += page {
		raws, err := s.rdb.LRange(ctx, keyLog(s.prefix), start, start+page-1).Result()
		if err != nil {
			return nil, fmt.Errorf("read audit trail: %w", err)
		}
		for _, r := range raws {
			var e Entry
			if json.Unmarshal([]byte(r), &e) != nil {
				continue
			}
			if e.At.Before(t) {
				return out, nil
			}
			out = append(out, e)
		}
		if len(raws) < page {
			break
		}
	}
	return out, nil
}

// Last returns the newest push of a story.
func (s *Store) Last(ctx context.Context, articleID string) (Entry, bool, error) {
	raw, err := s.rdb.Get(ctx, keyStory(s.prefix, articleID)).Bytes()
	if errors.Is(err, redis.Nil) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, fmt.Errorf("read last push of %s: %w", articleID, err)
	}
	var e Entry
	if err := json.Unmarshal(raw, &e); err != nil {
		return Entry{}, false, fmt.Errorf("read last push of %s: %w", articleID, err)
	}
	return e, true, nil
}
