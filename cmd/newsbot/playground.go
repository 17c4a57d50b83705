package main

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"

	"newsbot/internal/config"
	"newsbot/internal/delivery"
	"newsbot/internal/playground"
)

// playgroundCmd runs `newsbot playground`: the real service (serve, as `newsbot run` runs
// it) against the Bot API stand-in, shown on a page at HTTP_ADDR. It needs no token; `run`
// never falls back to it.
func playgroundCmd(ctx context.Context, args []string, lookupEnv config.Lookup, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		fmt.Fprint(stderr, usage)
		return &exitError{code: 2, msg: fmt.Sprintf("playground takes no arguments, got %q", args)}
	}
	// The operator's configuration must hold together as it does for `run` (the token
	// aside): what the playground shows is what that configuration would do.
	cfg, err := loadConfig(lookupEnv)
	if err != nil {
		return err
	}
	env, _ := environ(lookupEnv)
	getenv := func(k string) string { v, _ := env(k); return v }
	log := newLogger(cfg, stderr)
	queue := &engineQueue{}
	return playground.Run(ctx, playground.Options{
		Queue:  queue,
		Addr:   cfg.HTTPAddr,
		Getenv: getenv,
		Log:    log,
		Stdout: stdout,
		Service: func(ctx context.Context, over map[string]string) error {
			scfg, err := loadConfig(func(key string) (string, bool) {
				if v, ok := over[key]; ok {
					return v, true
				}
				return env(key)
			})
			if err != nil {
				return err
			}
			return serve(ctx, scfg, newLogger(scfg, stderr), queue.set)
		},
	})
}

// engineQueue tells the playground's strip how many messages delivery still has to send.
type engineQueue struct {
	eng atomic.Pointer[delivery.Engine]
}

func (q *engineQueue) set(e *delivery.Engine) { q.eng.Store(e) }

// Waiting implements playground.Queue.
func (q *engineQueue) Waiting(ctx context.Context) (int64, error) {
	e := q.eng.Load()
	if e == nil {
		return 0, nil
	}
	s, err := e.Stats(ctx)
	if err != nil {
		return 0, err
	}
	return s.Budget.Waiting, nil
}
