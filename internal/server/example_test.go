package server_test

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"newsbot/internal/redisconn"
	"newsbot/internal/server"
)

// The wiring cmd/newsbot does: one registry for every package's metrics, the shared Redis
// client, readiness on Redis and on Telegram having answered getMe, the webhook only in
// webhook mode.
func Example() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	reg := prometheus.NewRegistry()
	redisconn.RouteLibraryLogs(log)
	rdb, err := redisconn.New(&redis.UniversalOptions{Addrs: []string{"localhost:6379"}}, reg) // cfg.RedisOptions()
	if err != nil {
		log.Error("redis", "err", err)
		return
	}
	getMe := func(ctx context.Context) error { return nil } // telegram client: Call(ctx, "getMe", nil)
	var webhook http.Handler                                // bot.NewWebhookHandler(cfg.WebhookSecret, ...) in webhook mode

	srv, err := server.New(server.Config{
		Addr: ":8080", // cfg.HTTPAddr
		Checks: map[string]server.Check{
			"redis":    redisconn.Ping(rdb),
			"telegram": server.Remember(getMe, 5*time.Minute),
		},
		Registry:   reg,
		WebhookURL: "", // cfg.WebhookURL; empty: long polling, no webhook path
		Webhook:    webhook,
		Version:    "v1.4.0", // main.version
	}, log)
	if err != nil {
		log.Error("http server", "err", err)
		return
	}
	_ = srv // g.Go(func() error { return srv.Run(ctx) }) beside the other parts
}
