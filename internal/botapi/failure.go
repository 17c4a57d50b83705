package botapi

import (
	"math"
	"time"
)

// Failure is an error answer as Telegram gives it.
type Failure struct {
	Code        int    // HTTP status and error_code
	Description string // Telegram's description
	RetryAfter  int    // parameters.retry_after (seconds), for 429
	MigrateTo   int64  // parameters.migrate_to_chat_id, for a group that became a supergroup
}

// RetryAfter is Telegram's flood-control answer.
func RetryAfter(seconds int) Failure {
	return Failure{Code: 429, Description: "Too Many Requests: retry after " + itoa(int64(seconds)), RetryAfter: seconds}
}

// Blocked is the answer for a reader who blocked the bot.
func Blocked() Failure {
	return Failure{Code: 403, Description: "Forbidden: bot was blocked by the user"}
}

// Deactivated is the answer for a deleted account.
func Deactivated() Failure { return Failure{Code: 403, Description: "Forbidden: user is deactivated"} }

// Kicked is the answer for a group the bot was removed from.
func Kicked() Failure {
	return Failure{Code: 403, Description: "Forbidden: bot was kicked from the group chat"}
}

// ChatNotFound is the answer for a chat that does not exist.
func ChatNotFound() Failure { return Failure{Code: 400, Description: "Bad Request: chat not found"} }

// Migrated is the answer for a group that became the supergroup newID.
func Migrated(newID int64) Failure {
	return Failure{Code: 400, Description: "Bad Request: group chat was upgraded to a supergroup chat", MigrateTo: newID}
}

// ServerError is a 500 from Telegram.
func ServerError() Failure { return Failure{Code: 500, Description: "Internal Server Error"} }

// BadRequest is any other 400.
func BadRequest(description string) Failure {
	return Failure{Code: 400, Description: "Bad Request: " + description}
}

type pendingFailure struct {
	method string
	chat   any // resolved chat id (int64) or nil for any chat
	f      Failure
}

// FailNext makes the next request of method to chatID (nil: to any chat) answer f.
// Calls queue: three FailNext for one chat fail its next three requests.
func (s *Server) FailNext(method string, chatID any, f Failure) {
	var chat any
	if chatID != nil {
		id, ok := s.resolve(chatID)
		if !ok {
			panic("botapi: FailNext: bad chat id")
		}
		chat = id
	}
	s.failMu.Lock()
	s.failures = append(s.failures, pendingFailure{method: method, chat: chat, f: f})
	s.failN.Add(1)
	s.failMu.Unlock()
}

func (s *Server) takeFailure(method string, chat int64, hasChat bool) (Failure, bool) {
	if s.failN.Load() == 0 {
		return Failure{}, false
	}
	s.failMu.Lock()
	defer s.failMu.Unlock()
	for i, p := range s.failures {
		if p.method != method {
			continue
		}
		if p.chat != nil && (!hasChat || p.chat.(int64) != chat) {
			continue
		}
		s.failures = append(s.failures[:i], s.failures[i+1:]...)
		s.failN.Add(-1)
		return p.f, true
	}
	return Failure{}, false
}

// SetRateLimit makes the server answer 429 with parameters.retry_after once requests that
// send or change messages come faster than perSecond overall (a token bucket holding one
// second's worth). 0 turns it off.
func (s *Server) SetRateLimit(perSecond float64) {
	s.rateMu.Lock()
	s.rate = perSecond
	s.tokens = math.Max(perSecond, 1)
	s.rateAt = time.Now()
	s.rateMu.Unlock()
	s.rateOn.Store(perSecond > 0)
}

// unlimited are the calls Telegram's flood limit does not count: they send nobody anything.
var unlimited = map[string]bool{
	"getUpdates": true, "getMe": true, "getChatMember": true, "setMyCommands": true,
	"setWebhook": true, "deleteWebhook": true, "getWebhookInfo": true,
}

func (s *Server) allow(method string) (retryAfter int, ok bool) {
	if !s.rateOn.Load() || unlimited[method] {
		return 0, true
	}
	s.rateMu.Lock()
	defer s.rateMu.Unlock()
	if s.rate <= 0 {
		return 0, true
	}
	now := time.Now()
	burst := math.Max(s.rate, 1)
	s.tokens = math.Min(burst, s.tokens+now.Sub(s.rateAt).Seconds()*s.rate)
	s.rateAt = now
	if s.tokens >= 1 {
		s.tokens--
		return 0, true
	}
	s.limited.Add(1)
	return max(1, int(math.Ceil((1-s.tokens)/s.rate))), false
}
