package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// readiness serves /readyz: every check is run at once, each under its own timeout, on every
// request. Probes are rare (seconds apart) and cheap (a PING), so results are not cached
// here; a check that is expensive caches itself (see Remember).
type readiness struct {
	names    []string
	checks   map[string]Check
	timeout  time.Duration
	log      *slog.Logger
	draining atomic.Bool

	mu     sync.Mutex
	failed map[string]bool // last known state, to log changes instead of every probe
}

func newReadiness(checks map[string]Check, timeout time.Duration, log *slog.Logger) *readiness {
	r := &readiness{checks: checks, timeout: timeout, log: log, failed: map[string]bool{}}
	for name := range checks {
		r.names = append(r.names, name)
	}
	sort.Strings(r.names)
	return r
}

// drain makes /readyz fail from now on, so that a load balancer stops sending webhook
// requests to a copy that is shutting down.
func (r *readiness) drain() { r.draining.Store(true) }

// readyBody is the JSON answer of /readyz. Checks maps each check to "ok" or its error.
type readyBody struct {
	Status string            `json:"status"`
	Failed []string          `json:"failed,omitempty"`
	Checks map[string]string `json:"checks"`
}

func (r *readiness) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	results := r.run(req.Context())
	body := readyBody{Status: "ok", Checks: map[string]string{}}
	for i, name := range r.names {
		if err := results[i]; err != nil {
			body.Failed = append(body.Failed, name)
			body.Checks[name] = err.Error()
		} else {
			body.Checks[name] = "ok"
		}
	}
	code := http.StatusOK
	if r.draining.Load() {
		body.Status = "shutting down"
		code = http.StatusServiceUnavailable
	} else if len(body.Failed) > 0 {
		body.Status = "unavailable"
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

// run runs all checks concurrently and returns their errors in the order of r.names.
func (r *readiness) run(ctx context.Context) []error {
	errs := make([]error, len(r.names))
	var wg sync.WaitGroup
	for i, name := range r.names {
		wg.Go(func() {
			errs[i] = r.runOne(ctx, name)
		})
	}
	wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, name := range r.names {
		switch failed := errs[i] != nil; {
		case failed && !r.failed[name]:
			r.log.Warn("readiness check failing", "check", name, "err", errs[i])
		case !failed && r.failed[name]:
			r.log.Info("readiness check passing again", "check", name)
		}
		r.failed[name] = errs[i] != nil
	}
	return errs
}

// runOne runs a check under the timeout; a check that ignores its context still cannot hold
// the probe past the timeout.
func (r *readiness) runOne(ctx context.Context, name string) (err error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("check panicked: %v", p)
			}
		}()
		done <- r.checks[name](ctx)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("no answer within %s: %w", r.timeout, ctx.Err())
	}
}

// Remember wraps a costly check (a Telegram getMe) so that a success holds for ttl: probes
// within ttl of the last success pass without calling check again; after that, or after a
// failure, check runs again. ttl <= 0 means a success holds for good ("reached at least
// once"). Safe for concurrent use.
func Remember(check Check, ttl time.Duration) Check {
	var (
		mu     sync.Mutex
		passed time.Time
	)
	return func(ctx context.Context) error {
		mu.Lock()
		ok := !passed.IsZero() && (ttl <= 0 || time.Since(passed) < ttl)
		mu.Unlock()
		if ok {
			return nil
		}
		if err := check(ctx); err != nil {
			return err
		}
		mu.Lock()
		passed = time.Now()
		mu.Unlock()
		return nil
	}
}
