package source

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"time"

	"newsbot/internal/article"
)

// Deps are what every watcher needs.
type Deps struct {
	Store   *Store
	Handler Handler
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

// handOn claims a valid article, hands it to the handler and confirms it. It returns the kind
// handed on (0: nothing to do), errBusy when another copy holds the claim, or the error that
// kept the story from being handed on (the claim is then released so a retry need not wait).
// order is the version's place in an ordered source (see Store.run), "" for none.
func (d Deps) handOn(ctx context.Context, sourceKind string, a article.Article, origin, order string) (Kind, error) {
	kind, err := d.Store.claim(ctx, a, d.Owner, order)
	if err != nil || kind == 0 {
		return 0, err
	}
	if err := d.Handler(ctx, Event{Kind: kind, Article: a, Origin: origin}); err != nil {
		d.Metrics.handlerError(sourceKind)
		// Release with a context of its own: the hand-on may have failed because ctx ended.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if rerr := d.Store.release(rctx, a, d.Owner); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return 0, fmt.Errorf("hand on %s story %s: %w", kind, a.ID, err)
	}
	// The story is out: from here on an error must not make the caller hand it on again, so
	// the confirm is retried here (briefly: Redis just answered the claim).
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	var ok bool
	for attempt := 1; ; attempt++ {
		if ok, err = d.Store.confirm(cctx, a, d.Owner, order); err == nil || attempt == 3 || !sleep(cctx, time.Duration(attempt)*200*time.Millisecond) {
			break
		}
	}
	if err != nil {
		// Handed on but not recorded: the claim expires after ClaimTTL and another copy may
		// hand the story on again; delivery's ledger keeps readers from getting it twice.
		d.Log.Error("story handed on but not recorded as seen", "article_id", a.ID, "origin", origin, "error", err)
		d.Metrics.story(sourceKind, kind.String())
		return kind, nil
	}
	if !ok {
		d.Log.Warn("story claim expired before it was confirmed; another copy may hand it on too",
			"article_id", a.ID, "origin", origin)
	}
	d.Metrics.story(sourceKind, kind.String())
	return kind, nil
}

// backoff is exponential with full jitter between base and max.
func backoff(base, maxDelay time.Duration, failures int) time.Duration {
	d := base
	for i := 1; i < failures && d < maxDelay; i++ {
		d *= 2
	}
	d = min(d, maxDelay)
	// Jitter in [d/2, d): copies that failed together do not retry together.
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}
