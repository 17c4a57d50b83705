package main

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"newsbot/internal/config"
)

// serve runs the service until ctx ends. The wiring of sources, delivery, bot and server
// lands here; until then run stops after validating the configuration.
func serve(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer) error {
	log.InfoContext(ctx, "configuration", "config", cfg)
	return errors.New("run: not wired yet (the service is being assembled; preview works)")
}
