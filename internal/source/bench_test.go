package source

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"newsbot/internal/redistest"
)

// BenchmarkDirRenameToHandler measures the directory path end to end: from a file's rename
// into the watched directory (how a CMS export or an editor saves) to the story handed to the
// sink, through fsnotify, read, parse, validation and the Redis claim/confirm. Reported:
// median-ms and p95-ms of the per-story latencies (goal: median under 50 ms).
func BenchmarkDirRenameToHandler(b *testing.B) {
	rdb, prefix := redistest.New(b)
	st := NewStore(rdb, prefix, StoreOptions{})
	rec := newRecorder()
	deps := Deps{Store: st, Rules: testRules, Owner: "bench", Sink: rec}
	dir := b.TempDir()
	d := NewDir(deps, dir, DirOptions{Rescan: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitInitialised(b, st, d.opt.Name)

	base := time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		a := story(fmt.Sprintf("bench-%d", i), "kk", base.Add(time.Duration(i)*time.Second))
		tmp := filepath.Join(dir, ".incoming.tmp")
		if err := os.WriteFile(tmp, mustJSON(b, a), 0o644); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		if err := os.Rename(tmp, filepath.Join(dir, a.ID+".json")); err != nil {
			b.Fatal(err)
		}
		select {
		case <-rec.ch:
			lat = append(lat, time.Since(start))
		case <-time.After(10 * time.Second):
			b.Fatalf("story %d not handed on within 10s", i)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(ms(lat[len(lat)/2]), "median-ms")
	b.ReportMetric(ms(lat[min(len(lat)-1, len(lat)*95/100)]), "p95-ms")
}

// BenchmarkDirRescan10000Unchanged measures the safety-net rescan of a directory of 10,000
// article files none of which changed: a stat per file, no read, and one Redis round trip
// per rescan (the first-start marker), none per file.
func BenchmarkDirRescan10000Unchanged(b *testing.B) {
	dir := rescanFixture(b)
	rdb, prefix := redistest.New(b)
	st := NewStore(rdb, prefix, StoreOptions{KeepPerLang: 10_000})
	rec := newRecorder()
	deps := Deps{Store: st, Rules: testRules, Owner: "bench", Sink: rec}
	d := NewDir(deps, dir, DirOptions{})
	if err := d.openRoot(); err != nil {
		b.Fatal(err)
	}
	defer d.root.Close()
	ctx := context.Background()
	if err := d.look(ctx); err != nil {
		b.Fatal(err)
	}
	if len(d.files) != rescanFiles {
		b.Fatalf("%d files known after the first pass, want %d", len(d.files), rescanFiles)
	}
	cmds := &commandCounter{}
	rdb.AddHook(cmds)
	b.ResetTimer()
	for range b.N {
		d.rescan(ctx)
	}
	b.StopTimer()
	if n := len(rec.all()); n != 0 || len(d.retries) != 0 {
		b.Fatalf("a rescan of unchanged files handed on %d and scheduled %d retries", n, len(d.retries))
	}
	if n := cmds.n.Load(); n != int64(b.N) {
		b.Fatalf("%d Redis commands in %d rescans of unchanged files, want one each", n, b.N)
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/rescan")
}

// commandCounter is a go-redis hook counting the commands sent.
type commandCounter struct{ n atomic.Int64 }

func (c *commandCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *commandCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}

func (c *commandCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

const rescanFiles = 10_000

var (
	rescanOnce sync.Once
	rescanDir  string
	rescanErr  error
)

// rescanFixture writes the 10,000 files once per test binary (the benchmark function runs
// several times while b.N is calibrated).
func rescanFixture(b *testing.B) string {
	rescanOnce.Do(func() {
		rescanDir, rescanErr = os.MkdirTemp("", "source-bench-")
		if rescanErr != nil {
			return
		}
		base := time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC)
		for i := range rescanFiles {
			a := story(fmt.Sprintf("r-%05d", i), []string{"kk", "ru", "en"}[i%3], base.Add(-time.Duration(i)*time.Minute))
			if rescanErr = os.WriteFile(filepath.Join(rescanDir, a.ID+".json"), mustJSON(b, a), 0o644); rescanErr != nil {
				return
			}
		}
	})
	if rescanErr != nil {
		b.Fatal(rescanErr)
	}
	cleanups = append(cleanups, func() { os.RemoveAll(rescanDir) })
	return rescanDir
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
