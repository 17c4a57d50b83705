// Package playground runs `newsbot playground`: the real service against a Telegram Bot API
// stand-in served in the same process (internal/botapi), and a page that shows it all — the
// channels as Telegram shows them, chats with readers who type and press buttons, an editor,
// a form that writes stories into the article store, and a strip of what was sent.
//
// Nothing of the pipeline is faked: the service runs as `newsbot run` would, with its own
// Redis data (a redis-server of its own, or REDIS_URL under a key prefix of the playground's
// own), its article directory (a temporary one) and long polling; only Telegram is the
// stand-in. `newsbot run` never reaches any of this.
package playground

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"newsbot/internal/botapi"
	"newsbot/internal/locale"
)

// Queue is how many messages delivery still has to send (delivery's Stats satisfies it once
// wired); the strip shows "—" without it.
type Queue interface {
	Waiting(ctx context.Context) (int64, error)
}

// Service runs the real service with env as its environment (the variables the playground
// sets win over the operator's) until ctx ends.
type Service func(ctx context.Context, env map[string]string) error

// Options configure Run.
type Options struct {
	// Addr is where the page listens (HTTP_ADDR; default "localhost:8080"). Its host is
	// always a loopback one: the page drives the bot and is nobody else's to use.
	Addr string
	// Getenv reads the operator's configuration (environment and .env): LANGUAGES, TOPICS,
	// ADMIN_IDS, REDIS_URL, TIMEZONE, ARTICLES_DIR (where the sample story is taken from).
	// nil: os.Getenv.
	Getenv func(string) string
	// Service is the real service; required.
	Service Service
	// Queue is delivery's queue length for the strip; optional.
	Queue Queue
	// Log receives the playground's own lines; nil: discarded.
	Log *slog.Logger
	// Stdout receives the banner line once the page answers; nil: discarded.
	Stdout io.Writer
	// Ready, when set, is called with the page's URL once it answers.
	Ready func(pageURL string)
	// Samples is the directory the sample stories are copied from (default: ARTICLES_DIR,
	// else ./articles); the embedded sample story when it holds none.
	Samples string
}

// Prefix is the key prefix under which the playground keeps its data in a shared Redis;
// each run takes a prefix of its own below it and removes its keys at exit.
const Prefix = "newsbot:playground:"

// stopBudget bounds the shutdown of the service, then of the rest.
const stopBudget = 10 * time.Second

// Run runs the playground until ctx ends: the stand-in, Redis, the service and the page.
// Everything it started is stopped and its temporary data removed before it returns.
func Run(ctx context.Context, opt Options) (err error) {
	if opt.Service == nil {
		return errors.New("playground: no service to run")
	}
	if opt.Getenv == nil {
		opt.Getenv = os.Getenv
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Stdout == nil {
		opt.Stdout = io.Discard
	}
	log := opt.Log
	set, err := readSettings(opt.Getenv)
	if err != nil {
		return err
	}
	texts, err := locale.Load()
	if err != nil {
		return fmt.Errorf("load translations: %w", err)
	}

	// The page's port first: a port already taken is one clear line before anything starts.
	pageAddr, err := loopback(opt.Addr)
	if err != nil {
		return err
	}
	var lc net.ListenConfig
	pageLn, err := lc.Listen(ctx, "tcp", pageAddr)
	if err != nil {
		return fmt.Errorf("HTTP_ADDR: listen on %s: %w", pageAddr, err)
	}
	defer pageLn.Close()

	dir, err := os.MkdirTemp("", "newsbot-playground-articles-")
	if err != nil {
		return fmt.Errorf("create the article store: %w", err)
	}
	defer func() {
		if rerr := os.RemoveAll(dir); rerr != nil {
			log.Warn("playground: remove the article store", "dir", dir, "err", rerr)
		}
	}()

	rd, err := chooseRedis(ctx, opt.Getenv("REDIS_URL"), log)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopBudget)
		defer cancel()
		if cerr := rd.close(cctx); cerr != nil {
			log.Warn("playground: clean up redis", "err", cerr)
		}
	}()

	api := botapi.New(botapi.Options{Username: "newsbot_playground_bot", FirstName: "Newsbot"})
	// Telegram's limits, so that the strip shows what a real bot would meet.
	api.SetRateLimit(30)
	api.SetChatLimits(botapi.TelegramChatLimits())
	apiLn, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen for the Bot API stand-in: %w", err)
	}
	apiSrv := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second}
	apiDone := make(chan struct{})
	go func() {
		defer close(apiDone)
		if serr := apiSrv.Serve(apiLn); serr != nil && !errors.Is(serr, http.ErrServerClosed) {
			log.Error("playground: Bot API stand-in stopped", "err", serr)
		}
	}()
	defer func() {
		api.Close()
		_ = apiSrv.Close()
		<-apiDone
	}()

	channels := map[string]string{}
	for _, l := range set.languages {
		channels[l] = "@newsbot_playground_" + l
	}
	env := serviceEnv(set, channels, "http://"+apiLn.Addr().String(), api.Token(), rd, dir)

	p := newPage(pageDeps{
		api: api, texts: texts, set: set, channels: channels, dir: dir,
		redis: rd, queue: opt.Queue, log: log,
	})

	// The service runs under a context of its own: it stops first, while Telegram and Redis
	// still answer, so that its shutdown is the one `newsbot run` has.
	sctx, stopService := context.WithCancel(context.WithoutCancel(ctx))
	defer stopService()
	serviceDone := make(chan error, 1)
	go func() { serviceDone <- opt.Service(sctx, env) }()

	pctx, stopPage := context.WithCancel(ctx)
	defer stopPage()
	pageSrv := &http.Server{
		Handler:           p.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return pctx },
	}
	pageDone := make(chan struct{})
	go func() {
		defer close(pageDone)
		if serr := pageSrv.Serve(pageLn); serr != nil && !errors.Is(serr, http.ErrServerClosed) {
			log.Error("playground: page server stopped", "err", serr)
		}
	}()
	go p.sample(pctx)
	go p.seed(pctx, opt.Samples, opt.Getenv)

	pageURL := "http://" + displayAddr(pageLn.Addr()) + "/"
	fmt.Fprintf(opt.Stdout, "newsbot playground: the whole service against a Telegram stand-in, page at %s; %s; set TELEGRAM_BOT_TOKEN in .env to go live\n", pageURL, rd.describe())
	if opt.Ready != nil {
		opt.Ready(pageURL)
	}

	select {
	case err = <-serviceDone:
		if err == nil {
			err = errors.New("the service stopped by itself")
		}
		err = fmt.Errorf("playground: %w", err)
	case <-ctx.Done():
		stopService()
		select {
		case serr := <-serviceDone:
			if serr != nil && !errors.Is(serr, context.Canceled) {
				err = fmt.Errorf("playground: service: %w", serr)
			}
		case <-time.After(stopBudget):
			err = errors.New("playground: the service is still running " + stopBudget.String() + " after the stop")
		}
	}
	stopPage()
	sctx2, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	if serr := pageSrv.Shutdown(sctx2); serr != nil {
		_ = pageSrv.Close()
	}
	<-pageDone
	return err
}

