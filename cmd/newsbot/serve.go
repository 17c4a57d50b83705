package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"newsbot/internal/backoff"
	"newsbot/internal/bot"
	"newsbot/internal/config"
	"newsbot/internal/delivery"
	"newsbot/internal/desk"
	"newsbot/internal/intake"
	"newsbot/internal/locale"
	"newsbot/internal/post"
	"newsbot/internal/rates"
	"newsbot/internal/redisconn"
	"newsbot/internal/server"
	"newsbot/internal/source"
	"newsbot/internal/subscriber"
	"newsbot/internal/telegram"
)

// shutdownBudget is how long the parts get to stop after SIGTERM before serve gives up on
// them; operators are promised an exit within 10 s.
const shutdownBudget = 8 * time.Second

// unansweredFor is how long the bot's calls may go unanswered before /readyz says Telegram is
// down: longer than one slow answer, far shorter than an operator's patience.
const unansweredFor = 5 * time.Second

// serve runs the service until ctx ends: the HTTP server first (so /healthz and /readyz
// answer while Redis or Telegram are still unreachable), then, once Redis answers, the
// watchers, the delivery workers and the update intake, all under one errgroup.
//
// started, when not nil, is given the delivery engine once it is built (the playground shows
// its queue).
func serve(ctx context.Context, cfg config.Config, log *slog.Logger, started func(*delivery.Engine)) error {
	log.Info("newsbot starting", "version", version, "config", cfg)

	redisconn.RouteLibraryLogs(log)
	reg := prometheus.NewRegistry()
	ropt, err := cfg.RedisOptions()
	if err != nil {
		return err
	}
	redisErrors := redisconn.NewErrorCounter()
	rdb, err := redisconn.New(ropt, redisErrors)
	if err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	defer rdb.Close()

	texts, err := locale.Load()
	if err != nil {
		return fmt.Errorf("load translations: %w", err)
	}
	tg := telegram.New(cfg.BotToken, cfg.APIURL, telegram.NewHTTPClient(), log)
	readers := subscriber.NewStore(rdb, cfg.RedisPrefix, cfg.Languages, cfg.Topics)
	// The store narrows a reader's digest times from "all of DIGEST_TIMES" (/settings).
	digestTimes := make([]string, len(cfg.DigestTimes))
	for i, c := range cfg.DigestTimes {
		digestTimes[i] = c.String()
	}
	readers.SetDigestTimes(digestTimes)
	stories := source.NewStore(rdb, cfg.RedisPrefix, source.StoreOptions{})
	// Rates off (RATES_URL empty): no Service, and the bot's Rates stays a nil interface.
	var ratesSvc *rates.Service
	var botRates bot.Rates
	var ratesLine func(ctx context.Context, lang string) string
	if cfg.RatesURL != "" {
		ratesSvc = rates.New(rdb, rates.Options{
			Prefix:     cfg.RedisPrefix,
			URL:        cfg.RatesURL,
			Currencies: cfg.RatesCurrencies,
			Interval:   cfg.RatesInterval,
			Log:        log,
		})
		botRates = ratesSvc
		ratesLine = func(ctx context.Context, lang string) string {
			s, ok, err := ratesSvc.Latest(ctx)
			if err != nil || !ok {
				return ""
			}
			return rates.Line(texts, lang, s)
		}
	}
	// One renderer for channel posts, readers' copies, digests and editors' previews: a
	// preview is exactly what readers get.
	renderer := post.NewRenderer(texts, cfg.Timezone)
	engine := delivery.New(rdb, tg, readers, renderer, delivery.Options{
		Prefix:        cfg.RedisPrefix,
		Channels:      cfg.Channels,
		SendRate:      cfg.SendRate,
		MaxAge:        cfg.PushMaxAge,
		PaidBroadcast: cfg.PaidBroadcast,
		Location:      cfg.Timezone,
		DigestTimes:   cfg.DigestTimes,
		QuietHours:    cfg.QuietHours,
		RatesLine:     ratesLine,
		Log:           log,
	})
	if started != nil {
		started(engine)
	}
	sourceMetrics := source.NewMetrics()
	// Every part that counts something is a prometheus.Collector, registered here.
	for _, c := range []prometheus.Collector{redisErrors, engine, sourceMetrics} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}

	// The telegram check fails as soon as the bot's own calls have had no answer for a few
	// seconds (an outage shows in /readyz while it lasts, not a minute later); otherwise it
	// calls getMe at most once a minute when that passes, and on every probe when it fails.
	getMe := server.Remember(func(ctx context.Context) error {
		_, err := tg.GetMe(ctx)
		return err
	}, time.Minute)
	telegramCheck := func(ctx context.Context) error {
		if err := tg.Unanswered(unansweredFor); err != nil {
			return err
		}
		return getMe(ctx)
	}

	var webhook *lateHandler
	if cfg.WebhookURL != "" {
		webhook = &lateHandler{}
	}
	srv, err := server.New(server.Config{
		Addr: cfg.HTTPAddr,
		Checks: map[string]server.Check{
			"redis":    redisconn.Ping(rdb),
			"telegram": telegramCheck,
		},
		Registry:   reg,
		Version:    version,
		WebhookURL: cfg.WebhookURL,
		Webhook:    webhook.handler(),
	}, log)
	if err != nil {
		return fmt.Errorf("http server: %w", err)
	}

	// Listen before anything else starts: a port already taken is one clear line, not a
	// half-started service.
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("HTTP_ADDR: listen on %s: %w", cfg.HTTPAddr, err)
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Serve(gctx, ln) })

	g.Go(func() error {
		if err := redisconn.WaitReady(gctx, rdb, log); err != nil {
			return nil // shutting down before Redis ever answered
		}
		me, err := waitTelegram(gctx, tg, cfg.APIURL, log)
		if err != nil {
			if gctx.Err() != nil {
				return nil
			}
			return err
		}
		log.Info("connected", "bot", me.UserName, "bot_id", me.ID)

		// Replies, previews and edits take their slots ahead of fan-out.
		replies := engine.Replies(tg)
		editors, err := desk.New(desk.Options{
			API:       replies,
			Texts:     texts,
			Stories:   stories,
			Audience:  readers,
			Publisher: engine, // /publish pushes through delivery
			Renderer:  renderer,
			Redis:     rdb,
			Prefix:    cfg.RedisPrefix,
			Languages: cfg.Languages,
			Topics:    cfg.Topics,
			Location:  cfg.Timezone,
			Log:       log,
		})
		if err != nil {
			return fmt.Errorf("desk: %w", err)
		}
		b, err := bot.New(bot.Options{
			API:             replies,
			Readers:         readers,
			Stories:         stories,
			Texts:           texts,
			Redis:           rdb,
			Prefix:          cfg.RedisPrefix,
			Languages:       cfg.Languages,
			DefaultLanguage: cfg.DefaultLanguage,
			Topics:          cfg.Topics,
			DefaultMode:     subscriber.Mode(cfg.DefaultMode),
			DigestTimes:     cfg.DigestTimes,
			QuietHours:      cfg.QuietHours,
			Digests:         catchUp{engine: engine, replies: replies},
			Username:        me.UserName,
			Location:        cfg.Timezone,
			Admins:          cfg.AdminIDs,
			Desk:            editors,
			Rates:           botRates,
			Log:             log,
		})
		if err != nil {
			return fmt.Errorf("bot: %w", err)
		}
		if err := b.RegisterCommands(gctx); err != nil {
			// The commands menu is a convenience: the bot answers without it.
			log.Warn("register the command menu", "err", err)
		}
		if err := b.RegisterAdminCommands(gctx); err != nil {
			log.Warn("register the admins' command menu", "err", err)
		}
		dispatcher, err := intake.NewDispatcher(intake.DispatcherOptions{Handler: b, Log: log})
		if err != nil {
			return fmt.Errorf("intake: %w", err)
		}
		if err := reg.Register(dispatcher); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}

		parts, err := watchers(cfg, rdb, stories, engine, sourceMetrics, log)
		if err != nil {
			return err
		}
		pg, pctx := errgroup.WithContext(gctx)
		pg.Go(func() error { return dispatcher.Run(pctx) })
		pg.Go(func() error { return engine.Run(pctx) })
		if ratesSvc != nil {
			pg.Go(func() error { return ratesSvc.Run(pctx) })
		}
		for _, w := range parts {
			pg.Go(func() error { return supervise(pctx, w.name, w.Watcher, log) })
		}
		if cfg.WebhookURL != "" {
			hook, err := intake.NewWebhook(intake.WebhookOptions{
				Secret: cfg.WebhookSecret, Dispatcher: dispatcher, Redis: rdb, Prefix: cfg.RedisPrefix, Log: log,
			})
			if err != nil {
				return fmt.Errorf("intake: %w", err)
			}
			webhook.set(hook)
			if err := intake.SetupWebhook(pctx, tg, cfg.WebhookURL, cfg.WebhookSecret); err != nil {
				log.Error("set the webhook; updates will not arrive until it is set", "err", err)
			}
		} else {
			poller, err := intake.NewPoller(intake.PollerOptions{
				API: tg, Dispatcher: dispatcher, Redis: rdb, Prefix: cfg.RedisPrefix, Log: log,
			})
			if err != nil {
				return fmt.Errorf("intake: %w", err)
			}
			pg.Go(func() error { return poller.Run(pctx) })
		}
		log.Info("newsbot running", "languages", cfg.Languages, "webhook", cfg.WebhookURL != "")
		return pg.Wait()
	})

	stopped := make(chan error, 1)
	go func() { stopped <- g.Wait() }()
	select {
	case err := <-stopped:
		return finish(ctx, err, log)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	select {
	case err := <-stopped:
		return finish(ctx, err, log)
	case <-time.After(shutdownBudget):
		return errors.New("shutdown: parts still running after " + shutdownBudget.String())
	}
}

