package redisconn

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// Error kinds, the values of the "kind" label.
const (
	kindTimeout    = "timeout"    // the server or the pool did not answer in time
	kindConnection = "connection" // refused, reset, closed: Redis is down or restarting
	kindReply      = "reply"      // Redis answered with an error (READONLY, OOM, LOADING, WRONGTYPE...)
)

// expectedReplies are error replies the code asks for on purpose: go-redis answers NOSCRIPT by
// loading the script, and creating a consumer group that exists says BUSYGROUP. Counting them
// would make a healthy service look broken.
var expectedReplies = []string{"NOSCRIPT", "BUSYGROUP"}

// ErrorCounter is a go-redis hook counting failed commands and pipelines in
// newsbot_redis_errors_total{command, kind}. Misses (redis.Nil), lost optimistic
// transactions and cancelled contexts are outcomes, not failures, and are not counted.
type ErrorCounter struct {
	errors *prometheus.CounterVec
}

// NewErrorCounter creates the counter. It is a prometheus.Collector: register it.
func NewErrorCounter() *ErrorCounter {
	return &ErrorCounter{errors: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "newsbot_redis_errors_total",
		Help: "Redis commands and pipelines that failed, by command and kind (timeout, connection, reply).",
	}, []string{"command", "kind"})}
}

// Describe implements prometheus.Collector.
func (h *ErrorCounter) Describe(ch chan<- *prometheus.Desc) { h.errors.Describe(ch) }

// Collect implements prometheus.Collector.
func (h *ErrorCounter) Collect(ch chan<- prometheus.Metric) { h.errors.Collect(ch) }

// DialHook implements redis.Hook. Dial failures surface as the failure of the command that
// needed the connection, so they are counted there, once.
func (h *ErrorCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook implements redis.Hook.
func (h *ErrorCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if tolerated(cmd) {
			return err
		}
		if kind, ok := classify(err); ok {
			h.errors.WithLabelValues(cmd.Name(), kind).Inc()
		}
		return err
	}
}

// ProcessPipelineHook implements redis.Hook. A pipeline counts once, under "pipeline", with
// the kind of its first real failure: a Nil among its replies is not one.
func (h *ErrorCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		if err == nil {
			return nil
		}
		own := false // err is the error of one of the commands
		for _, cmd := range cmds {
			cerr := cmd.Err()
			if cerr != nil && cerr == err {
				own = true
			}
			if tolerated(cmd) {
				continue
			}
			if kind, ok := classify(cerr); ok {
				h.errors.WithLabelValues("pipeline", kind).Inc()
				return err
			}
		}
		if kind, ok := classify(err); ok && !own {
			h.errors.WithLabelValues("pipeline", kind).Inc()
		}
		return err
	}
}

// tolerated says whether cmd is part of the connection handshake that go-redis sends on every
// new connection and whose failure it shrugs off: HELLO on a server older than 6, CLIENT
// SETINFO on one older than 7.2, CLIENT MAINT_NOTIFICATIONS on one older than 8.
func tolerated(cmd redis.Cmder) bool {
	switch cmd.Name() {
	case "hello":
		return true
	case "client":
		args := cmd.Args()
		if len(args) > 1 {
			sub, _ := args[1].(string)
			return strings.EqualFold(sub, "setinfo") || strings.EqualFold(sub, "maint_notifications")
		}
	}
	return false
}

// classify names the kind of a Redis failure, or says it is none.
func classify(err error) (string, bool) {
	switch {
	case err == nil,
		errors.Is(err, redis.Nil),
		errors.Is(err, redis.TxFailedErr),
		errors.Is(err, context.Canceled):
		return "", false
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, os.ErrDeadlineExceeded),
		errors.Is(err, redis.ErrPoolTimeout):
		return kindTimeout, true
	}
	var rerr redis.Error
	if errors.As(err, &rerr) {
		msg := strings.TrimPrefix(rerr.Error(), "ERR ")
		for _, p := range expectedReplies {
			if strings.HasPrefix(msg, p) {
				return "", false
			}
		}
		return kindReply, true
	}
	var nerr net.Error
	if errors.As(err, &nerr) && nerr.Timeout() {
		return kindTimeout, true
	}
	return kindConnection, true
}
