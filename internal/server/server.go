// Package server is newsbot's HTTP side on HTTP_ADDR: /healthz for "the process lives",
// /readyz for "Redis answers and Telegram was reached", /metrics for Prometheus, and the
// Telegram webhook at the path of WEBHOOK_URL when webhook mode is on.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check is one readiness check: nil when the dependency it names is usable.
type Check func(ctx context.Context) error

// Defaults for Config fields left at zero.
const (
	DefaultCheckTimeout    = 2 * time.Second
	DefaultShutdownTimeout = 5 * time.Second
	// Telegram updates are a few KiB; anything near this is not from Telegram.
	maxWebhookBody = 1 << 20
)

// Config is what the server serves.
type Config struct {
	// Addr is HTTP_ADDR, e.g. ":8080".
	Addr string
	// Checks are the readiness checks by name ("redis", "telegram"); /readyz passes when all do.
	Checks map[string]Check
	// CheckTimeout bounds each check on every /readyz request. Zero: DefaultCheckTimeout.
	CheckTimeout time.Duration
	// Registry is served on /metrics. The Go runtime and process collectors are added to it
	// (already registered ones are kept). Nil: an empty registry with just those.
	Registry *prometheus.Registry
	// WebhookURL is WEBHOOK_URL; its path is where Webhook is mounted. Empty: no webhook
	// (long polling).
	WebhookURL string
	// Webhook handles Telegram's update requests, including the secret check.
	Webhook http.Handler
	// ShutdownTimeout bounds the wait for in-flight requests once Run's context ends.
	// Zero: DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// Version (main.version) is exported as newsbot_build_info{version,go_version} 1, so a
	// dashboard shows which copies run which build. Empty: not exported.
	Version string
}

// Server serves the HTTP endpoints. Create it with New, start it with Run.
type Server struct {
	cfg     Config
	log     *slog.Logger
	handler http.Handler
	ready   *readiness
}

// New checks cfg and builds the server. It does no network I/O. log may be nil.
func New(cfg Config, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.CheckTimeout <= 0 {
		cfg.CheckTimeout = DefaultCheckTimeout
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if _, err := register(cfg.Registry, c); err != nil {
			return nil, fmt.Errorf("register runtime metrics: %w", err)
		}
	}
	if cfg.Version != "" {
		info := prometheus.NewGauge(prometheus.GaugeOpts{
			Name:        "newsbot_build_info",
			Help:        "Always 1; the labels say which build of newsbot runs.",
			ConstLabels: prometheus.Labels{"version": cfg.Version, "go_version": runtime.Version()},
		})
		info.Set(1)
		if _, err := register(cfg.Registry, info); err != nil {
			return nil, fmt.Errorf("register build info: %w", err)
		}
	}
	s := &Server{cfg: cfg, log: log, ready: newReadiness(cfg.Checks, cfg.CheckTimeout, log)}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /readyz", s.ready)
	mux.Handle("GET /metrics", promhttp.InstrumentMetricHandler(cfg.Registry,
		promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelError),
			ErrorHandling:     promhttp.ContinueOnError,
			Registry:          cfg.Registry,
			EnableOpenMetrics: true,
		})))

	var root http.Handler = mux
	if cfg.WebhookURL != "" {
		path, err := webhookPath(cfg.WebhookURL)
		if err != nil {
			return nil, err
		}
		if cfg.Webhook == nil {
			return nil, errors.New("WEBHOOK_URL is set but there is no webhook handler")
		}
		switch path {
		case "/healthz", "/readyz", "/metrics":
			return nil, fmt.Errorf("WEBHOOK_URL: path %s is taken by the server itself", path)
		}
		// Counted by status, so a webhook that Telegram calls with a stale secret (401 after
		// WEBHOOK_SECRET changed) shows on a dashboard and not only in the logs.
		requests := prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "newsbot_webhook_requests_total",
			Help: "Requests to the Telegram webhook path, by HTTP status code.",
		}, []string{"code"})
		c, err := register(cfg.Registry, requests)
		if err != nil {
			return nil, fmt.Errorf("register webhook metrics: %w", err)
		}
		if existing, ok := c.(*prometheus.CounterVec); ok {
			requests = existing
		}
		hook := promhttp.InstrumentHandlerCounter(requests, http.MaxBytesHandler(cfg.Webhook, maxWebhookBody))
		// Compared with the path as given rather than as a ServeMux pattern, so that any path
		// an operator picks (with braces, or "/") is served exactly and nothing else is.
		root = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == path {
				hook.ServeHTTP(w, r)
				return
			}
			mux.ServeHTTP(w, r)
		})
	}
	s.handler = root
	return s, nil
}

// register registers c with reg and returns the collector that is registered: c, or the equal
// one registered before (a second server on one registry, or a caller that already added the
// Go collector), so that counts go where /metrics reads them.
func register(reg prometheus.Registerer, c prometheus.Collector) (prometheus.Collector, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			return are.ExistingCollector, nil
		}
		return nil, err
	}
	return c, nil
}

// webhookPath is the path of WEBHOOK_URL that Telegram will POST to.
func webhookPath(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("WEBHOOK_URL: %w", err)
	}
	if u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
		return "", fmt.Errorf("WEBHOOK_URL: %q is not an absolute http(s) URL", u.Redacted())
	}
	if u.Path == "" {
		return "/", nil
	}
	return u.Path, nil
}

// Handler is the server's whole routing, for tests and for embedding.
func (s *Server) Handler() http.Handler { return s.handler }

// Run listens on cfg.Addr and serves until ctx ends, then shuts down gracefully: it stops
// accepting connections and waits up to ShutdownTimeout for requests in flight. It returns
// nil after a clean shutdown and an error when it cannot listen or serve.
func (s *Server) Run(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on HTTP_ADDR %s: %w", s.cfg.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on a listener the caller opened (tests listen on port 0). The listener is
// closed when Serve returns.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler: s.handler,
		// Slow-loris protection; Telegram and Prometheus send their headers at once.
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		// Bounds a webhook handler that hangs; Telegram gives up and retries by itself.
		WriteTimeout:   60 * time.Second,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:    func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	s.log.Info("http server listening", "addr", ln.Addr().String(), "webhook", s.cfg.WebhookURL != "")

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	select {
	case err := <-errc:
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	}
	s.ready.drain()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		// A request still running past the deadline (a stuck webhook handler) must not keep
		// the process from exiting: Telegram redelivers an update that got no answer.
		s.log.Warn("http requests still running at shutdown deadline; closing them", "err", err)
		_ = srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve http: %w", err)
	}
	s.log.Info("http server stopped")
	return nil
}
