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
	"newsbot/internal/backoff"
)

// StreamOptions tune the stream watcher; the zero value gives the defaults.
type StreamOptions struct {
	// Poll is how long the watcher waits before reading an idle stream again; it also bounds
	// how long Run takes to stop (default 100ms). The stream is polled rather than read with
	// a blocking XREADGROUP, which hands entries over whole: see readScript.
	Poll      time.Duration
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
// An entry that can never succeed (no "article" field, two of them, over article.MaxSize, not
// JSON, not a valid article) is logged with its entry id, field and reason, counted, copied
// to the dead-letter stream PREFIX+"source:dead" (fields entry_id, stream, field, reason, and
// its article fields unless it is over the cap) and acknowledged. An entry over the cap never
// leaves Redis: its size is measured there.
//
// At the first start (no first-start marker for the stream in Redis) the entries already in
// the stream are recorded as seen, not handed on, except the newest Backfill. The marker holds
// the id of the last entry recorded that way; it is read again every round, so every copy,
// every restart, and a copy running while Redis was emptied agree on it.
type Stream struct {
	deps   Deps
	rdb    redis.UniversalClient
	stream string
	group  string
	opt    StreamOptions

	seedUntil  streamID
	started    bool // this copy has done the first start once: a later one backfills nothing
	wait       backoff.Backoff
	retryAt    time.Time // when to read this consumer's own pending entries again
	retrying   bool
	nextClaim  time.Time
	lastReaped time.Time
}

// NewStream returns a reader of the stream (ARTICLES_STREAM, used as written, not prefixed:
// the CMS names it). It does no I/O.
func NewStream(deps Deps, rdb redis.UniversalClient, stream string, opt StreamOptions) *Stream {
	if opt.Poll <= 0 {
		opt.Poll = 100 * time.Millisecond
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
	return &Stream{
		deps: deps, rdb: rdb, stream: stream, group: deps.Store.keys.group(), opt: opt,
		wait: backoff.Backoff{Min: opt.RetryBase, Max: opt.RetryMax},
	}
}

// Run reads until ctx is done. Redis errors are logged and retried with backoff.
func (s *Stream) Run(ctx context.Context) error {
	b := backoff.Backoff{Min: s.opt.RetryBase, Max: s.opt.RetryMax}
	for {
		err := s.setup(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		wait := b.Next()
		s.deps.Log.Warn("preparing articles stream; will retry", "stream", s.stream, "err", err, "retry_in", wait.String())
		if backoff.Sleep(ctx, wait) != nil {
			return nil
		}
	}
	b.Reset()
	for ctx.Err() == nil {
		more, err := s.step(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			wait := b.Next()
			s.deps.Log.Warn("reading articles stream; will retry", "stream", s.stream, "err", err, "retry_in", wait.String())
			if backoff.Sleep(ctx, wait) != nil {
				break
			}
			continue
		}
		b.Reset()
		if more {
			continue
		}
		wait := s.opt.Poll
		if s.retrying {
			wait = min(wait, max(time.Until(s.retryAt), time.Millisecond))
		}
		if backoff.Sleep(ctx, wait) != nil {
			break
		}
	}
	return nil
}

// setup makes sure of the first-start marker (this is a first start when it is missing) and
// of the consumer group, created from the start of the stream.
func (s *Stream) setup(ctx context.Context) error {
	if err := s.loadMarker(ctx); err != nil {
		return err
	}
	// From "0": entries up to the marker are recorded as seen, later ones handed on; known
	// stories are no events, so re-creating a lost group repeats nothing.
	err := s.rdb.XGroupCreateMkStream(ctx, s.stream, s.group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("create consumer group %s on %s: %w", s.group, s.stream, err)
	}
	return nil
}

// loadMarker reads the first-start marker into seedUntil; when it is missing (the very first
// start, or Redis emptied since) it records the entries there now as seen first.
func (s *Stream) loadMarker(ctx context.Context) error {
	name := "stream:" + s.stream
	marker, ok, err := s.deps.Store.initialised(ctx, name)
	if err != nil {
		return err
	}
	if !ok {
		backfill := s.opt.Backfill
		if s.started {
			backfill = 0
			s.deps.Log.Warn("first-start marker of articles stream is gone from Redis (emptied or restored?); the entries there are recorded as seen again, none handed on",
				"stream", s.stream)
		}
		newest, err := s.rdb.XRevRangeN(ctx, s.stream, "+", "-", int64(backfill)+1).Result()
		if err != nil {
			return fmt.Errorf("read newest entries of %s: %w", s.stream, err)
		}
		until := "0-0"
		if len(newest) > backfill {
			until = newest[backfill].ID
		}
		if marker, err = s.deps.Store.markInitialised(ctx, name, until); err != nil {
			return err
		}
		s.deps.Log.Info("first start of articles stream: entries already there are recorded as seen",
			"stream", s.stream, "seen_until", marker, "backfill", backfill)
	}
	if s.seedUntil, err = parseStreamID(marker); err != nil {
		return fmt.Errorf("first-start marker of %s: %w", s.stream, err)
	}
	s.started = true
	return nil
}

// step does one round: take over abandoned entries, retry this consumer's own pending ones
// when their backoff is over, then read new entries. more: a full batch was read, there may
// be more right away.
func (s *Stream) step(ctx context.Context) (more bool, err error) {
	// The marker, from Redis every round: Redis emptied under this copy (or another copy that
	// redid the first start since) makes what is there now old news, to record, not hand on.
	if err := s.loadMarker(ctx); err != nil {
		return false, err
	}
	now := time.Now()
	if !now.Before(s.nextClaim) {
		if err := s.autoclaim(ctx); err != nil {
			return false, err
		}
		s.nextClaim = now.Add(s.opt.ClaimIdle / 2)
	}
	if s.retrying && !now.Before(s.retryAt) {
		// "0": this consumer's pending entries (delivered, never acknowledged).
		entries, _, err := s.read(ctx, "0", false)
		if err != nil {
			return false, err
		}
		s.handle(ctx, entries, true)
	}
	entries, _, err := s.read(ctx, ">", false)
	if err != nil {
		return false, err
	}
	s.handle(ctx, entries, false)
	return len(entries) == s.opt.Count, nil
}

// readScript reads entries as XREADGROUP does (ARGV[6] "read": ARGV[4] ">" for new entries,
// "0" for the consumer's pending ones) or XAUTOCLAIM does (ARGV[6] "claim": from ARGV[4],
// those idle ARGV[7] ms), without blocking. KEYS[1]: the stream. ARGV[1] group, ARGV[2]
// consumer, ARGV[3] count, ARGV[5] the size cap in bytes.
//
// It exists for what the commands cannot do: an entry over the cap (names and values
// together) comes back as its id and size alone, so a 20 MB entry never leaves Redis; and
// fields come back as the flat list they are, so two "article" fields are seen, not merged.
// Reply: {next (XAUTOCLAIM's cursor, "" for a read), {{id, {field, value, ...}, size}, ...}};
// an entry deleted while pending comes back with no fields.
var readScript = redis.NewScript(`
local g, c, n, from, cap = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local next, entries = '', {}
if ARGV[6] == 'claim' then
  local r = redis.call('XAUTOCLAIM', KEYS[1], g, c, ARGV[7], from, 'COUNT', n)
  next, entries = r[1], r[2]
else
  local r = redis.call('XREADGROUP', 'GROUP', g, c, 'COUNT', n, 'STREAMS', KEYS[1], from)
  if r then entries = r[1][2] end
end
local out = {}
for _, e in ipairs(entries) do
  local fv, size = e[2] or {}, 0
  for _, x in ipairs(fv) do size = size + #x end
  if size > cap then fv = {} end
  out[#out + 1] = {e[1], fv, size}
end
return {next, out}
`)

// streamEntry is one entry as readScript returns it.
type streamEntry struct {
	id     string
	fields []string // name, value, name, value...; empty when deleted or over the cap
	size   int64    // names and values together, in bytes
}

// read runs readScript: from is ">" or "0" for a read, the cursor for a claim. next is the
// claim's next cursor.
func (s *Stream) read(ctx context.Context, from string, claim bool) ([]streamEntry, string, error) {
	mode, idle := "read", int64(0)
	if claim {
		mode, idle = "claim", s.opt.ClaimIdle.Milliseconds()
	}
	v, err := readScript.Run(ctx, s.rdb, []string{s.stream},
		s.group, s.deps.Owner, s.opt.Count, from, article.MaxSize, mode, idle).Slice()
	if err != nil {
		if strings.Contains(err.Error(), "NOGROUP") {
			// The stream or group was deleted under us (FLUSHALL too): make them again.
			return nil, "", s.setup(ctx)
		}
		return nil, "", fmt.Errorf("read %s: %w", s.stream, err)
	}
	entries, err := parseEntries(v)
	if err != nil {
		return nil, "", fmt.Errorf("read %s: %w", s.stream, err)
	}
	next, _ := v[0].(string)
	return entries, next, nil
}

func parseEntries(v []any) ([]streamEntry, error) {
	if len(v) != 2 {
		return nil, fmt.Errorf("unexpected reply %v", v)
	}
	list, _ := v[1].([]any)
	out := make([]streamEntry, 0, len(list))
	for _, x := range list {
		e, ok := x.([]any)
		if !ok || len(e) != 3 {
			return nil, fmt.Errorf("unexpected entry %v", x)
		}
		var se streamEntry
		se.id, _ = e[0].(string)
		se.size, _ = e[2].(int64)
		fv, _ := e[1].([]any)
		for _, f := range fv {
			str, _ := f.(string)
			se.fields = append(se.fields, str)
		}
		out = append(out, se)
	}
	return out, nil
}

// autoclaim takes over entries idle longer than ClaimIdle (their consumer died or is stuck),
// and forgets consumers long gone that hold nothing.
func (s *Stream) autoclaim(ctx context.Context) error {
	start := "0-0"
	for range 100 { // bounded: at most 100 pages per pass
		entries, next, err := s.read(ctx, start, true)
		if err != nil {
			return fmt.Errorf("claim abandoned entries: %w", err)
		}
		if len(entries) > 0 {
			s.deps.Log.Info("took over entries left pending by another copy", "stream", s.stream, "entries", len(entries))
			s.handle(ctx, entries, false)
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
func (s *Stream) handle(ctx context.Context, entries []streamEntry, ownPending bool) {
	if len(entries) == 0 {
		if ownPending {
			s.retrying = false
			s.wait.Reset()
		}
		return
	}
	failed := false
	for _, e := range entries {
		if ctx.Err() != nil {
			return
		}
		if !s.entry(ctx, e) {
			failed = true
		}
	}
	switch {
	case failed:
		s.retrying = true
		s.retryAt = time.Now().Add(s.wait.Next())
	case ownPending && len(entries) < s.opt.Count:
		s.retrying = false
		s.wait.Reset()
	}
}

// entry processes one entry and reports whether it was acknowledged.
func (s *Stream) entry(ctx context.Context, e streamEntry) bool {
	if len(e.fields) == 0 && e.size == 0 {
		return s.ack(ctx, e.id) // deleted from the stream while pending: nothing to read
	}
	if err := article.CheckSize(e.size); err != nil {
		field, reason := describe(err)
		return s.deadLetter(ctx, e, field, reason)
	}
	var raws []string
	for i := 0; i+1 < len(e.fields); i += 2 {
		if e.fields[i] == "article" {
			raws = append(raws, e.fields[i+1])
		}
	}
	switch len(raws) {
	case 0:
		return s.deadLetter(ctx, e, "article", "no \"article\" field in the entry")
	case 1:
	default:
		// Which one the CMS meant cannot be told: posting either could publish a draft.
		return s.deadLetter(ctx, e, "article", fmt.Sprintf("%d \"article\" fields in the entry; one is expected", len(raws)))
	}
	a, err := article.Parse([]byte(raws[0]), s.deps.Rules)
	if err != nil {
		field, reason := describe(err)
		return s.deadLetter(ctx, e, field, reason)
	}
	id, err := parseStreamID(e.id)
	if err != nil {
		return s.deadLetter(ctx, e, "entry_id", err.Error())
	}
	if !id.after(s.seedUntil) {
		ok, err := s.deps.Store.seed(ctx, a, s.deps.Owner, id.order())
		if err != nil {
			s.deps.Log.Warn("recording stream entry as seen; will retry", "entry_id", e.id, "err", err)
			return false
		}
		if ok {
			s.deps.Metrics.story("stream", "seeded")
		}
		return s.ack(ctx, e.id)
	}
	if _, err := s.deps.handOn(ctx, "stream", a, "stream:"+e.id, id.order()); err != nil {
		if !errors.Is(err, errBusy) && ctx.Err() == nil {
			s.deps.Log.Warn("story not handed on; entry left pending, will retry",
				"stream", s.stream, "entry_id", e.id, "story_id", a.ID, "err", err)
		}
		return false
	}
	return s.ack(ctx, e.id)
}

func (s *Stream) ack(ctx context.Context, id string) bool {
	if err := s.rdb.XAck(ctx, s.stream, s.group, id).Err(); err != nil {
		// Handed on but not acknowledged: it comes back, and is then a known story.
		s.deps.Log.Warn("acknowledging stream entry", "entry_id", id, "err", err)
		return false
	}
	return true
}

// deadLetter logs, counts, copies and acknowledges an entry that can never succeed. The copy
// keeps the entry's "article" fields, as many as it had, unless it was over the size cap.
func (s *Stream) deadLetter(ctx context.Context, e streamEntry, field, reason string) bool {
	s.deps.Log.Warn("invalid stream entry; acknowledged and copied to the dead-letter stream",
		"stream", s.stream, "entry_id", e.id, "field", field, "reason", reason, "size", e.size,
		"dead_letter", s.deps.Store.keys.deadLetter())
	s.deps.Metrics.invalidArticle("stream")
	values := []any{"entry_id", e.id, "stream", s.stream, "field", field, "reason", reason}
	for i := 0; i+1 < len(e.fields); i += 2 {
		if e.fields[i] == "article" {
			values = append(values, "article", e.fields[i+1])
		}
	}
	err := s.rdb.XAdd(ctx, &redis.XAddArgs{
		Stream: s.deps.Store.keys.deadLetter(),
		MaxLen: s.opt.DeadLetterMax,
		Approx: true,
		Values: values,
	}).Err()
	if err != nil {
		s.deps.Log.Warn("copying invalid entry to the dead-letter stream", "entry_id", e.id, "err", err)
		return false
	}
	return s.ack(ctx, e.id)
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
