// Package redisconn opens the one Redis connection the service shares: a go-redis universal
// client (single node, Sentinel or Cluster, whatever REDIS_URL names) with timeouts fit for
// a long-running service, a hook that counts Redis failures for /metrics, a readiness check,
// and a start-up wait that lets the service come up while Redis is down.
package redisconn

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults applied to options left at zero. Explicit values (from REDIS_URL query parameters
// such as ?dial_timeout=) win.
const (
	defaultClientName   = "newsbot"
	defaultDialTimeout  = 5 * time.Second
	defaultReadTimeout  = 3 * time.Second
	defaultWriteTimeout = 3 * time.Second
	// go-redis dials up to 5 times for each of its 4 tries of a command, so a command against a
	// stopped server took seconds to fail; callers retry with their own backoff anyway.
	defaultDialerRetries = 2
	// Fan-out keeps many workers busy at once; go-redis' 10 per CPU is small on a 2-CPU box.
	minPoolSize = 32
)

// New builds the client from opt (config.RedisOptions()); opt itself is not modified. Every
// Redis failure of a command or pipeline is counted by errs (nil: not counted). New does no
// network I/O: use WaitReady to wait for Redis.
func New(opt *redis.UniversalOptions, errs *ErrorCounter) (redis.UniversalClient, error) {
	if opt == nil {
		return nil, errors.New("redis options are missing")
	}
	o := *opt
	if o.ClientName == "" {
		// Shows up in CLIENT LIST, so an operator can tell newsbot's connections apart.
		o.ClientName = defaultClientName
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = defaultDialTimeout
	}
	if o.DialerRetries == 0 {
		o.DialerRetries = defaultDialerRetries
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = defaultReadTimeout
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = defaultWriteTimeout
	}
	if o.PoolSize == 0 {
		o.PoolSize = max(minPoolSize, 10*runtime.GOMAXPROCS(0))
	}
	// A cancelled context (shutdown) must abort a command waiting on a dead server instead
	// of holding the process for the full read timeout.
	o.ContextTimeoutEnabled = true

	rdb := redis.NewUniversalClient(&o)
	if errs != nil {
		rdb.AddHook(errs)
	}
	return rdb, nil
}

// Ping is the readiness check of Redis: PING answered. On a Cluster every shard must
// answer, since a story's keys may live on any of them.
func Ping(rdb redis.UniversalClient) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		if cc, ok := rdb.(*redis.ClusterClient); ok {
			err := cc.ForEachShard(ctx, func(ctx context.Context, c *redis.Client) error {
				return c.Ping(ctx).Err()
			})
			if err != nil {
				return fmt.Errorf("redis ping: %w", err)
			}
			return nil
		}
		if err := rdb.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("redis ping: %w", err)
		}
		return nil
	}
}
