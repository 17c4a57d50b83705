package source

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"newsbot/internal/article"
	"newsbot/internal/redistest"
	"newsbot/internal/testkit"
)

var fastDir = DirOptions{Rescan: 150 * time.Millisecond, RetryBase: 20 * time.Millisecond, RetryMax: 100 * time.Millisecond, Settle: 300 * time.Millisecond}

// startedDir runs a watcher over an empty dir until its first start is done, so that later
// files count as new.
func startedDir(t *testing.T, e *env, dir string, opt DirOptions) *Dir {
	t.Helper()
	d := NewDir(e.deps, dir, opt)
	run(t, d)
	waitInitialised(t, e.store, d.opt.Name)
	return d
}

func waitInitialised(t testing.TB, st *Store, name string) {
	t.Helper()
	testkit.WaitFor(t, "the first start of "+name, 10*time.Second, func() bool {
		_, ok, err := st.initialised(context.Background(), name)
		return err == nil && ok
	})
}

func TestDirNewCorrectionRetractionDuplicate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	startedDir(t, e, dir, fastDir)

	a := story("kz-001", "kk", testNow)
	a.Title = "Президент Қытай Төрағасымен кездесті"
	writeStory(t, dir, a)
	ev := e.rec.next(t)
	if ev.Method != "Publish" || ev.Article.ID != "kz-001" || ev.Article.Title != a.Title {
		t.Fatalf("got %s %+v, want new kz-001", ev.Method, ev.Article)
	}
	if l, want := e.handedOn(t, "kz-001"), "dir:"+filepath.Join(dir, "kz-001.json"); l == nil || l["origin"] != want || l["event"] != "new" || l["lang"] != "kk" {
		t.Errorf("hand-on log line %v, want origin %q, event new, lang kk", l, want)
	}

	// The same content written again (an export that rewrites every file) is no event.
	writeStory(t, dir, a)
	e.rec.none(t, 400*time.Millisecond)

	a.Title = "Президент Қытай Төрағасымен Ақордада кездесті"
	writeStory(t, dir, a)
	if ev := e.rec.next(t); ev.Method != "Correct" || ev.Article.Title != a.Title {
		t.Fatalf("got %s %q, want correction with the new title", ev.Method, ev.Article.Title)
	}

	a.Retracted = true
	writeStory(t, dir, a)
	if ev := e.rec.next(t); ev.Method != "Retract" || ev.Article.ID != a.ID {
		t.Fatalf("got %s %s, want retraction", ev.Method, ev.Article.ID)
	}
	writeStory(t, dir, a)
	e.rec.none(t, 400*time.Millisecond)

	// Deleting the file does nothing.
	if err := os.Remove(filepath.Join(dir, "kz-001.json")); err != nil {
		t.Fatal(err)
	}
	e.rec.none(t, 400*time.Millisecond)

	// Retracted stories are left out of /latest but still found for /publish.
	latest, err := e.store.Latest(context.Background(), []string{"kk"}, 10)
	if err != nil || len(latest) != 0 {
		t.Errorf("Latest = %v, %v; want nothing (retracted)", latest, err)
	}
	got, ok, err := e.store.Get(context.Background(), "kz-001")
	if err != nil || !ok || !got.Retracted {
		t.Errorf("Get = %+v, %v, %v; want the retracted story", got, ok, err)
	}
	for _, kind := range []string{"new", "correction", "retraction"} {
		if n := testutil.ToFloat64(e.metrics.stories.WithLabelValues("dir", kind)); n != 1 {
			t.Errorf("stories{source=dir,event=%s} = %v, want 1", kind, n)
		}
	}
}

