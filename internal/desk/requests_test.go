package desk

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"newsbot/internal/redistest"
)

// TestRequestStates walks a publish request through its states as editors' presses move it:
// only an open request can be claimed, cancelled or toggled, and a refused move says who
// moved it on and when.
func TestRequestStates(t *testing.T) {
	t.Parallel()
	rdb, prefix := redistest.New(t)
	s := newRequests(rdb, prefix)
	ctx := context.Background()
	at := time.UnixMilli(deskNow.UnixMilli())
	r := request{token: "tok-1", articleID: "story-1", hash: "h1", by: 501, chat: 501, lang: "ru"}
	if err := s.open(ctx, r); err != nil {
		t.Fatal(err)
	}
	if ttl := rdb.TTL(ctx, keyRequest(prefix, r.token)).Val(); ttl <= 0 || ttl > requestTTL {
		t.Errorf("request TTL %v, want up to %v", ttl, requestTTL)
	}
	if err := s.setMessage(ctx, r.token, 77); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.load(ctx, r.token)
	if err != nil || !ok || got.articleID != "story-1" || got.hash != "h1" || got.by != 501 || got.chat != 501 ||
		got.msg != 77 || got.lang != "ru" || got.breaking || got.state != stateOpen {
		t.Fatalf("load = %+v, %v, %v", got, ok, err)
	}

	if ok, _, err := s.toggleBreaking(ctx, r.token); !ok || err != nil {
		t.Fatalf("toggle an open request: %v %v", ok, err)
	}
	if got, _, _ := s.load(ctx, r.token); !got.breaking {
		t.Error("breaking not set after a toggle")
	}
	if ok, _, err := s.claim(ctx, r.token, "Aigerim", at); !ok || err != nil {
		t.Fatalf("claim an open request: %v %v", ok, err)
	}
	for name, move := range map[string]func() (bool, request, error){
		"claim":  func() (bool, request, error) { return s.claim(ctx, r.token, "Bolat", at.Add(time.Minute)) },
		"cancel": func() (bool, request, error) { return s.cancel(ctx, r.token, "Bolat", at.Add(time.Minute)) },
		"toggle": func() (bool, request, error) { return s.toggleBreaking(ctx, r.token) },
	} {
		ok, before, err := move()
		if ok || err != nil || before.state != statePushing || before.doneBy != "Aigerim" || !before.doneAt.Equal(at) {
			t.Errorf("%s while pushing: ok %v, before %+v, err %v; want refused, pushing by Aigerim at %v", name, ok, before, err, at)
		}
	}
	// A failed push goes back to open; then it is claimed again and marked done.
	if err := s.release(ctx, r.token); err != nil {
		t.Fatal(err)
	}
	if ok, _, _ := s.claim(ctx, r.token, "Bolat", at); !ok {
		t.Fatal("a released request cannot be claimed again")
	}
	if err := s.done(ctx, r.token, "story-1#1", 3); err != nil {
		t.Fatal(err)
	}
	got, _, _ = s.load(ctx, r.token)
	if got.state != statePublished || got.job != "story-1#1" || got.audience != 3 || got.doneBy != "Bolat" {
		t.Errorf("after done: %+v", got)
	}
	if err := s.release(ctx, r.token); err != nil {
		t.Fatal(err)
	}
	if ok, before, _ := s.cancel(ctx, r.token, "Aigerim", at); ok || before.state != statePublished {
		t.Errorf("cancel after publishing: ok %v, state %q; a release must not reopen a published request", ok, before.state)
	}

	// Cancelled stays cancelled; a request that expired (or never was) is gone.
	c := request{token: "tok-2", articleID: "story-2", chat: 501, lang: "en"}
	if err := s.open(ctx, c); err != nil {
		t.Fatal(err)
	}
	if ok, _, _ := s.cancel(ctx, c.token, "Aigerim", at); !ok {
		t.Fatal("cancel an open request refused")
	}
	if ok, before, _ := s.claim(ctx, c.token, "Bolat", at); ok || before.state != stateCancelled || before.doneBy != "Aigerim" {
		t.Errorf("claim after cancel: ok %v, before %+v", ok, before)
	}
	if ok, before, err := s.claim(ctx, "no-such-token", "Bolat", at); ok || err != nil || before.state != stateGone {
		t.Errorf("claim of no request: ok %v, before %+v, err %v", ok, before, err)
	}
	if _, ok, err := s.load(ctx, "no-such-token"); ok || err != nil {
		t.Errorf("load of no request: ok %v, err %v", ok, err)
	}
}

// TestRequestClaimedOnce: editors pressing Confirm at the same moment, on any running copy,
// claim a request once.
func TestRequestClaimedOnce(t *testing.T) {
	t.Parallel()
	rdb, prefix := redistest.New(t)
	s := newRequests(rdb, prefix)
	ctx := context.Background()
	if err := s.open(ctx, request{token: "tok", articleID: "story", chat: 1, lang: "en"}); err != nil {
		t.Fatal(err)
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			ok, _, err := s.claim(ctx, "tok", "editor", time.Now())
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if n := wins.Load(); n != 1 {
		t.Errorf("%d of 20 simultaneous claims won, want 1", n)
	}
}

func TestNewToken(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100 {
		tok, err := newToken()
		if err != nil {
			t.Fatal(err)
		}
		// "p1:x:" + token must fit callback_data (64 bytes), and carry none of ":{}".
		if len(tok) != 16 || seen[tok] {
			t.Fatalf("token %q: want 16 characters, never repeated", tok)
		}
		seen[tok] = true
	}
}
