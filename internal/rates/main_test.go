package rates

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"newsbot/internal/redistest"
	"newsbot/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

// clock is the injected Now: tests move it to tell one fetch's time from another's.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// feedServer is the bank's feed in a test: it serves a recorded copy with an ETag and a
// Last-Modified and answers a matching If-None-Match with 304, or fails as told; it counts
// every request.
type feedServer struct {
	*httptest.Server

	mu          sync.Mutex
	mode        string // "" serve body; "500"; "hang" (until the client gives up); "big"
	body        []byte
	validators  bool
	requests    int
	notModified int
	headers     []http.Header
}

func newFeedServer(t *testing.T, file string) *feedServer {
	f := &feedServer{body: readFeed(t, file), validators: true}
	f.Server = httptest.NewServer(f)
	t.Cleanup(f.Close)
	return f
}

func (f *feedServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests++
	f.headers = append(f.headers, r.Header.Clone())
	mode, body, validators := f.mode, f.body, f.validators
	f.mu.Unlock()
	switch mode {
	case "500":
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return
	case "hang":
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
		return
	case "big":
		w.Header().Set("Content-Type", "application/rss+xml")
		_, _ = w.Write(bytes.Repeat([]byte("<!-- padding -->\n"), maxBody/16+10))
		return
	}
	if validators {
		etag := fmt.Sprintf(`"%x"`, sha256.Sum256(body))[:18] + `"`
		w.Header().Set("ETag", etag)
		w.Header().Set("Last-Modified", "Wed, 14 Sep 2022 03:00:00 GMT")
		if r.Header.Get("If-None-Match") == etag {
			f.mu.Lock()
			f.notModified++
			f.mu.Unlock()
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	w.Header().Set("Content-Type", "application/rss+xml; charset=utf-8")
	_, _ = w.Write(body)
}

// serve switches to a recorded copy (mode "") or a failure mode.
func (f *feedServer) serve(t *testing.T, file, mode string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if file != "" {
		f.body = readFeed(t, file)
	}
	f.mode = mode
}

func (f *feedServer) count() (requests, notModified int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests, f.notModified
}

func (f *feedServer) setValidators(on bool) {
	f.mu.Lock()
	f.validators = on
	f.mu.Unlock()
}

func (f *feedServer) firstHeader() http.Header {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.headers[0]
}

func (f *feedServer) lastHeader() http.Header {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.headers[len(f.headers)-1]
}

// env is one test's Redis prefix, feed, clock and log.
type env struct {
	feed  *feedServer
	clock *clock
	log   *testkit.Log
	opt   Options
}

var t0 = time.Date(2022, 9, 14, 4, 0, 0, 0, time.UTC) // 10:00 in Almaty

func newEnv(t *testing.T, file string) (*env, *Service) {
	t.Helper()
	rdb, prefix := redistest.New(t)
	e := &env{feed: newFeedServer(t, file), clock: newClock(t0), log: &testkit.Log{}}
	e.opt = Options{
		Prefix:     prefix,
		URL:        e.feed.URL,
		Interval:   60 * time.Millisecond,
		HTTPClient: &http.Client{Timeout: 2 * time.Second},
		Log:        e.log.Logger(),
		Now:        e.clock.Now,
	}
	return e, New(rdb, e.opt)
}

// run runs s until the test ends (or stop is called).
func run(t *testing.T, s *Service) (stop func()) {
	return testkit.Run(t, s.Run)
}

// latest is Latest that fails the test on an error.
func latest(t testing.TB, s *Service) (Snapshot, bool) {
	t.Helper()
	snap, ok, err := s.Latest(context.Background())
	if err != nil {
		t.Fatalf("Latest: %v", err)
	}
	return snap, ok
}

const wait = 10 * time.Second
