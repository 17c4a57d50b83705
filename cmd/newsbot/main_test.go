package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"newsbot/internal/config"
	"newsbot/internal/redistest"
	"newsbot/internal/telegramtest"
)

const sample = "../../testdata/seed-xi-jinping-visit.en.json"

// runCmd runs the binary in-process with exactly the given environment (no .env unless
// ENV_FILE says so) and returns stdout, stderr and the exit status main would use.
func runCmd(t *testing.T, env map[string]string, args ...string) (string, string, int) {
	t.Helper()
	if _, ok := env["ENV_FILE"]; !ok {
		env["ENV_FILE"] = filepath.Join(t.TempDir(), "none.env")
	}
	var stdout, stderr bytes.Buffer
	lookup := func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
	err := run(context.Background(), args, lookup, &stdout, &stderr)
	code := 0
	if err != nil {
		code = 1
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		if err.Error() != "" {
			stderr.WriteString(err.Error() + "\n")
		}
	}
	return stdout.String(), stderr.String(), code
}

func TestRunWithoutToken(t *testing.T) {
	for _, args := range [][]string{nil, {"run"}} {
		_, stderr, code := runCmd(t, map[string]string{}, args...)
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if code != 1 || len(lines) != 1 || !strings.HasPrefix(lines[0], "TELEGRAM_BOT_TOKEN: ") {
			t.Errorf("newsbot %v: exit %d, stderr %q; want exit 1 and one line naming TELEGRAM_BOT_TOKEN", args, code, stderr)
		}
	}
}

func TestRunNamesBadVariables(t *testing.T) {
	_, stderr, code := runCmd(t, map[string]string{
		"TELEGRAM_BOT_TOKEN": "123:abc",
		"REDIS_URL":          "http://localhost:6379",
		"CHANNELS":           "kk:@news_kk",
	}, "run")
	if code != 1 || !strings.Contains(stderr, "REDIS_URL: ") || !strings.Contains(stderr, "CHANNELS: ") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	if strings.Contains(stderr, "123:abc") {
		t.Error("the token was printed")
	}
}

func TestRunWithARefusedToken(t *testing.T) {
	redis := redistest.Start(t)
	tg := telegramtest.New(t)
	_, stderr, code := runCmd(t, map[string]string{
		"TELEGRAM_BOT_TOKEN": "123:SECRET-but-wrong",
		"TELEGRAM_API_URL":   tg.URL(),
		"REDIS_URL":          redis.URL(),
		"ARTICLES_DIR":       t.TempDir(),
		"HTTP_ADDR":          "127.0.0.1:0",
		"LOG_FORMAT":         "json",
	})
	if code != 1 || !strings.Contains(stderr, "TELEGRAM_BOT_TOKEN") {
		t.Errorf("exit %d, stderr %q; want exit 1 naming TELEGRAM_BOT_TOKEN", code, stderr)
	}
	if strings.Contains(stderr, "SECRET") {
		t.Errorf("the token was logged: %s", stderr)
	}
}

// SEND_RATE above 30 without PAID_BROADCAST=true starts, with a warning naming the variable;
// with paid broadcasts it starts without one.
func TestRunWarnsOfSendRateWithoutPaidBroadcast(t *testing.T) {
	redis := redistest.Start(t)
	tg := telegramtest.New(t)
	for _, paid := range []string{"false", "true"} {
		// The refused token ends the run right after the start.
		_, stderr, _ := runCmd(t, map[string]string{
			"TELEGRAM_BOT_TOKEN": "123:refused",
			"TELEGRAM_API_URL":   tg.URL(),
			"REDIS_URL":          redis.URL(),
			"ARTICLES_DIR":       "",
			"HTTP_ADDR":          "127.0.0.1:0",
			"SEND_RATE":          "100",
			"PAID_BROADCAST":     paid,
		})
		warned := strings.Contains(stderr, `level=WARN msg="SEND_RATE: 100 messages a second is above Telegram's 30 without PAID_BROADCAST=true`)
		if !strings.Contains(stderr, "newsbot starting") || warned != (paid == "false") {
			t.Errorf("PAID_BROADCAST=%s: warned %v:\n%s", paid, warned, stderr)
		}
	}
}

