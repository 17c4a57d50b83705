package source

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"newsbot/internal/article"
)

// StreamOptions tune the stream watcher; the zero value gives the defaults.
type StreamOptions struct {
	Block     time.Duration // longest XREADGROUP wait; also bounds how long Run takes to stop (default 2s)
	Count     int           // entries per read (default 100)
	ClaimIdle time.Duration // entries pending this long on another consumer are claimed (default 1m)
	RetryBase time.Duration // first retry after a failed hand-on (default 1s)
	RetryMax  time.Duration // longest wait between retries (default 5m)
	Backfill  int           // at the very first start, hand on the newest N entries already there
	// DeadLetterMax caps the dead-letter stream (approximately; default 10,000 entries).
	DeadLetterMax int64
}

// Stream reads the CMS's Redis stream (field "article" = article JSON) with a consumer group
// shared by all running copies, each a consumer of its own (Deps.Owner). An entry is
// acknowledged only after its story was handed on (or was already known); a failed hand-on
// leaves it pending and this copy reads it again after a backoff. Entries pending longer than
// ClaimIdle on any consumer (a copy that died) are taken over with XAUTOCLAIM.
//
// An entry that can never succeed (no "article" field, not JSON, not a valid article) is
// logged with its entry id and field, counted, copied to the dead-letter stream
// PREFIX+"source:dead" (fields entry_id, stream, field, reason, article) and acknowledged.
//
// At the very first start (no first-start marker for the stream) the entries already in the
// stream are recorded as seen, not handed on, except the newest Backfill. The marker holds the
// id of the last entry recorded that way, so every copy, and every restart, agrees on it.
type Stream struct {
	deps   Deps
	rdb    redis.UniversalClient
	stream string
	group  string
	opt    StreamOptions

	seedUntil  streamID
	failures   int
	retryAt    time.Time // when to read this consumer's own pending entries again
	retrying   bool
	nextClaim  time.Time
	lastReaped time.Time
}

// NewStream returns a reader of the stream (ARTICLES_STREAM, used as written, not prefixed:
// the CMS names it). It does no I/O.
func NewStream(deps Deps, rdb redis.UniversalClient, stream string, opt StreamOptions) *Stream {
	if opt.Block <= 0 {
		opt.Block = 2 * time.Second
	}
	if opt.Count <= 0 {
		opt.Count = 100
	}
	if opt.ClaimIdle <= 0 {
		opt.ClaimIdle = time.Minute
	}
	if opt.RetryBase <= 0 {
		opt.RetryBase = time.Second
	}
	if opt.RetryMax <= 0 {
		opt.RetryMax = 5 * time.Minute
	}
	if opt.DeadLetterMax <= 0 {
		opt.DeadLetterMax = 10_000
	}
	deps = deps.withDefaults()
	return &Stream{deps: deps, rdb: rdb, stream: stream, group: deps.Store.keys.group(), opt: opt}
}

