package redisconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"newsbot/internal/backoff"

	"github.com/redis/go-redis/v9"
)

// pingTimeout bounds one attempt, so a server that accepts but never answers (a paused
// container, a black-holed route) counts as down rather than hanging start-up.
const pingTimeout = 2 * time.Second

// WaitReady blocks until Redis answers PING (every shard of a Cluster), retrying with
// backoff from 100 ms up to 5 s. It logs when Redis is first found unreachable (or refusing
// the credentials, or answering with an error) and when it answers again, not on every attempt. It returns nil once Redis answers, or the context's
// error wrapped when ctx ends first.
func WaitReady(ctx context.Context, rdb redis.UniversalClient, log *slog.Logger) error {
	ping := Ping(rdb)
	b := backoff.Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}
	var down time.Time
	var logged waitProblem
	for attempt := 1; ; attempt++ {
		pctx, cancel := context.WithTimeout(ctx, pingTimeout)
		err := ping(pctx)
		cancel()
		if err == nil {
			if !down.IsZero() {
				log.Info("redis is reachable again", "down_for", time.Since(down).Round(time.Millisecond).String(), "attempts", attempt)
			}
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("wait for redis: %w", ctx.Err())
		}
		if down.IsZero() {
			down = time.Now()
		}
		if p := problem(err); p != logged {
			// Once per kind of problem: an operator who fixes the network and then meets a
			// wrong password sees both, and a long outage is one line.
			logged = p
			log.Log(ctx, p.level, p.msg, "err", err)
		}
		if err := b.Wait(ctx); err != nil {
			return fmt.Errorf("wait for redis: %w", err)
		}
	}
}

// waitProblem is what WaitReady tells the operator about a failed PING.
type waitProblem struct {
	level slog.Level
	msg   string
}

// problem names a failed PING the way an operator acts on it: a refused password is fixed in
// REDIS_URL, not by waiting for Redis to come back.
func problem(err error) waitProblem {
	var rerr redis.Error
	if errors.As(err, &rerr) {
		msg := rerr.Error()
		if strings.HasPrefix(msg, "WRONGPASS") || strings.HasPrefix(msg, "NOAUTH") || strings.Contains(msg, "AUTH") && strings.Contains(msg, "password") {
			return waitProblem{slog.LevelError, "redis refuses the user or password of REDIS_URL, retrying with backoff"}
		}
		return waitProblem{slog.LevelWarn, "redis answers with an error, retrying with backoff"}
	}
	return waitProblem{slog.LevelWarn, "redis is unreachable, retrying with backoff"}
}
