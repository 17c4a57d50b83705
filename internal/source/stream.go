package source

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// StreamOptions tune the stream watcher; the zero value gives the defaults.
type StreamOptions struct {
	Block     time.Duration // longest XREADGROUP wait (default 2s)
	Count     int           // entries per read (default 100)
	ClaimIdle time.Duration // entries pending this long on another consumer are claimed (default 1m)
	RetryBase time.Duration // first retry after a failed hand-on (default 1s)
	RetryMax  time.Duration // default 5m
	Backfill  int           // at the very first start, hand on the newest N entries already there
}

// Stream reads the CMS's Redis stream with a consumer group shared by all running copies.
type Stream struct {
	deps   Deps
	rdb    redis.UniversalClient
	stream string
	opt    StreamOptions
}

// NewStream returns a reader of the stream (ARTICLES_STREAM, used as written, not prefixed).
// It does no I/O.
func NewStream(deps Deps, rdb redis.UniversalClient, stream string, opt StreamOptions) *Stream {
	return &Stream{deps: deps.withDefaults(), rdb: rdb, stream: stream, opt: opt}
}

// Run reads until ctx is done.
func (s *Stream) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}
