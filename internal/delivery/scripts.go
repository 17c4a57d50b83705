package delivery

import "github.com/redis/go-redis/v9"

// Lua scripts, each with its KEYS and ARGV and the replies it gives as named constants. Times
// come from Redis's own clock (TIME), so that every copy of the service agrees on the schedule
// whatever its local clock says; the scripts hand back delays, never absolute times.

// luaNow is the current time in microseconds on Redis's clock. Lua numbers are doubles: exact
// to 2^53 µs (year 2255). Numbers are written back with %.0f because tostring would print
// 1.8e+15.
const luaNow = `
local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
`

// reserveScript hands out send slots on the global schedule (GCRA: slot n+1 is one interval
// after slot n, for all copies together) to a batch of chats, and keeps every chat's last slot
// so that no chat gets two messages within its gap (1 s private, 3 s groups and channels =
// 20/min; a group or channel id is negative, a channel may also be named "@name").
//
// A priority request (a reply to a reader) is granted the next slot even beyond the horizon:
// the slots fan-out already holds are at most a horizon ahead, so a reply waits at most that
// long, and fan-out's next request finds the schedule that much further out. A chat id
// prefixed "!" is granted without per-chat pacing (edits and answers to button presses).
//
// KEYS: tat, pause, pace. ARGV: interval µs (0: no global limit), horizon µs (how far ahead
// slots may be handed out), private gap µs, group gap µs, priority (0|1), chat ids...
// Returns {wait µs, code per chat...}: code >= 0: send after that many µs; -1: no slot now
// (the schedule is full up to the horizon; retry after wait); < -1: the chat was served too
// recently, retry after -(code+2) µs. While a 429 pause is on, returns just {-pause µs}.
var reserveScript = redis.NewScript(luaNow + `
local now = now_us()
local pttl = redis.call('PTTL', KEYS[2])
if pttl > 0 then return {-pttl * 1000} end
local interval = tonumber(ARGV[1])
local horizon = tonumber(ARGV[2])
local pgap = tonumber(ARGV[3])
local ggap = tonumber(ARGV[4])
local prio = ARGV[5] == '1'
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', string.format('(%.0f', now - math.max(pgap, ggap)))
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local out = {0}
local granted = 0
for i = 6, #ARGV do
  local chat = ARGV[i]
  local paced = true
  if string.sub(chat, 1, 1) == '!' then
    paced = false
    chat = string.sub(chat, 2)
  end
  local gap = pgap
  local c1 = string.sub(chat, 1, 1)
  if c1 == '-' or c1 == '@' then gap = ggap end
  local last = nil
  if paced then last = redis.call('ZSCORE', KEYS[3], chat) end
  if last and tonumber(last) + gap > tat then
    out[#out + 1] = -(tonumber(last) + gap - now) - 2
  elseif interval > 0 and tat - now > horizon and not prio then
    out[#out + 1] = -1
  else
    out[#out + 1] = tat - now
    if paced then redis.call('ZADD', KEYS[3], string.format('%.0f', tat), chat) end
    tat = tat + interval
    granted = granted + 1
  end
end
if interval > 0 and granted > 0 then
  redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', 60000)
end
if tat - now > horizon then out[1] = tat - now - horizon end
return out
`)

// pauseScript stops everyone's sending for a 429's retry_after: the pause key makes
// reserveScript hand out nothing, and the schedule restarts after the pause rather than
// bursting the slots that piled up during it.
//
// KEYS: tat, pause. ARGV: pause ms.
var pauseScript = redis.NewScript(luaNow + `
local ms = tonumber(ARGV[1])
if redis.call('PTTL', KEYS[2]) < ms then
  redis.call('SET', KEYS[2], '1', 'PX', ms)
end
local resume = now_us() + ms * 1000
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < resume then
  redis.call('SET', KEYS[1], string.format('%.0f', resume), 'PX', 60000 + ms)
end
return 1
`)