func finish(ctx context.Context, err error, log *slog.Logger) error {
	if err != nil && !(ctx.Err() != nil && errors.Is(err, context.Canceled)) {
		return err
	}
	log.Info("stopped")
	return nil
}

// namedWatcher is an article source with the name logs give it.
type namedWatcher struct {
	source.Watcher
	name string
}

// watchers builds the configured article sources, all handing stories to delivery.
func watchers(cfg config.Config, rdb redis.UniversalClient, stories *source.Store, engine *delivery.Engine, metrics *source.Metrics, log *slog.Logger) ([]namedWatcher, error) {
	deps := source.Deps{
		Store:   stories,
		Sink:    engine,
		Rules:   cfg.ArticleRules(),
		Log:     log,
		Metrics: metrics,
		// One name for this copy in every claim and as the stream consumer.
		Owner: source.InstanceID(),
	}
	var ws []namedWatcher
	if cfg.ArticlesDir != "" {
		ws = append(ws, namedWatcher{source.NewDir(deps, cfg.ArticlesDir, source.DirOptions{}), "dir:" + cfg.ArticlesDir})
	}
	if len(cfg.Feeds) > 0 {
		feeds := make([]source.FeedConfig, len(cfg.Feeds))
		for i, f := range cfg.Feeds {
			feeds[i] = source.FeedConfig{Lang: f.Lang, URL: f.URL}
		}
		ws = append(ws, namedWatcher{source.NewFeed(deps, feeds, source.FeedOptions{Interval: cfg.FeedInterval}), "feeds"})
	}
	if cfg.ArticlesStream != "" {
		ws = append(ws, namedWatcher{source.NewStream(deps, rdb, cfg.ArticlesStream, source.StreamOptions{}), "stream:" + cfg.ArticlesStream})
	}
	if len(ws) == 0 {
		log.Warn("no article source configured (ARTICLES_DIR, FEEDS, ARTICLES_STREAM): only /publish and commands work")
	}
	return ws, nil
}

