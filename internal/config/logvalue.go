package config

import (
	"log/slog"
	"newsbot/internal/secret"
	"strings"
)

// LogValue logs the configuration with secrets redacted: the token and the webhook secret
// become "[set]" or "", a password in REDIS_URL becomes "xxxxx" (its user names the ACL
// role, which helps), and every other URL (FEEDS, TELEGRAM_API_URL, WEBHOOK_URL, RATES_URL)
// loses its user and password entirely: a feed behind basic auth is still told apart by host.
func (c Config) LogValue() slog.Value {
	feeds := make([]string, len(c.Feeds))
	for i, f := range c.Feeds {
		feeds[i] = secret.URL(f.URL)
		if f.Lang != "" {
			feeds[i] = f.Lang + "=" + feeds[i]
		}
	}
	tz := ""
	if c.Timezone != nil {
		tz = c.Timezone.String()
	}
	digests := make([]string, len(c.DigestTimes))
	for i, t := range c.DigestTimes {
		digests[i] = t.String()
	}
	return slog.GroupValue(
		slog.String("telegram_bot_token", redact(c.BotToken)),
		slog.String("telegram_api_url", secret.URL(c.APIURL)),
		slog.String("redis_url", secret.Password(c.RedisURL)),
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
		slog.String("webhook_url", secret.URL(c.WebhookURL)),
		slog.String("webhook_secret", redact(c.WebhookSecret)),
		slog.String("http_addr", c.HTTPAddr),
		slog.String("timezone", tz),
		slog.String("log_level", c.LogLevel.String()),
		slog.String("log_format", c.LogFormat),
		slog.String("default_mode", c.DefaultMode),
		slog.String("digest_times", strings.Join(digests, ",")),
		slog.String("quiet_hours", c.QuietHours.String()),
		slog.String("push_max_age", c.PushMaxAge.String()),
		slog.Bool("paid_broadcast", c.PaidBroadcast),
		slog.String("rates_url", secret.URL(c.RatesURL)),
		slog.String("rates_currencies", strings.Join(c.RatesCurrencies, ",")),
		slog.String("rates_interval", c.RatesInterval.String()),
	)
}

func (c Config) String() string { return c.LogValue().String() }

func redact(secret string) string {
	if secret == "" {
		return ""
	}
	return "[set]"
}

// GoString keeps %#v from printing the token.
func (c Config) GoString() string { return "config.Config" + c.String() }
