package config

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"newsbot/internal/schedule"
	"newsbot/internal/secret"
)

type loader struct {
	lookup Lookup
	errs   []error
}

func (l *loader) fail(v, reason string) { l.errs = append(l.errs, &Error{Var: v, Reason: reason}) }

// value is the trimmed value, and whether the variable is set at all.
func (l *loader) value(key string) (string, bool) {
	v, ok := l.lookup(key)
	return strings.TrimSpace(v), ok
}

// str is the trimmed value or the default when unset or blank.
func (l *loader) str(key, def string) string {
	if v, _ := l.value(key); v != "" {
		return v
	}
	return def
}

// optional is a variable whose empty value turns something off (ARTICLES_DIR, QUIET_HOURS,
// RATES_URL): unset it is the default; set to "", "off" or "-" it is "". This is the one
// place that decides "off"; "off" is there for the places that cannot set a variable to
// the empty string.
func (l *loader) optional(key, def string) string {
	v, ok := l.value(key)
	switch {
	case !ok:
		return def
	case v == "" || v == "-" || strings.EqualFold(v, "off"):
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

// duration reads a Go duration between minimum and maximum (0: no maximum).
func (l *loader) duration(key string, def, minimum, maximum time.Duration) time.Duration {
	v, _ := l.value(key)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		l.fail(key, fmt.Sprintf("%q is not a duration (like 30s, 1m, 1h30m)", v))
		return def
	}
	if d < minimum {
		l.fail(key, fmt.Sprintf("%q is shorter than %s", v, shortDuration(minimum)))
		return def
	}
	if maximum > 0 && d > maximum {
		l.fail(key, fmt.Sprintf("%q is longer than %s", v, shortDuration(maximum)))
		return def
	}
	return d
}

// shortDuration writes d as an operator would: "1m", "6h", "168h", not "1m0s".
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// boolean reads true or false (and strconv.ParseBool's 1, 0, TRUE, ...).
func (l *loader) boolean(key string, def bool) bool {
	v, _ := l.value(key)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		l.fail(key, fmt.Sprintf("%q is not true or false", v))
		return def
	}
	return b
}

func (l *loader) digestTimes() []schedule.Clock {
	items := l.list("DIGEST_TIMES", DefaultDigestTimes)
	if len(items) == 0 {
		l.fail("DIGEST_TIMES", "must name at least one time (like 08:00)")
	}
	if len(items) > maxDigestTimes {
		l.fail("DIGEST_TIMES", fmt.Sprintf("%d times; at most %d", len(items), maxDigestTimes))
	}
	var times []schedule.Clock
	for _, item := range items {
		c, err := schedule.ParseClock(item)
		if err != nil {
			l.fail("DIGEST_TIMES", err.Error())
			continue
		}
		if slices.Contains(times, c) {
			l.fail("DIGEST_TIMES", fmt.Sprintf("%s is listed twice", c))
			continue
		}
		times = append(times, c)
	}
	slices.Sort(times)
	return times
}

func (l *loader) quietHours() schedule.Window {
	v := l.optional("QUIET_HOURS", DefaultQuietHours)
	if v == "" {
		return schedule.Window{}
	}
	w, err := schedule.ParseWindow(v)
	if err != nil {
		l.fail("QUIET_HOURS", err.Error()+" (empty: no quiet hours)")
	}
	return w
}

func (l *loader) ratesURL() string {
	v := l.optional("RATES_URL", DefaultRatesURL)
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		l.fail("RATES_URL", fmt.Sprintf("%q is not an absolute http(s) URL (empty: rates off)", secret.URL(v)))
	case u.User != nil:
		// The rates are public: a user or password here was pasted by mistake, and would
		// be sent to whoever serves the URL.
		l.fail("RATES_URL", fmt.Sprintf("%q must not carry a user or password", secret.URL(v)))
	default:
		return v
	}
	return ""
}

func (l *loader) currencies() []string {
	codes := l.list("RATES_CURRENCIES", DefaultRatesCurrencies)
	if len(codes) == 0 {
		l.fail("RATES_CURRENCIES", "must name at least one currency (like USD)")
	}
	var out []string
	for _, code := range codes {
		if !validCurrency(code) {
			l.fail("RATES_CURRENCIES", fmt.Sprintf("%q is not a currency code of 3 capital letters (like USD)", code))
			continue
		}
		if slices.Contains(out, code) {
			l.fail("RATES_CURRENCIES", fmt.Sprintf("%q is listed twice", code))
			continue
		}
		out = append(out, code)
	}
	return out
}

func validCurrency(s string) bool {
	if len(s) != 3 {
		return false
	}
	for _, r := range s {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
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
				l.fail("FEEDS", fmt.Sprintf("%q: %q is not one of LANGUAGES (%s)", secret.URL(item), f.Lang, strings.Join(langs, ",")))
			}
		}
		u, err := url.Parse(f.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			l.fail("FEEDS", fmt.Sprintf("%q is not an absolute http(s) URL", secret.URL(f.URL)))
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
