// Package config reads newsbot's configuration from the environment and an optional .env file
// (the real environment wins), types and validates it, and reports every problem at once so an
// operator fixes a broken deployment in one pass instead of one restart per mistake.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"newsbot/internal/article"
	"newsbot/internal/schedule"
	"newsbot/internal/secret"
)

// Defaults of DESIGN.md's table. .env.example repeats them for operators.
const (
	DefaultAPIURL       = "https://api.telegram.org"
	DefaultRedisURL     = "redis://localhost:6379/0"
	DefaultRedisPrefix  = "newsbot:"
	DefaultArticlesDir  = "./articles"
	DefaultFeedInterval = time.Minute
	DefaultLanguages    = "kk,ru,en"
	DefaultLanguage     = "kk"
	DefaultTopics       = "politics,economy,society,world,sport,culture,tech"
	DefaultSendRate     = 30.0
	DefaultHTTPAddr     = ":8080"
	DefaultTimezone     = "Asia/Almaty"
	DefaultLogLevel     = "info"
	DefaultLogFormat    = "text"

	DefaultMode            = "instant"
	DefaultDigestTimes     = "08:00,19:00"
	DefaultQuietHours      = "23:00-07:00"
	DefaultPushMaxAge      = 6 * time.Hour
	DefaultPaidBroadcast   = false
	DefaultRatesURL        = "https://nationalbank.kz/rss/rates_all.xml"
	DefaultRatesCurrencies = "USD,EUR,RUB"
	DefaultRatesInterval   = time.Hour
)

// Telegram's limits on SEND_RATE: about 30 messages a second to a bot, up to 1000 with paid
// broadcasts (allow_paid_broadcast, charged in Stars beyond the free 30).
const (
	FreeSendRate = 30.0
	MaxSendRate  = 1000.0
)

// Digest times an operator may configure: each is one message to every digest reader, and
// readers choose among them in /settings, where more than a handful do not fit.
const maxDigestTimes = 6

// Feed is one entry of FEEDS. Lang is empty when the feed's items carry their own language
// (or the feed is in DEFAULT_LANGUAGE; the source decides).
type Feed struct {
	Lang string
	URL  string
}

// Config is the whole configuration, typed and validated.
type Config struct {
	BotToken        string
	APIURL          string
	RedisURL        string
	RedisPrefix     string
	ArticlesDir     string
	Feeds           []Feed
	FeedInterval    time.Duration
	ArticlesStream  string
	Languages       []string
	DefaultLanguage string
	Topics          []string
	Channels        map[string]string // lang -> "@name" or "-100..."
	AdminIDs        []int64
	SendRate        float64
	WebhookURL      string
	WebhookSecret   string
	HTTPAddr        string
	Timezone        *time.Location
	LogLevel        slog.Level
	LogFormat       string

	// DefaultMode is the reading mode of a new reader: "instant", "digest" or "breaking" (the
	// subscriber store owns the modes; config only checks the name).
	DefaultMode string
	// DigestTimes are the times of the digests on the clocks of Timezone: sorted, 1 to 6.
	DigestTimes []schedule.Clock
	// QuietHours is when pushes go silently, on the clocks of Timezone; zero: never.
	QuietHours schedule.Window
	// PushMaxAge is how late after the story an instant push may still go.
	PushMaxAge time.Duration
	// PaidBroadcast sends readers' messages with allow_paid_broadcast.
	PaidBroadcast bool
	// RatesURL is the exchange-rate feed; "" turns rates off.
	RatesURL        string
	RatesCurrencies []string // ISO 4217 codes, like USD
	RatesInterval   time.Duration
}

// Error is one problem with one variable.
type Error struct {
	Var    string
	Reason string
}

func (e *Error) Error() string { return e.Var + ": " + e.Reason }

