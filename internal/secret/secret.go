// Package secret keeps credentials out of what newsbot logs and shows: the user names and
// passwords operators put into URLs (FEEDS, TELEGRAM_API_URL, WEBHOOK_URL, RATES_URL,
// REDIS_URL). The bot token has its own guard in internal/telegram.
package secret

import (
	"net/url"
	"strings"
)

// URL is raw with any user name and password removed: "https://host/rss" for
// "https://feeduser:FeedPass123@host/rss". It works on the text too, so a URL that does not
// parse (and is being reported as a problem) loses its credentials all the same.
func URL(raw string) string {
	if !strings.Contains(raw, "@") {
		return raw
	}
	if u, err := url.Parse(raw); err == nil {
		if u.User == nil {
			return raw
		}
		u.User = nil
		return u.String()
	}
	scheme, rest, ok := strings.Cut(raw, "//")
	if !ok {
		return raw
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	if at := strings.LastIndex(rest[:end], "@"); at >= 0 {
		return scheme + "//" + rest[at+1:]
	}
	return raw
}

// Password is a Redis URL with its passwords masked ("xxxxx") and the user name kept, which
// tells an operator which account is meant: in the userinfo and in the password= and
// sentinel_password= options. An unparsable URL is shown as "[unparsable]".
func Password(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "[unparsable]"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	q := u.Query()
	changed := false
	for _, k := range []string{"password", "sentinel_password"} {
		if q.Has(k) {
			q.Set(k, "xxxxx")
			changed = true
		}
	}
	if changed {
		u.RawQuery = q.Encode()
	}
	return u.String()
}
