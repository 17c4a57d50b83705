package config

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// load is Load with the languages locales/ has today; TestLoadLanguagesFromLocale passes others.
func load(lookup Lookup) (Config, error) { return Load(lookup, []string{"en", "kk", "ru"}) }

// env is an environment holding exactly m: a key in m is set, even to "".
func env(m map[string]string) Lookup {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func TestDefaults(t *testing.T) {
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
	if err := c.RequireRun(); err == nil || !strings.HasPrefix(err.Error(), "TELEGRAM_BOT_TOKEN: ") {
		t.Errorf("RequireRun without a token = %v", err)
	}
}

func TestLoadAll(t *testing.T) {
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
	if !c.IsAdmin(42) || c.IsAdmin(43) {
		t.Error("IsAdmin")
	}
	r := c.ArticleRules()
	if !slices.Equal(r.Languages, []string{"ru", "en"}) || !slices.Equal(r.Topics, []string{"politics", "climate-change"}) {
		t.Errorf("rules %+v", r)
	}
}

// Every mistake is reported at once, each naming its variable.
func TestLoadReportsEveryProblem(t *testing.T) {
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
		"TOPICS", "CHANNELS", "ADMIN_IDS", "SEND_RATE", "WEBHOOK_URL", "WEBHOOK_SECRET", "HTTP_ADDR", "TIMEZONE", "LOG_LEVEL", "LOG_FORMAT"} {
		if !slices.Contains(vars, v) {
			t.Errorf("no problem reported for %s in:\n%v", v, err)
		}
	}
}

func TestLoadProblems(t *testing.T) {
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

func TestLogValueRedacts(t *testing.T) {
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
	for _, v := range []string{"TELEGRAM_BOT_TOKEN", "TELEGRAM_API_URL", "REDIS_URL", "REDIS_PREFIX", "ARTICLES_DIR", "FEEDS",
		"FEED_INTERVAL", "ARTICLES_STREAM", "LANGUAGES", "DEFAULT_LANGUAGE", "TOPICS", "CHANNELS", "ADMIN_IDS", "SEND_RATE",
		"WEBHOOK_URL", "WEBHOOK_SECRET", "HTTP_ADDR", "TIMEZONE", "LOG_LEVEL", "LOG_FORMAT"} {
		if !strings.Contains(string(data), v+"=") {
			t.Errorf(".env.example does not document %s", v)
		}
	}
}

// Copying .env.example to .env changes nothing: every value written there is the real default,
// and README's table shows the same defaults. An operator reads them, not the code.
func TestDocumentedDefaults(t *testing.T) {
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
		"HTTP_ADDR": DefaultHTTPAddr, "TIMEZONE": DefaultTimezone,
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(string(readme), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 {
			continue
		}
		name := strings.Trim(strings.TrimSpace(cells[1]), "`")
		def, ok := want[name]
		if !ok {
			continue
		}
		seen[name] = true
		if got := strings.Trim(strings.TrimSpace(cells[2]), "`"); got != def {
			t.Errorf("README: %s default %q, the code's is %q", name, got, def)
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
func TestLoadLanguagesFromLocale(t *testing.T) {
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
