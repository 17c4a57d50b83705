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
	err := run(ctx, os.Args[1:], environ, os.Stdout, os.Stderr)
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

// environ is os.Getenv, except that ARTICLES_DIR set to the empty string turns the directory
// watcher off (DESIGN.md), which plain getenv cannot tell from unset (the default ./articles).
func environ(key string) string {
	v, ok := os.LookupEnv(key)
	if key == "ARTICLES_DIR" && ok && strings.TrimSpace(v) == "" {
		return "off"
	}
	return v
}

// exitError sets the exit status; its message is empty when the problem was already printed.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// run is main without the process: args without the program name, getenv instead of the
// environment, so tests run every subcommand in-process.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
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
		cfg, err := loadConfig(getenv)
		// Report the missing token together with any other problem: one pass to fix them all.
		if err := errors.Join(err, cfg.RequireRun()); err != nil {
			return err
		}
		return serve(ctx, cfg, newLogger(cfg, stderr), stdout)
	case "preview":
		return preview(args, getenv, stdout, stderr)
	case "playground":
		return playgroundCmd(ctx, args, getenv, stdout, stderr)
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

// loadConfig reads the configuration from getenv and the .env file (ENV_FILE, default .env).
func loadConfig(getenv func(string) string) (config.Config, error) {
	path := getenv("ENV_FILE")
	if path == "" {
		path = ".env"
	}
	env, ferr := config.Environ(path, getenv)
	if env == nil {
		return config.Config{}, ferr
	}
	// Problems of the file's lines (a misspelt name) are listed with the others.
	cfg, err := config.Load(env)
	return cfg, errors.Join(ferr, err)
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
