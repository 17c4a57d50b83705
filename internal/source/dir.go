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
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"newsbot/internal/article"
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
type Dir struct {
	deps    Deps
	dir     string
	opt     DirOptions
	files   map[string]*fileState
	retries map[string]time.Time
	scans   uint64 // rescans done; see fileState.scan

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
	mod    time.Time
	size   int64
	sum    [sha256.Size]byte
	status fileStatus
	fails  int
	scan   uint64 // the last rescan that saw the file
	id     string // article id of the last valid content
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
			"article_id", id, "path", filepath.Join(d.dir, name), "other_path", filepath.Join(d.dir, other))
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

// isArticleFile tells article files from editors' temporary and backup files.
func isArticleFile(name string) bool {
	return strings.HasSuffix(name, ".json") &&
		!strings.HasPrefix(name, ".") && !strings.HasPrefix(name, "#")
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
	// Redis may be down at start: keep trying (events wait in the kernel's queue; an
	// overflow only triggers a rescan, and the first pass reads everything anyway).
	for failures := 1; ; failures++ {
		err := d.start(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		wait := backoff(d.opt.RetryBase, d.opt.RetryMax, failures)
		d.deps.Log.Warn("first pass over articles dir failed; will retry", "dir", d.dir, "error", err, "retry_in", wait.String())
		if !sleep(ctx, wait) {
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
			d.deps.Log.Warn("watching articles dir; rescanning", "dir", d.dir, "error", err)
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

// start is the first pass. At the very first start of this source the stories already there
// are recorded as seen (the newest Backfill of them are handed on); later starts hand on
// whatever appeared or changed while newsbot was stopped.
func (d *Dir) start(ctx context.Context) error {
	_, done, err := d.deps.Store.initialised(ctx, d.opt.Name)
	if err != nil {
		return err
	}
	if done {
		d.rescan(ctx)
		return nil
	}
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
		data, err := os.ReadFile(filepath.Join(d.dir, name))
		if err != nil {
			continue // gone or unreadable: the normal path below reports it
		}
		a, err := article.Parse(data, d.deps.Rules)
		if err != nil {
			d.process(ctx, name, now)
			continue
		}
		valid = append(valid, found{name, a})
	}
	// Newest first; the Backfill newest go the normal way, the rest are recorded as seen.
	slices.SortStableFunc(valid, func(x, y found) int { return y.a.PublishedAt.Compare(x.a.PublishedAt) })
	seeded := 0
	for i, f := range valid {
		if i < d.opt.Backfill {
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
		"dir", d.dir, "seen", seeded, "backfilled", min(d.opt.Backfill, len(valid)))
	return nil
}

// list returns the article files of the directory (lstat'd, symlinks included).
func (d *Dir) list() ([]fs.FileInfo, error) {
	f, err := os.Open(d.dir)
	if err != nil {
		return nil, fmt.Errorf("read articles dir: %w", err)
	}
	defer f.Close()
	all, err := f.Readdir(-1)
	if err != nil {
		return nil, fmt.Errorf("read articles dir %s: %w", d.dir, err)
	}
	out := all[:0]
	for _, fi := range all {
		if isArticleFile(fi.Name()) && (fi.Mode().IsRegular() || fi.Mode()&fs.ModeSymlink != 0) {
			out = append(out, fi)
		}
	}
	return out, nil
}

// rescan looks at every file; unchanged ones (same mtime and size as last read) cost only
// their stat, no read and no Redis round trip.
func (d *Dir) rescan(ctx context.Context) {
	entries, err := d.list()
	if err != nil {
		d.deps.Log.Warn("rescanning articles dir", "dir", d.dir, "error", err)
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
	fi, err := os.Stat(path)
	if err != nil {
		// Deleted or renamed away: nothing to do (a withdrawal is "retracted": true).
		d.forget(name)
		if !errors.Is(err, fs.ErrNotExist) {
			d.deps.Log.Warn("reading article file", "path", path, "error", err)
		}
		return
	}
	if !fi.Mode().IsRegular() {
		return
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			d.deps.Log.Warn("reading article file", "path", path, "error", err)
			d.retries[name] = now.Add(d.opt.RetryBase)
		}
		return
	}
	sum := sha256.Sum256(data)
	st := d.files[name]
	if st == nil {
		st = &fileState{}
		d.files[name] = st
	}
	sameContent := st.sum == sum && st.status != 0
	st.mod, st.size = fi.ModTime(), fi.Size()
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
	_, err = d.deps.handOn(ctx, "dir", a, "dir:"+path, "")
	if err != nil {
		st.status = fileHandRetry
		st.fails++
		d.retries[name] = now.Add(backoff(d.opt.RetryBase, d.opt.RetryMax, st.fails))
		if !errors.Is(err, errBusy) && ctx.Err() == nil {
			d.deps.Log.Warn("story not handed on; will retry", "path", path, "article_id", a.ID, "error", err)
		}
		return
	}
	st.status = fileDone
	st.fails = 0
	delete(d.retries, name)
}
