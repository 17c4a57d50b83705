package source

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/fsnotify/fsnotify"

	"newsbot/internal/article"
	"newsbot/internal/backoff"
)

// DirOptions tune the directory watcher; the zero value gives the defaults.
type DirOptions struct {
	Rescan    time.Duration // full rescan period, the safety net under fsnotify (default 30s)
	Debounce  time.Duration // wait before a file that failed to parse is read again (default 25ms)
	Settle    time.Duration // a file that fails to parse is reported invalid only once unchanged this long (default 1s)
	RetryBase time.Duration // first retry after a failed hand-on (default 1s)
	RetryMax  time.Duration // longest wait between retries (default 5m)
	Backfill  int           // at the very first start, hand on the newest N stories already there
	Name      string        // identity of the source in the store (default "dir:"+path)
}

// Dir watches one directory (not its subdirectories: a CMS export writes one flat directory,
// and archives or drafts kept in subdirectories must not be published) for article files:
// names ending in .json that do not start with "." (editor swap and lock files such as
// .foo.json.swp and .#foo.json are ignored, as are foo.json~ and *.tmp, which do not end in
// .json). Files are handled one at a time in one goroutine, in the order they show up.
//
// fsnotify reports a file at once; a rescan every Rescan period catches anything it missed
// (overflow, network file systems) and costs a stat per file. A file that does not parse
// right after it was written is read again after Debounce (a writer may not be done); it is
// reported invalid only when it has stayed unchanged for Settle, and read again whenever it
// changes. Deleting a file does nothing: a story is withdrawn with "retracted": true.
//
// Files are read through an os.Root of the directory: a symbolic link is followed only to a
// file inside it; one that leads out (to /etc/passwd, another directory's JSON) is refused
// and never opened. Only regular files are read (a FIFO or device named .json is refused),
// and none over article.MaxSize: the size is taken from the open file, before reading.
type Dir struct {
	deps    Deps
	dir     string
	opt     DirOptions
	root    *os.Root // opened by Run
	files   map[string]*fileState
	retries map[string]time.Time
	scans   uint64 // rescans done; see fileState.scan
	started bool   // this copy has done the first start once: a later one backfills nothing
	seeding bool   // inside seed: process hands on without looking for the marker

	byID         map[string]string // article id -> the file that last carried it
	sharedWarned map[string]bool   // file pairs already reported as sharing an id
}

type fileStatus int

const (
	fileDone       fileStatus = iota + 1 // handed on or known: skipped while unchanged
	fileInvalid                          // reported invalid: skipped while unchanged
	fileParseRetry                       // failed to parse, maybe half-written: read again soon
	fileHandRetry                        // valid, but the hand-on failed or another copy holds it
)

type fileState struct {
	mod     time.Time
	size    int64
	sum     [sha256.Size]byte
	status  fileStatus
	fails   int             // failed parses of the current content
	wait    backoff.Backoff // between failed hand-ons
	scan    uint64          // the last rescan that saw the file
	id      string          // article id of the last valid content
	refused bool            // refused unread (see read): not opened again while unchanged
}

// warnSharedID logs once when two files carry the same article id: each would overwrite
// the other's story, and every restart would send corrections back and forth.
func (d *Dir) warnSharedID(name, id string) {
	other, ok := d.byID[id]
	d.byID[id] = name
	if !ok || other == name {
		return
	}
	if st := d.files[other]; st == nil || st.id != id {
		return // the other file is gone or holds another story now
	}
	pair := min(name, other) + "\x00" + max(name, other)
	if !d.sharedWarned[pair] {
		d.sharedWarned[pair] = true
		d.deps.Log.Warn("two article files share one id; keep one of them",
			"story_id", id, "path", filepath.Join(d.dir, name), "other_path", filepath.Join(d.dir, other))
	}
}