// Run reads until ctx is done. Redis errors are logged and retried with backoff.
func (s *Stream) Run(ctx context.Context) error {
	setupFailures := 0
	for {
		err := s.setup(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		setupFailures++
		wait := backoff(s.opt.RetryBase, s.opt.RetryMax, setupFailures)
		s.deps.Log.Warn("preparing articles stream; will retry", "stream", s.stream, "error", err, "retry_in", wait.String())
		if !sleep(ctx, wait) {
			return nil
		}
	}
	redisFailures := 0
	for ctx.Err() == nil {
		if err := s.step(ctx); err != nil {
			if ctx.Err() != nil {
				break
			}
			redisFailures++
			wait := backoff(s.opt.RetryBase, s.opt.RetryMax, redisFailures)
			s.deps.Log.Warn("reading articles stream; will retry", "stream", s.stream, "error", err, "retry_in", wait.String())
			if !sleep(ctx, wait) {
				break
			}
			continue
		}
		redisFailures = 0
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// setup records the first-start marker (if this is the stream's first start) and creates
// the consumer group from the start of the stream.
func (s *Stream) setup(ctx context.Context) error {
	name := "stream:" + s.stream
	marker, ok, err := s.deps.Store.initialised(ctx, name)
	if err != nil {
		return err
	}
	if !ok {
		newest, err := s.rdb.XRevRangeN(ctx, s.stream, "+", "-", int64(s.opt.Backfill)+1).Result()
		if err != nil {
			return fmt.Errorf("read newest entries of %s: %w", s.stream, err)
		}
		until := "0-0"
		if len(newest) > s.opt.Backfill {
			until = newest[s.opt.Backfill].ID
		}
		if marker, err = s.deps.Store.markInitialised(ctx, name, until); err != nil {
			return err
		}
		s.deps.Log.Info("first start of articles stream: entries already there are recorded as seen",
			"stream", s.stream, "seen_until", marker, "backfill", s.opt.Backfill)
	}
	if s.seedUntil, err = parseStreamID(marker); err != nil {
		return fmt.Errorf("first-start marker of %s: %w", s.stream, err)
	}
	// From "0": entries up to the marker are recorded as seen, later ones handed on; known
	// stories are no events, so re-creating a lost group repeats nothing.
	err = s.rdb.XGroupCreateMkStream(ctx, s.stream, s.group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("create consumer group %s on %s: %w", s.group, s.stream, err)
	}
	return nil
}

// step does one round: take over abandoned entries, retry this consumer's own pending ones
// when their backoff is over, then read new entries (blocking up to Block).
func (s *Stream) step(ctx context.Context) error {
	now := time.Now()
	if !now.Before(s.nextClaim) {
		if err := s.autoclaim(ctx); err != nil {
			return err
		}
		s.nextClaim = now.Add(s.opt.ClaimIdle / 2)
	}
	if s.retrying && !now.Before(s.retryAt) {
		// "0": this consumer's pending entries (delivered, never acknowledged).
		res, err := s.read(ctx, "0", -1)
		if err != nil {
			return err
		}
		s.handle(ctx, res, true)
	}
	block := s.opt.Block
	if s.retrying {
		block = min(block, max(time.Until(s.retryAt), time.Millisecond))
	}
	res, err := s.read(ctx, ">", block)
	if err != nil {
		return err
	}
	s.handle(ctx, res, false)
	return nil
}

func (s *Stream) read(ctx context.Context, id string, block time.Duration) ([]redis.XMessage, error) {
	res, err := s.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group:    s.group,
		Consumer: s.deps.Owner,
		Streams:  []string{s.stream, id},
		Count:    int64(s.opt.Count),
		Block:    block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		if strings.HasPrefix(err.Error(), "NOGROUP") {
			// The stream or group was deleted under us: make them again.
			if serr := s.setup(ctx); serr != nil {
				return nil, serr
			}
			return nil, nil
		}
		return nil, fmt.Errorf("read %s: %w", s.stream, err)
	}
	var msgs []redis.XMessage
	for _, st := range res {
		msgs = append(msgs, st.Messages...)
	}
	return msgs, nil
}

// autoclaim takes over entries idle longer than ClaimIdle (their consumer died or is stuck),
// and forgets consumers long gone that hold nothing.
func (s *Stream) autoclaim(ctx context.Context) error {
	start := "0-0"
	for range 100 { // bounded: at most 100 pages per pass
		msgs, next, err := s.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
			Stream: s.stream, Group: s.group, Consumer: s.deps.Owner,
			MinIdle: s.opt.ClaimIdle, Start: start, Count: int64(s.opt.Count),
		}).Result()
		if err != nil {
			if strings.HasPrefix(err.Error(), "NOGROUP") {
				return s.setup(ctx)
			}
			return fmt.Errorf("claim abandoned entries of %s: %w", s.stream, err)
		}
		if len(msgs) > 0 {
			s.deps.Log.Info("took over entries left pending by another copy", "stream", s.stream, "entries", len(msgs))
			s.handle(ctx, msgs, false)
		}
		if next == "0-0" || next == "" {
			break
		}
		start = next
	}
	if time.Since(s.lastReaped) > time.Hour {
		s.lastReaped = time.Now()
		s.reapConsumers(ctx)
	}
	return nil
}

// reapConsumers deletes consumers of copies gone for a day with no pending entries, so the
// group does not collect one consumer per restart forever.
func (s *Stream) reapConsumers(ctx context.Context) {
	cs, err := s.rdb.XInfoConsumers(ctx, s.stream, s.group).Result()
	if err != nil {
		return
	}
	for _, c := range cs {
		if c.Name != s.deps.Owner && c.Pending == 0 && c.Idle > 24*time.Hour {
			_ = s.rdb.XGroupDelConsumer(ctx, s.stream, s.group, c.Name).Err()
		}
	}
}

