package rates

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"newsbot/internal/redistest"
	"newsbot/internal/testkit"
)

func TestFetchAndLatest(t *testing.T) {
	t.Parallel()
	e, s := newEnv(t, "rates_all.xml")
	if _, ok := latest(t, s); ok {
		t.Fatal("Latest before any fetch: ok")
	}
	run(t, s)
	var snap Snapshot
	testkit.WaitFor(t, "the first fetch", wait, func() bool {
		var ok bool
		snap, ok = latest(t, s)
		return ok
	})
	if got := snap.Date.Format(time.DateOnly); got != "2022-09-14" {
		t.Errorf("Date = %s", got)
	}
	if !snap.FetchedAt.Equal(t0) {
		t.Errorf("FetchedAt = %s, want the injected clock's %s", snap.FetchedAt, t0)
	}
	if snap.Stale {
		t.Error("Stale after a good fetch")
	}
	if got, want := rateStrings(snap.Rates), "USD 498.55 up 1.25, EUR 524.28 down -0.40, RUB 4.75 none 0.00"; got != want {
		t.Errorf("Rates = %s, want %s", got, want)
	}
	if !snap.Previous.Date.IsZero() {
		t.Errorf("Previous = %+v before the date changed", snap.Previous)
	}
	h := e.feed.firstHeader()
	if h.Get("If-None-Match") != "" || h.Get("If-Modified-Since") != "" {
		t.Error("the very first request was conditional: with nothing stored a 304 would leave nothing to show")
	}
	if ua := h.Get("User-Agent"); !strings.HasPrefix(ua, "newsbot/") {
		t.Errorf("User-Agent = %q", ua)
	}
}

// A 304 keeps the rates and records when they were confirmed; the validators come back on
// every conditional request.
func TestNotModifiedKeepsRatesAndRecordsFetchTime(t *testing.T) {
	t.Parallel()
	e, s := newEnv(t, "rates_all.xml")
	run(t, s)
	testkit.WaitFor(t, "the first fetch", wait, func() bool { _, ok := latest(t, s); return ok })
	t1 := t0.Add(time.Hour)
	e.clock.Set(t1)
	testkit.WaitFor(t, "a 304 recorded at the new time", wait, func() bool {
		snap, _ := latest(t, s)
		_, nm := e.feed.count()
		return nm > 0 && snap.FetchedAt.Equal(t1)
	})
	h := e.feed.lastHeader()
	if h.Get("If-None-Match") == "" || h.Get("If-Modified-Since") != "Wed, 14 Sep 2022 03:00:00 GMT" {
		t.Errorf("conditional request headers: If-None-Match %q, If-Modified-Since %q",
			h.Get("If-None-Match"), h.Get("If-Modified-Since"))
	}
	snap, _ := latest(t, s)
	if got := rateStrings(snap.Rates); got != "USD 498.55 up 1.25, EUR 524.28 down -0.40, RUB 4.75 none 0.00" || snap.Stale {
		t.Errorf("after 304: %s stale=%v", got, snap.Stale)
	}
}

// When the feed is down or malformed the last good rates stay, with their date and fetch
// time, marked stale; the next good fetch clears the mark.
func TestFailureKeepsLastGoodRates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, file, mode, logged string
	}{
		{name: "HTTP 500", mode: "500", logged: "500 Internal Server Error"},
		{name: "timeout", mode: "hang", logged: "timed out"},
		{name: "truncated document", file: "rates_all_truncated.xml", logged: "unexpected EOF"},
		{name: "non-numeric value", file: "rates_all_non_numeric.xml", logged: "not a number"},
		{name: "larger than 1 MiB", mode: "big", logged: "larger than 1048576 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, s := newEnv(t, "rates_all.xml")
			e.opt.Interval = 100 * time.Millisecond // room for a 1 MiB body on a loaded machine
			if tc.mode == "hang" {
				e.opt.HTTPClient = &http.Client{Timeout: 40 * time.Millisecond}
			}
			s = New(s.rdb, e.opt)
			run(t, s)
			testkit.WaitFor(t, "the first fetch", wait, func() bool { _, ok := latest(t, s); return ok })
			good, _ := latest(t, s)

			e.clock.Set(t0.Add(time.Hour))
			e.feed.serve(t, tc.file, tc.mode)
			testkit.WaitFor(t, "the failure to be recorded and logged", wait, func() bool {
				snap, _ := latest(t, s)
				return snap.Stale && strings.Contains(e.log.String(), tc.logged)
			})
			snap, ok := latest(t, s)
			if !ok || !snap.Date.Equal(good.Date) || !snap.FetchedAt.Equal(t0) || rateStrings(snap.Rates) != rateStrings(good.Rates) {
				t.Errorf("stale snapshot %+v, want the last good one %+v fetched at %s", snap, good, t0)
			}

			t2 := t0.Add(2 * time.Hour)
			e.clock.Set(t2)
			e.feed.serve(t, "rates_all.xml", "")
			testkit.WaitFor(t, "recovery", wait, func() bool {
				snap, _ := latest(t, s)
				return !snap.Stale && snap.FetchedAt.Equal(t2)
			})
		})
	}
}

