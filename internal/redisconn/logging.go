package redisconn

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/redis/go-redis/v9"
)

// RouteLibraryLogs sends go-redis' own log lines to log instead of stderr. go-redis writes a
// line for every failed dial, so during an outage it would print several lines a second in a
// format that is neither the service's text nor its JSON; WaitReady and /readyz already say
// when Redis goes and comes back. The lines go out at debug level, except Sentinel's report
// of a master switch ("sentinel: new master=..."), which an operator wants to see (info);
// its failed lookups repeat with every attempt and stay at debug. go-redis keeps its logger in a
// package variable, so call this once, from main.
func RouteLibraryLogs(log *slog.Logger) {
	redis.SetLogger(libraryLogger{log: log.With("component", "go-redis")})
}

type libraryLogger struct{ log *slog.Logger }

func (l libraryLogger) Printf(ctx context.Context, format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	level := slog.LevelDebug
	if strings.HasPrefix(msg, "sentinel: new master") {
		level = slog.LevelInfo
	}
	l.log.Log(ctx, level, msg)
}
