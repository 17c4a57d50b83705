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
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/joho/godotenv"

	"newsbot/internal/article"
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
)

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
}

// Error is one problem with one variable.
type Error struct {
	Var    string
	Reason string
}

func (e *Error) Error() string { return e.Var + ": " + e.Reason }

// Variables is every variable newsbot reads, for telling a misspelt one in .env.
var Variables = []string{
	"TELEGRAM_BOT_TOKEN", "TELEGRAM_API_URL", "REDIS_URL", "REDIS_PREFIX", "ARTICLES_DIR", "FEEDS",
	"FEED_INTERVAL", "ARTICLES_STREAM", "LANGUAGES", "DEFAULT_LANGUAGE", "TOPICS", "CHANNELS",
	"ADMIN_IDS", "SEND_RATE", "WEBHOOK_URL", "WEBHOOK_SECRET", "HTTP_ADDR", "TIMEZONE", "LOG_LEVEL",
	"LOG_FORMAT", "ENV_FILE",
}

// Environ returns a getenv that consults the real environment first and then the .env file at
// path. A missing file is fine (containers configure through the environment); an unreadable or
// malformed one is an error, because silently ignoring it would run with defaults the operator
// did not choose. The process environment is never modified.
//
// A line of the file that names no variable newsbot reads but nearly one (CHANELS, channels)
// or is not NAME=value at all is reported as an *Error, with a usable getenv: it would
// otherwise be ignored without a word and newsbot would run with the default. Other unknown
// names are fine: the file may also serve docker compose (VERSION, ARTICLES_HOST_DIR).
func Environ(path string, getenv func(string) string) (func(string) string, error) {
	file := map[string]string{}
	var errs []error
	if path != "" {
		m, err := godotenv.Read(path)
		switch {
		case err == nil:
			file = m
		case errors.Is(err, os.ErrNotExist):
		default:
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		errs = fileKeyProblems(path, file)
	}
	return func(key string) string {
		if v := getenv(key); v != "" {
			return v
		}
		v, ok := file[key]
		if ok && key == "ARTICLES_DIR" && strings.TrimSpace(v) == "" {
			// "ARTICLES_DIR=" written in .env turns the watcher off, as DESIGN.md promises.
			return "off"
		}
		return v
	}, errors.Join(errs...)
}

// fileKeyProblems lists the names in the .env file that look like mistakes.
func fileKeyProblems(path string, file map[string]string) []error {
	keys := make([]string, 0, len(file))
	for k := range file {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var errs []error
	for _, k := range keys {
		if slices.Contains(Variables, k) {
			continue
		}
		if strings.ContainsAny(k, " \t") {
			// godotenv reads "TELEGRAM_BOT_TOKEN 123:ABC" as the name "TELEGRAM_BOT_TOKEN 123".
			// Only the first word is shown: the rest may be a secret.
			errs = append(errs, &Error{Var: strings.Fields(k)[0], Reason: fmt.Sprintf("the line of %s is not NAME=value", path)})
			continue
		}
		if near := nearest(k); near != "" {
			errs = append(errs, &Error{Var: k, Reason: fmt.Sprintf("in %s is not a variable newsbot reads; did you mean %s?", path, near)})
		}
	}
	return errs
}

// nearest is the variable that name is probably a misspelling of: the same in another case, or
// at most two letters away.
func nearest(name string) string {
	upper := strings.ToUpper(name)
	for _, v := range Variables {
		if upper == v || len(v) >= 6 && editDistance(upper, v) <= 2 {
			return v
		}
	}
	return ""
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Load builds the configuration from getenv. Every problem is reported, each as an *Error
// naming its variable, joined with errors.Join. A missing TELEGRAM_BOT_TOKEN is not a problem
// here (preview needs none): RequireRun checks it.
func Load(getenv func(string) string) (Config, error) {
	l := loader{getenv: getenv}
	c := Config{
		BotToken:       strings.TrimSpace(getenv("TELEGRAM_BOT_TOKEN")),
		APIURL:         strings.TrimRight(l.str("TELEGRAM_API_URL", DefaultAPIURL), "/"),
		RedisURL:       l.str("REDIS_URL", DefaultRedisURL),
		RedisPrefix:    l.str("REDIS_PREFIX", DefaultRedisPrefix),
		ArticlesDir:    l.dir("ARTICLES_DIR", DefaultArticlesDir),
		ArticlesStream: strings.TrimSpace(getenv("ARTICLES_STREAM")),
		WebhookURL:     strings.TrimSpace(getenv("WEBHOOK_URL")),
		WebhookSecret:  strings.TrimSpace(getenv("WEBHOOK_SECRET")),
		HTTPAddr:       l.str("HTTP_ADDR", DefaultHTTPAddr),
		LogFormat:      strings.ToLower(l.str("LOG_FORMAT", DefaultLogFormat)),
	}

	if u, err := url.Parse(c.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		l.fail("TELEGRAM_API_URL", fmt.Sprintf("%q is not an absolute http(s) URL", c.APIURL))
	}
	if _, err := redisOptions(c.RedisURL); err != nil {
		l.fail("REDIS_URL", err.Error())
	}

	// LANGUAGES may list only languages newsbot has translations for: a story language without
	// labels, buttons and bot replies would reach readers half in English.
	knownLanguages := []string{"kk", "ru", "en"}
	c.Languages = l.list("LANGUAGES", DefaultLanguages)
	if len(c.Languages) == 0 {
		l.fail("LANGUAGES", "must name at least one language")
	}
	for _, lang := range c.Languages {
		if !slices.Contains(knownLanguages, lang) {
			l.fail("LANGUAGES", fmt.Sprintf("%q is not a language newsbot speaks (%s)", lang, strings.Join(knownLanguages, ",")))
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
	c.FeedInterval = l.duration("FEED_INTERVAL", DefaultFeedInterval, time.Second)
	c.Channels = l.channels(c.Languages)
	c.AdminIDs = l.adminIDs()

	c.SendRate = DefaultSendRate
	if v := strings.TrimSpace(getenv("SEND_RATE")); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		switch {
		case err != nil:
			l.fail("SEND_RATE", fmt.Sprintf("%q is not a number", v))
		case f <= 0 || f != f || f > 1e6:
			l.fail("SEND_RATE", fmt.Sprintf("%q must be a positive number of messages per second", v))
		default:
			c.SendRate = f
		}
	}

	if c.WebhookURL != "" {
		u, err := url.Parse(c.WebhookURL)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			// Telegram delivers webhooks only over HTTPS.
			l.fail("WEBHOOK_URL", fmt.Sprintf("%q is not an absolute https URL", c.WebhookURL))
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
		l.fail("LOG_LEVEL", fmt.Sprintf("%q is not debug, info, warn or error", getenv("LOG_LEVEL")))
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		l.fail("LOG_FORMAT", fmt.Sprintf("%q is not text or json", c.LogFormat))
	}

	return c, errors.Join(l.errs...)
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

// IsAdmin reports whether the Telegram user id is in ADMIN_IDS.
func (c Config) IsAdmin(id int64) bool { return slices.Contains(c.AdminIDs, id) }

// Channel returns the chat of lang's channel from CHANNELS.
func (c Config) Channel(lang string) (string, bool) {
	ch, ok := c.Channels[lang]
	return ch, ok
}

// LogValue logs the configuration with secrets redacted: the token and the webhook secret
// become "[set]" or "", and a password in REDIS_URL becomes "xxxxx".
func (c Config) LogValue() slog.Value {
	feeds := make([]string, len(c.Feeds))
	for i, f := range c.Feeds {
		feeds[i] = f.URL
		if f.Lang != "" {
			feeds[i] = f.Lang + "=" + f.URL
		}
	}
	tz := ""
	if c.Timezone != nil {
		tz = c.Timezone.String()
	}
	return slog.GroupValue(
		slog.String("telegram_bot_token", redact(c.BotToken)),
		slog.String("telegram_api_url", c.APIURL),
		slog.String("redis_url", redactURL(c.RedisURL)),
		slog.String("redis_prefix", c.RedisPrefix),
		slog.String("articles_dir", c.ArticlesDir),
		slog.String("feeds", strings.Join(feeds, ",")),
		// As written in .env ("1m0s"): slog's JSON handler would print nanoseconds.
		slog.String("feed_interval", c.FeedInterval.String()),
		slog.String("articles_stream", c.ArticlesStream),
		slog.String("languages", strings.Join(c.Languages, ",")),
		slog.String("default_language", c.DefaultLanguage),
		slog.String("topics", strings.Join(c.Topics, ",")),
		slog.Any("channels", c.Channels),
		slog.Any("admin_ids", c.AdminIDs),
		slog.Float64("send_rate", c.SendRate),
		slog.String("webhook_url", c.WebhookURL),
		slog.String("webhook_secret", redact(c.WebhookSecret)),
		slog.String("http_addr", c.HTTPAddr),
		slog.String("timezone", tz),
		slog.String("log_level", c.LogLevel.String()),
		slog.String("log_format", c.LogFormat),
	)
}

func (c Config) String() string { return c.LogValue().String() }

func redact(secret string) string {
	if secret == "" {
		return ""
	}
	return "[set]"
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "[unparsable]"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	q := u.Query()
	for _, k := range []string{"password", "sentinel_password"} {
		if q.Has(k) {
			q.Set(k, "xxxxx")
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

type loader struct {
	getenv func(string) string
	errs   []error
}

func (l *loader) fail(v, reason string) { l.errs = append(l.errs, &Error{Var: v, Reason: reason}) }

// str is the trimmed value or the default when unset or blank.
func (l *loader) str(key, def string) string {
	if v := strings.TrimSpace(l.getenv(key)); v != "" {
		return v
	}
	return def
}

// dir is ARTICLES_DIR: "off" (or "-") turns the directory watcher off. An empty value cannot
// do it, because getenv cannot tell "set to empty" from "unset", and unset must mean the default.
func (l *loader) dir(key, def string) string {
	v := strings.TrimSpace(l.getenv(key))
	switch {
	case v == "":
		return def
	case v == "-" || strings.EqualFold(v, "off"):
		return ""
	}
	return v
}

func (l *loader) list(key, def string) []string {
	var out []string
	for _, f := range strings.Split(l.str(key, def), ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func (l *loader) duration(key string, def, minimum time.Duration) time.Duration {
	v := strings.TrimSpace(l.getenv(key))
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		l.fail(key, fmt.Sprintf("%q is not a duration (like 30s, 1m, 1h30m)", v))
		return def
	}
	if d < minimum {
		l.fail(key, fmt.Sprintf("%q is shorter than %s", v, minimum))
		return def
	}
	return d
}

func (l *loader) feeds(langs []string) []Feed {
	var feeds []Feed
	for _, item := range l.list("FEEDS", "") {
		f := Feed{URL: item}
		// "lang=URL": a URL never has "=" before "://", so the first "=" ahead of the scheme
		// separates a language prefix.
		if i := strings.Index(item, "="); i > 0 && (!strings.Contains(item, "://") || i < strings.Index(item, "://")) {
			f.Lang, f.URL = strings.TrimSpace(item[:i]), strings.TrimSpace(item[i+1:])
			if !slices.Contains(langs, f.Lang) {
				l.fail("FEEDS", fmt.Sprintf("%q: %q is not one of LANGUAGES (%s)", item, f.Lang, strings.Join(langs, ",")))
			}
		}
		u, err := url.Parse(f.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			l.fail("FEEDS", fmt.Sprintf("%q is not an absolute http(s) URL", f.URL))
			continue
		}
		feeds = append(feeds, f)
	}
	return feeds
}

func (l *loader) channels(langs []string) map[string]string {
	ch := map[string]string{}
	for _, item := range l.list("CHANNELS", "") {
		lang, chat, ok := strings.Cut(item, "=")
		lang, chat = strings.TrimSpace(lang), strings.TrimSpace(chat)
		if !ok || lang == "" || chat == "" {
			l.fail("CHANNELS", fmt.Sprintf("%q is not lang=@channel (like kk=@news_kk)", item))
			continue
		}
		if !slices.Contains(langs, lang) {
			l.fail("CHANNELS", fmt.Sprintf("%q: %q is not one of LANGUAGES (%s)", item, lang, strings.Join(langs, ",")))
			continue
		}
		if _, dup := ch[lang]; dup {
			l.fail("CHANNELS", fmt.Sprintf("%q: a second channel for %s", item, lang))
			continue
		}
		if !validChat(chat) {
			l.fail("CHANNELS", fmt.Sprintf("%q: %q is neither @username (5-32 letters, digits, _) nor a numeric chat id like -1001234567890", item, chat))
			continue
		}
		ch[lang] = chat
	}
	return ch
}

func (l *loader) adminIDs() []int64 {
	var ids []int64
	for _, item := range l.list("ADMIN_IDS", "") {
		id, err := strconv.ParseInt(item, 10, 64)
		if err != nil || id <= 0 {
			l.fail("ADMIN_IDS", fmt.Sprintf("%q is not a Telegram user id (a positive number; ask @userinfobot)", item))
			continue
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids
}

func duplicate(list []string) string {
	for i, s := range list {
		if slices.Contains(list[:i], s) {
			return s
		}
	}
	return ""
}

func validSlug(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

func validSecret(s string) bool {
	if len(s) > 256 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// validChat accepts what Bot API methods take as chat_id for a channel: "@username" (public
// usernames are 5-32 characters of letters, digits and underscores) or a numeric id.
func validChat(s string) bool {
	if name, ok := strings.CutPrefix(s, "@"); ok {
		if len(name) < 5 || len(name) > 32 {
			return false
		}
		for _, r := range name {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
				return false
			}
		}
		return true
	}
	_, err := strconv.ParseInt(s, 10, 64)
	return err == nil
}

// GoString keeps %#v from printing the token.
func (c Config) GoString() string { return "config.Config" + c.String() }
