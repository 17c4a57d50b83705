package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"newsbot/internal/config"
	"newsbot/internal/playground"
)

// playgroundCmd runs `newsbot playground`: the real service (serve, as `newsbot run` runs
// it) against the Bot API stand-in, shown on a page at HTTP_ADDR. It needs no token; `run`
// never falls back to it.
func playgroundCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		fmt.Fprint(stderr, usage)
		return &exitError{code: 2, msg: fmt.Sprintf("playground takes no arguments, got %q", args)}
	}
	path := getenv("ENV_FILE")
	if path == "" {
		path = ".env"
	}
	env, ferr := config.Environ(path, getenv)
	if env == nil {
		return ferr
	}
	// The operator's configuration must hold together as it does for `run` (the token
	// aside): what the playground shows is what that configuration would do.
	cfg, err := config.Load(env)
	if err := errors.Join(ferr, err); err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	return playground.Run(ctx, playground.Options{
		Addr:   cfg.HTTPAddr,
		Getenv: env,
		Log:    log,
		Stdout: stdout,
		Service: func(ctx context.Context, over map[string]string) error {
			scfg, err := config.Load(func(key string) string {
				if v, ok := over[key]; ok {
					return v
				}
				return env(key)
			})
			if err != nil {
				return err
			}
			return serve(ctx, scfg, newLogger(scfg, stderr), stdout)
		},
	})
}
