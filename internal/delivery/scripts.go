package delivery

import "github.com/redis/go-redis/v9"

// Lua scripts. Times come from Redis's own clock (TIME), so that every copy of the service
// agrees on the schedule whatever its local clock says; the scripts hand back delays, never
// absolute times.

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
// KEYS: tat, pause, pace. ARGV: interval µs (0: no global limit), horizon µs (how far ahead
// slots may be handed out), private gap µs, group gap µs, chat ids...
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
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', string.format('(%.0f', now - math.max(pgap, ggap)))
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local out = {0}
local granted = 0
for i = 5, #ARGV do
  local chat = ARGV[i]
  local gap = pgap
  local c1 = string.sub(chat, 1, 1)
  if c1 == '-' or c1 == '@' then gap = ggap end
  local last = redis.call('ZSCORE', KEYS[3], chat)
  if last and tonumber(last) + gap > tat then
    out[#out + 1] = -(tonumber(last) + gap - now) - 2
  elseif interval > 0 and tat - now > horizon then
    out[#out + 1] = -1
  else
    out[#out + 1] = tat - now
    redis.call('ZADD', KEYS[3], string.format('%.0f', tat), chat)
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

// luaUsable says whether a chat may be sent the story by job j given its ledger state v:
// never touched, or failed in another job (a later job retries failures; the job that failed
// it does not).
const luaUsable = `
local function usable(v, j)
  if not v then return true end
  if string.sub(v, 1, 2) ~= 'f:' then return false end
  return string.sub(v, 3, 3 + #j) ~= j .. ':'
end
`

// createScript creates a job unless it exists, and stamps the story's first job on its meta
// hash (the mark Delivered reads, and what makes the story count once in the day's stories).
// KEYS: job, meta. ARGV: now ms, then field, value pairs.
// Returns "first" (created, the story's first job), "created", or the state of the job that
// was there.
var createScript = redis.NewScript(`
local st = redis.call('HGET', KEYS[1], 'st')
if st then return st end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
if redis.call('HSETNX', KEYS[2], 'first', ARGV[1]) == 1 then return 'first' end
return 'created'
`)

// nextScript is the first half of claiming work in a job: a page whose lease expired (its
// worker died) is taken over at once; otherwise the job's cursor is returned so that the
// caller can read the next audience page and claim it with advanceScript. When the audience
// is exhausted and no page is leased any more, the job is finished — by exactly one caller.
//
// KEYS: job, leases, owners, meta. ARGV: owner, lease ms.
// Returns {'gone'} | {'done'} | {'retake', page, version} | {'cursor', cursor, version} | {'busy'} |
// {'finished', state, sent, failed, created ms, finished ms}.
var nextScript = redis.NewScript(luaNow + `
local st = redis.call('HGET', KEYS[1], 'st')
if not st then return {'gone'} end
if st ~= 'running' then return {'done'} end
local now = math.floor(now_us() / 1000)
local fin = nil
if redis.call('HEXISTS', KEYS[4], 'retracted') == 1 then
  fin = 'retracted'
else
  local exp = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1)
  if #exp > 0 then
    redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), exp[1])
    redis.call('HSET', KEYS[3], exp[1], ARGV[1])
    return {'retake', exp[1], redis.call('HGET', KEYS[1], 'v') or '0'}
  end
  if redis.call('HGET', KEYS[1], 'ex') ~= '1' then
    return {'cursor', redis.call('HGET', KEYS[1], 'cur'), redis.call('HGET', KEYS[1], 'v') or '0'}
  end
  if redis.call('ZCARD', KEYS[2]) > 0 then return {'busy'} end
  fin = 'done'
end
redis.call('HSET', KEYS[1], 'st', fin, 'fin', now)
redis.call('DEL', KEYS[2], KEYS[3])
local v = redis.call('HMGET', KEYS[1], 'sent', 'failed', 'at')
return {'finished', fin, v[1] or '0', v[2] or '0', v[3] or '0', tostring(now)}
`)

// advanceScript is the second half of claiming: it moves the job's cursor from the value the
// caller read the page after to the page's last chat — only if nobody moved it meanwhile —
// leases the page to the caller and returns the page's chats the ledger still allows.
//
// KEYS: job, leases, owners, ledger. ARGV: owner, lease ms, job number, expected cursor, new
// cursor, exhausted (0|1), chat ids...
// Returns {'moved', cursor} | {'done'} | {'empty'} | {'page', page, chat ids...}.
var advanceScript = redis.NewScript(luaNow + luaUsable + `
if redis.call('HGET', KEYS[1], 'st') ~= 'running' then return {'done'} end
local cur = redis.call('HGET', KEYS[1], 'cur')
if cur ~= ARGV[4] then return {'moved', cur} end
redis.call('HSET', KEYS[1], 'cur', ARGV[5])
if ARGV[6] == '1' then redis.call('HSET', KEYS[1], 'ex', '1') end
if #ARGV < 7 then return {'empty'} end
local page = ARGV[4] .. ':' .. ARGV[5]
local now = math.floor(now_us() / 1000)
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), page)
redis.call('HSET', KEYS[3], page, ARGV[1])
local out = {'page', page}
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

// filterScript is advanceScript's ledger half for a page taken over from a dead worker: chats
// that worker had marked "sending" for this job are in doubt — the message may or may not
// have gone out — and are never sent again (at most once); they are marked "u" and counted.
//
// KEYS: ledger, job. ARGV: job number, chat ids...
// Returns {in doubt count, chat ids still to send...}.
var filterScript = redis.NewScript(luaUsable + `
local j = ARGV[1]
local out = {0}
for i = 2, #ARGV do
  local v = redis.call('HGET', KEYS[1], ARGV[i])
  if usable(v, j) then
    out[#out + 1] = ARGV[i]
  elseif v == 'w:' .. j then
    redis.call('HSET', KEYS[1], ARGV[i], 'u:' .. j)
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
// KEYS: ledger, owners, meta. ARGV: page, owner, job number, ledger TTL ms, chat ids...
// Returns {1, marked chat ids...}, {0} when the lease was lost, or {-1} when the story was
// retracted.
var markScript = redis.NewScript(luaUsable + `
if redis.call('HEXISTS', KEYS[3], 'retracted') == 1 then return {-1} end
if ARGV[1] ~= '' and redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return {0} end
local j = ARGV[3]
local out = {1}
for i = 5, #ARGV do
  if usable(redis.call('HGET', KEYS[1], ARGV[i]), j) then
    redis.call('HSET', KEYS[1], ARGV[i], 'w:' .. j)
    out[#out + 1] = ARGV[i]
  end
end
if #out > 1 and redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
return out
`)

// flushScript records the outcome of sends (ledger states; "" hands a chat back), counts them
// on the job and renews — or, at the end of the page, releases — the page's lease.
//
// KEYS: ledger, job, leases, owners. ARGV: page, owner, lease ms, lease action (0 renew,
// 1 release: the page is done, 2 hand back: another worker may take it over now), sent count,
// failed count, chat id, state pairs...
// Returns 1 while the caller held the lease, 0 otherwise.
var flushScript = redis.NewScript(luaNow + `
for i = 7, #ARGV, 2 do
  if ARGV[i + 1] == '' then
    redis.call('HDEL', KEYS[1], ARGV[i])
  else
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
if ARGV[5] ~= '0' then redis.call('HINCRBY', KEYS[2], 'sent', ARGV[5]) end
if ARGV[6] ~= '0' then redis.call('HINCRBY', KEYS[2], 'failed', ARGV[6]) end
if ARGV[1] == '' then return 1 end
if redis.call('HGET', KEYS[4], ARGV[1]) ~= ARGV[2] then return 0 end
if ARGV[4] == '1' then
  redis.call('ZREM', KEYS[3], ARGV[1])
  redis.call('HDEL', KEYS[4], ARGV[1])
elseif ARGV[4] == '2' then
  redis.call('ZADD', KEYS[3], 0, ARGV[1])
  redis.call('HDEL', KEYS[4], ARGV[1])
else
  redis.call('ZADD', KEYS[3], math.floor(now_us() / 1000) + tonumber(ARGV[3]), ARGV[1])
end
return 1
`)

// reviseScript puts a corrected story into the story's running jobs, so that the readers they
// have not reached yet get the corrected text; "v" counts revisions, and workers holding an
// older one load the story again when they claim their next page.
//
// KEYS: the story's jobs. ARGV: story JSON.
// Returns how many running jobs were revised.
var reviseScript = redis.NewScript(`
local n = 0
for _, k in ipairs(KEYS) do
  if redis.call('HGET', k, 'st') == 'running' then
    redis.call('HSET', k, 'a', ARGV[1])
    redis.call('HINCRBY', k, 'v', 1)
    n = n + 1
  end
end
return n
`)
