package config

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"newsbot/internal/schedule"
)

// load is Load with the languages locales/ has today; TestConfigLanguagesFromLocale passes others.
func load(lookup Lookup) (Config, error) { return Load(lookup, []string{"en", "kk", "ru"}) }

// env is an environment holding exactly m: a key in m is set, even to "".
func env(m map[string]string) Lookup {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func TestConfigDefaults(t *testing.T) {
	c, err := load(env(nil))
	if err != nil {
		t.Fatalf("defaults are invalid: %v", err)
	}
	if c.APIURL != "https://api.telegram.org" || c.RedisURL != "redis://localhost:6379/0" || c.RedisPrefix != "newsbot:" ||
		c.ArticlesDir != "./articles" || c.FeedInterval != time.Minute || c.DefaultLanguage != "kk" ||
		c.SendRate != 30 || c.HTTPAddr != ":8080" || c.Timezone.String() != "Asia/Almaty" ||
		c.LogLevel != slog.LevelInfo || c.LogFormat != "text" {
		t.Errorf("defaults: %+v", c)
	}
	if !slices.Equal(c.Languages, []string{"kk", "ru", "en"}) || len(c.Topics) != 7 {
		t.Errorf("languages %v topics %v", c.Languages, c.Topics)
	}
	if c.DefaultMode != "instant" || !slices.Equal(c.DigestTimes, []schedule.Clock{8 * 60, 19 * 60}) ||
		c.QuietHours != (schedule.Window{From: 23 * 60, To: 7 * 60}) || c.PushMaxAge != 6*time.Hour || c.PaidBroadcast ||
		c.RatesURL != "https://nationalbank.kz/rss/rates_all.xml" || !slices.Equal(c.RatesCurrencies, []string{"USD", "EUR", "RUB"}) ||
		c.RatesInterval != time.Hour {
		t.Errorf("defaults of modes and rates: %v", c)
	}
	if w := c.Warnings(); len(w) != 0 {
		t.Errorf("the defaults warn: %q", w)
	}
	if err := c.RequireRun(); err == nil || !strings.HasPrefix(err.Error(), "TELEGRAM_BOT_TOKEN: ") {
		t.Errorf("RequireRun without a token = %v", err)
	}
}

func TestConfigLoadAll(t *testing.T) {
	c, err := load(env(map[string]string{
		"TELEGRAM_BOT_TOKEN": "123456:ABC-def",
		"TELEGRAM_API_URL":   "http://localhost:8081/",
		"REDIS_URL":          "rediss://:pw@redis.example:6380/2",
		"REDIS_PREFIX":       "bot2:",
		"ARTICLES_DIR":       "off",
		"FEEDS":              "ru=https://example.kz/rss?lang=ru, https://example.kz/feed.json",
		"FEED_INTERVAL":      "5m",
		"ARTICLES_STREAM":    "cms:articles",
		"LANGUAGES":          "ru, en",
		"DEFAULT_LANGUAGE":   "ru",
		"TOPICS":             "politics,climate-change",
		"CHANNELS":           "ru=@news_ru, en=-1001234567890",
		"ADMIN_IDS":          "42, 1000000001,42",
		"SEND_RATE":          "12.5",
		"WEBHOOK_URL":        "https://bot.example.kz/telegram",
		"WEBHOOK_SECRET":     "s3cret_-X",
		"HTTP_ADDR":          "127.0.0.1:9090",
		"TIMEZONE":           "UTC",
		"LOG_LEVEL":          "debug",
		"LOG_FORMAT":         "JSON",
		"DEFAULT_MODE":       "Digest",
		"DIGEST_TIMES":       "21:30, 7:00,12:00",
		"QUIET_HOURS":        "22:00-06:30",
		"PUSH_MAX_AGE":       "90m",
		"PAID_BROADCAST":     "true",
		"RATES_URL":          "http://rates.example.kz/rss.xml",
		"RATES_CURRENCIES":   "CNY, USD",
		"RATES_INTERVAL":     "15m",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.RequireRun(); err != nil {
		t.Error(err)
	}
	want := []Feed{{Lang: "ru", URL: "https://example.kz/rss?lang=ru"}, {URL: "https://example.kz/feed.json"}}
	if !slices.Equal(c.Feeds, want) {
		t.Errorf("feeds %+v", c.Feeds)
	}
	if c.APIURL != "http://localhost:8081" || c.ArticlesDir != "" || c.FeedInterval != 5*time.Minute ||
		c.Channels["ru"] != "@news_ru" || c.Channels["en"] != "-1001234567890" ||
		!slices.Equal(c.AdminIDs, []int64{42, 1000000001}) || c.SendRate != 12.5 ||
		c.LogLevel != slog.LevelDebug || c.LogFormat != "json" || c.Timezone != time.UTC {
		t.Errorf("loaded %+v", c)
	}
	if c.DefaultMode != "digest" || !slices.Equal(c.DigestTimes, []schedule.Clock{7 * 60, 12 * 60, 21*60 + 30}) ||
		c.QuietHours != (schedule.Window{From: 22 * 60, To: 6*60 + 30}) || c.PushMaxAge != 90*time.Minute || !c.PaidBroadcast ||
		c.RatesURL != "http://rates.example.kz/rss.xml" || !slices.Equal(c.RatesCurrencies, []string{"CNY", "USD"}) ||
		c.RatesInterval != 15*time.Minute {
		t.Errorf("modes and rates: %v", c)
	}
	r := c.ArticleRules()
	if !slices.Equal(r.Languages, []string{"ru", "en"}) || !slices.Equal(r.Topics, []string{"politics", "climate-change"}) {
		t.Errorf("rules %+v", r)
	}
}

// Every mistake is reported at once, each naming its variable.
func TestConfigReportsEveryProblem(t *testing.T) {
	_, err := load(env(map[string]string{
		"TELEGRAM_API_URL": "api.telegram.org",
		"REDIS_URL":        "mysql://localhost",
		"FEEDS":            "de=https://x.de/rss,notaurl",
		"FEED_INTERVAL":    "often",
		"LANGUAGES":        "kk,ru,xx",
		"DEFAULT_LANGUAGE": "en",
		"TOPICS":           "Politics,sport",
		"CHANNELS":         "kk@news_kk,ru=@news_ru,en=@x",
		"ADMIN_IDS":        "42,alice,-5",
		"SEND_RATE":        "0",
		"WEBHOOK_URL":      "http://bot.example.kz/hook",
		"HTTP_ADDR":        "8080",
		"TIMEZONE":         "Mars/Olympus",
		"LOG_LEVEL":        "loud",
		"LOG_FORMAT":       "xml",
		"DEFAULT_MODE":     "weekly",
		"DIGEST_TIMES":     "8am",
		"QUIET_HOURS":      "22-7",
		"PUSH_MAX_AGE":     "forever",
		"PAID_BROADCAST":   "yes please",
		"RATES_URL":        "nationalbank.kz/rss",
		"RATES_CURRENCIES": "dollar",
		"RATES_INTERVAL":   "10s",
	}))
	if err == nil {
		t.Fatal("accepted")
	}
	var vars []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var ce *Error
		if !errors.As(e, &ce) {
			t.Fatalf("%T %v is not a *config.Error", e, e)
		}
		if !strings.HasPrefix(e.Error(), ce.Var+": ") {
			t.Errorf("%q does not start with its variable", e)
		}
		vars = append(vars, ce.Var)
	}
	for _, v := range []string{"TELEGRAM_API_URL", "REDIS_URL", "FEEDS", "FEED_INTERVAL", "LANGUAGES", "DEFAULT_LANGUAGE",
		"TOPICS", "CHANNELS", "ADMIN_IDS", "SEND_RATE", "WEBHOOK_URL", "WEBHOOK_SECRET", "HTTP_ADDR", "TIMEZONE", "LOG_LEVEL", "LOG_FORMAT",
		"DEFAULT_MODE", "DIGEST_TIMES", "QUIET_HOURS", "PUSH_MAX_AGE", "PAID_BROADCAST", "RATES_URL", "RATES_CURRENCIES", "RATES_INTERVAL"} {
		if !slices.Contains(vars, v) {
			t.Errorf("no problem reported for %s in:\n%v", v, err)
		}
	}
}

func TestConfigProblems(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"CHANNELS": "kk=@news_kk,kk=@other_kk"}, `CHANNELS: "kk=@other_kk": a second channel for kk`},
		{map[string]string{"CHANNELS": "kk=news_kk"}, `CHANNELS: "kk=news_kk": "news_kk" is neither @username`},
		{map[string]string{"CHANNELS": "de=@news_de"}, `CHANNELS: "de=@news_de": "de" is not one of LANGUAGES`},
		{map[string]string{"ADMIN_IDS": "12 34"}, `ADMIN_IDS: "12 34" is not a Telegram user id`},
		{map[string]string{"LANGUAGES": "ru,en"}, `DEFAULT_LANGUAGE: "kk" is not one of LANGUAGES (ru,en)`},
		{map[string]string{"LANGUAGES": "kk,kk"}, `LANGUAGES: "kk" is listed twice`},
		{map[string]string{"LANGUAGES": " , "}, `LANGUAGES: must name at least one language`},
		{map[string]string{"SEND_RATE": "-3"}, `SEND_RATE: "-3" must be a positive number`},
		{map[string]string{"SEND_RATE": "NaN"}, `SEND_RATE: "NaN" must be a positive number`},
		{map[string]string{"SEND_RATE": "fast"}, `SEND_RATE: "fast" is not a number`},
		{map[string]string{"SEND_RATE": "1001"}, `SEND_RATE: "1001" is above 1000, Telegram's limit even with PAID_BROADCAST=true`},
		{map[string]string{"SEND_RATE": "+Inf", "PAID_BROADCAST": "true"}, `SEND_RATE: "+Inf" is above 1000`},
		{map[string]string{"DEFAULT_MODE": "daily"}, `DEFAULT_MODE: "daily" is not instant, digest or breaking`},
		{map[string]string{"DIGEST_TIMES": "08:00,24:00"}, `DIGEST_TIMES: "24:00" is not a time of day HH:MM (00:00 to 23:59)`},
		{map[string]string{"DIGEST_TIMES": "08:00,19:00,8:00"}, `DIGEST_TIMES: 08:00 is listed twice`},
		{map[string]string{"DIGEST_TIMES": "06:00,08:00,10:00,12:00,14:00,16:00,18:00"}, `DIGEST_TIMES: 7 times; at most 6`},
		{map[string]string{"DIGEST_TIMES": " , "}, `DIGEST_TIMES: must name at least one time`},
		{map[string]string{"QUIET_HOURS": "23:00-23:00"}, `QUIET_HOURS: "23:00-23:00" starts and ends at the same time (empty: no quiet hours)`},
		{map[string]string{"QUIET_HOURS": "23:00"}, `QUIET_HOURS: "23:00" is not FROM-TO (like 23:00-07:00)`},
		{map[string]string{"QUIET_HOURS": "23:00-7"}, `QUIET_HOURS: "23:00-7": "7" is not a time of day HH:MM`},
		{map[string]string{"PUSH_MAX_AGE": "30s"}, `PUSH_MAX_AGE: "30s" is shorter than 1m`},
		{map[string]string{"PUSH_MAX_AGE": "169h"}, `PUSH_MAX_AGE: "169h" is longer than 168h`},
		{map[string]string{"PUSH_MAX_AGE": "6 hours"}, `PUSH_MAX_AGE: "6 hours" is not a duration`},
		{map[string]string{"PAID_BROADCAST": "on"}, `PAID_BROADCAST: "on" is not true or false`},
		{map[string]string{"RATES_URL": "ftp://nationalbank.kz/rss"}, `RATES_URL: "ftp://nationalbank.kz/rss" is not an absolute http(s) URL (empty: rates off)`},
		{map[string]string{"RATES_URL": "/rss/rates_all.xml"}, `RATES_URL: "/rss/rates_all.xml" is not an absolute http(s) URL`},
		{map[string]string{"RATES_URL": "https://bank:RatesPass9@nationalbank.kz/rss"}, `RATES_URL: "https://nationalbank.kz/rss" must not carry a user or password`},
		{map[string]string{"RATES_CURRENCIES": "USD,usd"}, `RATES_CURRENCIES: "usd" is not a currency code of 3 capital letters (like USD)`},
		{map[string]string{"RATES_CURRENCIES": "USD,EURO"}, `RATES_CURRENCIES: "EURO" is not a currency code`},
		{map[string]string{"RATES_CURRENCIES": "USD,EUR,USD"}, `RATES_CURRENCIES: "USD" is listed twice`},
		{map[string]string{"RATES_CURRENCIES": ","}, `RATES_CURRENCIES: must name at least one currency`},
		{map[string]string{"RATES_INTERVAL": "59s"}, `RATES_INTERVAL: "59s" is shorter than 1m`},
		{map[string]string{"FEED_INTERVAL": "10ms"}, `FEED_INTERVAL: "10ms" is shorter than 1s`},
		{map[string]string{"WEBHOOK_URL": "https://bot.example.kz/hook"}, `WEBHOOK_SECRET: required when WEBHOOK_URL is set`},
		{map[string]string{"WEBHOOK_SECRET": "has space"}, `WEBHOOK_SECRET: must be 1-256 characters`},
		{map[string]string{"HTTP_ADDR": ":99999"}, `HTTP_ADDR: ":99999" has no valid port`},
		{map[string]string{"HTTP_ADDR": "localhost"}, `HTTP_ADDR: "localhost" is not host:port`},
		{map[string]string{"TOPICS": "politics,politics"}, `TOPICS: "politics" is listed twice`},
		{map[string]string{"TOPICS": "спорт"}, `TOPICS: "спорт" is not a slug`},
		{map[string]string{"REDIS_URL": "localhost:6379"}, `REDIS_URL: "localhost:6379" is not a URL like redis://host:6379/0`},
		{map[string]string{"REDIS_URL": "redis-sentinel://h1:26379,h2:26379/0"}, `REDIS_URL: redis-sentinel://h1:26379,h2:26379/0: Sentinel needs ?master=NAME`},
		{map[string]string{"REDIS_URL": "redis://localhost:6379/zero"}, `REDIS_URL: redis://localhost:6379/zero: redis: invalid database number`},
		{map[string]string{"REDIS_URL": "redis://localhost:6379/0?bogus=1"}, `REDIS_URL: redis://localhost:6379/0?bogus=1: redis: unexpected option: bogus`},
		{map[string]string{"REDIS_URL": "redis-cluster://h1:7000,,h2:7000"}, `REDIS_URL: redis-cluster://h1:7000,,h2:7000: empty host`},
		{map[string]string{"REDIS_URL": "redis-cluster://h1:7000/3"}, `REDIS_URL: redis-cluster://h1:7000/3: Redis Cluster has only database 0`},
	}
	for _, tc := range tests {
		_, err := load(env(tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want %q", tc.env, err, tc.want)
		}
	}
}

func TestRequireRunToken(t *testing.T) {
	for token, ok := range map[string]bool{
		"": false, "123:abc": true, "123456789:AAE-x_Zy9": true, "abc": false, "123:a/b": false,
		"bot123:abc": false, `"123:abc"`: false, "123:ab c": false, "12a:abc": false, ":abc": false, "123:": false,
	} {
		c, err := load(env(map[string]string{"TELEGRAM_BOT_TOKEN": token}))
		if err != nil {
			t.Fatal(err)
		}
		err = c.RequireRun()
		if (err == nil) != ok {
			t.Errorf("token %q: %v", token, err)
		}
		if err != nil && (strings.Contains(err.Error(), token) && token != "" || !strings.HasPrefix(err.Error(), "TELEGRAM_BOT_TOKEN: ")) {
			t.Errorf("token %q: %q must name the variable and not print the value", token, err)
		}
	}
}

func TestConfigLogRedacts(t *testing.T) {
	c, err := load(env(map[string]string{
		"TELEGRAM_BOT_TOKEN": "123456:SECRET-TOKEN",
		"WEBHOOK_URL":        "https://bot.example.kz/hook",
		"WEBHOOK_SECRET":     "WEBHOOKSECRET",
		"REDIS_URL":          "redis://user:REDISPASS@localhost:6379/0",
	}))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "config", c)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("config", "config", c)
	buf.WriteString(c.String())
	fmt.Fprintf(&buf, "%v %+v %#v %s", c, c, c, c)
	out := buf.String()
	for _, secret := range []string{"SECRET-TOKEN", "WEBHOOKSECRET", "REDISPASS"} {
		if strings.Contains(out, secret) {
			t.Errorf("log shows %s:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, "telegram_bot_token") || !strings.Contains(out, "[set]") || !strings.Contains(out, "localhost:6379") {
		t.Errorf("log lacks the redacted fields:\n%s", out)
	}
	if !strings.Contains(out, `"feed_interval":"1m0s"`) {
		t.Errorf("JSON log must show FEED_INTERVAL as written, not nanoseconds:\n%s", out)
	}
	_, err = load(env(map[string]string{"REDIS_URL": "redis://u:REDISPASS@localhost:6379/x"}))
	if err == nil || strings.Contains(err.Error(), "REDISPASS") {
		t.Errorf("error shows the password: %v", err)
	}
	_, err = load(env(map[string]string{"REDIS_URL": "redis://u:REDISPASS@local host:6379/0"}))
	if err == nil || strings.Contains(err.Error(), "REDISPASS") {
		t.Errorf("error shows the password: %v", err)
	}
}

func TestEnviron(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ".env")
	if err := os.WriteFile(path, []byte("# comment\nREDIS_PREFIX=fromfile:\nSEND_RATE=5\nTOPICS=\"politics,sport\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	getenv, err := Environ(path, env(map[string]string{"SEND_RATE": "7"}))
	if err != nil {
		t.Fatal(err)
	}
	c, err := load(getenv)
	if err != nil {
		t.Fatal(err)
	}
	if c.RedisPrefix != "fromfile:" || c.SendRate != 7 || !slices.Equal(c.Topics, []string{"politics", "sport"}) {
		t.Errorf("the real environment must win over .env: prefix %q rate %v topics %v", c.RedisPrefix, c.SendRate, c.Topics)
	}
	if os.Getenv("REDIS_PREFIX") == "fromfile:" {
		t.Error("Environ modified the process environment")
	}

	if _, err := Environ(filepath.Join(dir, "missing.env"), env(nil)); err != nil {
		t.Errorf("a missing .env is fine: %v", err)
	}
	// Misspelt names and lines that are not NAME=value are reported, naming the line and never
	// printing a value; names of other tools (docker compose's) are fine.
	if err := os.WriteFile(path, []byte("CHANELS=kk=@news_kk\nadmin_ids=1\nTELEGRAM_BOT_TOKEN 123:SECRETPART\nVERSION=v1\nARTICLES_HOST_DIR=/srv\nSEND_RATE=5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	getenv, err = Environ(path, env(nil))
	if v, _ := getenv("SEND_RATE"); getenv == nil || v != "5" {
		t.Fatal("no usable getenv beside the problems")
	}
	var got []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		got = append(got, e.Error())
	}
	want := []string{
		"CHANELS: in " + path + " is not a variable newsbot reads; did you mean CHANNELS?",
		"TELEGRAM_BOT_TOKEN: the line of " + path + " is not NAME=value",
		"admin_ids: in " + path + " is not a variable newsbot reads; did you mean ADMIN_IDS?",
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems\n%q\nwant\n%q", got, want)
	}

	if err := os.WriteFile(path, []byte("A='unterminated\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Environ(path, env(nil)); err == nil {
		t.Error("a malformed .env was accepted")
	}
}

// The .env.example shipped at the top of the repository documents every variable with its
// default, and loads as it is.
func TestEnvExample(t *testing.T) {
	getenv, err := Environ("../../.env.example", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := load(getenv); err != nil {
		t.Errorf(".env.example does not load: %v", err)
	}
	data, err := os.ReadFile("../../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range Variables {
		if v == "ENV_FILE" {
			continue // names the file itself: set in the environment, never in it
		}
		// A line of its own, with a comment above it.
		if !regexp.MustCompile(`(?m)^#.*\n` + v + `=`).Match(data) {
			t.Errorf(".env.example does not document %s on a line of its own under a comment", v)
		}
	}
}

// Copying .env.example to .env changes nothing: every value written there is the real default,
// and README's table shows the same defaults. An operator reads them, not the code.
func TestConfigDocumentedDefaults(t *testing.T) {
	getenv, err := Environ("../../.env.example", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	fromExample, err := load(getenv)
	if err != nil {
		t.Fatal(err)
	}
	defaults, err := load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fromExample.String(), defaults.String(); got != want {
		t.Errorf(".env.example differs from the defaults:\n got %s\nwant %s", got, want)
	}

	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"TELEGRAM_API_URL": DefaultAPIURL, "REDIS_URL": DefaultRedisURL, "REDIS_PREFIX": DefaultRedisPrefix,
		"ARTICLES_DIR": DefaultArticlesDir, "FEED_INTERVAL": "1m", "LANGUAGES": DefaultLanguages,
		"DEFAULT_LANGUAGE": DefaultLanguage, "TOPICS": DefaultTopics, "SEND_RATE": "30",
		"HTTP_ADDR": DefaultHTTPAddr, "TIMEZONE": DefaultTimezone, "LOG_LEVEL": DefaultLogLevel, "LOG_FORMAT": DefaultLogFormat,
		"DEFAULT_MODE": DefaultMode, "DIGEST_TIMES": DefaultDigestTimes, "QUIET_HOURS": DefaultQuietHours,
		"PUSH_MAX_AGE": shortDuration(DefaultPushMaxAge), "PAID_BROADCAST": strconv.FormatBool(DefaultPaidBroadcast),
		"RATES_URL": DefaultRatesURL, "RATES_CURRENCIES": DefaultRatesCurrencies, "RATES_INTERVAL": shortDuration(DefaultRatesInterval),
	}
	seen := map[string]bool{}
	code := regexp.MustCompile("`([^`]*)`")
	for _, line := range strings.Split(string(readme), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 {
			continue
		}
		// "| `LOG_LEVEL`, `LOG_FORMAT` | `info`, `text` |" pairs the names with the defaults.
		names := code.FindAllStringSubmatch(cells[1], -1)
		defs := code.FindAllStringSubmatch(cells[2], -1)
		for i, n := range names {
			def, ok := want[n[1]]
			if !ok {
				continue
			}
			seen[n[1]] = true
			if len(defs) != len(names) {
				t.Errorf("README: %s has no default of its own in %q", n[1], cells[2])
			} else if got := defs[i][1]; got != def {
				t.Errorf("README: %s default %q, the code's is %q", n[1], got, def)
			}
		}
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("README's configuration table lacks %s", name)
		}
	}
}

// ARTICLES_DIR set to "" turns the directory watcher off, while unset it is ./articles: decided
// in Load alone, whether the value comes from the environment or from .env, and the
// environment wins even when it sets the variable to "".
func TestEnvArticlesDirEmptyIsOff(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".env")
	write := func(content string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		env  map[string]string
		file string
		want string
	}{
		{"unset", nil, "", "./articles"},
		{"empty in the environment", map[string]string{"ARTICLES_DIR": ""}, "", ""},
		{"blank in the environment", map[string]string{"ARTICLES_DIR": "  "}, "", ""},
		{"off in the environment", map[string]string{"ARTICLES_DIR": "off"}, "", ""},
		{"OFF in the environment", map[string]string{"ARTICLES_DIR": " OFF "}, "", ""},
		{"a directory in the environment", map[string]string{"ARTICLES_DIR": "/srv/articles"}, "", "/srv/articles"},
		{"empty in .env", nil, "ARTICLES_DIR=\n", ""},
		{"off in .env", nil, "ARTICLES_DIR=off\n", ""},
		{"a directory in .env", nil, "ARTICLES_DIR=/srv/articles\n", "/srv/articles"},
		{"other lines in .env", nil, "SEND_RATE=5\n", "./articles"},
		{"the environment's empty beats .env", map[string]string{"ARTICLES_DIR": ""}, "ARTICLES_DIR=/srv/articles\n", ""},
		{"the environment's directory beats .env's empty", map[string]string{"ARTICLES_DIR": "/srv/a"}, "ARTICLES_DIR=\n", "/srv/a"},
	}
	for _, tc := range tests {
		write(tc.file)
		lookup, err := Environ(path, env(tc.env))
		if err != nil {
			t.Fatal(err)
		}
		c, err := load(lookup)
		if err != nil || c.ArticlesDir != tc.want {
			t.Errorf("%s: ARTICLES_DIR %q, %v; want %q", tc.name, c.ArticlesDir, err, tc.want)
		}
	}

	// Everywhere else a blank value is the default, as .env.example says.
	c, err := load(env(map[string]string{"SEND_RATE": "", "LANGUAGES": " ", "TELEGRAM_API_URL": ""}))
	if err != nil || c.SendRate != 30 || len(c.Languages) != 3 || c.APIURL != DefaultAPIURL {
		t.Errorf("blank variables: rate %v languages %v api %q, %v; want the defaults", c.SendRate, c.Languages, c.APIURL, err)
	}
}

// LANGUAGES is checked against the languages given to Load (the locale bundle's), not a list
// of config's own: a language gains its place by its message files.
func TestConfigLanguagesFromLocale(t *testing.T) {
	_, err := load(env(map[string]string{"LANGUAGES": "kk,ru,en,de"}))
	if err == nil || err.Error() != `LANGUAGES: "de" is not a language newsbot has translations for (en,kk,ru)` {
		t.Errorf("LANGUAGES with de: %v", err)
	}
	c, err := Load(env(map[string]string{"LANGUAGES": "de,en", "DEFAULT_LANGUAGE": "de"}), []string{"de", "en"})
	if err != nil || !slices.Equal(c.Languages, []string{"de", "en"}) {
		t.Errorf("de with de translations: %v %v", c.Languages, err)
	}
	_, err = Load(env(nil), []string{"en", "ru"})
	if err == nil || !strings.Contains(err.Error(), `LANGUAGES: "kk" is not a language newsbot has translations for (en,ru)`) {
		t.Errorf("the default kk without kk translations: %v", err)
	}
}

// QUIET_HOURS and RATES_URL, like ARTICLES_DIR, are off when set to "" or "off" and take their
// default when unset.
func TestEnvEmptyTurnsOff(t *testing.T) {
	for _, v := range []string{"", " ", "off", "OFF"} {
		c, err := load(env(map[string]string{"QUIET_HOURS": v, "RATES_URL": v}))
		if err != nil || !c.QuietHours.IsZero() || c.RatesURL != "" {
			t.Errorf("set to %q: quiet hours %v, rates %q, %v; want both off", v, c.QuietHours, c.RatesURL, err)
		}
		if s := c.String(); !strings.Contains(s, "quiet_hours= ") || !strings.Contains(s, "rates_url= ") {
			t.Errorf("set to %q: the log form shows them on: %s", v, s)
		}
	}
	c, err := load(env(nil))
	if err != nil || c.QuietHours.IsZero() || c.RatesURL == "" {
		t.Errorf("unset: quiet hours %v, rates %q, %v; want the defaults", c.QuietHours, c.RatesURL, err)
	}
}

// SEND_RATE above Telegram's free 30 a second works, but without paid broadcasts it only draws
// 429s: a warning names the variable. Paid broadcasts up to 1000 a second warn of nothing.
func TestConfigWarnings(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want []string
	}{
		{map[string]string{"SEND_RATE": "30"}, nil},
		{map[string]string{"SEND_RATE": "30.5"}, []string{"SEND_RATE: 30.5 messages a second is above Telegram's 30 without PAID_BROADCAST=true; expect 429 answers that slow every send"}},
		{map[string]string{"SEND_RATE": "1000"}, []string{"SEND_RATE: 1000 messages a second is above Telegram's 30 without PAID_BROADCAST=true; expect 429 answers that slow every send"}},
		{map[string]string{"SEND_RATE": "1000", "PAID_BROADCAST": "true"}, nil},
		{map[string]string{"SEND_RATE": "100", "PAID_BROADCAST": "false"}, []string{"SEND_RATE: 100 messages a second is above Telegram's 30 without PAID_BROADCAST=true; expect 429 answers that slow every send"}},
		{map[string]string{"PAID_BROADCAST": "true"}, nil},
	}
	for _, tc := range tests {
		c, err := load(env(tc.env))
		if err != nil {
			t.Errorf("%v: %v", tc.env, err)
			continue
		}
		if got := c.Warnings(); !slices.Equal(got, tc.want) {
			t.Errorf("%v: warnings %q, want %q", tc.env, got, tc.want)
		}
	}
}

// Every URL in the start line loses its user and password (a feed behind basic auth, a Bot API
// server behind a proxy); the hosts stay, so an operator still tells the feeds apart.
func TestConfigLogRemovesURLCredentials(t *testing.T) {
	c, err := load(env(map[string]string{
		"FEEDS":            "https://feeduser:FeedPass123@feeds.example.kz/rss, ru=https://ruuser:RuPass456@feeds.example.kz/ru.xml?x=1, https://open.example.kz/feed.json",
		"TELEGRAM_API_URL": "https://apiuser:ApiPass789@botapi.example.kz",
		"WEBHOOK_URL":      "https://hookuser:HookPass012@bot.example.kz/hook",
		"WEBHOOK_SECRET":   "s3cret",
		"REDIS_URL":        "redis://user:REDISPASS@localhost:6379/0",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Feeds[0].URL != "https://feeduser:FeedPass123@feeds.example.kz/rss" || c.APIURL != "https://apiuser:ApiPass789@botapi.example.kz" {
		t.Errorf("the configuration itself must keep the credentials, the sources use them: %q %q", c.Feeds[0].URL, c.APIURL)
	}
	// RATES_URL with credentials is refused by Load; a Config built otherwise still hides them.
	c.RatesURL = "https://rateuser:RatePass345@rates.example.kz/rss"

	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("newsbot starting", "config", c)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("newsbot starting", "config", c)
	fmt.Fprintf(&buf, "%v %+v %#v %s", c, c, c, c)
	out := buf.String()
	for _, secret := range []string{"feeduser", "FeedPass123", "ruuser", "RuPass456", "apiuser", "ApiPass789", "hookuser", "HookPass012", "rateuser", "RatePass345", "REDISPASS"} {
		if strings.Contains(out, secret) {
			t.Errorf("the log shows %s:\n%s", secret, out)
		}
	}
	for _, want := range []string{
		`"feeds":"https://feeds.example.kz/rss,ru=https://feeds.example.kz/ru.xml?x=1,https://open.example.kz/feed.json"`,
		`"telegram_api_url":"https://botapi.example.kz"`,
		`"webhook_url":"https://bot.example.kz/hook"`,
		`"rates_url":"https://rates.example.kz/rss"`,
		`"redis_url":"redis://user:xxxxx@localhost:6379/0"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %s:\n%s", want, out)
		}
	}

	// Nor do the problem lines show them.
	_, err = load(env(map[string]string{
		"FEEDS":            "de=https://feeduser:FeedPass123@feeds.example.kz/rss,ftp://ftpuser:FtpPass678@feeds.example.kz/x",
		"TELEGRAM_API_URL": "ftp://apiuser:ApiPass789@botapi.example.kz",
		"WEBHOOK_URL":      "http://hookuser:HookPass012@bot.example.kz/hook",
		"RATES_URL":        "https://rateuser:RatePass345@rates.example.kz/rss",
	}))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, secret := range []string{"FeedPass123", "FtpPass678", "ApiPass789", "HookPass012", "RatePass345", "feeduser", "rateuser"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("a problem line shows %s:\n%v", secret, err)
		}
	}
	for _, want := range []string{
		`FEEDS: "de=https://feeds.example.kz/rss": "de" is not one of LANGUAGES`,
		`FEEDS: "ftp://feeds.example.kz/x" is not an absolute http(s) URL`,
		`TELEGRAM_API_URL: "ftp://botapi.example.kz" is not an absolute http(s) URL`,
		`WEBHOOK_URL: "http://bot.example.kz/hook" is not an absolute https URL`,
		`RATES_URL: "https://rates.example.kz/rss" must not carry a user or password`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("problems lack %s:\n%v", want, err)
		}
	}
}
