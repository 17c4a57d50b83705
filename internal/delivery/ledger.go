package delivery

import (
	"strconv"
	"strings"
)

// The once-only ledger is one hash per story: chat id → the chat's state for that story. A
// chat with a state is never sent the story again, except "failed" ones by a later job of the
// story (an editor's push retries what an earlier job could not deliver). This file is the one
// encoding of the states; the scripts (scripts.go) use the same prefixes through luaLedger.
//
//	w:<job>           sending: marked right before the request goes out (job number)
//	s:<message id>    sent
//	f:<job>:<reason>  failed in that job; a later job may try again
//	x:<reason>        gone for good: the reader blocked the bot, or the chat does not exist
//	u:<job>           in doubt: the request may have reached Telegram; never sent again
//	m:<chat id>       the group became a supergroup with that id; the story follows it there
type ledgerState string

const (
	prefixSending = "w:"
	prefixSent    = "s:"
	prefixFailed  = "f:"
	prefixGone    = "x:"
	prefixDoubt   = "u:"
	prefixMoved   = "m:"
)

// handBack is the state of a chat that was not sent after all (shutdown, a pause, a retry for
// later): recording it removes the chat's "sending" mark, so another page run may send it.
const handBack ledgerState = ""

func sendingState(job string) ledgerState { return ledgerState(prefixSending + job) }
func sentState(messageID int) ledgerState { return ledgerState(prefixSent + strconv.Itoa(messageID)) }
func failedState(job, reason string) ledgerState {
	return ledgerState(prefixFailed + job + ":" + reason)
}
func goneState(reason string) ledgerState { return ledgerState(prefixGone + reason) }
func doubtState(job string) ledgerState   { return ledgerState(prefixDoubt + job) }
func movedState(to int64) ledgerState     { return ledgerState(prefixMoved + strconv.FormatInt(to, 10)) }

// sent reports whether the state records a delivered message.
func (s ledgerState) sent() bool { return strings.HasPrefix(string(s), prefixSent) }

// luaLedger gives the scripts the prefixes above and usable(): whether job j may send to a chat
// whose ledger state is v — never touched, or failed in another job.
var luaLedger = `
local SENDING, FAILED, DOUBT = '` + prefixSending + `', '` + prefixFailed + `', '` + prefixDoubt + `'
local function usable(v, j)
  if not v then return true end
  if string.sub(v, 1, #FAILED) ~= FAILED then return false end
  return string.sub(v, #FAILED + 1, #FAILED + #j + 1) ~= j .. ':'
end
`

// Failure reasons, as counted in metrics and shown in /stats.
const (
	reasonBlocked      = "blocked"
	reasonNotFound     = "chat_not_found"
	reasonBadRequest   = "bad_request"
	reasonTransient    = "transient" // network or server failures until the story went stale
	reasonUnauthorized = "unauthorized"
	reasonRender       = "render"
	reasonInDoubt      = "in_doubt"
	reasonStale        = "stale" // an instant push later than PUSH_MAX_AGE after its story
)

// result is the outcome of sending to one chat, for the next flush.
type result struct {
	chat    int64
	state   ledgerState
	reason  string  // failure reason for the counters; "" when sent or handed back
	skipped bool    // nothing to send the chat (no digest for it, a story of its digest)
	extra   *result // the new chat of a migrated group
}