// A failure before any good fetch shows nothing: there is no number to show.
func TestFailureBeforeAnyGoodFetch(t *testing.T) {
	t.Parallel()
	e, s := newEnv(t, "rates_all_truncated.xml")
	run(t, s)
	testkit.WaitFor(t, "two failed fetches", wait, func() bool { n, _ := e.feed.count(); return n >= 2 })
	if snap, ok := latest(t, s); ok {
		t.Errorf("Latest = %+v, ok after failures only", snap)
	}
}

// A requested currency missing from the feed is left out and logged once, not at every
// fetch; its return is logged once; a second disappearance is logged again.
func TestMissingCurrencyLoggedOnce(t *testing.T) {
	t.Parallel()
	e, s := newEnv(t, "rates_all_missing_eur.xml")
	e.feed.setValidators(false) // every fetch is a 200 that is read again, not a 304
	run(t, s)
	fetches := func(n int) {
		t.Helper()
		start, _ := e.feed.count()
		testkit.WaitFor(t, "more fetches", wait, func() bool { c, _ := e.feed.count(); return c >= start+n })
	}
	fetches(4)
	snap, _ := latest(t, s)
	if got := rateStrings(snap.Rates); got != "USD 498.55 up 1.25, RUB 4.75 none 0.00" {
		t.Errorf("Rates = %s", got)
	}
	missing := func() int { return len(e.log.Records("currency missing from the exchange rates feed")) }
	if n := missing(); n != 1 {
		t.Errorf("missing EUR logged %d times over 4 fetches, want once:\n%s", n, e.log)
	}
	if rec := e.log.Records("currency missing")[0]; rec["currency"] != "EUR" {
		t.Errorf("log names %v", rec["currency"])
	}

	e.feed.serve(t, "rates_all.xml", "")
	testkit.WaitFor(t, "EUR back", wait, func() bool { snap, _ := latest(t, s); return len(snap.Rates) == 3 })
	fetches(3)
	if n := len(e.log.Records("currency back in the exchange rates feed")); n != 1 {
		t.Errorf("EUR's return logged %d times, want once", n)
	}

	e.feed.serve(t, "rates_all_missing_eur.xml", "")
	testkit.WaitFor(t, "EUR gone again", wait, func() bool { snap, _ := latest(t, s); return len(snap.Rates) == 2 })
	fetches(3)
	if n := missing(); n != 2 {
		t.Errorf("missing EUR logged %d times after it went twice, want 2", n)
	}
}

// When the bank's date changes, the day's rates become the previous day's; a fetch of the
// same day does not move them; an older day than the one kept is not taken.
func TestDayRollover(t *testing.T) {
	t.Parallel()
	e, s := newEnv(t, "rates_all.xml")
	run(t, s)
	testkit.WaitFor(t, "the first day", wait, func() bool { _, ok := latest(t, s); return ok })
	e.feed.serve(t, "rates_all_next_day_rub_per10.xml", "")
	var snap Snapshot
	testkit.WaitFor(t, "the next day", wait, func() bool {
		snap, _ = latest(t, s)
		return snap.Date.Format(time.DateOnly) == "2022-09-15"
	})
	if got := snap.Previous.Date.Format(time.DateOnly); got != "2022-09-14" {
		t.Errorf("Previous.Date = %s", got)
	}
	if got := rateStrings(snap.Previous.Rates); got != "USD 498.55 up 1.25, EUR 524.28 down -0.40, RUB 4.75 none 0.00" {
		t.Errorf("Previous.Rates = %s", got)
	}
	// RUB quoted per 10 units is kept per 1.
	if got := rateStrings(snap.Rates); got != "USD 499.10 up 0.55, EUR 523.90 down -0.38, RUB 4.76 up 0.01" {
		t.Errorf("Rates = %s", got)
	}

	e.feed.setValidators(false)
	n, _ := e.feed.count()
	testkit.WaitFor(t, "two more fetches of the same day", wait, func() bool { c, _ := e.feed.count(); return c >= n+2 })
	if snap, _ := latest(t, s); snap.Previous.Date.Format(time.DateOnly) != "2022-09-14" {
		t.Errorf("a fetch of the same day moved Previous to %s", snap.Previous.Date.Format(time.DateOnly))
	}

	e.feed.serve(t, "rates_all.xml", "")
	testkit.WaitFor(t, "the older day to be refused", wait, func() bool { return len(e.log.Records("older date")) > 0 })
	if snap, _ := latest(t, s); snap.Date.Format(time.DateOnly) != "2022-09-15" || snap.Stale {
		t.Errorf("after an older day: %s stale=%v", snap.Date.Format(time.DateOnly), snap.Stale)
	}
}

