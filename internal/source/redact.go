package source

import (
	"net/url"
	"newsbot/internal/secret"
	"strings"
)

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
	msg := strings.ReplaceAll(err.Error(), rawURL, secret.URL(rawURL))
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