// The start line shows every URL without its user and password: feeds behind basic auth, a
// Bot API server behind a proxy, the webhook.
func TestRunStartLineHidesURLCredentials(t *testing.T) {
	redis := redistest.Start(t)
	tg := telegramtest.New(t)
	api := strings.Replace(tg.URL(), "://", "://apiuser:ApiPass789@", 1)
	_, stderr, _ := runCmd(t, map[string]string{
		"TELEGRAM_BOT_TOKEN": "123:refused",
		"TELEGRAM_API_URL":   api,
		"REDIS_URL":          redis.URL(),
		"ARTICLES_DIR":       "",
		"FEEDS":              "https://feeduser:FeedPass123@feeds.example.kz/rss,ru=https://ruuser:RuPass456@feeds.example.kz/ru.xml",
		"WEBHOOK_URL":        "https://hookuser:HookPass012@bot.example.kz/hook",
		"WEBHOOK_SECRET":     "s3cret",
		"HTTP_ADDR":          "127.0.0.1:0",
		"LOG_FORMAT":         "json",
	})
	var start string
	for _, line := range strings.Split(stderr, "\n") {
		if strings.Contains(line, `"msg":"newsbot starting"`) {
			start = line
		}
	}
	if start == "" {
		t.Fatalf("no start line:\n%s", stderr)
	}
	for _, secret := range []string{"feeduser", "FeedPass123", "ruuser", "RuPass456", "apiuser", "ApiPass789", "hookuser", "HookPass012"} {
		if strings.Contains(start, secret) {
			t.Errorf("the start line shows %s: %s", secret, start)
		}
	}
	for _, want := range []string{
		`"feeds":"https://feeds.example.kz/rss,ru=https://feeds.example.kz/ru.xml"`,
		`"telegram_api_url":"` + tg.URL() + `"`,
		`"webhook_url":"https://bot.example.kz/hook"`,
	} {
		if !strings.Contains(start, want) {
			t.Errorf("the start line lacks %s: %s", want, start)
		}
	}
}

func TestPreview(t *testing.T) {
	stdout, stderr, code := runCmd(t, map[string]string{"CHANNELS": "en=@news_en,kk=@news_kk", "REDIS_URL": "broken"}, "preview", sample)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q (a bad REDIS_URL must not stop a preview)", code, stderr)
	}
	var p struct {
		Method string         `json:"method"`
		Params map[string]any `json:"params"`
	}
	if err := json.Unmarshal([]byte(stdout), &p); err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	if p.Method != "sendPhoto" || p.Params["chat_id"] != "@news_en" || p.Params["parse_mode"] != "HTML" ||
		p.Params["photo"] != "https://news.example.kz/images/2022/09/14/tokayev-xi-akorda.jpg" {
		t.Errorf("preview = %s", stdout)
	}
	if !strings.Contains(stdout, `"caption":"<b>Chinese leader`) || !strings.Contains(stdout, "Photo: Akorda") {
		t.Errorf("caption not as sent: %s", stdout)
	}
	rm, ok := p.Params["reply_markup"].(map[string]any)
	if !ok || rm["inline_keyboard"] == nil {
		t.Errorf("reply_markup is not an object: %v", p.Params["reply_markup"])
	}
	if strings.Count(stdout, "\n") != 1 {
		t.Errorf("want one JSON object per line: %q", stdout)
	}

	stdout, _, code = runCmd(t, map[string]string{}, "preview", "-lang", "kk", sample)
	if code != 0 || !strings.Contains(stdout, "Фото: Akorda") || !strings.Contains(stdout, `"chat_id":""`) {
		t.Errorf("-lang kk without CHANNELS: exit %d, %s", code, stdout)
	}
}

