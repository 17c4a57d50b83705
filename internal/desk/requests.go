package desk

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// A publish request is a /publish waiting for its buttons. The buttons carry only its random
// token; everything else lives here, so forged callback data names no request. Its state
// moves open → pushing → published, or open → cancelled, in one Lua script: two presses, or
// two editors, push once. A push that fails releases pushing back to open, so the editor can
// try again.

// requestTTL is how long a preview's buttons work.
const requestTTL = time.Hour

// States of a request; stateGone is what transitions answer for a request that expired
// (or never was).
const (
	stateOpen      = "open"
	statePushing   = "pushing"
	statePublished = "published"
	stateCancelled = "cancelled"
	stateGone      = "gone"
)

// request is a pending /publish as stored under its token.
type request struct {
	token     string
	articleID string
	hash      string // the story as previewed; a correction since then needs a new preview
	by        int64  // the editor who asked
	chat      int64
	msg       int // the control message
	lang      string
	breaking  bool
	state     string
	doneBy    string // who published or cancelled it
	doneAt    time.Time
	job       string
	audience  int64
}

// Fields of the request hash.
const (
	fieldStory    = "a"
	fieldHash     = "h"
	fieldBy       = "by"
	fieldChat     = "chat"
	fieldMsg      = "msg"
	fieldLang     = "lang"
	fieldBreaking = "brk"
	fieldState    = "st"
	fieldWho      = "who"
	fieldAt       = "at"
	fieldJob      = "job"
	fieldAudience = "n"
)

// transitionLua moves a request on.
//
//	KEYS[1] the request (keyRequest)
//	ARGV[1] the action: claim | cancel | toggle | release | done
//	ARGV[2] who (claim, cancel), ARGV[3] now in unix ms (claim, cancel)
//	ARGV[4] the job id, ARGV[5] the audience (done)
//
// Returns {replyOK, "", ""} when the action applied; otherwise {state, who, at}: the state
// the request is in (stateGone when there is none) and who moved it there, when. claim,
// cancel and toggle apply only to an open request; release moves pushing back to open;
// done marks it published with its job.
const transitionLua = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'gone', '', ''} end
local st = redis.call('HGET', KEYS[1], 'st')
local act = ARGV[1]
if act == 'release' then
  if st == 'pushing' then redis.call('HSET', KEYS[1], 'st', 'open') end
  return {'ok', '', ''}
end
if act == 'done' then
  redis.call('HSET', KEYS[1], 'st', 'published', 'job', ARGV[4], 'n', ARGV[5])
  return {'ok', '', ''}
end
if st ~= 'open' then
  return {st, redis.call('HGET', KEYS[1], 'who') or '', redis.call('HGET', KEYS[1], 'at') or ''}
end
if act == 'claim' then
  redis.call('HSET', KEYS[1], 'st', 'pushing', 'who', ARGV[2], 'at', ARGV[3])
elseif act == 'cancel' then
  redis.call('HSET', KEYS[1], 'st', 'cancelled', 'who', ARGV[2], 'at', ARGV[3])
elseif act == 'toggle' then
  local b = redis.call('HGET', KEYS[1], 'brk')
  if b == '1' then b = '0' else b = '1' end
  redis.call('HSET', KEYS[1], 'brk', b)