// storeScript keeps the newest text of a story (a new text bumps its revision "v"), bumps the
// channel task's version "cv" and, when a job key is given, creates the job unless it exists.
// A retracted story is never stored again.
//
// KEYS: meta[, job]. ARGV: story JSON, content hash, now ms, TTL ms, then job field, value
// pairs. Returns {reply, channel version}.
var storeScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], 'retracted') == 1 then return {'` + replyRetracted + `', '0'} end
if redis.call('HGET', KEYS[1], 'h') ~= ARGV[2] then
  redis.call('HSET', KEYS[1], 'a', ARGV[1], 'h', ARGV[2])
  redis.call('HINCRBY', KEYS[1], 'v', 1)
end
local cv = redis.call('HINCRBY', KEYS[1], 'cv', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
if #KEYS < 2 then return {'` + replyStored + `', tostring(cv)} end
local st = redis.call('HGET', KEYS[2], 'st')
if st then return {st, tostring(cv)} end
redis.call('HSET', KEYS[2], unpack(ARGV, 5))
redis.call('PEXPIRE', KEYS[2], ARGV[4])
if redis.call('HSETNX', KEYS[1], 'first', ARGV[3]) == 1 then return {'` + replyFirst + `', tostring(cv)} end
return {'` + replyCreated + `', tostring(cv)}
`)

// Replies of storeScript besides the state of a job that was there already (JobState).
const (
	replyRetracted = "retracted" // the story was withdrawn: nothing stored, nothing to send
	replyStored    = "stored"    // stored (no job asked for)
	replyFirst     = "first"     // the job was created, and it is the story's first
	replyCreated   = "created"   // the job was created
)

// retractScript withdraws a story: it is marked retracted with its final text, and the channel
// task's version is bumped so that the channel post is deleted.
//
// KEYS: meta. ARGV: story JSON, now s, TTL ms. Returns the channel version.
var retractScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], 'retracted') == 0 then
  redis.call('HSET', KEYS[1], 'retracted', ARGV[2], 'a', ARGV[1])
end
local cv = redis.call('HINCRBY', KEYS[1], 'cv', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return cv
`)

// chanClaimScript leases a story's channel task to one worker, so that two workers never post,
// edit or delete one story's channel post at once. A lease whose worker died expires.
//
// KEYS: meta. ARGV: owner, lease ms. Returns {reply, channel version, revision}.
var chanClaimScript = redis.NewScript(luaNow + `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'` + replyGone + `', '0', '0'} end
local now = math.floor(now_us() / 1000)
local v = redis.call('HMGET', KEYS[1], 'cl', 'ce', 'cv', 'v')
if v[1] and v[1] ~= ARGV[1] and tonumber(v[2]) > now then return {'` + replyBusy + `', v[2], '0'} end
redis.call('HSET', KEYS[1], 'cl', ARGV[1], 'ce', now + tonumber(ARGV[2]))
return {'` + replyMine + `', v[3] or '0', v[4] or '0'}
`)

// chanReleaseScript ends a worker's channel task: when the story changed meanwhile (a
// correction or retraction bumped the channel version), the worker keeps the lease and goes
// again; otherwise the lease is dropped.
//
// KEYS: meta. ARGV: owner, channel version worked, lease ms, keep (1: release the lease only,
// the task is due again later). Returns {reply, channel version}.
var chanReleaseScript = redis.NewScript(luaNow + `
local v = redis.call('HMGET', KEYS[1], 'cl', 'cv')
if v[1] ~= ARGV[1] then return {'` + replyLost + `', v[2] or '0'} end
if ARGV[4] ~= '1' and v[2] ~= ARGV[2] then
  redis.call('HSET', KEYS[1], 'ce', math.floor(now_us() / 1000) + tonumber(ARGV[3]))
  return {'` + replyAgain + `', v[2]}
end
redis.call('HDEL', KEYS[1], 'cl', 'ce')
return {'` + replyDone + `', v[2] or '0'}
`)

// Replies of the channel task scripts.
const (
	replyMine  = "mine"  // the lease is this worker's
	replyAgain = "again" // the story changed while the task ran: run it again
	replyLost  = "lost"  // the lease had expired and another worker holds it now
)

