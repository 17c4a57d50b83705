// Package rates keeps the official exchange rates of the National Bank of Kazakhstan — the
// ticker atop the publisher's page — for /rates and the digest's header. One running copy
// fetches the bank's feed per interval for all copies (a Redis lock), conditionally, and keeps
// the day's rates and the previous day's in Redis; every copy reads them from there. When the
// feed fails, the last good rates stay, marked stale; nothing is ever shown that was not read.
package rates

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultURL is the bank's daily rates feed (RATES_URL's default).
const DefaultURL = "https://nationalbank.kz/rss/rates_all.xml"

// DefaultCurrencies are the page's ticker (RATES_CURRENCIES' default), in display order.
var DefaultCurrencies = []string{"USD", "EUR", "RUB"}

// Options configure a Service. The zero value of each field gives its default.
type Options struct {
	// Prefix is put before every key (REDIS_PREFIX, e.g. "newsbot:"). Empty: none.
	Prefix string
	// URL is the feed. Empty: DefaultURL. (RATES_URL empty means off: then the caller does
	// not run a Service at all.)
	URL string
	// Currencies are the ISO codes to keep, in the order they are shown. Empty:
	// DefaultCurrencies.
	Currencies []string
	// Interval is how often the feed is fetched, by one copy for all. ≤0: one hour.
	Interval time.Duration
	// HTTPClient fetches the feed. Nil: a client with a 30 s overall timeout and dial, TLS and
	// header timeouts. A fetch is also cut off after one Interval, so that it never outlives
	// its lock.
	HTTPClient *http.Client
	// Log receives fetch failures, currencies missing from the feed and Redis outages. Nil:
	// discard.
	Log *slog.Logger
	// Now is the clock for fetch times. Nil: time.Now.
	Now func() time.Time
}

// Direction is which way a rate moved since the bank's previous rate.
type Direction string

// The directions: up and down are shown as ▲ and ▼, none as nothing.
const (
	DirNone Direction = "none"
	DirUp   Direction = "up"
	DirDown Direction = "down"
)

// Rate is one currency's official rate in tenge, always per ONE unit: the bank quotes some
// currencies (RUB on some days) per 10 or 100 units and the quote is divided here.
type Rate struct {
	Code    string  `json:"code"`
	PerUnit Decimal `json:"per_unit"`
	// Change is the bank's change per unit, valid when HasChange: the feed may give only
	// <index>, and a change not read is never made up.
	Change    Decimal   `json:"change"`
	HasChange bool      `json:"has_change,omitempty"`
	Direction Direction `json:"dir"`
}

// Day is the bank's rates for one date.
type Day struct {
	// Date is the bank's date, a calendar day: midnight UTC. Read its Year, Month and Day;
	// do not convert it to another location.
	Date  time.Time
	Rates []Rate
}

// Snapshot is what readers are shown.
type Snapshot struct {
	Date time.Time // the bank's date, as Day.Date
	// FetchedAt is the last fetch that brought these rates or confirmed them (a 304).
	FetchedAt time.Time
	Rates     []Rate // in the order of Options.Currencies; a currency the feed lacks is left out
	// Stale is set when the last fetch failed: the rates are the last good ones.
	Stale bool
	// Previous is the bank's day before Date; its Date is zero until the date first changed.
	Previous Day
}

// Service fetches the rates and answers what they are. Latest is safe for concurrent use;
// Run is called once.
type Service struct {
	rdb    redis.UniversalClient
	opt    Options
	keys   keys
	client *http.Client

	redisDown bool // Run's goroutine only
}

