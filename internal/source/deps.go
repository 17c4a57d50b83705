package source

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"newsbot/internal/article"
	"newsbot/internal/backoff"
)

// Deps are what every watcher needs.
type Deps struct {
	Store   *Store
	Sink    Sink
	Rules   article.Rules // LANGUAGES and TOPICS: what a valid article is
	Log     *slog.Logger  // nil: discard
	Metrics *Metrics      // nil: not counted
	// Owner names this running copy in claims and as the stream consumer; it must differ
	// between copies. Empty: hostname-pid-random.
	Owner string
}

func (d Deps) withDefaults() Deps {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Owner == "" {
		d.Owner = InstanceID()
	}
	return d
}

// InstanceID is a name unique to this running copy: hostname-pid-random.
func InstanceID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "newsbot"
	}
	var b [4]byte
	_, _ = crand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// handOn claims a valid article, hands it to the Sink method of the kind the claim decided
// and confirms it. It returns the kind handed on (0: nothing to do), errBusy when another copy
// holds the claim, or the error that kept the story from being handed on (the claim is then
// released so a retry need not wait). order is the version's place in an ordered source (see
// Store.run), "" for none. origin says where the story was found, for the log.
func (d Deps) handOn(ctx context.Context, sourceKind string, a article.Article, origin, order string) (Kind, error) {
	kind, err := d.Store.claim(ctx, a, d.Owner, order)
	if err != nil || kind == 0 {
		return 0, err
	}
	if err := d.send(ctx, kind, a); err != nil {
		d.Metrics.sinkError(sourceKind)
		// Release with a context of its own: the hand-on may have failed because ctx ended.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if rerr := d.Store.release(rctx, a, d.Owner); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return 0, fmt.Errorf("hand on %s story %s: %w", kind, a.ID, err)
	}
	d.Log.Info("story handed on", "story_id", a.ID, "lang", a.Lang, "event", kind.String(), "origin", origin)
	d.Metrics.story(sourceKind, kind.String())
	// The story is out: from here on an error must not make the caller hand it on again, so
	// the confirm is retried here (briefly: Redis just answered the claim).
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	b := backoff.Backoff{Min: 200 * time.Millisecond, Max: time.Second}
	var ok bool
	for {
		if ok, err = d.Store.confirm(cctx, a, d.Owner, order); err == nil || b.Failures() == 2 || b.Wait(cctx) != nil {
			break
		}
	}
	if err != nil {
		// Handed on but not recorded: the claim expires after ClaimTTL and another copy may
		// hand the story on again; delivery's ledger keeps readers from getting it twice.
		d.Log.Error("story handed on but not recorded as seen", "story_id", a.ID, "origin", origin, "err", err)
		return kind, nil
	}
	if !ok {
		d.Log.Warn("story claim expired before it was confirmed; another copy may hand it on too",
			"story_id", a.ID, "origin", origin)
	}
	return kind, nil
}

// send calls the Sink method of the kind.
func (d Deps) send(ctx context.Context, kind Kind, a article.Article) error {
	switch kind {
	case New:
		return d.Sink.Publish(ctx, a)
	case Correction:
		return d.Sink.Correct(ctx, a)
	case Retraction:
		return d.Sink.Retract(ctx, a)
	}
	return fmt.Errorf("hand on story %s: no sink method for %s", a.ID, kind)
}