// waitTelegram calls getMe until Telegram answers: the bot's username is needed to tell
// "/start@ThisBot" from commands meant for other bots. A refused token is fatal; anything
// else is retried with backoff.
func waitTelegram(ctx context.Context, tg *telegram.Client, apiURL string, log *slog.Logger) (telegram.User, error) {
	b := backoff.Backoff{Min: time.Second, Max: 30 * time.Second}
	logged := false
	for {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		me, err := tg.GetMe(cctx)
		cancel()
		if err == nil {
			return me, nil
		}
		if telegram.OutcomeOf(err) == telegram.Unauthorized {
			return telegram.User{}, fmt.Errorf("telegram refused TELEGRAM_BOT_TOKEN: %w", err)
		}
		// Telegram answers 404 to a token it cannot parse; so does anything at a wrong
		// TELEGRAM_API_URL. Retrying cannot fix either.
		var te *telegram.Error
		if errors.As(err, &te) && te.Code == http.StatusNotFound {
			return telegram.User{}, fmt.Errorf("getMe answered 404 Not Found: check TELEGRAM_BOT_TOKEN and TELEGRAM_API_URL (%s): %w", apiURL, err)
		}
		if !logged {
			log.Warn("telegram is unreachable, retrying with backoff", "err", err)
			logged = true
		}
		if err := b.Wait(ctx); err != nil {
			return telegram.User{}, err
		}
	}
}

// supervise runs a watcher until ctx ends. A watcher that gives up (its directory is
// missing, say) is logged and started again with backoff: one broken source must not take
// the bot, the delivery of the other sources or the subscribers' commands down with it.
func supervise(ctx context.Context, name string, w source.Watcher, log *slog.Logger) error {
	b := backoff.Backoff{Min: time.Second, Max: time.Minute}
	for {
		err := w.Run(ctx)
		if ctx.Err() != nil {
			return nil
		}
		wait := b.Next()
		log.Error("article source stopped; restarting", "source", name, "err", err, "retry_in", wait.Round(time.Millisecond).String())
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// catchUp gives the bot the engine's catch-up for readers who leave digests, sent over the
// reply path like the bot's other answers.
type catchUp struct {
	engine  *delivery.Engine
	replies *delivery.Replies
}

func (c catchUp) CatchUp(ctx context.Context, before subscriber.Reader) (bool, error) {
	return c.engine.CatchUp(ctx, c.replies, before)
}
