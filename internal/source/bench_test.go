package source

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"newsbot/internal/redistest"
)

// BenchmarkDirRenameToHandler measures the directory path end to end: from a file's rename
// into the watched directory (how a CMS export or an editor saves) to the story handed to the
// handler, through fsnotify, read, parse, validation and the Redis claim/confirm. Reported:
// median-ms and p95-ms of the per-story latencies (goal: median under 50 ms).
func BenchmarkDirRenameToHandler(b *testing.B) {
	rdb, prefix := redistest.New(b)
	st := NewStore(rdb, prefix, StoreOptions{})
	got := make(chan time.Time, 1)
	deps := Deps{Store: st, Rules: testRules, Owner: "bench", Handler: func(ctx context.Context, ev Event) error {
		got <- time.Now()
		return nil
	}}
	dir := b.TempDir()
	d := NewDir(deps, dir, DirOptions{Rescan: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitInitialisedB(b, st, d.opt.Name)

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
		case at := <-got:
			lat = append(lat, at.Sub(start))
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
// article files none of which changed: a stat per file, no read, no Redis round trip.
func BenchmarkDirRescan10000Unchanged(b *testing.B) {
	dir := rescanFixture(b)
	rdb, prefix := redistest.New(b)
	st := NewStore(rdb, prefix, StoreOptions{KeepPerLang: 10_000})
	handed := 0
	deps := Deps{Store: st, Rules: testRules, Owner: "bench", Handler: func(context.Context, Event) error {
		handed++
		return nil
	}}
	d := NewDir(deps, dir, DirOptions{})
	ctx := context.Background()
	if err := d.start(ctx); err != nil {
		b.Fatal(err)
	}
	if len(d.files) != rescanFiles {
		b.Fatalf("%d files known after the first pass, want %d", len(d.files), rescanFiles)
	}
	// Unchanged files must not touch Redis: with the client closed, any round trip would
	// make a file fail and be scheduled for a retry.
	_ = rdb.Close()
	b.ResetTimer()
	for range b.N {
		d.rescan(ctx)
	}
	b.StopTimer()
	if handed != 0 || len(d.retries) != 0 {
		b.Fatalf("a rescan of unchanged files handed on %d and scheduled %d retries", handed, len(d.retries))
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/rescan")
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
			a := story(fmt.Sprintf("r-%05d", i), []string{"kk", "ru", "en"}[i%3], base.Add(time.Duration(i)*time.Minute))
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

func waitInitialisedB(b *testing.B, st *Store, name string) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok, err := st.initialised(context.Background(), name); err != nil {
			b.Fatal(err)
		} else if ok {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s never initialised", name)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