// settings are what the playground reads of the operator's configuration.
type settings struct {
	languages []string
	topics    []string
	admins    []int64
	loc       *time.Location
	getenv    func(string) string
}

func readSettings(getenv func(string) string) (settings, error) {
	list := func(key, def string) []string {
		v := strings.TrimSpace(getenv(key))
		if v == "" {
			v = def
		}
		var out []string
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	s := settings{
		languages: list("LANGUAGES", "kk,ru,en"),
		topics:    list("TOPICS", "politics,economy,society,world,sport,culture,tech"),
		loc:       time.UTC,
		getenv:    getenv,
	}
	for _, v := range list("ADMIN_IDS", "") {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return settings{}, fmt.Errorf("ADMIN_IDS: %q is not a Telegram user id", v)
		}
		s.admins = append(s.admins, id)
	}
	tz := strings.TrimSpace(getenv("TIMEZONE"))
	if tz == "" {
		tz = "Asia/Almaty"
	}
	if loc, err := time.LoadLocation(tz); err == nil {
		s.loc = loc
	}
	return s, nil
}

// serviceEnv is the service's environment: Telegram is the stand-in, Redis and the article
// store are the playground's, every other source of stories and the webhook are off (the
// stand-in serves getUpdates), and the service's own HTTP server takes any free loopback
// port.
func serviceEnv(set settings, channels map[string]string, apiURL, token string, rd *redisChoice, dir string) map[string]string {
	var ch []string
	for _, l := range set.languages {
		ch = append(ch, l+"="+channels[l])
	}
	admins := make([]string, 0, len(set.admins)+1)
	for _, id := range set.admins {
		admins = append(admins, strconv.FormatInt(id, 10))
	}
	if len(admins) == 0 {
		admins = append(admins, strconv.FormatInt(madeUpEditor, 10))
	}
	return map[string]string{
		"TELEGRAM_API_URL":   apiURL,
		"TELEGRAM_BOT_TOKEN": token,
		"REDIS_URL":          rd.url,
		"REDIS_PREFIX":       rd.prefix,
		"ARTICLES_DIR":       dir,
		"FEEDS":              "",
		"ARTICLES_STREAM":    "",
		"WEBHOOK_URL":        "",
		"WEBHOOK_SECRET":     "",
		"RATES_URL":          "",
		"CHANNELS":           strings.Join(ch, ","),
		"ADMIN_IDS":          strings.Join(admins, ","),
		"LANGUAGES":          strings.Join(set.languages, ","),
		"TOPICS":             strings.Join(set.topics, ","),
		"HTTP_ADDR":          "127.0.0.1:0",
	}
}

// loopback turns HTTP_ADDR into a loopback address: ":8080" and "0.0.0.0:8080" become
// "127.0.0.1:8080"; "localhost:9000" and "[::1]:9000" stay.
func loopback(addr string) (string, error) {
	if strings.TrimSpace(addr) == "" {
		addr = "localhost:8080"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("HTTP_ADDR: %q is not host:port (for example :8080)", addr)
	}
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		if host == "localhost" {
			host = "127.0.0.1"
		}
		return net.JoinHostPort(host, port), nil
	}
	return net.JoinHostPort("127.0.0.1", port), nil
}

// displayAddr is the page's address as a browser is told it: localhost for 127.0.0.1.
func displayAddr(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	if tcp.IP.Equal(net.IPv4(127, 0, 0, 1)) {
		return net.JoinHostPort("localhost", strconv.Itoa(tcp.Port))
	}
	return tcp.String()
}
