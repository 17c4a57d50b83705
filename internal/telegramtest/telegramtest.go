// Package telegramtest is the fake Telegram Bot API for tests: the playground's stand-in
// (internal/botapi, which holds Telegram's rules) served by an httptest server that closes
// when the test ends. It answers /bot<token>/<method> the way Telegram does, records every
// request, keeps what each chat holds (sends minus deletes, edits applied), queues updates
// for getUpdates, and can be told to fail (429, 403, 400, 500) or to rate-limit.
package telegramtest

import (
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"newsbot/internal/botapi"
)

// BotID and BotUsername are the fake bot's identity (getMe).
const (
	BotID       = botapi.BotID
	BotUsername = botapi.BotUsername
)

// Request is one call the server received.
type Request = botapi.Request

// Response is what a SetHandler function answers instead of the default behaviour.
type Response = botapi.Response

// Failure is an error answer as Telegram gives it.
type Failure = botapi.Failure

// Server is the fake Bot API: every method of the stand-in, served on URL.
type Server struct {
	*botapi.Server
	ts     *httptest.Server
	closed sync.Once
}

// New starts a fake Bot API closed when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := NewServer()
	t.Cleanup(s.Close)
	return s
}

// NewServer starts a fake Bot API; the caller must Close it.
func NewServer() *Server {
	s := &Server{Server: botapi.New(botapi.Options{})}
	s.ts = httptest.NewUnstartedServer(s.Server)
	s.ts.Config.ReadHeaderTimeout = 10 * time.Second
	s.ts.Start()
	return s
}

// URL is the base URL to use as TELEGRAM_API_URL.
func (s *Server) URL() string { return s.ts.URL }

// Close stops the server, releasing long-polling requests first.
func (s *Server) Close() {
	s.closed.Do(func() {
		s.Server.Close()
		s.ts.CloseClientConnections()
		s.ts.Close()
	})
}

// WaitFor waits until n requests of method have arrived and returns the recorded ones; it
// fails the test after timeout.
func (s *Server) WaitFor(t testing.TB, method string, n int, timeout time.Duration) []Request {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for s.Count(method) < n {
		if time.Now().After(deadline) {
			t.Fatalf("telegramtest: %d %s requests after %v, want %d", s.Count(method), method, timeout, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return s.Requests(method)
}

// RetryAfter is Telegram's flood-control answer.
func RetryAfter(seconds int) Failure { return botapi.RetryAfter(seconds) }

// Blocked is the answer for a reader who blocked the bot.
func Blocked() Failure { return botapi.Blocked() }

// Deactivated is the answer for a deleted account.
func Deactivated() Failure { return botapi.Deactivated() }

// Kicked is the answer for a group the bot was removed from.
func Kicked() Failure { return botapi.Kicked() }

// ChatNotFound is the answer for a chat that does not exist.
func ChatNotFound() Failure { return botapi.ChatNotFound() }

// Migrated is the answer for a group that became the supergroup newID.
func Migrated(newID int64) Failure { return botapi.Migrated(newID) }

// ServerError is a 500 from Telegram.
func ServerError() Failure { return botapi.ServerError() }

// BadRequest is any other 400.
func BadRequest(description string) Failure { return botapi.BadRequest(description) }