end
return {'ok', '', ''}
`

// replyOK is transitionLua's answer when the action applied.
const replyOK = "ok"

// requests is the store of publish requests in Redis; safe for concurrent use, also by
// several running copies.
type requests struct {
	rdb        redis.UniversalClient
	prefix     string
	transition *redis.Script
}

func newRequests(rdb redis.UniversalClient, prefix string) *requests {
	return &requests{rdb: rdb, prefix: prefix, transition: redis.NewScript(transitionLua)}
}

// newToken is a fresh random request token, 16 characters of URL-safe base64.
func newToken() (string, error) {
	var buf [12]byte
	if _, err := rand.Read(buf[:]); err != nil {
		return "", fmt.Errorf("new publish token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(buf[:]), nil
}

// open stores r as a new open request, for requestTTL.
func (s *requests) open(ctx context.Context, r request) error {
	key := keyRequest(s.prefix, r.token)
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, key,
			fieldStory, r.articleID, fieldHash, r.hash, fieldBy, r.by, fieldChat, r.chat, fieldLang, r.lang,
			fieldBreaking, flag(r.breaking), fieldState, stateOpen)
		p.Expire(ctx, key, requestTTL)
		return nil
	})
	if err != nil {
		return fmt.Errorf("save publish request: %w", err)
	}
	return nil
}

// setMessage records the control message: only presses under it count.
func (s *requests) setMessage(ctx context.Context, token string, msgID int) error {
	if err := s.rdb.HSet(ctx, keyRequest(s.prefix, token), fieldMsg, msgID).Err(); err != nil {
		return fmt.Errorf("save publish request: %w", err)
	}
	return nil
}

// load reads a request; ok is false when it expired or never was.
func (s *requests) load(ctx context.Context, token string) (r request, ok bool, err error) {
	m, err := s.rdb.HGetAll(ctx, keyRequest(s.prefix, token)).Result()
	if err != nil {
		return request{}, false, fmt.Errorf("load publish request: %w", err)
	}
	if len(m) == 0 {
		return request{}, false, nil
	}
	num := func(k string) int64 { n, _ := strconv.ParseInt(m[k], 10, 64); return n }
	r = request{
		token: token, articleID: m[fieldStory], hash: m[fieldHash], by: num(fieldBy), chat: num(fieldChat),
		msg: int(num(fieldMsg)), lang: m[fieldLang], breaking: m[fieldBreaking] == "1", state: m[fieldState],
		doneBy: m[fieldWho], job: m[fieldJob], audience: num(fieldAudience),
	}
	if ms := num(fieldAt); ms > 0 {
		r.doneAt = time.UnixMilli(ms)
	}
	return r, true, nil
}

// claim moves an open request to pushing, for who; ok is false when it was not open, and
// then before holds its state, who and when.
func (s *requests) claim(ctx context.Context, token, who string, at time.Time) (ok bool, before request, err error) {
	return s.run(ctx, token, "claim", who, at.UnixMilli())
}

// cancel moves an open request to cancelled, for who; ok and before as for claim.
func (s *requests) cancel(ctx context.Context, token, who string, at time.Time) (ok bool, before request, err error) {
	return s.run(ctx, token, "cancel", who, at.UnixMilli())
}

// toggleBreaking flips the breaking flag of an open request; ok and before as for claim.
func (s *requests) toggleBreaking(ctx context.Context, token string) (ok bool, before request, err error) {
	return s.run(ctx, token, "toggle", "", 0)
}

// release moves a request whose push failed back from pushing to open.
func (s *requests) release(ctx context.Context, token string) error {
	_, _, err := s.run(ctx, token, "release", "", 0)
	return err
}

// done marks a request published by job, to audience readers.
func (s *requests) done(ctx context.Context, token, job string, audience int64) error {
	_, _, err := s.run(ctx, token, "done", "", 0, job, audience)
	return err
}

func (s *requests) run(ctx context.Context, token, action string, args ...any) (ok bool, before request, err error) {
	res, err := s.transition.Run(ctx, s.rdb, []string{keyRequest(s.prefix, token)}, append([]any{action}, args...)...).StringSlice()
	if err != nil {
		return false, request{}, fmt.Errorf("publish request %s: %w", action, err)
	}
	if len(res) != 3 {
		return false, request{}, fmt.Errorf("publish request %s: unexpected answer %q", action, res)
	}
	if res[0] == replyOK {
		return true, request{}, nil
	}
	before = request{state: res[0], doneBy: res[1]}
	if ms, _ := strconv.ParseInt(res[2], 10, 64); ms > 0 {
		before.doneAt = time.UnixMilli(ms)
	}
	return false, before, nil
}

func flag(v bool) string {
	if v {
		return "1"
	}
	return "0"
}