// Two copies on one Redis fetch once per interval together, not once each.
func TestTwoCopiesOneFetchPerInterval(t *testing.T) {
	t.Parallel()
	e, a := newEnv(t, "rates_all.xml")
	e.opt.Interval = 100 * time.Millisecond
	a = New(a.rdb, e.opt)
	b := New(a.rdb, e.opt)
	start := time.Now()
	stopA, stopB := run(t, a), run(t, b)
	testkit.WaitFor(t, "8 fetches", wait, func() bool { n, _ := e.feed.count(); return n >= 8 })
	stopA()
	stopB()
	elapsed := time.Since(start)
	n, _ := e.feed.count()
	// Each fetch takes the lock for one interval: at most one fetch starts per interval.
	if limit := int(elapsed/e.opt.Interval) + 1; n > limit {
		t.Errorf("%d fetches in %s with two copies, want at most %d (one per interval)", n, elapsed, limit)
	}
	// And they keep fetching: one every 1 to 1.25 intervals (generous for a loaded machine).
	if min := int(elapsed/(2*e.opt.Interval)) - 1; n < min {
		t.Errorf("%d fetches in %s, want at least %d", n, elapsed, min)
	}
	sa, _ := latest(t, a)
	sb, _ := latest(t, b)
	if rateStrings(sa.Rates) != rateStrings(sb.Rates) || len(sa.Rates) != 3 {
		t.Errorf("copies disagree: %s / %s", rateStrings(sa.Rates), rateStrings(sb.Rates))
	}
}

// A copy whose lock expired during a slow fetch does not overwrite what the copy now holding
// the lock wrote; with nobody holding it, the write goes through.
func TestSaveIsFencedByTheLock(t *testing.T) {
	t.Parallel()
	rdb, prefix := redistest.New(t)
	s := New(rdb, Options{Prefix: prefix})
	ctx := context.Background()
	if err := s.save(ctx, "mine", map[string]string{"error": "first"}); err != nil {
		t.Fatal(err)
	}
	rdb.Set(ctx, s.keys.lock(), "other", time.Minute)
	if err := s.save(ctx, "mine", map[string]string{"error": "second"}, "failed_at"); err != nil {
		t.Fatal(err)
	}
	if got := rdb.HGet(ctx, s.keys.state(), "error").Val(); got != "first" {
		t.Errorf("state written under another copy's lock: %q", got)
	}
	rdb.Set(ctx, s.keys.lock(), "mine", time.Minute)
	if err := s.save(ctx, "mine", map[string]string{"fetched_at": "x"}, "error"); err != nil {
		t.Fatal(err)
	}
	if got := rdb.HGetAll(ctx, s.keys.state()).Val(); len(got) != 1 || got["fetched_at"] != "x" {
		t.Errorf("state = %v, want fetched_at set and error deleted", got)
	}
}

// Redis going away is logged once when it starts and once when it ends, not at every check.
func TestRedisOutageLoggedOnce(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	e := &env{feed: newFeedServer(t, "rates_all.xml"), clock: newClock(t0), log: &testkit.Log{}}
	s := New(srv.Client(t), Options{URL: e.feed.URL, Interval: 40 * time.Millisecond, Log: e.log.Logger(), Now: e.clock.Now})
	run(t, s)
	testkit.WaitFor(t, "the first fetch", wait, func() bool { _, ok := latest(t, s); return ok })
	srv.Stop()
	testkit.WaitFor(t, "the outage logged", wait, func() bool { return len(e.log.Records("Redis unavailable")) > 0 })
	time.Sleep(100 * time.Millisecond) // several more checks fail meanwhile
	srv.Restart(t)
	testkit.WaitFor(t, "the end of the outage logged", wait, func() bool { return len(e.log.Records("Redis is back")) > 0 })
	if n := len(e.log.Records("Redis unavailable")); n != 1 {
		t.Errorf("outage logged %d times, want once", n)
	}
	if snap, ok := latest(t, s); !ok || len(snap.Rates) != 3 {
		t.Errorf("after the outage: %+v %v", snap, ok)
	}
}

func TestNewDefaults(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.New(t)
	s := New(rdb, Options{Currencies: []string{" usd", "EUR", "usd", ""}})
	if s.opt.URL != DefaultURL || s.opt.Interval != time.Hour || s.opt.Log == nil || s.opt.Now == nil || s.client == nil {
		t.Errorf("defaults: %+v", s.opt)
	}
	if got := strings.Join(s.opt.Currencies, ","); got != "USD,EUR" {
		t.Errorf("Currencies = %s", got)
	}
	if got := strings.Join(New(rdb, Options{}).opt.Currencies, ","); got != "USD,EUR,RUB" {
		t.Errorf("default Currencies = %s", got)
	}
	if k := New(rdb, Options{Prefix: "newsbot:"}).keys; k.state() != "newsbot:{rates}:state" || k.lock() != "newsbot:{rates}:lock" {
		t.Errorf("keys %s %s", k.state(), k.lock())
	}
}
