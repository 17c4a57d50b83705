package telegram

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Outcome is what the answer to a Bot API call means for whoever made it. This file is the
// one place that reads Telegram's codes, descriptions and network errors: delivery, the bot
// and the intake decide by the outcome alone.
type Outcome uint8

// Outcomes of a failed call (a call that succeeded returns a nil error).
const (
	// NotSent: the request never reached Telegram whole (a refused connection, a failed
	// dial, the caller gave up before it was written), or Telegram answered that it failed
	// (5xx). Sending it again cannot make a second copy.
	NotSent Outcome = iota + 1
	// InDoubt: the request left and no answer came (a timeout, a connection cut mid-way).
	// Telegram may have acted on it: sending again risks a second copy.
	InDoubt
	// RetryAfter: 429 flood control. Error.RetryAfter says how long to wait; nothing was sent.
	RetryAfter
	// Blocked: 403. The bot may not write to this chat any more: blocked by the reader, the
	// account deleted, the bot removed from the group or the channel.
	Blocked
	// ChatGone: the chat does not exist (any more).
	ChatGone
	// Migrated: the group became a supergroup; Error.MigrateTo is its new id.
	Migrated
	// NotModified: an edit that changes nothing; for an edit that converges on a state, that
	// is success.
	NotModified
	// MessageGone: the message to edit or delete is not there any more (deleted by hand, or by
	// an earlier attempt whose answer was lost).
	MessageGone
	// BadMedia: Telegram could not fetch or use the photo (an expired image URL, a CDN
	// hiccup, a file it cannot read). The same message without the photo may go through.
	BadMedia
	// Refused: any other 4xx. The request itself is wrong; sending it again will not help.
	Refused
	// Unauthorized: 401, the token is wrong or revoked. Nothing will work until it is fixed.
	Unauthorized
)

var outcomeNames = [...]string{"", "not_sent", "in_doubt", "retry_after", "blocked", "chat_gone",
	"migrated", "not_modified", "message_gone", "bad_media", "refused", "unauthorized"}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) && o != 0 {
		return outcomeNames[o]
	}
	return fmt.Sprintf("outcome(%d)", int(o))
}

// OutcomeOf classifies the error of a call. nil is 0 (success). An error that is not a
// *Error — one a caller made before calling, say — is NotSent when it is a context error
// (nothing was attempted) and Refused otherwise.
func OutcomeOf(err error) Outcome {
	if err == nil {
		return 0
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Outcome
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return NotSent
	}
	return Refused
}

// RetryAfterOf is how long a RetryAfter answer asks to wait (0 for any other error).
func RetryAfterOf(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) && e.Outcome == RetryAfter {
		return e.RetryAfter
	}
	return 0
}

// MigratedTo is the new id of a group that became a supergroup (0 for any other error).
func MigratedTo(err error) int64 {
	var e *Error
	if errors.As(err, &e) && e.Outcome == Migrated {
		return e.MigrateTo
	}
	return 0
}

// Error is a failed Bot API call. Its text never holds the bot token.
type Error struct {
	Method      string
	Outcome     Outcome
	Code        int    // Telegram's error_code (HTTP status); 0 when no answer came
	Description string // Telegram's description, or the (redacted) network error
	RetryAfter  time.Duration
	MigrateTo   int64

	cause error // redacted network error, if any
}

func (e *Error) Error() string {
	if e.Code == 0 {
		return fmt.Sprintf("telegram %s: %s", e.Method, e.Description)
	}
	return fmt.Sprintf("telegram %s: %d %s", e.Method, e.Code, e.Description)
}

// Unwrap gives the network cause (already redacted), so that errors.Is(err,
// context.DeadlineExceeded) keeps working.
func (e *Error) Unwrap() error { return e.cause }

// apiError maps a Telegram error answer to an *Error.
func apiError(method string, code int, desc string, retryAfter int, migrateTo int64) *Error {
	e := &Error{Method: method, Code: code, Description: desc}
	lower := strings.ToLower(desc)
	has := func(parts ...string) bool {
		for _, p := range parts {
			if strings.Contains(lower, p) {
				return true
			}
		}
		return false
	}
	switch {
	case code == 429:
		e.Outcome = RetryAfter
		if retryAfter <= 0 {
			retryAfter = 1 // Telegram always sends it; be safe if a proxy does not
		}
		e.RetryAfter = time.Duration(retryAfter) * time.Second
	case migrateTo != 0:
		e.Outcome = Migrated
		e.MigrateTo = migrateTo
	case has("chat not found", "user not found", "peer_id_invalid", "chat_id is empty",
		"group chat was deleted", "channel_private"):
		e.Outcome = ChatGone
	case code == 403:
		// Forbidden always means this chat cannot receive from us: blocked by the user,
		// user is deactivated, bot was kicked, bot can't initiate conversation, bot is not
		// a member of the channel, can't send messages to bots.
		e.Outcome = Blocked
	case code == 401:
		e.Outcome = Unauthorized
	case code >= 500:
		e.Outcome = NotSent
	case code == 400 && has("message is not modified"):
		e.Outcome = NotModified
	case code == 400 && has("message to delete not found", "message to edit not found", "message_id_invalid"):
		e.Outcome = MessageGone
	case code == 400 && has("wrong file identifier", "failed to get http url content",
		"wrong type of the web page content", "image_process_failed", "photo_invalid_dimensions",
		"wrong remote file identifier", "photo_save_file_invalid", "media_empty", "webpage_media_empty",
		"webpage_curl_failed"):
		e.Outcome = BadMedia
	default:
		e.Outcome = Refused
	}
	return e
}

// networkError wraps a failure to get an answer at all. wrote says whether the request was
// written whole: if not, Telegram cannot have acted on it.
func networkError(method string, err error, token string, wrote bool) *Error {
	e := &Error{Method: method, cause: redactErr(err, token), Outcome: NotSent}
	e.Description = e.cause.Error()
	if wrote {
		e.Outcome = InDoubt
	}
	return e
}
