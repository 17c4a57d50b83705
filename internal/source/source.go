// Package source watches the publisher's article store — a directory of JSON files, RSS/Atom/
// JSON feeds and a Redis stream the CMS appends to — and hands every new, corrected or
// retracted story to a Handler exactly once across restarts and running copies.
//
// Whether a story is new is decided in Redis by the Store, not by the watcher that found it:
// a story is claimed atomically (its content hash compared with the one recorded), handed to
// the Handler, and only then confirmed. A failed hand-on releases the claim and is retried
// with backoff, so nothing is lost; a copy that dies between claim and confirm leaves a pending
// claim that any copy may re-take after Store's ClaimTTL.
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

// Event is one story to hand on. Origin says where it was found: "dir:PATH", "feed:URL" or
// "stream:ENTRY-ID", for logs.
type Event struct {
	Kind    Kind
	Article article.Article
	Origin  string
}

// Handler hands a story on (delivery). An error means the story was not handed on: it is not
// recorded as seen and is offered again later, with backoff.
type Handler func(ctx context.Context, ev Event) error

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
