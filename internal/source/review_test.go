package source

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// The CMS appends a corrected story as a new entry. When the first version's hand-on fails
// and the correction is handed on meanwhile, the first version's retry is older news: it
// must not be handed on as a correction that puts the old text back.
func TestStreamRetryOfAnOlderVersionDoesNotUndoANewerOne(t *testing.T) {
	se := newStreamEnv(t)
	var mu sync.Mutex
	newerOut := false
	se.rec.setFail(func(ev Event) error {
		mu.Lock()
		defer mu.Unlock()
		if ev.Article.Title == "Version 1" && !newerOut {
			return errors.New("delivery unavailable")
		}
		if ev.Article.Title == "Version 2" {
			newerOut = true
		}
		return nil
	})
	se.started(t, se.env, fastStream)
	a := story("cms-v", "en", time.Now())
	a.Title = "Version 1"
	se.addStory(t, a)
	deadline := time.Now().Add(10 * time.Second)
	for len(se.logs.lines("story not handed on")) < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the first version was never tried")
		}
		time.Sleep(5 * time.Millisecond)
	}
	a.Title = "Version 2"
	se.addStory(t, a)
	if ev := se.rec.next(t); ev.Kind != New || ev.Article.Title != "Version 2" {
		t.Fatalf("first event %s %q, want new %q", ev.Kind, ev.Article.Title, "Version 2")
	}
	se.waitPending(t, 0)
	se.rec.none(t, 300*time.Millisecond)
	got, ok, err := se.store.Get(context.Background(), a.ID)
	if err != nil || !ok || got.Title != "Version 2" {
		t.Errorf("stored story %q (found %v, %v), want %q", got.Title, ok, err, "Version 2")
	}
}

// At the very first start, a story whose correction is already in the stream is recorded
// with its newest version, so /latest and /publish show the corrected text.
func TestStreamFirstStartRecordsTheNewestVersion(t *testing.T) {
	se := newStreamEnv(t)
	a := story("cms-seed", "en", time.Now())
	a.Title = "Version 1"
	se.addStory(t, a)
	a.Title = "Version 2"
	se.addStory(t, a)
	se.started(t, se.env, fastStream)
	se.waitPending(t, 0)
	se.rec.none(t, 200*time.Millisecond)
	got, ok, err := se.store.Get(context.Background(), a.ID)
	if err != nil || !ok || got.Title != "Version 2" {
		t.Errorf("stored story %q (found %v, %v), want %q", got.Title, ok, err, "Version 2")
	}
}