// nextScript is the first half of claiming work in a job: a page whose lease expired (its
// worker died) is taken over at once; otherwise the job's cursor is returned so that the
// caller can read the next audience page and claim it with advanceScript. When the audience
// is exhausted and no page is leased any more, the job is finished — by exactly one caller.
//
// KEYS: job, leases, owners, meta. ARGV: owner, lease ms.
// Returns {replyGone} | {replyDone} | {replyRetake, page, revision} |
// {replyCursor, cursor, revision} | {replyBusy} |
// {replyFinished, state, sent, failed, created ms, finished ms}.
var nextScript = redis.NewScript(luaNow + `
local st = redis.call('HGET', KEYS[1], 'st')
if not st then return {'` + replyGone + `'} end
if st ~= 'running' then return {'` + replyDone + `'} end
local now = math.floor(now_us() / 1000)
local fin = nil
local rev = redis.call('HGET', KEYS[4], 'v') or '0'
if redis.call('HEXISTS', KEYS[4], 'retracted') == 1 then
  fin = 'retracted'
else
  local exp = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1)
  if #exp > 0 then
    redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), exp[1])
    redis.call('HSET', KEYS[3], exp[1], ARGV[1])
    return {'` + replyRetake + `', exp[1], rev}
  end
  if redis.call('HGET', KEYS[1], 'ex') ~= '1' then
    return {'` + replyCursor + `', redis.call('HGET', KEYS[1], 'cur'), rev}
  end
  if redis.call('ZCARD', KEYS[2]) > 0 then return {'` + replyBusy + `'} end
  fin = 'done'
end
redis.call('HSET', KEYS[1], 'st', fin, 'fin', now)
redis.call('DEL', KEYS[2], KEYS[3])
local v = redis.call('HMGET', KEYS[1], 'sent', 'failed', 'at')
return {'` + replyFinished + `', fin, v[1] or '0', v[2] or '0', v[3] or '0', tostring(now)}
`)

// Replies of nextScript (and chanClaimScript: replyGone, replyBusy).
const (
	replyGone     = "gone"     // no such job (or story): expired
	replyDone     = "done"     // the job is over
	replyRetake   = "retake"   // a page whose worker died, now leased to the caller
	replyCursor   = "cursor"   // where the next page starts
	replyBusy     = "busy"     // nothing to claim now: the last pages are being sent
	replyFinished = "finished" // the caller just ended the job; its figures follow
)

// advanceScript is the second half of claiming: it moves the job's cursor from the value the
// caller read the page after to the page's last chat — only if nobody moved it meanwhile —
// leases the page to the caller and returns the page's chats the ledger still allows.
//
// KEYS: job, leases, owners, ledger. ARGV: owner, lease ms, job number, expected cursor, new
// cursor, exhausted (0|1), chat ids...
// Returns {replyMoved, cursor} | {replyDone} | {replyEmpty} | {replyPage, page, chat ids...}.
var advanceScript = redis.NewScript(luaNow + luaLedger + `
if redis.call('HGET', KEYS[1], 'st') ~= 'running' then return {'` + replyDone + `'} end
local cur = redis.call('HGET', KEYS[1], 'cur')
if cur ~= ARGV[4] then return {'` + replyMoved + `', cur} end
redis.call('HSET', KEYS[1], 'cur', ARGV[5])
if ARGV[6] == '1' then redis.call('HSET', KEYS[1], 'ex', '1') end
if #ARGV < 7 then return {'` + replyEmpty + `'} end
local page = ARGV[4] .. ':' .. ARGV[5]
local now = math.floor(now_us() / 1000)
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), page)
redis.call('HSET', KEYS[3], page, ARGV[1])
local out = {'` + replyPage + `', page}
local skipped = 0
for i = 7, #ARGV do
  if usable(redis.call('HGET', KEYS[4], ARGV[i]), ARGV[3]) then
    out[#out + 1] = ARGV[i]
  else
    skipped = skipped + 1
  end
end
if skipped > 0 then redis.call('HINCRBY', KEYS[1], 'skipped', skipped) end
return out
`)

// Replies of advanceScript.
const (
	replyMoved = "moved" // another worker moved the cursor first: read again
	replyEmpty = "empty" // the cursor moved past the end of the audience; no page
	replyPage  = "page"  // a page leased to the caller, with the chats to send
)