func TestDirInvalidLoggedOnceAndPickedUpWhenFixed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	startedDir(t, e, dir, fastDir)

	bad := story("ru-777", "ru", testNow)
	bad.Title = ""
	writeStory(t, dir, bad)
	good := story("ru-778", "ru", testNow)
	writeStory(t, dir, good)

	// The valid neighbour is handed on whatever happens to the broken file.
	if ev := e.rec.next(t); ev.Article.ID != "ru-778" {
		t.Fatalf("got %s, want ru-778", ev.Article.ID)
	}
	// Reported once it has settled; then several rescans pass without another report.
	testkit.WaitFor(t, "the invalid file to be reported", 10*time.Second, func() bool {
		return len(e.logs.Records("invalid article")) > 0
	})
	time.Sleep(5 * fastDir.Rescan)
	lines := e.logs.Records("invalid article")
	if len(lines) != 1 {
		t.Fatalf("%d invalid-article log lines, want 1: %v", len(lines), lines)
	}
	if lines[0]["path"] != filepath.Join(dir, "ru-777.json") || lines[0]["field"] != "title" || lines[0]["reason"] != "title: required" {
		t.Errorf("log line %v: want path, field title, reason", lines[0])
	}
	if n := e.invalidCount("dir"); n != 1 {
		t.Errorf("invalid metric %v, want 1", n)
	}
	e.rec.none(t, 10*time.Millisecond)

	bad.Title = "Сенат принял закон"
	writeStory(t, dir, bad)
	if ev := e.rec.next(t); ev.Method != "Publish" || ev.Article.ID != "ru-777" {
		t.Fatalf("got %s %s, want new ru-777 once fixed", ev.Method, ev.Article.ID)
	}
}

