package source

import (
	"context"
	"net/http"
	"time"
)

// FeedConfig is one feed: its URL and, optionally, the language of its stories (otherwise the
// feed's own language is used).
type FeedConfig struct {
	Lang string
	URL  string
}

// FeedOptions tune the feed watcher; the zero value gives the defaults.
type FeedOptions struct {
	Interval   time.Duration // how often each feed is fetched (default 1m)
	Timeout    time.Duration // per fetch (default 30s)
	MaxBytes   int64         // a bigger response is an error (default 10 MiB)
	UserAgent  string        // default "newsbot (+feed reader)"
	RetryMax   time.Duration // longest backoff after failures (default 30m)
	Backfill   int           // at a feed's very first fetch, hand on its newest N stories
	HTTPClient *http.Client  // default: a client with Timeout
}

// Feed watches RSS, Atom and JSON feeds.
type Feed struct {
	deps  Deps
	feeds []FeedConfig
	opt   FeedOptions
}

// NewFeed returns a watcher of the feeds. It does no I/O.
func NewFeed(deps Deps, feeds []FeedConfig, opt FeedOptions) *Feed {
	return &Feed{deps: deps.withDefaults(), feeds: feeds, opt: opt}
}

// Run fetches every feed until ctx is done.
func (f *Feed) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}