// Load builds the configuration from lookup (os.LookupEnv, or Environ's merge of it with
// .env). Unset and blank variables take their default, except ARTICLES_DIR, QUIET_HOURS and
// RATES_URL, which set to "" (or "off") are off. Every problem is reported, each as an *Error
// naming its variable, joined with errors.Join. A missing TELEGRAM_BOT_TOKEN is not a problem
// here (preview needs none): RequireRun checks it.
//
// spoken is the languages newsbot has translations for, locale.Languages() in main. It is a
// parameter rather than an import of locale: config stays a leaf that neither embeds nor
// parses the message files (nor depends on go-i18n), and its tests choose their own list.
func Load(lookup Lookup, spoken []string) (Config, error) {
	l := loader{lookup: lookup}
	c := Config{
		BotToken:       l.str("TELEGRAM_BOT_TOKEN", ""),
		APIURL:         strings.TrimRight(l.str("TELEGRAM_API_URL", DefaultAPIURL), "/"),
		RedisURL:       l.str("REDIS_URL", DefaultRedisURL),
		RedisPrefix:    l.str("REDIS_PREFIX", DefaultRedisPrefix),
		ArticlesDir:    l.optional("ARTICLES_DIR", DefaultArticlesDir),
		ArticlesStream: l.str("ARTICLES_STREAM", ""),
		WebhookURL:     l.str("WEBHOOK_URL", ""),
		WebhookSecret:  l.str("WEBHOOK_SECRET", ""),
		HTTPAddr:       l.str("HTTP_ADDR", DefaultHTTPAddr),
		LogFormat:      strings.ToLower(l.str("LOG_FORMAT", DefaultLogFormat)),
	}

	if u, err := url.Parse(c.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		l.fail("TELEGRAM_API_URL", fmt.Sprintf("%q is not an absolute http(s) URL", secret.URL(c.APIURL)))
	}
	if _, err := redisOptions(c.RedisURL); err != nil {
		l.fail("REDIS_URL", err.Error())
	}

	// LANGUAGES may list only languages newsbot has translations for: a story language without
	// labels, buttons and bot replies would reach readers half in English.
	c.Languages = l.list("LANGUAGES", DefaultLanguages)
	if len(c.Languages) == 0 {
		l.fail("LANGUAGES", "must name at least one language")
	}
	for _, lang := range c.Languages {
		if !slices.Contains(spoken, lang) {
			l.fail("LANGUAGES", fmt.Sprintf("%q is not a language newsbot has translations for (%s)", lang, strings.Join(spoken, ",")))
		}
	}
	if d := duplicate(c.Languages); d != "" {
		l.fail("LANGUAGES", fmt.Sprintf("%q is listed twice", d))
	}
	c.DefaultLanguage = l.str("DEFAULT_LANGUAGE", DefaultLanguage)
	if len(c.Languages) > 0 && !slices.Contains(c.Languages, c.DefaultLanguage) {
		l.fail("DEFAULT_LANGUAGE", fmt.Sprintf("%q is not one of LANGUAGES (%s)", c.DefaultLanguage, strings.Join(c.Languages, ",")))
	}

	c.Topics = l.list("TOPICS", DefaultTopics)
	if len(c.Topics) == 0 {
		l.fail("TOPICS", "must name at least one topic")
	}
	for _, t := range c.Topics {
		if !validSlug(t) {
			// Slugs become deep-link payloads (/start politics) and callback data: Telegram
			// allows only A-Za-z0-9_- there, and 64 bytes.
			l.fail("TOPICS", fmt.Sprintf("%q is not a slug of a-z, 0-9, _ and - (at most 32 characters)", t))
		}
	}
	if d := duplicate(c.Topics); d != "" {
		l.fail("TOPICS", fmt.Sprintf("%q is listed twice", d))
	}

	c.Feeds = l.feeds(c.Languages)
	c.FeedInterval = l.duration("FEED_INTERVAL", DefaultFeedInterval, time.Second, 0)
	c.Channels = l.channels(c.Languages)
	c.AdminIDs = l.adminIDs()

	c.SendRate = DefaultSendRate
	if v, _ := l.value("SEND_RATE"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		switch {
		case err != nil:
			l.fail("SEND_RATE", fmt.Sprintf("%q is not a number", v))
		case f <= 0 || f != f:
			l.fail("SEND_RATE", fmt.Sprintf("%q must be a positive number of messages per second", v))
		case f > MaxSendRate:
			l.fail("SEND_RATE", fmt.Sprintf("%q is above %g, Telegram's limit even with PAID_BROADCAST=true", v, MaxSendRate))
		default:
			c.SendRate = f
		}
	}

	if c.WebhookURL != "" {
		u, err := url.Parse(c.WebhookURL)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			// Telegram delivers webhooks only over HTTPS.
			l.fail("WEBHOOK_URL", fmt.Sprintf("%q is not an absolute https URL", secret.URL(c.WebhookURL)))
		}
		if c.WebhookSecret == "" {
			l.fail("WEBHOOK_SECRET", "required when WEBHOOK_URL is set")
		}
	}
	if c.WebhookSecret != "" && !validSecret(c.WebhookSecret) {
		// Telegram's setWebhook accepts 1-256 characters of A-Za-z0-9_- as secret_token.
		l.fail("WEBHOOK_SECRET", "must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
	}
	if _, port, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		l.fail("HTTP_ADDR", fmt.Sprintf("%q is not host:port (for example :8080)", c.HTTPAddr))
	} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		l.fail("HTTP_ADDR", fmt.Sprintf("%q has no valid port", c.HTTPAddr))
	}

	tz := l.str("TIMEZONE", DefaultTimezone)
	loc, err := time.LoadLocation(tz)
	if err != nil {
		l.fail("TIMEZONE", fmt.Sprintf("%q is not a time zone (like Asia/Almaty or UTC)", tz))
		loc = time.UTC
	}
	c.Timezone = loc

	if err := c.LogLevel.UnmarshalText([]byte(l.str("LOG_LEVEL", DefaultLogLevel))); err != nil {
		l.fail("LOG_LEVEL", fmt.Sprintf("%q is not debug, info, warn or error", l.str("LOG_LEVEL", "")))
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		l.fail("LOG_FORMAT", fmt.Sprintf("%q is not text or json", c.LogFormat))
	}

	c.DefaultMode = strings.ToLower(l.str("DEFAULT_MODE", DefaultMode))
	if modes := []string{"instant", "digest", "breaking"}; !slices.Contains(modes, c.DefaultMode) {
		l.fail("DEFAULT_MODE", fmt.Sprintf("%q is not instant, digest or breaking", c.DefaultMode))
	}
	c.DigestTimes = l.digestTimes()
	c.QuietHours = l.quietHours()
	c.PushMaxAge = l.duration("PUSH_MAX_AGE", DefaultPushMaxAge, time.Minute, 7*24*time.Hour)
	c.PaidBroadcast = l.boolean("PAID_BROADCAST", DefaultPaidBroadcast)
	c.RatesURL = l.ratesURL()
	c.RatesCurrencies = l.currencies()
	c.RatesInterval = l.duration("RATES_INTERVAL", DefaultRatesInterval, time.Minute, 0)

	return c, errors.Join(l.errs...)
}

