package source

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"newsbot/internal/redistest"
)

func TestStoreClaimIsAtomicAndSurvivesAFailedHandOn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := redistest.New(t)
	st := NewStore(rdb, prefix, StoreOptions{ClaimTTL: time.Minute})
	now := time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC)
	st.now = func() time.Time { return now }
	a := story("s1", "kk", now)

	if k, err := st.claim(ctx, a, "copy-a", ""); err != nil || k != New {
		t.Fatalf("first claim = %v, %v; want new", k, err)
	}
	if _, err := st.claim(ctx, a, "copy-b", ""); !errors.Is(err, errBusy) {
		t.Fatalf("second copy's claim err = %v; want busy while copy-a hands it on", err)
	}
	// copy-a's hand-on failed: it releases, and the story is still new for whoever comes next.
	if err := st.release(ctx, a, "copy-a"); err != nil {
		t.Fatal(err)
	}
	if k, err := st.claim(ctx, a, "copy-b", ""); err != nil || k != New {
		t.Fatalf("claim after release = %v, %v; want new", k, err)
	}
	// copy-b dies before confirming; after ClaimTTL another copy re-takes the claim.
	now = now.Add(61 * time.Second)
	if k, err := st.claim(ctx, a, "copy-c", ""); err != nil || k != New {
		t.Fatalf("claim after ClaimTTL = %v, %v; want new (re-taken)", k, err)
	}
	if ok, err := st.confirm(ctx, a, "copy-b", ""); err != nil || ok {
		t.Errorf("late confirm by copy-b = %v, %v; want false (claim lost)", ok, err)
	}
	if ok, err := st.confirm(ctx, a, "copy-c", ""); err != nil || !ok {
		t.Fatalf("confirm by copy-c = %v, %v", ok, err)
	}
	if k, err := st.claim(ctx, a, "copy-a", ""); err != nil || k != 0 {
		t.Errorf("claim of a confirmed story = %v, %v; want nothing", k, err)
	}
	a.Title = "Corrected"
	if k, _ := st.claim(ctx, a, "copy-a", ""); k != Correction {
		t.Errorf("changed content = %v, want correction", k)
	}
	// A retraction of a story never seen is recorded, nothing to hand on.
	r := story("never-seen", "kk", now)
	r.Retracted = true
	if k, err := st.claim(ctx, r, "copy-a", ""); err != nil || k != 0 {
		t.Errorf("retraction of an unknown story = %v, %v; want nothing", k, err)
	}
}

func TestStoreLatestGetFindByURLAndTrim(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := redistest.New(t)
	st := NewStore(rdb, prefix, StoreOptions{KeepPerLang: 3})
	base := time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC)
	seen := base
	st.now = func() time.Time { seen = seen.Add(time.Second); return seen }
	record := func(id, lang string, pub time.Time) {
		t.Helper()
		if _, err := st.seed(ctx, story(id, lang, pub), "me", ""); err != nil {
			t.Fatal(err)
		}
	}
	record("kk-1", "kk", base)
	record("kk-2", "kk", base.Add(2*time.Hour))
	record("ru-1", "ru", base.Add(time.Hour))
	record("ru-2", "ru", base.Add(time.Hour)) // same published time, seen later: first
	record("en-1", "en", base.Add(3*time.Hour))

	latest, err := st.Latest(ctx, []string{"kk", "ru"}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(ids(latest)); got != "[kk-2 ru-2 ru-1]" {
		t.Errorf("Latest(kk,ru,3) = %s, want [kk-2 ru-2 ru-1]", got)
	}

	a, ok, err := st.FindByURL(ctx, "https://example.kz/ru/news/ru-1/")
	if err != nil || !ok || a.ID != "ru-1" {
		t.Errorf("FindByURL with a trailing slash = %v, %v, %v; want ru-1", a.ID, ok, err)
	}
	if _, ok, _ := st.Get(ctx, "nope"); ok {
		t.Error("Get of an unknown id found something")
	}

	// Over KeepPerLang the oldest lose their record, but stay seen.
	record("kk-3", "kk", base.Add(4*time.Hour))
	record("kk-4", "kk", base.Add(5*time.Hour))
	if _, ok, _ := st.Get(ctx, "kk-1"); ok {
		t.Error("kk-1 still stored after trimming")
	}
	if _, ok, _ := st.FindByURL(ctx, "https://example.kz/kk/news/kk-1"); ok {
		t.Error("kk-1 still found by URL after trimming")
	}
	if k, err := st.claim(ctx, story("kk-1", "kk", base), "me", ""); err != nil || k != 0 {
		t.Errorf("trimmed story claimed as %v, %v; want nothing (still seen)", k, err)
	}
	latest, _ = st.Latest(ctx, []string{"kk"}, 10)
	if got := fmt.Sprint(ids(latest)); got != "[kk-4 kk-3 kk-2]" {
		t.Errorf("Latest(kk) after trim = %s", got)
	}
}