// New returns a Service; it does no I/O.
func New(rdb redis.UniversalClient, opt Options) *Service {
	if opt.URL == "" {
		opt.URL = DefaultURL
	}
	if len(opt.Currencies) == 0 {
		opt.Currencies = DefaultCurrencies
	}
	var codes []string
	for _, c := range opt.Currencies {
		c = strings.ToUpper(strings.TrimSpace(c))
		if c != "" && !slices.Contains(codes, c) {
			codes = append(codes, c)
		}
	}
	opt.Currencies = codes
	if opt.Interval <= 0 {
		opt.Interval = time.Hour
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	client := opt.HTTPClient
	if client == nil {
		client = &http.Client{
			Timeout: 30 * time.Second,
			Transport: &http.Transport{
				Proxy:                 http.ProxyFromEnvironment,
				DialContext:           (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
				TLSHandshakeTimeout:   10 * time.Second,
				ResponseHeaderTimeout: 20 * time.Second,
				IdleConnTimeout:       90 * time.Second,
				MaxIdleConnsPerHost:   1,
			},
		}
	}
	return &Service{rdb: rdb, opt: opt, keys: newKeys(opt.Prefix), client: client}
}

// Run fetches the feed until ctx is done. Every copy checks the lock four times an interval;
// the one that takes it fetches, and the lock's TTL of one interval keeps the others (and
// itself) from fetching again before the interval is over. So all copies together fetch once
// per interval, between one and one and a quarter intervals apart, and a copy that dies is
// replaced at the next check.
func (s *Service) Run(ctx context.Context) error {
	check := max(s.opt.Interval/4, 5*time.Millisecond)
	t := time.NewTicker(check)
	defer t.Stop()
	for {
		s.tick(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (s *Service) tick(ctx context.Context) {
	token := newToken()
	ok, err := s.rdb.SetNX(ctx, s.keys.lock(), token, s.opt.Interval).Result()
	if err == nil && ok {
		fctx, cancel := context.WithTimeout(ctx, s.opt.Interval)
		err = s.fetch(fctx, token)
		cancel()
	}
	if ctx.Err() != nil {
		return
	}
	// A fetch's own failures are recorded and logged by fetch; what is left is Redis.
	switch {
	case err != nil && !s.redisDown:
		s.redisDown = true
		s.opt.Log.Warn("Redis unavailable; exchange rates are not fetched until it is back", "err", err)
	case err == nil && s.redisDown:
		s.redisDown = false
		s.opt.Log.Info("Redis is back; exchange rates are fetched again")
	}
}

func newToken() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// state is the decoded state hash.
type state struct {
	day, prev    *Day
	fetchedAt    time.Time
	failedAt     time.Time
	etag         string
	lastModified string
	missing      []string
}

var stateFields = []string{"day", "prev", "fetched_at", "failed_at", "etag", "last_modified", "missing"}

func (s *Service) load(ctx context.Context) (state, error) {
	v, err := s.rdb.HMGet(ctx, s.keys.state(), stateFields...).Result()
	if err != nil {
		return state{}, fmt.Errorf("load rates: %w", err)
	}
	str := func(i int) string { x, _ := v[i].(string); return x }
	var st state
	if st.day, err = decodeDay(str(0)); err != nil {
		return state{}, err
	}
	if st.prev, err = decodeDay(str(1)); err != nil {
		return state{}, err
	}
	st.fetchedAt, _ = time.Parse(time.RFC3339Nano, str(2))
	st.failedAt, _ = time.Parse(time.RFC3339Nano, str(3))
	st.etag, st.lastModified = str(4), str(5)
	if m := str(6); m != "" {
		st.missing = strings.Split(m, ",")
	}
	return st, nil
}

// dayRecord is how a Day is stored: the date as 2006-01-02, the decimals as strings.
type dayRecord struct {
	Date  string `json:"date"`
	Rates []Rate `json:"rates"`
}

func encodeDay(d Day) string {
	b, _ := json.Marshal(dayRecord{Date: d.Date.Format(time.DateOnly), Rates: d.Rates})
	return string(b)
}

func decodeDay(s string) (*Day, error) {
	if s == "" {
		return nil, nil
	}
	var r dayRecord
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		return nil, fmt.Errorf("load rates: stored day: %w", err)
	}
	date, err := time.Parse(time.DateOnly, r.Date)
	if err != nil {
		return nil, fmt.Errorf("load rates: stored day: %w", err)
	}
	return &Day{Date: date, Rates: r.Rates}, nil
}

// fetch runs one fetch under the lock held with token. Its own failures (the feed down or
// malformed) are recorded in Redis and logged, and not returned; an error returned is Redis's.
func (s *Service) fetch(ctx context.Context, token string) error {
	st, err := s.load(ctx)
	if err != nil {
		return err
	}
	var etag, lastMod string
	if st.day != nil {
		// Without a stored copy a 304 would leave nothing to show: ask unconditionally.
		etag, lastMod = st.etag, st.lastModified
	}
	resp, ferr := s.get(ctx, etag, lastMod)
	now := s.opt.Now()
	var day Day
	var missing []string
	switch {
	case ferr != nil:
	case resp.notModified && st.day == nil:
		ferr = errors.New("fetch rates: HTTP 304 without a stored copy")
	case !resp.notModified:
		day, missing, ferr = parseFeed(resp.body, s.opt.Currencies)
	}
	if ferr != nil {
		if ctx.Err() != nil && errors.Is(ferr, context.Canceled) {
			return nil // shutting down: not the feed's fault
		}
		attrs := []any{"url", s.opt.URL, "err", ferr}
		if st.day != nil {
			attrs = append(attrs, "showing_date", st.day.Date.Format(time.DateOnly))
		}
		s.opt.Log.Warn("exchange rates fetch failed; the last good rates stay, marked stale", attrs...)
		return s.save(ctx, token, map[string]string{
			"failed_at": now.Format(time.RFC3339Nano),
			"error":     ferr.Error(),
		})
	}
	set := map[string]string{"fetched_at": now.Format(time.RFC3339Nano)}
	del := []string{"failed_at", "error"}
	switch {
	case resp.notModified:
	case st.day != nil && day.Date.Before(st.day.Date):
		// The bank (or a cache in front of it) served an older day than the one kept: keep
		// the newer one, and its validators.
		s.opt.Log.Warn("exchange rates feed went back to an older date; keeping the newer rates",
			"feed_date", day.Date.Format(time.DateOnly), "kept_date", st.day.Date.Format(time.DateOnly))
	default:
		set["day"] = encodeDay(day)
		if st.day != nil && day.Date.After(st.day.Date) {
			set["prev"] = encodeDay(*st.day)
		}
		set["etag"], set["last_modified"] = resp.etag, resp.lastModified
		set["missing"] = strings.Join(missing, ",")
		s.logMissing(st.missing, missing)
	}
	return s.save(ctx, token, set, del...)
}

// logMissing logs a requested currency when it disappears from the feed and when it comes
// back: once each, not at every fetch.
func (s *Service) logMissing(before, now []string) {
	for _, c := range now {
		if !slices.Contains(before, c) {
			s.opt.Log.Warn("currency missing from the exchange rates feed; left out until it is back", "currency", c, "url", s.opt.URL)
		}
	}
	for _, c := range before {
		if !slices.Contains(now, c) {
			s.opt.Log.Info("currency back in the exchange rates feed", "currency", c)
		}
	}
}

func (s *Service) save(ctx context.Context, token string, set map[string]string, del ...string) error {
	// Writing the result must not be cut off by the fetch's own deadline, spent on a slow feed.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	args := []any{token, len(set)}
	for _, f := range slices.Sorted(maps.Keys(set)) {
		args = append(args, f, set[f])
	}
	for _, f := range del {
		args = append(args, f)
	}
	written, err := saveScript.Run(ctx, s.rdb, []string{s.keys.lock(), s.keys.state()}, args...).Int()
	if err != nil {
		return fmt.Errorf("save rates: %w", err)
	}
	if written == 0 {
		s.opt.Log.Debug("another copy fetched the exchange rates meanwhile; this fetch is dropped")
	}
	return nil
}

// Latest returns the rates to show. ok is false while no fetch has ever succeeded.
func (s *Service) Latest(ctx context.Context) (Snapshot, bool, error) {
	st, err := s.load(ctx)
	if err != nil {
		return Snapshot{}, false, err
	}
	if st.day == nil {
		return Snapshot{}, false, nil
	}
	snap := Snapshot{
		Date:      st.day.Date,
		FetchedAt: st.fetchedAt,
		Rates:     st.day.Rates,
		Stale:     !st.failedAt.IsZero(),
	}
	if st.prev != nil {
		snap.Previous = *st.prev
	}
	return snap, true, nil
}
