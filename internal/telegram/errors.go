package telegram

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sentinels for errors.Is. Every error a Client returns for a failed call is a *Error
// that matches exactly one of them (or wraps context.Canceled when the caller gave up).
var (
	// ErrRetryAfter: 429 Too Many Requests; Error.RetryAfter says how long to wait.
	ErrRetryAfter = errors.New("telegram: too many requests")
	// ErrBlocked: 403, the bot may not write to this chat any more (blocked by the user,
	// user deactivated, bot kicked from the group, bot can't initiate a conversation).
	ErrBlocked = errors.New("telegram: blocked")
	// ErrChatNotFound: the chat does not exist (or no longer does).
	ErrChatNotFound = errors.New("telegram: chat not found")
	// ErrMigrated: the group became a supergroup; Error.MigrateTo is its new id.
	ErrMigrated = errors.New("telegram: chat migrated")
	// ErrUnauthorized: 401, the token is wrong or revoked. Retrying will not help.
	ErrUnauthorized = errors.New("telegram: unauthorized")
	// ErrBadRequest: any other 4xx; the request itself is wrong and retrying will not help.
	ErrBadRequest = errors.New("telegram: bad request")
	// ErrTransient: 5xx, network errors, timeouts, unreadable answers; retrying may help.
	ErrTransient = errors.New("telegram: transient failure")
)

// Error is a failed Bot API call. Its text never holds the bot token.
type Error struct {
	Method      string
	Code        int    // Telegram's error_code (HTTP status); 0 for network errors
	Description string // Telegram's description, or the (redacted) network error
	RetryAfter  time.Duration
	MigrateTo   int64

	kind  error // one of the sentinels
	cause error // redacted network error, if any
}

func (e *Error) Error() string {
	if e.Code == 0 {
		return fmt.Sprintf("telegram %s: %s", e.Method, e.Description)
	}
	return fmt.Sprintf("telegram %s: %d %s", e.Method, e.Code, e.Description)
}

// Is matches the error's kind sentinel.
func (e *Error) Is(target error) bool { return target != nil && target == e.kind }

// Unwrap gives the network cause (already redacted), so that errors.Is(err,
// context.DeadlineExceeded) and errors.As(err, *net.OpError) keep working.
func (e *Error) Unwrap() error { return e.cause }

// Kind returns the sentinel the error matches (ErrRetryAfter, ErrBlocked, ...).
func (e *Error) Kind() error { return e.kind }

// apiError maps a Telegram error answer to an *Error.
func apiError(method string, code int, desc string, retryAfter int, migrateTo int64) *Error {
	e := &Error{Method: method, Code: code, Description: desc}
	lower := strings.ToLower(desc)
	switch {
	case code == 429:
		e.kind = ErrRetryAfter
		if retryAfter <= 0 {
			retryAfter = 1 // Telegram always sends it; be safe if a proxy does not
		}
		e.RetryAfter = time.Duration(retryAfter) * time.Second
	case migrateTo != 0:
		e.kind = ErrMigrated
		e.MigrateTo = migrateTo
	case strings.Contains(lower, "chat not found"), strings.Contains(lower, "user not found"),
		strings.Contains(lower, "peer_id_invalid"), strings.Contains(lower, "chat_id is empty"),
		strings.Contains(lower, "group chat was deleted"), strings.Contains(lower, "channel_private"):
		e.kind = ErrChatNotFound
	case code == 403:
		// Forbidden always means this chat cannot receive from us: blocked by the user,
		// user is deactivated, bot was kicked, bot can't initiate conversation, bot is not
		// a member of the channel, can't send messages to bots.
		e.kind = ErrBlocked
	case code == 401:
		e.kind = ErrUnauthorized
	case code >= 500 || code == 0:
		e.kind = ErrTransient
	default:
		e.kind = ErrBadRequest
	}
	return e
}

// networkError wraps a failure to get an answer at all. A caller's cancellation is
// reported as such (not transient: nobody should retry it); everything else is transient.
func networkError(ctx context.Context, method string, err error, token string) *Error {
	e := &Error{Method: method, cause: redactErr(err, token)}
	e.Description = e.cause.Error()
	e.kind = ErrTransient
	if ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled) {
		e.kind = context.Canceled
	}
	return e
}

// IsNotModified reports Telegram's refusal of an edit that changes nothing ("message is
// not modified"): for an edit that is there to converge on a state, that is success.
func IsNotModified(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == 400 && strings.Contains(e.Description, "message is not modified")
}

// IsMessageGone reports that the message to edit or delete no longer exists (deleted by
// an admin, or by an earlier attempt whose answer was lost): a retraction is then done.
func IsMessageGone(err error) bool {
	var e *Error
	if !errors.As(err, &e) || e.Code != 400 {
		return false
	}
	d := strings.ToLower(e.Description)
	return strings.Contains(d, "message to delete not found") || strings.Contains(d, "message to edit not found")
}
