// Package source watches the publisher's article store — a directory of JSON files, RSS/Atom/
// JSON feeds and a Redis stream the CMS appends to — and hands every new, corrected or
// retracted story to a Sink once, across restarts and running copies.
//
// Whether a story is new is decided in Redis by the Store, not by the watcher that found it.
// Each story has a record holding the hash of the content last handed on. A watcher claims a
// story atomically (Lua): no record → New, another hash → Correction, retracted → Retraction,
// same hash → nothing. The claim is a pending mark (hash, owner, time) on the record; the
// story is handed to the Sink method of its kind (Publish, Correct, Retract) and only then
// confirmed (the hash recorded). The kind is decided there and nowhere else. So:
//   - two copies finding the same story: one claim wins; the other sees the fresh pending
//     mark, backs off and then finds the story known;
//   - the Sink fails: the claim is released and the story retried with backoff;
//   - a copy dies between claim and confirm: its pending mark blocks others for ClaimTTL
//     (default 2 minutes), then any copy re-takes it. That is the one window in which a story
//     can be handed on twice (a hand-on slower than ClaimTTL, or a copy killed after the
//     Sink succeeded and before the confirm); delivery's once-only ledger absorbs it.
//
// Order: a stream's entries are ordered, and a story's later entry is its newer version. The
// record keeps the id of the entry it was last handed on (or seen) from, and an older entry
// — retried after a failed hand-on, or taken over from a dead copy — is then nothing to
// hand on, so it cannot put an old text back over a correction.
//
// First start: each source (a directory, a feed URL, a stream) has a marker in Redis. When it
// is missing, the stories already there are recorded as seen without being handed on (the
// newest Backfill of them are handed on), then the marker is set. Later starts hand on
// whatever appeared or changed while newsbot was stopped. Watchers read the marker every time
// they look (a rescan, a fetch, a read of the stream), never from memory: Redis emptied under
// a running copy (FLUSHALL, a restore of an old backup) is a first start again, and the
// archive is recorded as seen, not posted again (and not backfilled: this copy had already
// started the source once).
//
// The Store also keeps the article JSON of the newest KeepPerLang stories per language for
// /latest and /publish (Latest, Get, FindByURL); older ones are trimmed to their small "seen"
// record, which is kept, so an old story never comes back as new.
//
// Redis keys are named in keys.go, all under the configured prefix.
package source

import (
	"context"
	"fmt"

	"newsbot/internal/article"
)

// Kind is what happened to a story.
type Kind int

// The zero Kind is not an event: it means "nothing to hand on".
const (
	New Kind = iota + 1
	Correction
	Retraction
)

func (k Kind) String() string {
	switch k {
	case New:
		return "new"
	case Correction:
		return "correction"
	case Retraction:
		return "retraction"
	default:
		return fmt.Sprintf("kind(%d)", int(k))
	}
}

// Sink takes the stories the watchers find; *delivery.Engine is the one in production. An
// error means the story was not handed on: it is not recorded as seen and is offered again
// later, with backoff.
type Sink interface {
	Publish(ctx context.Context, a article.Article) error
	Correct(ctx context.Context, a article.Article) error
	Retract(ctx context.Context, a article.Article) error
}

// Watcher is one kind of article store being watched. Run blocks until ctx is done or the
// watcher cannot go on; it returns nil after ctx is cancelled.
type Watcher interface {
	Run(ctx context.Context) error
}

var (
	_ Watcher = (*Dir)(nil)
	_ Watcher = (*Feed)(nil)
	_ Watcher = (*Stream)(nil)
)