func TestPreviewInvalidFiles(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"id":"x","url":"/relative","lang":"de","title":"T","published_at":"2022-09-14T18:28:00Z"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.json")
	folder := filepath.Join(dir, "folder.json")
	if err := os.Mkdir(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runCmd(t, map[string]string{}, "preview", bad, sample, missing, folder)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if strings.Count(stdout, "\n") != 1 || !strings.Contains(stdout, "Chinese leader") {
		t.Errorf("the valid file must still render: %q", stdout)
	}
	for _, want := range []string{
		bad + `: url: "/relative" is not an absolute http(s) URL`,
		bad + `: lang: "de" is not one of LANGUAGES (kk,ru,en)`,
		missing + ": file: no such file",
		folder + ": file: is a directory",
	} {
		if !strings.Contains(stderr, want+"\n") {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

// LANGUAGES is checked against the message files in locales/: a language without them is
// named with the ones there are.
func TestPreviewLanguageWithoutTranslations(t *testing.T) {
	_, stderr, code := runCmd(t, map[string]string{"LANGUAGES": "kk,ru,en,de"}, "preview", sample)
	if code != 1 || !strings.Contains(stderr, `LANGUAGES: "de" is not a language newsbot has translations for (en,kk,ru)`) {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

func TestPreviewUsage(t *testing.T) {
	for _, args := range [][]string{{"preview"}, {"preview", "-lang", "de", sample}, {"preview", "-bogus", sample}} {
		_, stderr, code := runCmd(t, map[string]string{}, args...)
		if code != 2 || stderr == "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
	}
}

func TestEnvFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(path, []byte("CHANNELS=en=@from_file\nLANGUAGES=en\nDEFAULT_LANGUAGE=en\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runCmd(t, map[string]string{"ENV_FILE": path}, "preview", sample)
	if code != 0 || !strings.Contains(stdout, `"chat_id":"@from_file"`) {
		t.Errorf(".env not read: exit %d %s %s", code, stdout, stderr)
	}
	stdout, _, _ = runCmd(t, map[string]string{"ENV_FILE": path, "CHANNELS": "en=@from_env"}, "preview", sample)
	if !strings.Contains(stdout, `"chat_id":"@from_env"`) {
		t.Errorf("the real environment must win: %s", stdout)
	}
}

// A misspelt variable in .env stops run with a line naming it, and does not stop preview.
func TestEnvFileMisspelt(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(path, []byte("TELEGRAM_BOT_TOKEN=123:abc\nCHANELS=en=@news_en\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runCmd(t, map[string]string{"ENV_FILE": path}, "run")
	if code != 1 || !strings.Contains(stderr, "CHANELS: in "+path+" is not a variable newsbot reads; did you mean CHANNELS?") {
		t.Errorf("run: exit %d, stderr %q", code, stderr)
	}
	stdout, _, code := runCmd(t, map[string]string{"ENV_FILE": path}, "preview", sample)
	if code != 0 || !strings.Contains(stdout, "sendPhoto") {
		t.Errorf("preview must not stop on it: exit %d", code)
	}
}

func TestVersionHelpUnknown(t *testing.T) {
	stdout, _, code := runCmd(t, map[string]string{}, "version")
	if code != 0 || stdout != "newsbot dev\n" {
		t.Errorf("version: %d %q", code, stdout)
	}
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}} {
		stdout, stderr, code := runCmd(t, map[string]string{}, args...)
		if code != 0 || stderr != "" || !strings.Contains(stdout, "Usage:") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
	for _, args := range [][]string{{"frobnicate"}, {"run", "extra"}} {
		stdout, stderr, code := runCmd(t, map[string]string{}, args...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, "Usage:") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
}

// ARTICLES_DIR set to "" in the real environment turns the directory watcher off, even when
// .env names a directory; unset, .env's directory (or the default) holds.
func TestConfigArticlesDirEmptyInTheEnvironment(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(path, []byte("ARTICLES_DIR=/srv/articles\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	lookup := func(env map[string]string) config.Lookup {
		return func(k string) (string, bool) {
			v, ok := env[k]
			return v, ok
		}
	}
	cfg, err := loadConfig(lookup(map[string]string{"ENV_FILE": path, "ARTICLES_DIR": ""}))
	if err != nil || cfg.ArticlesDir != "" {
		t.Errorf("ARTICLES_DIR= in the environment: dir %q, %v; want off", cfg.ArticlesDir, err)
	}
	cfg, err = loadConfig(lookup(map[string]string{"ENV_FILE": path}))
	if err != nil || cfg.ArticlesDir != "/srv/articles" {
		t.Errorf("ARTICLES_DIR unset in the environment: dir %q, %v; want .env's", cfg.ArticlesDir, err)
	}
	cfg, err = loadConfig(lookup(map[string]string{"ENV_FILE": filepath.Join(t.TempDir(), "none.env")}))
	if err != nil || cfg.ArticlesDir != "./articles" {
		t.Errorf("ARTICLES_DIR unset everywhere: dir %q, %v; want ./articles", cfg.ArticlesDir, err)
	}
}

func TestRunWithATakenPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	redis := redistest.Start(t)
	tg := telegramtest.New(t)
	_, stderr, code := runCmd(t, map[string]string{
		"TELEGRAM_BOT_TOKEN": tg.Token(),
		"TELEGRAM_API_URL":   tg.URL(),
		"REDIS_URL":          redis.URL(),
		"ARTICLES_DIR":       t.TempDir(),
		"HTTP_ADDR":          ln.Addr().String(),
	})
	if code != 1 || !strings.Contains(stderr, "HTTP_ADDR") || strings.Contains(stderr, "newsbot running") {
		t.Errorf("exit %d, stderr %q; want exit 1 naming HTTP_ADDR before anything starts", code, stderr)
	}
}

func TestRunWithAWrongAPIURL(t *testing.T) {
	redis := redistest.Start(t)
	tg := telegramtest.New(t)
	_, stderr, code := runCmd(t, map[string]string{
		"TELEGRAM_BOT_TOKEN": tg.Token(),
		"TELEGRAM_API_URL":   tg.URL() + "/not-the-bot-api",
		"REDIS_URL":          redis.URL(),
		"ARTICLES_DIR":       t.TempDir(),
		"HTTP_ADDR":          "127.0.0.1:0",
	})
	if code != 1 || !strings.Contains(stderr, "TELEGRAM_API_URL") {
		t.Errorf("exit %d, stderr %q; want exit 1 naming TELEGRAM_API_URL", code, stderr)
	}
	if strings.Contains(stderr, tg.Token()) {
		t.Error("the token was printed")
	}
}