// NewDir returns a watcher of the article files in dir. It does no I/O.
func NewDir(deps Deps, dir string, opt DirOptions) *Dir {
	if opt.Rescan <= 0 {
		opt.Rescan = 30 * time.Second
	}
	if opt.Debounce <= 0 {
		opt.Debounce = 25 * time.Millisecond
	}
	if opt.Settle <= 0 {
		opt.Settle = time.Second
	}
	if opt.RetryBase <= 0 {
		opt.RetryBase = time.Second
	}
	if opt.RetryMax <= 0 {
		opt.RetryMax = 5 * time.Minute
	}
	if opt.Name == "" {
		opt.Name = "dir:" + filepath.Clean(dir)
	}
	return &Dir{
		deps:    deps.withDefaults(),
		dir:     dir,
		opt:     opt,
		files:   make(map[string]*fileState),
		retries: make(map[string]time.Time),

		byID:         make(map[string]string),
		sharedWarned: make(map[string]bool),
	}
}

// Run watches until ctx is done. It fails at once when the directory cannot be watched.
func (d *Dir) Run(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch articles dir %s: %w", d.dir, err)
	}
	defer w.Close()
	// Watch before the first scan, so a file written during the scan is not missed.
	if err := w.Add(d.dir); err != nil {
		return fmt.Errorf("watch articles dir %s: %w", d.dir, err)
	}
	if err := d.openRoot(); err != nil {
		return err
	}
	defer d.root.Close()
	// Redis may be down at start: keep trying (events wait in the kernel's queue; an
	// overflow only triggers a rescan, and the first pass reads everything anyway).
	b := backoff.Backoff{Min: d.opt.RetryBase, Max: d.opt.RetryMax}
	for {
		err := d.look(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		wait := b.Next()
		d.deps.Log.Warn("first pass over articles dir failed; will retry", "dir", d.dir, "err", err, "retry_in", wait.String())
		if backoff.Sleep(ctx, wait) != nil {
			return nil
		}
	}
	rescan := time.NewTicker(d.opt.Rescan)
	defer rescan.Stop()
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	for {
		d.resetRetry(retry)
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return errors.New("watch articles dir: fsnotify stopped")
			}
			name := filepath.Base(ev.Name)
			if !isArticleFile(name) || ev.Op == fsnotify.Chmod {
				continue
			}
			d.process(ctx, name, time.Now())
		case err, ok := <-w.Errors:
			if !ok {
				return errors.New("watch articles dir: fsnotify stopped")
			}
			d.deps.Log.Warn("watching articles dir; rescanning", "dir", d.dir, "err", err)
			d.rescan(ctx)
		case <-rescan.C:
			d.rescan(ctx)
		case <-retry.C:
			now := time.Now()
			for name, at := range d.retries {
				if !at.After(now) {
					delete(d.retries, name)
					d.process(ctx, name, now)
				}
			}
		}
	}
}

func (d *Dir) openRoot() error {
	root, err := os.OpenRoot(d.dir)
	if err != nil {
		return fmt.Errorf("open articles dir: %w", err)
	}
	d.root = root
	return nil
}

func (d *Dir) resetRetry(t *time.Timer) {
	if len(d.retries) == 0 {
		t.Reset(time.Hour)
		return
	}
	var first time.Time
	for _, at := range d.retries {
		if first.IsZero() || at.Before(first) {
			first = at
		}
	}
	t.Reset(max(time.Until(first), 0))
}

// look is a pass over the directory: a rescan, or the first start when the source's marker
// is missing in Redis (newsbot's very first start, or Redis emptied since).
func (d *Dir) look(ctx context.Context) error {
	ran, err := d.firstStart(ctx)
	if err != nil || ran {
		return err
	}
	d.rescanFiles(ctx)
	return nil
}

