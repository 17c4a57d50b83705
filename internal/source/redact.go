package source

import (
	"net/url"
	"strings"
)

// redactURL is raw without its userinfo (user name and password), for logs and errors. A
// string that is not a URL with userinfo is returned as it is.
func redactURL(raw string) string {
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
	// Not parseable: cut whatever stands between "//" and the last "@" of the authority.
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

// redactedError is an error whose text had a URL's userinfo removed; it still unwraps to the
// original, for errors.Is.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redactErr removes rawURL's userinfo from err's text, in every form a library may have
// quoted it: the URL as written, and "user:***@" or "user@" as net/http shows it.
func redactErr(err error, rawURL string) error {
	if err == nil {
		return nil
	}
	u, perr := url.Parse(rawURL)
	msg := strings.ReplaceAll(err.Error(), rawURL, redactURL(rawURL))
	if perr == nil && u.User != nil {
		name := u.User.Username()
		for _, form := range []string{u.User.String() + "@", name + ":***@", url.UserPassword(name, "***").String() + "@", url.User(name).String() + "@"} {
			if form != "@" {
				msg = strings.ReplaceAll(msg, form, "")
			}
		}
	}
	if msg == err.Error() {
		return err
	}
	return &redactedError{msg: msg, err: err}
}