// filterScript is advanceScript's ledger half for a page taken over from a dead worker: chats
// that worker had marked "sending" for this job are in doubt — the message may or may not
// have gone out — and are never sent again (at most once); they are marked in doubt and
// counted.
//
// KEYS: ledger, job. ARGV: job number, chat ids...
// Returns {in doubt count, chat ids still to send...}.
var filterScript = redis.NewScript(luaLedger + `
local j = ARGV[1]
local out = {0}
for i = 2, #ARGV do
  local v = redis.call('HGET', KEYS[1], ARGV[i])
  if usable(v, j) then
    out[#out + 1] = ARGV[i]
  elseif v == SENDING .. j then
    redis.call('HSET', KEYS[1], ARGV[i], DOUBT .. j)
    out[1] = out[1] + 1
  end
end
if out[1] > 0 then
  redis.call('HINCRBY', KEYS[2], 'failed', out[1])
  redis.call('HINCRBY', KEYS[2], 'doubt', out[1])
end
return out
`)

// markScript marks chats "sending" for a job right before their messages go out — only while
// the caller still holds the page's lease, and only chats the ledger still allows (another
// job of the story may have served them meanwhile). HSET on the ledger is the once-only gate:
// whoever marks a chat first sends to it.
//
// The ledger gets its TTL here, where it is created: a copy that dies before it records any
// result must not leave the ledger behind for good.
//
// A story retracted meanwhile is sent to nobody more: the check rides on the mark, which every
// message needs anyway, so a retraction stops a page within one slot group.
//
// KEYS: ledger, owners, meta. ARGV: page ("" for no lease check), owner, job number, ledger
// TTL ms, chat ids...
// Returns {markOK, marked chat ids...}, {markLeaseLost} or {markRetracted}.
var markScript = redis.NewScript(luaLedger + `
if redis.call('HEXISTS', KEYS[3], 'retracted') == 1 then return {` + markRetracted + `} end
if ARGV[1] ~= '' and redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return {` + markLeaseLost + `} end
local j = ARGV[3]
local out = {` + markOK + `}
for i = 5, #ARGV do
  if usable(redis.call('HGET', KEYS[1], ARGV[i]), j) then
    redis.call('HSET', KEYS[1], ARGV[i], SENDING .. j)
    out[#out + 1] = ARGV[i]
  end
end
if #out > 1 and redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
return out
`)

// Replies of markScript (first element).
const (
	markOK        = "1"
	markLeaseLost = "0"
	markRetracted = "-1"
)

// flushScript records the outcome of sends (ledger states; "" hands a chat back), counts them
// on the job and renews — or, at the end of the page, releases — the page's lease.
//
// KEYS: ledger, job, leases, owners. ARGV: page ("" for none), owner, lease ms (for
// leaseHandBack: when another worker may take the page over, unix ms; 0: now), lease action
// (leaseRenew, leaseRelease: the page is done, leaseHandBack), sent count, failed count,
// skipped count, chat id, state pairs...
// Returns 1 while the caller held the lease, 0 otherwise.
var flushScript = redis.NewScript(luaNow + `
for i = 8, #ARGV, 2 do
  if ARGV[i + 1] == '' then
    redis.call('HDEL', KEYS[1], ARGV[i])
  else
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
if ARGV[5] ~= '0' then redis.call('HINCRBY', KEYS[2], 'sent', ARGV[5]) end
if ARGV[6] ~= '0' then redis.call('HINCRBY', KEYS[2], 'failed', ARGV[6]) end
if ARGV[7] ~= '0' then redis.call('HINCRBY', KEYS[2], 'skipped', ARGV[7]) end
if ARGV[1] == '' then return 1 end
if redis.call('HGET', KEYS[4], ARGV[1]) ~= ARGV[2] then return 0 end
if ARGV[4] == '` + leaseRelease + `' then
  redis.call('ZREM', KEYS[3], ARGV[1])
  redis.call('HDEL', KEYS[4], ARGV[1])
elseif ARGV[4] == '` + leaseHandBack + `' then
  redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
  redis.call('HDEL', KEYS[4], ARGV[1])
else
  redis.call('ZADD', KEYS[3], math.floor(now_us() / 1000) + tonumber(ARGV[3]), ARGV[1])
end
return 1
`)

// Lease actions of flushScript.
const (
	leaseRenew    = "0"
	leaseRelease  = "1"
	leaseHandBack = "2"
)