// firstStart runs when the source has no first-start marker in Redis: the stories already
// there are recorded as seen (the newest Backfill of them handed on, at this copy's first
// start only), so that Redis emptied under a running copy does not post the archive again.
// It reports whether it ran.
func (d *Dir) firstStart(ctx context.Context) (bool, error) {
	_, done, err := d.deps.Store.initialised(ctx, d.opt.Name)
	if err != nil || done {
		d.started = d.started || done
		return false, err
	}
	backfill := d.opt.Backfill
	if d.started {
		backfill = 0
		d.deps.Log.Warn("first-start marker of articles dir is gone from Redis (emptied or restored?); its stories are recorded as seen again, none handed on",
			"dir", d.dir)
	}
	if err := d.seed(ctx, backfill); err != nil {
		return true, err
	}
	d.started = true
	return true, nil
}

// seed records the stories in the directory as seen, except the newest backfill of them,
// which are handed on, then sets the first-start marker.
func (d *Dir) seed(ctx context.Context, backfill int) error {
	d.seeding = true
	defer func() { d.seeding = false }()
	entries, err := d.list()
	if err != nil {
		return err
	}
	type found struct {
		name string
		a    article.Article
	}
	var valid []found
	now := time.Now()
	for _, fi := range entries {
		name := fi.Name()
		data, _, refused, err := d.read(name)
		if err != nil || refused != nil {
			d.process(ctx, name, now) // the normal path reports it
			continue
		}
		a, err := article.Parse(data, d.deps.Rules)
		if err != nil {
			d.process(ctx, name, now)
			continue
		}
		valid = append(valid, found{name, a})
	}
	// Newest first; the backfill newest go the normal way, the rest are recorded as seen.
	slices.SortStableFunc(valid, func(x, y found) int { return y.a.PublishedAt.Compare(x.a.PublishedAt) })
	seeded := 0
	for i, f := range valid {
		if i < backfill {
			d.process(ctx, f.name, now)
			continue
		}
		ok, err := d.deps.Store.seed(ctx, f.a, d.deps.Owner, "")
		if err != nil {
			return err
		}
		if ok {
			seeded++
			d.deps.Metrics.story("dir", "seeded")
		}
		// Read state as of now; if the file changed since, the next event or rescan sees it.
		d.process(ctx, f.name, now)
	}
	if _, err := d.deps.Store.markInitialised(ctx, d.opt.Name, now.UTC().Format(time.RFC3339)); err != nil {
		return err
	}
	d.deps.Log.Info("first start of articles dir: existing stories recorded as seen",
		"dir", d.dir, "seen", seeded, "backfilled", min(backfill, len(valid)))
	return nil
}

// rescan is a look from the event loop: its error is logged, and the next rescan tries again.
func (d *Dir) rescan(ctx context.Context) {
	if err := d.look(ctx); err != nil && ctx.Err() == nil {
		d.deps.Log.Warn("rescanning articles dir", "dir", d.dir, "err", err)
	}
}

// rescanFiles looks at every file; unchanged ones (same mtime and size as last read) cost only
// their stat, no read and no Redis round trip.
func (d *Dir) rescanFiles(ctx context.Context) {
	entries, err := d.list()
	if err != nil {
		d.deps.Log.Warn("rescanning articles dir", "dir", d.dir, "err", err)
		return
	}
	// A generation number marks the files still there, so the ones gone can be forgotten
	// without building a set of 10,000 names.
	d.scans++
	now := time.Now()
	for _, fi := range entries {
		name := fi.Name()
		st := d.files[name]
		if st != nil {
			st.scan = d.scans
		}
		if _, scheduled := d.retries[name]; scheduled {
			continue
		}
		if st != nil && st.settled() && fi.Mode().IsRegular() &&
			st.mod.Equal(fi.ModTime()) && st.size == fi.Size() {
			continue
		}
		d.process(ctx, name, now)
		if st := d.files[name]; st != nil {
			st.scan = d.scans
		}
		if ctx.Err() != nil {
			return
		}
	}
	for name, st := range d.files {
		if st.scan != d.scans {
			d.forget(name)
		}
	}
}

// forget drops a file that is gone.
func (d *Dir) forget(name string) {
	if st := d.files[name]; st != nil && d.byID[st.id] == name {
		delete(d.byID, st.id)
	}
	delete(d.files, name)
	delete(d.retries, name)
}