func TestDirEditorTempFilesIgnored(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	startedDir(t, e, dir, fastDir)

	for _, name := range []string{".kz-002.json.swp", "kz-002.json~", ".#kz-002.json", "kz-002.json.tmp", "#kz-002.json#", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("{half"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "drafts"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeStory(t, filepath.Join(dir, "drafts"), story("draft-1", "kk", testNow))
	writeStory(t, dir, story("kz-002", "kk", testNow))
	if ev := e.rec.next(t); ev.Article.ID != "kz-002" {
		t.Fatalf("got %s, want kz-002", ev.Article.ID)
	}
	e.rec.none(t, 800*time.Millisecond)
	if lines := e.logs.Records("invalid article"); len(lines) != 0 {
		t.Errorf("temp files reported invalid: %v", lines)
	}
}

func TestDirHalfWrittenFileIsRetriedNotReported(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	opt := fastDir
	opt.Settle = 5 * time.Second // longer than any pause of the writer below, even on a loaded machine
	startedDir(t, e, dir, opt)

	data := mustJSON(t, story("en-010", "en", testNow))
	path := filepath.Join(dir, "en-010.json")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data[:len(data)/2]); err != nil {
		t.Fatal(err)
	}
	// The writer pauses mid-file for longer than the debounce, shorter than Settle.
	time.Sleep(150 * time.Millisecond)
	if _, err := f.Write(data[len(data)/2:]); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if ev := e.rec.next(t); ev.Method != "Publish" || ev.Article.ID != "en-010" {
		t.Fatalf("got %s %s, want new en-010", ev.Method, ev.Article.ID)
	}
	e.rec.none(t, 300*time.Millisecond)
	if lines := e.logs.Records("invalid article"); len(lines) != 0 {
		t.Errorf("half-written file reported invalid: %v", lines)
	}
}

func TestDirFirstStartRecordsExistingAsSeen(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	base := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	for i := range 5 {
		writeStory(t, dir, story(fmt.Sprintf("old-%d", i), "kk", base.Add(time.Duration(i)*time.Hour)))
	}
	startedDir(t, e, dir, fastDir)
	e.rec.none(t, 400*time.Millisecond)

	// Recorded: /latest has them, newest first.
	latest, err := e.store.Latest(context.Background(), []string{"kk", "ru"}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if ids := ids(latest); fmt.Sprint(ids) != "[old-4 old-3 old-2]" {
		t.Errorf("Latest = %v, want [old-4 old-3 old-2]", ids)
	}
	writeStory(t, dir, story("fresh", "kk", base))
	if ev := e.rec.next(t); ev.Method != "Publish" || ev.Article.ID != "fresh" {
		t.Fatalf("got %s %s, want new fresh", ev.Method, ev.Article.ID)
	}
}

func TestDirFirstStartBackfillsNewest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	base := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	for i := range 5 {
		writeStory(t, dir, story(fmt.Sprintf("old-%d", i), "ru", base.Add(time.Duration(i)*time.Hour)))
	}
	opt := fastDir
	opt.Backfill = 2
	startedDir(t, e, dir, opt)
	got := map[string]bool{e.rec.next(t).Article.ID: true, e.rec.next(t).Article.ID: true}
	if !got["old-4"] || !got["old-3"] {
		t.Errorf("backfilled %v, want old-4 and old-3", got)
	}
	e.rec.none(t, 400*time.Millisecond)
}

func ids(as []article.Article) []string {
	var s []string
	for _, a := range as {
		s = append(s, a.ID)
	}
	return s
}

func TestDirRestartPushesOnlyWhatChangedWhileStopped(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	base := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	writeStory(t, dir, story("a", "kk", base))
	d := NewDir(e.deps, dir, fastDir)
	stop := run(t, d)
	waitInitialised(t, e.store, d.opt.Name)
	writeStory(t, dir, story("b", "kk", base))
	if ev := e.rec.next(t); ev.Article.ID != "b" {
		t.Fatalf("got %s, want b", ev.Article.ID)
	}
	stop()

	// While stopped: one new story, one corrected, one untouched.
	writeStory(t, dir, story("c", "kk", base))
	corrected := story("a", "kk", base)
	corrected.Title = "Story a, corrected"
	writeStory(t, dir, corrected)

	e2 := newEnvOn(t, e.store) // a new process: new owner, nothing in memory
	run(t, NewDir(e2.deps, dir, fastDir))
	got := map[string]string{}
	for range 2 {
		ev := e2.rec.next(t)
		got[ev.Article.ID] = ev.Method
	}
	if got["c"] != "Publish" || got["a"] != "Correct" {
		t.Errorf("after restart got %v, want c new and a correction", got)
	}
	e2.rec.none(t, 500*time.Millisecond)
}

func TestDirTwoCopiesHandOnEachStoryOnce(t *testing.T) {
	t.Parallel()
	e1 := newEnv(t)
	e2 := newEnvOn(t, e1.store)
	dir := t.TempDir()
	startedDir(t, e1, dir, fastDir)
	startedDir(t, e2, dir, fastDir)

	const n = 30
	for i := range n {
		writeStory(t, dir, story(fmt.Sprintf("s-%02d", i), "en", testNow))
	}
	seen := map[string]int{}
	for range n {
		select {
		case ev := <-e1.rec.ch:
			seen[ev.Article.ID]++
		case ev := <-e2.rec.ch:
			seen[ev.Article.ID]++
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d of %d stories handed on", len(seen), n)
		}
	}
	e1.rec.none(t, 500*time.Millisecond)
	e2.rec.none(t, 10*time.Millisecond)
	for id, c := range seen {
		if c != 1 {
			t.Errorf("%s handed on %d times", id, c)
		}
	}
	if len(seen) != n {
		t.Errorf("%d distinct stories, want %d", len(seen), n)
	}
}

func TestDirSinkFailureIsRetried(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	startedDir(t, e, dir, fastDir)
	var mu sync.Mutex
	failures := 0
	e.rec.setFail(func(call) error {
		mu.Lock()
		defer mu.Unlock()
		if failures < 3 {
			failures++
			return errors.New("telegram is down")
		}
		return nil
	})
	writeStory(t, dir, story("kz-009", "kk", testNow))
	if ev := e.rec.next(t); ev.Method != "Publish" || ev.Article.ID != "kz-009" {
		t.Fatalf("got %s %s, want new kz-009 after retries", ev.Method, ev.Article.ID)
	}
	e.rec.none(t, 400*time.Millisecond)
	if lines := e.logs.Records("not handed on"); len(lines) != 3 {
		t.Errorf("%d retry log lines, want 3", len(lines))
	}
}

func TestDirWaitsOutARedisOutage(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	e := newEnvOn(t, NewStore(rdb, "outage:", StoreOptions{}))
	dir := t.TempDir()
	writeStory(t, dir, story("before", "kk", testNow))
	srv.Stop()
	d := NewDir(e.deps, dir, fastDir)
	run(t, d)
	testkit.WaitFor(t, "a log line about the failed first pass", 10*time.Second, func() bool {
		return len(e.logs.Records("first pass over articles dir failed")) > 0
	})
	srv.Restart(t)
	waitInitialised(t, e.store, d.opt.Name)
	writeStory(t, dir, story("after", "kk", testNow))
	if ev := e.rec.next(t); ev.Article.ID != "after" {
		t.Fatalf("got %s, want after", ev.Article.ID)
	}
	e.rec.none(t, 300*time.Millisecond)
}

func TestDirTwoFilesWithOneIDAreReported(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	startedDir(t, e, dir, fastDir)
	a := story("kz-050", "kk", testNow)
	writeStory(t, dir, a)
	e.rec.next(t)
	a.Title = "Copy with another title"
	writeAtomic(t, dir, "kz-050-copy.json", mustJSON(t, a))
	e.rec.next(t) // a correction: the store cannot tell a copy from an edit
	writeAtomic(t, dir, "kz-050-copy.json", mustJSON(t, a))
	e.rec.none(t, 300*time.Millisecond)
	l := e.logs.Records("share one id")
	if len(l) != 1 || l[0]["story_id"] != "kz-050" {
		t.Errorf("log lines %v; want one naming kz-050", l)
	}
}

// Redis emptied under a running watcher (FLUSHALL, or a restore of an old backup) is a first
// start again: the stories in the directory are recorded as seen, not posted again, not even
// the Backfill newest; a story that comes afterwards is handed on.
func TestDirFlushAllDoesNotRepostTheArchive(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	e := newEnvOn(t, NewStore(rdb, "flush:", StoreOptions{}))
	dir := t.TempDir()
	base := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	for i := range 3 {
		writeStory(t, dir, story(fmt.Sprintf("old-%d", i), "kk", base.Add(time.Duration(i)*time.Hour)))
	}
	opt := fastDir
	opt.Backfill = 1
	opt.Rescan = time.Hour // the hand-on path must find out by itself, not wait for a rescan
	d := NewDir(e.deps, dir, opt)
	run(t, d)
	if c := e.rec.next(t); c.Method != "Publish" || c.Article.ID != "old-2" {
		t.Fatalf("got %s %s, want the newest story backfilled", c.Method, c.Article.ID)
	}
	writeStory(t, dir, story("fresh", "kk", base))
	if c := e.rec.next(t); c.Article.ID != "fresh" {
		t.Fatalf("got %s, want fresh", c.Article.ID)
	}

	if err := rdb.FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	// An old story rewritten with a change: once it would have been posted as new.
	edited := story("old-0", "kk", base)
	edited.Lead = "Rewritten by an export"
	writeStory(t, dir, edited)
	testkit.WaitFor(t, "the first start to be redone", 10*time.Second, func() bool {
		return len(e.logs.Records("first-start marker of articles dir is gone")) == 1
	})
	e.rec.none(t, 300*time.Millisecond)
	if latest, err := e.store.Latest(context.Background(), []string{"kk"}, 10); err != nil || len(latest) != 4 {
		t.Errorf("Latest after the flush = %d stories, %v; want the 4 in the directory", len(latest), err)
	}

	writeStory(t, dir, story("after", "kk", base))
	if c := e.rec.next(t); c.Method != "Publish" || c.Article.ID != "after" {
		t.Fatalf("got %s %s, want the story written after the flush", c.Method, c.Article.ID)
	}
	e.rec.none(t, 200*time.Millisecond)
}

// Every file the watcher refuses is named in one log line (path, field, reason) and nothing
// of it is published; the valid neighbour is. A symlink out of the directory is never read:
// nothing of /etc/passwd or /proc/self/environ shows in the log.
func TestDirRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	startedDir(t, e, dir, fastDir)
	now := testNow

	elsewhere := t.TempDir()
	writeStory(t, elsewhere, story("outside", "en", now))
	links := map[string]string{
		"passwd.json":  "/etc/passwd",
		"environ.json": "/proc/self/environ",
		"outside.json": filepath.Join(elsewhere, "outside.json"),
		"up.json":      "../" + filepath.Base(elsewhere) + "/outside.json",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("nothing.json", filepath.Join(dir, "dangling.json")); err != nil {
		t.Fatal(err) // a link to nothing is as a file not there yet: no report
	}
	// 50 MB (sparse): refused by its size, not read (reading would find "invalid JSON").
	big, err := os.Create(filepath.Join(dir, "big.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := big.Truncate(50 << 20); err != nil {
		t.Fatal(err)
	}
	big.Close()

	bad := map[string]func(*article.Article){
		"creds-url.json":   func(a *article.Article) { a.URL = "https://editor:S3cretPass@news.example.kz/a" },
		"creds-image.json": func(a *article.Article) { a.ImageURL = "https://editor:S3cretPass@cdn.example.kz/a.jpg" },
		"blank-title.json": func(a *article.Article) { a.Title = "\u200b\u202e \u2066\u2069\u200d" },
		"future.json":      func(a *article.Article) { a.PublishedAt = now.Add(50 * 24 * time.Hour).Truncate(time.Second) },
		"ancient.json":     func(a *article.Article) { a.PublishedAt = time.Date(1, 1, 2, 0, 0, 0, 0, time.UTC) },
	}
	for name, change := range bad {
		a := story(strings.TrimSuffix(name, ".json"), "en", now)
		change(&a)
		writeAtomic(t, dir, name, mustJSON(t, a))
	}
	good := story("good", "en", now)
	good.Title = "Senate \u202epasses\u202c the \u2066law\u2069"
	writeStory(t, dir, good)

	c := e.rec.next(t)
	if c.Method != "Publish" || c.Article.ID != "good" || c.Article.Title != "Senate passes the law" {
		t.Fatalf("got %s %s %q, want good published with its bidi controls stripped", c.Method, c.Article.ID, c.Article.Title)
	}
	want := map[string]string{ // file -> field: reason prefix
		"passwd.json":      "article: a symbolic link that leads out of ARTICLES_DIR",
		"environ.json":     "article: a symbolic link that leads out of ARTICLES_DIR",
		"outside.json":     "article: a symbolic link that leads out of ARTICLES_DIR",
		"up.json":          "article: a symbolic link that leads out of ARTICLES_DIR",
		"big.json":         "article: 52428800 bytes, over the 4 MiB cap",
		"fifo.json":        "article: not a regular file",
		"creds-url.json":   "url: has a user name or password",
		"creds-image.json": "image_url: has a user name or password",
		"blank-title.json": "title: has no visible character",
		"future.json":      "published_at: ",
		"ancient.json":     "published_at: 0001-01-02T00:00:00Z is before 1990-01-01",
	}
	testkit.WaitFor(t, "every refused file to be reported", 10*time.Second, func() bool {
		return len(e.logs.Records("invalid article")) >= len(want)
	})
	time.Sleep(3 * fastDir.Rescan) // rescans do not report them again
	lines := e.logs.Records("invalid article")
	if len(lines) != len(want) {
		t.Errorf("%d log lines for %d refused files: %v", len(lines), len(want), lines)
	}
	for _, l := range lines {
		name := filepath.Base(l["path"].(string))
		reason, _ := l["reason"].(string)
		field, _ := l["field"].(string)
		if w, ok := want[name]; !ok || !strings.HasPrefix(reason, w) || !strings.HasPrefix(w, field+": ") {
			t.Errorf("%s: field %q reason %q, want %q", name, field, reason, w)
		}
	}
	for _, l := range lines {
		if filepath.Base(l["path"].(string)) == "big.json" && l["size"] != float64(50<<20) {
			t.Errorf("big.json log line %v, want size 52428800", l)
		}
	}
	log := e.logs.String()
	for _, secret := range []string{"root:", "PATH=", "S3cretPass", "Story outside"} {
		if strings.Contains(log, secret) {
			t.Errorf("the log shows %q", secret)
		}
	}
	e.rec.none(t, 100*time.Millisecond)
}

// A symlink to a file inside the directory (as Kubernetes mounts a ConfigMap) is read.
func TestDirSymlinkInsideIsRead(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	startedDir(t, e, dir, fastDir)
	if err := os.Mkdir(filepath.Join(dir, "..data"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeStory(t, filepath.Join(dir, "..data"), story("mounted", "ru", testNow))
	if err := os.Symlink("..data/mounted.json", filepath.Join(dir, "mounted.json")); err != nil {
		t.Fatal(err)
	}
	if c := e.rec.next(t); c.Method != "Publish" || c.Article.ID != "mounted" {
		t.Fatalf("got %s %s, want mounted", c.Method, c.Article.ID)
	}
}