// handle processes entries in order. ownPending: the entries are this consumer's pending
// ones being retried; if all succeed, retrying stops.
func (s *Stream) handle(ctx context.Context, msgs []redis.XMessage, ownPending bool) {
	failed := false
	for _, m := range msgs {
		if ctx.Err() != nil {
			return
		}
		if !s.entry(ctx, m) {
			failed = true
		}
	}
	switch {
	case failed:
		s.failures++
		s.retrying = true
		s.retryAt = time.Now().Add(backoff(s.opt.RetryBase, s.opt.RetryMax, s.failures))
	case ownPending && len(msgs) < s.opt.Count:
		s.retrying = false
		s.failures = 0
	}
}

// entry processes one entry and reports whether it was acknowledged.
func (s *Stream) entry(ctx context.Context, m redis.XMessage) bool {
	origin := "stream:" + m.ID
	raw, ok := m.Values["article"].(string)
	if !ok {
		return s.deadLetter(ctx, m, "article", "no \"article\" field in the entry")
	}
	a, err := article.Parse([]byte(raw), s.deps.Rules)
	if err != nil {
		field, reason := describe(err)
		return s.deadLetter(ctx, m, field, reason)
	}
	id, err := parseStreamID(m.ID)
	if err != nil {
		return s.deadLetter(ctx, m, "entry_id", err.Error())
	}
	if !id.after(s.seedUntil) {
		ok, err := s.deps.Store.seed(ctx, a, s.deps.Owner, id.order())
		if err != nil {
			s.deps.Log.Warn("recording stream entry as seen; will retry", "entry_id", m.ID, "error", err)
			return false
		}
		if ok {
			s.deps.Metrics.story("stream", "seeded")
		}
		return s.ack(ctx, m.ID)
	}
	if _, err := s.deps.handOn(ctx, "stream", a, origin, id.order()); err != nil {
		if !errors.Is(err, errBusy) && ctx.Err() == nil {
			s.deps.Log.Warn("story not handed on; entry left pending, will retry",
				"stream", s.stream, "entry_id", m.ID, "article_id", a.ID, "error", err)
		}
		return false
	}
	return s.ack(ctx, m.ID)
}

func (s *Stream) ack(ctx context.Context, id string) bool {
	if err := s.rdb.XAck(ctx, s.stream, s.group, id).Err(); err != nil {
		// Handed on but not acknowledged: it comes back, and is then a known story.
		s.deps.Log.Warn("acknowledging stream entry", "entry_id", id, "error", err)
		return false
	}
	return true
}

// deadLetter logs, counts, copies and acknowledges an entry that can never succeed.
func (s *Stream) deadLetter(ctx context.Context, m redis.XMessage, field, reason string) bool {
	s.deps.Log.Warn("invalid stream entry; acknowledged and copied to the dead-letter stream",
		"stream", s.stream, "entry_id", m.ID, "field", field, "reason", reason,
		"dead_letter", s.deps.Store.keys.deadLetter())
	s.deps.Metrics.invalidArticle("stream")
	raw, _ := m.Values["article"].(string)
	err := s.rdb.XAdd(ctx, &redis.XAddArgs{
		Stream: s.deps.Store.keys.deadLetter(),
		MaxLen: s.opt.DeadLetterMax,
		Approx: true,
		Values: []any{"entry_id", m.ID, "stream", s.stream, "field", field, "reason", reason, "article", raw},
	}).Err()
	if err != nil {
		s.deps.Log.Warn("copying invalid entry to the dead-letter stream", "entry_id", m.ID, "error", err)
		return false
	}
	return s.ack(ctx, m.ID)
}

// streamID is a parsed entry id, for comparing with the first-start marker.
type streamID struct{ ms, seq uint64 }

func parseStreamID(s string) (streamID, error) {
	msPart, seqPart, ok := strings.Cut(s, "-")
	if !ok {
		seqPart = "0"
	}
	ms, err1 := strconv.ParseUint(msPart, 10, 64)
	seq, err2 := strconv.ParseUint(seqPart, 10, 64)
	if err1 != nil || err2 != nil {
		return streamID{}, fmt.Errorf("%q is not a stream entry id", s)
	}
	return streamID{ms, seq}, nil
}

// order is the id as a string that sorts like the ids (fixed width), for the Store.
func (a streamID) order() string { return fmt.Sprintf("%020d-%020d", a.ms, a.seq) }

func (a streamID) after(b streamID) bool { return a.ms > b.ms || (a.ms == b.ms && a.seq > b.seq) }