func (st *fileState) settled() bool { return st.status == fileDone || st.status == fileInvalid }

// process reads one file and hands its story on if it is new or changed.
func (d *Dir) process(ctx context.Context, name string, now time.Time) {
	path := filepath.Join(d.dir, name)
	lfi, err := d.root.Lstat(name)
	if err != nil {
		// Deleted or renamed away: nothing to do (a withdrawal is "retracted": true).
		d.forget(name)
		if !errors.Is(err, fs.ErrNotExist) {
			d.deps.Log.Warn("reading article file", "path", path, "err", err)
		}
		return
	}
	st := d.files[name]
	if st == nil {
		st = &fileState{wait: backoff.Backoff{Min: d.opt.RetryBase, Max: d.opt.RetryMax}}
		d.files[name] = st
	}
	if st.refused && st.mod.Equal(lfi.ModTime()) && st.size == lfi.Size() {
		return // refused, and the entry has not changed since: reported once, never opened again
	}
	data, fi, refused, err := d.read(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			d.forget(name)
			return
		}
		d.deps.Log.Warn("reading article file", "path", path, "err", err)
		d.retries[name] = now.Add(d.opt.RetryBase)
		return
	}
	if refused != nil {
		*st = fileState{mod: lfi.ModTime(), size: lfi.Size(), status: fileInvalid, wait: st.wait, scan: st.scan, refused: true}
		field, reason := describe(refused)
		attrs := []any{"path", path, "field", field, "reason", reason}
		if fi != nil && fi.Mode().IsRegular() {
			attrs = append(attrs, "size", fi.Size())
		}
		d.deps.Log.Warn("invalid article skipped; it is read again when the file changes", attrs...)
		d.deps.Metrics.invalidArticle("dir")
		return
	}
	st.refused = false
	sum := sha256.Sum256(data)
	sameContent := st.sum == sum && st.status != 0
	// The rescan compares the entry itself (a symlink's own times), as Lstat sees it.
	st.mod, st.size = lfi.ModTime(), lfi.Size()
	if sameContent && st.settled() {
		return
	}
	if !sameContent {
		st.fails = 0
	}
	st.sum = sum

	a, err := article.Parse(data, d.deps.Rules)
	if err != nil {
		st.fails++
		// A writer may not be done: read again shortly, and report only once the file has
		// stopped changing.
		if st.fails == 1 {
			st.status = fileParseRetry
			d.retries[name] = now.Add(d.opt.Debounce)
			return
		}
		if settleAt := fi.ModTime().Add(d.opt.Settle); now.Before(settleAt) {
			st.status = fileParseRetry
			d.retries[name] = settleAt
			return
		}
		st.status = fileInvalid
		field, reason := describe(err)
		d.deps.Log.Warn("invalid article skipped; it is read again when the file changes",
			"path", path, "field", field, "reason", reason)
		d.deps.Metrics.invalidArticle("dir")
		return
	}
	if st.status == fileParseRetry || st.status == fileInvalid {
		st.fails = 0
	}
	st.id = a.ID
	d.warnSharedID(name, a.ID)
	if !d.seeding {
		// Redis emptied since the last look: this is old news; the first start records
		// it (and every other file) as seen.
		if ran, err := d.firstStart(ctx); ran || err != nil {
			if err != nil {
				d.retries[name] = now.Add(st.wait.Next())
			}
			return
		}
	}
	if _, err := d.deps.handOn(ctx, "dir", a, "dir:"+path, ""); err != nil {
		st.status = fileHandRetry
		d.retries[name] = now.Add(st.wait.Next())
		if !errors.Is(err, errBusy) && ctx.Err() == nil {
			d.deps.Log.Warn("story not handed on; will retry", "path", path, "story_id", a.ID, "err", err)
		}
		return
	}
	st.status = fileDone
	st.wait.Reset()
	delete(d.retries, name)
}
