package telegram

import (
	"errors"
	"net/url"
	"strings"
)

const redacted = "<token>"

// redactErr returns err with every occurrence of the token replaced. net/http errors
// carry the request URL, and the URL carries the token (/bot<token>/method).
func redactErr(err error, token string) error {
	if err == nil || token == "" || !strings.Contains(err.Error(), token) {
		return err
	}
	var ue *url.Error
	if errors.As(err, &ue) && !strings.Contains(ue.Err.Error(), token) {
		return &url.Error{Op: ue.Op, URL: strings.ReplaceAll(ue.URL, token, redacted), Err: ue.Err}
	}
	// Unknown shape: keep only the redacted text; unwrapping would reveal the token.
	return redactedError(strings.ReplaceAll(err.Error(), token, redacted))
}

type redactedError string

func (e redactedError) Error() string { return string(e) }
