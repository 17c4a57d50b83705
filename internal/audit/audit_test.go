package audit

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"newsbot/internal/redistest"
)

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

func entry(i int, at time.Time) Entry {
	return Entry{ArticleID: fmt.Sprintf("story-%d", i%3), Title: fmt.Sprintf("Title %d", i), Lang: "ru",
		By: 42, ByName: "Editor", At: at, JobID: fmt.Sprintf("story-%d#%d", i%3, i), Audience: int64(i)}
}

func TestRecentIsNewestFirstAndCapped(t *testing.T) {
	rdb, prefix := redistest.New(t)
	s := NewStore(rdb, prefix, 5)
	ctx := context.Background()
	start := time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC)
	for i := range 8 {
		if err := s.Record(ctx, entry(i, start.Add(time.Duration(i)*time.Minute))); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Recent(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 {
		t.Fatalf("%d entries kept, want the cap of 5", len(got))
	}
	for i, e := range got {
		if want := fmt.Sprintf("Title %d", 7-i); e.Title != want || !e.At.Equal(start.Add(time.Duration(7-i)*time.Minute)) {
			t.Errorf("entry %d = %+v, want %s", i, e, want)
		}
	}
	if n, _ := rdb.LLen(ctx, prefix+"audit:log").Result(); n != 5 {
		t.Errorf("log holds %d entries in Redis", n)
	}
}

func TestSinceAndLast(t *testing.T) {
	rdb, prefix := redistest.New(t)
	s := NewStore(rdb, prefix, 0)
	ctx := context.Background()
	start := time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC)
	for i := range 250 {
		if err := s.Record(ctx, entry(i, start.Add(time.Duration(i)*time.Minute))); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Since(ctx, start.Add(100*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 150 || got[0].Title != "Title 249" || got[149].Title != "Title 100" {
		t.Errorf("Since: %d entries, first %q, last %q", len(got), got[0].Title, got[len(got)-1].Title)
	}
	last, ok, err := s.Last(ctx, "story-1")
	if err != nil || !ok || last.JobID != "story-1#247" {
		t.Errorf("Last = %+v, %v, %v; want job story-1#247", last, ok, err)
	}
	if _, ok, err := s.Last(ctx, "never-pushed"); ok || err != nil {
		t.Errorf("Last of a story never pushed: %v, %v", ok, err)
	}
}

func TestDamagedEntriesAreSkipped(t *testing.T) {
	rdb, prefix := redistest.New(t)
	s := NewStore(rdb, prefix, 0)
	ctx := context.Background()
	now := time.Now().UTC()
	if err := s.Record(ctx, entry(1, now)); err != nil {
		t.Fatal(err)
	}
	rdb.LPush(ctx, prefix+"audit:log", "{not json")
	if err := s.Record(ctx, entry(2, now)); err != nil {
		t.Fatal(err)
	}
	got, err := s.Recent(ctx, 10)
	if err != nil || len(got) != 2 {
		t.Fatalf("Recent = %d entries, %v; want the 2 good ones", len(got), err)
	}
	since, err := s.Since(ctx, now.Add(-time.Hour))
	if err != nil || len(since) != 2 {
		t.Fatalf("Since = %d entries, %v", len(since), err)
	}
	rdb.Set(ctx, prefix+"audit:story:x", "garbage", 0)
	if _, _, err := s.Last(ctx, "x"); err == nil {
		t.Error("Last of a damaged record: no error")
	}
}
