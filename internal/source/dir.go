package source

import (
	"context"
	"time"
)

// DirOptions tune the directory watcher; the zero value gives the defaults.
type DirOptions struct {
	Rescan    time.Duration // full rescan period, the safety net under fsnotify (default 30s)
	Debounce  time.Duration // wait before a file that failed to parse is read again (default 25ms)
	RetryBase time.Duration // first retry after a failed hand-on (default 1s)
	RetryMax  time.Duration // longest wait between retries (default 5m)
	Backfill  int           // at the very first start, hand on the newest N stories already there
	Name      string        // identity of the source in the store (default "dir:"+path)
}

// Dir watches a directory of article JSON files.
type Dir struct {
	deps Deps
	dir  string
	opt  DirOptions
}

// NewDir returns a watcher of the .json files in dir. It does no I/O.
func NewDir(deps Deps, dir string, opt DirOptions) *Dir {
	return &Dir{deps: deps.withDefaults(), dir: dir, opt: opt}
}

// Run watches until ctx is done.
func (d *Dir) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}
