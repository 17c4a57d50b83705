package config

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/joho/godotenv"
)

// Variables is every variable newsbot reads, for telling a misspelt one in .env.
var Variables = []string{
	"TELEGRAM_BOT_TOKEN", "TELEGRAM_API_URL", "REDIS_URL", "REDIS_PREFIX", "ARTICLES_DIR", "FEEDS",
	"FEED_INTERVAL", "ARTICLES_STREAM", "LANGUAGES", "DEFAULT_LANGUAGE", "TOPICS", "CHANNELS",
	"ADMIN_IDS", "SEND_RATE", "WEBHOOK_URL", "WEBHOOK_SECRET", "HTTP_ADDR", "TIMEZONE", "LOG_LEVEL",
	"LOG_FORMAT", "ENV_FILE", "DEFAULT_MODE", "DIGEST_TIMES", "QUIET_HOURS", "PUSH_MAX_AGE",
	"PAID_BROADCAST", "RATES_URL", "RATES_CURRENCIES", "RATES_INTERVAL",
}

// Lookup reads one variable like os.LookupEnv: its value, and whether it is set at all. Load
// needs both: ARTICLES_DIR, QUIET_HOURS and RATES_URL set to the empty string turn something
// off, while unset they take their default.
type Lookup func(key string) (value string, ok bool)

// Environ returns a Lookup that consults the real environment first and then the .env file at
// path. A variable set in the environment wins even when set to the empty string, as with
// docker's --env-file and godotenv.Load: that is how an operator turns off from outside
// what .env turns on. A missing file is fine (containers configure through the environment);
// an unreadable or malformed one is an error, because silently ignoring it would run with
// defaults the operator did not choose. The process environment is never modified.
//
// A line of the file that names no variable newsbot reads but nearly one (CHANELS, channels)
// or is not NAME=value at all is reported as an *Error, with a usable Lookup: it would
// otherwise be ignored without a word and newsbot would run with the default. Other unknown
// names are fine: the file may also serve docker compose (VERSION, ARTICLES_HOST_DIR).
func Environ(path string, env Lookup) (Lookup, error) {
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
	return func(key string) (string, bool) {
		if v, ok := env(key); ok {
			return v, true
		}
		v, ok := file[key]
		return v, ok
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
