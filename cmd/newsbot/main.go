// Command newsbot runs the publisher's Telegram news bot: it watches the article store, posts
// new stories to the channels and pushes them to subscribed readers. `newsbot preview` renders
// article files exactly as they would be sent, without a token or network.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"newsbot/internal/config"
	"newsbot/internal/locale"
)

// version is set at build time: go build -ldflags "-X main.version=v1.2.3".
var version = "dev"

const usage = `newsbot — Telegram news bot for a multilingual publisher

Usage:
  newsbot [run]                       run the service (configured by the environment and .env)
  newsbot preview [-lang LL] FILE...  print the Bot API request each article file becomes
  newsbot playground                  the whole service against a Telegram stand-in, on a page
                                      at HTTP_ADDR (no token needed)
  newsbot version                     print the version
  newsbot help                        show this help

Configuration: environment variables, or a .env file in the working directory (ENV_FILE names
another one; the real environment wins). Every variable is documented in .env.example.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	stop()
	if err == nil {
		return
	}
	code := 1
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	if msg := err.Error(); msg != "" {
		for _, line := range strings.Split(msg, "\n") {
			fmt.Fprintln(os.Stderr, "newsbot: "+line)
		}
	}
	os.Exit(code)
}

// exitError sets the exit status; its message is empty when the problem was already printed.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// run is main without the process: args without the program name, lookupEnv (os.LookupEnv's
// shape: config tells a variable set to "" from an unset one) instead of the environment, so
// tests run every subcommand in-process.
func run(ctx context.Context, args []string, lookupEnv config.Lookup, stdout, stderr io.Writer) error {
	cmd := "run"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "run":
		if len(args) > 0 {
			fmt.Fprint(stderr, usage)
			return &exitError{code: 2, msg: fmt.Sprintf("run takes no arguments, got %q", args)}
		}
		cfg, err := loadConfig(lookupEnv)
		// Report the missing token together with any other problem: one pass to fix them all.
		if err := errors.Join(err, cfg.RequireRun()); err != nil {
			return err
		}
		log := newLogger(cfg, stderr)
		// Settings that work but were probably not meant (SEND_RATE above 30 without paid
		// broadcasts): one line each, naming the variable, before anything starts.
		for _, w := range cfg.Warnings() {
			log.Warn(w)
		}
		return serve(ctx, cfg, log, nil)
	case "preview":
		return preview(args, lookupEnv, stdout, stderr)
	case "playground":
		return playgroundCmd(ctx, args, lookupEnv, stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "newsbot", version)
		return nil
	case "help", "-h", "-help", "--help":
		// Asked for: the usage is the output (newsbot help | less), and nothing failed.
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return &exitError{code: 2, msg: fmt.Sprintf("unknown command %q", cmd)}
	}
}

// loadConfig reads the configuration from the environment and the .env file (ENV_FILE,
// default .env).
func loadConfig(lookupEnv config.Lookup) (config.Config, error) {
	env, ferr := environ(lookupEnv)
	if env == nil {
		return config.Config{}, ferr
	}
	spoken, err := locale.Languages()
	if err != nil {
		return config.Config{}, fmt.Errorf("load translations: %w", err)
	}
	// Problems of the file's lines (a misspelt name) are listed with the others.
	cfg, err := config.Load(env, spoken)
	return cfg, errors.Join(ferr, err)
}

// environ is lookupEnv with the .env file (ENV_FILE, default .env) behind it.
func environ(lookupEnv config.Lookup) (config.Lookup, error) {
	path, _ := lookupEnv("ENV_FILE")
	if path = strings.TrimSpace(path); path == "" {
		path = ".env"
	}
	return config.Environ(path, lookupEnv)
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