// Warnings are settings that work but that the operator probably did not mean, one line each
// naming its variable; main logs them at start.
func (c Config) Warnings() []string {
	var w []string
	if c.SendRate > FreeSendRate && !c.PaidBroadcast {
		w = append(w, fmt.Sprintf("SEND_RATE: %g messages a second is above Telegram's %g without PAID_BROADCAST=true; expect 429 answers that slow every send",
			c.SendRate, FreeSendRate))
	}
	return w
}

// RequireRun reports what `newsbot run` needs beyond Load: the token.
func (c Config) RequireRun() error {
	if c.BotToken == "" {
		return &Error{Var: "TELEGRAM_BOT_TOKEN", Reason: "required to run the bot (the token @BotFather gave you)"}
	}
	if strings.HasPrefix(c.BotToken, "bot") {
		// Copied from a Bot API URL (https://api.telegram.org/bot123:ABC/getMe).
		return &Error{Var: "TELEGRAM_BOT_TOKEN", Reason: `starts with "bot": give the token alone (123456:ABC...), without the "bot" of Bot API URLs`}
	}
	if !validToken(c.BotToken) {
		// The token goes into the request path; a malformed one makes Telegram answer
		// "404 Not Found" to every call, which newsbot cannot tell from a wrong
		// TELEGRAM_API_URL. The value itself is never printed.
		return &Error{Var: "TELEGRAM_BOT_TOKEN", Reason: "does not look like a bot token (digits, a colon, then letters, digits, _ and -: 123456:ABC...)"}
	}
	return nil
}

// validToken checks the shape @BotFather gives: the bot's numeric id, ":", and a secret of
// letters, digits, "_" and "-". Quotes, spaces or a second line pasted along are caught here.
func validToken(t string) bool {
	id, secret, ok := strings.Cut(t, ":")
	if !ok || id == "" || secret == "" {
		return false
	}
	for _, r := range id {
		if r < '0' || r > '9' {
			return false
		}
	}
	for _, r := range secret {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// ArticleRules are the article validation rules of this deployment.
func (c Config) ArticleRules() article.Rules {
	return article.Rules{Languages: slices.Clone(c.Languages), Topics: slices.Clone(c.Topics)}
}

// Channel returns the chat of lang's channel from CHANNELS.
func (c Config) Channel(lang string) (string, bool) {
	ch, ok := c.Channels[lang]
	return ch, ok
}
