package subscriber

import "github.com/redis/go-redis/v9"

// The scripts keep a reader's record, the audience indexes and the counters in step: each one
// reads the old record, writes the new one and moves the reader between indexes in one atomic
// step, so no reader of the indexes ever sees a half-done change and concurrent presses never
// lose each other's effect.
//
// Index key names are built inside the scripts from ARGV[1] (prefix + hash tag) because which
// indexes to touch depends on the old record, known only inside the script. They share the hash
// tag of the record key in KEYS, so on Redis Cluster they live in the same slot.
//
// Record fields: l interface language, sl story languages (comma list), t topics (comma list),
// a "1" when following all topics, s status, j joined (unix s), u updated (unix s), g "1" for
// groups, c the Telegram language code the reader came with, m reading mode (absent:
// instant), dt the digest times kept (comma list of "HH:MM"; absent: all), q "0" when quiet
// hours are off (absent: on), ms when the mode last changed (unix s).
const luaPrelude = `
local P = ARGV[1]

local function split(s)
  local out = {}
  if s then
    for w in string.gmatch(s, '[^,]+') do out[#out + 1] = w end
  end
  return out
end

local function load(key)
  local v = redis.call('HGETALL', key)
  if #v == 0 then return nil end
  local r = {}
  for i = 1, #v, 2 do r[v[i]] = v[i + 1] end
  return r
end

local function store(key, r)
  redis.call('DEL', key)
  local args = {}
  for _, f in ipairs({'l', 'sl', 't', 'a', 's', 'j', 'u', 'g', 'c', 'm', 'dt', 'q', 'ms'}) do
    local v = r[f]
    if v ~= nil and v ~= '' then
      args[#args + 1] = f
      args[#args + 1] = v
    end
  end
  redis.call('HSET', key, unpack(args))
end

local function mode(r) return r.m or 'instant' end

-- indexes lists the audience ZSETs a reader belongs to; only active readers are indexed. Every
-- mode is in lang: (breaking stories reach every mode); only instant readers are in the topic
-- indexes; digest readers are in digest.
local function indexes(r)
  local out = {}
  if r == nil or r.s ~= 'active' then return out end
  local m = mode(r)
  for _, l in ipairs(split(r.sl)) do
    out[P .. 'lang:' .. l] = true
    if m == 'instant' then
      if r.a == '1' then
        out[P .. 'all:' .. l] = true
      else
        for _, t in ipairs(split(r.t)) do out[P .. 'topic:' .. l .. ':' .. t] = true end
      end
    end
  end
  if m == 'digest' then out[P .. 'digest'] = true end
  return out
end

local function count(r, d)
  if r == nil then return end
  local st = r.s or ''
  redis.call('HINCRBY', P .. 'stats', 's:' .. st, d)
  if r.g == '1' then redis.call('HINCRBY', P .. 'stats', 'g:' .. st, d) end
  if st == 'active' and r.l then redis.call('HINCRBY', P .. 'stats', 'ui:' .. r.l, d) end
  if st == 'active' then redis.call('HINCRBY', P .. 'stats', 'm:' .. mode(r), d) end
end

-- since keeps the time the mode last changed: now when it changes, the old one otherwise.
local function since(old, new, now)
  if old and mode(old) == mode(new) and old.ms then return old.ms end
  if old == nil then return now end
  if mode(old) == mode(new) then return old.j or now end
  return now
end

-- move takes reader oldID out of the indexes of old and puts newID into those of new, touching
-- only the sets that differ when the id stays the same.
local function move(oldID, old, newID, new)
  local o, n = indexes(old), indexes(new)
  for k in pairs(o) do
    if oldID ~= newID or not n[k] then redis.call('ZREM', k, oldID) end
  end
  for k in pairs(n) do
    if oldID ~= newID or not o[k] then redis.call('ZADD', k, newID, newID) end
  end
  count(old, -1)
  count(new, 1)
end

local function flat(r)
  local out = {}
  for k, v in pairs(r) do
    out[#out + 1] = k
    out[#out + 1] = v
  end
  return out
end
`

// saveScript writes a whole reader. KEYS[1] record; ARGV: base, chat id, now, l, sl, t, a, s,
// j (0: keep the stored joined time, or now for a new reader), g, c, m, dt, q.
var saveScript = redis.NewScript(luaPrelude + `
local id = ARGV[2]
local old = load(KEYS[1])
local new = {l = ARGV[4], sl = ARGV[5], t = ARGV[6], a = ARGV[7], s = ARGV[8], j = ARGV[9],
  u = ARGV[3], g = ARGV[10], c = ARGV[11], m = ARGV[12], dt = ARGV[13], q = ARGV[14]}
if new.j == '0' then
  if old and tonumber(old.j) then new.j = old.j else new.j = ARGV[3] end
end
if new.c == '' and old and old.c then new.c = old.c end
new.ms = since(old, new, ARGV[3])
move(id, old, id, new)
store(KEYS[1], new)
return flat(new)
`)

// patchScript changes one thing of a stored reader. KEYS[1] record; ARGV: base, chat id, now,
// op, value, every configured topic (comma list, for toggling away from all topics), every
// configured digest time (comma list, for toggling away from all of them).
// Ops: status, toggle (a topic), all ("1"/"0"), langs (story languages), lang (interface),
// mode, dtime (toggle a digest time; the last one is kept), quiet ("1" on, "0" off).
// Returns nil when there is no such reader, else the new record.
var patchScript = redis.NewScript(luaPrelude + `
local id, op, val = ARGV[2], ARGV[4], ARGV[5]
local old = load(KEYS[1])
if old == nil then return false end
local new = {}
for k, v in pairs(old) do new[k] = v end
new.u = ARGV[3]
if op == 'status' then
  new.s = val
elseif op == 'toggle' then
  -- Pressing a topic while following all of them unchecks that one: the keyboard showed
  -- every topic checked.
  local has = {}
  if new.a == '1' then
    for _, t in ipairs(split(ARGV[6])) do has[t] = true end
    new.a = nil
  else
    for _, t in ipairs(split(new.t)) do has[t] = true end
  end
  if has[val] then has[val] = nil else has[val] = true end
  local ts = {}
  for _, t in ipairs(split(ARGV[6])) do
    if has[t] then ts[#ts + 1] = t; has[t] = nil end
  end
  -- topics no longer configured stay as they were
  for t in pairs(has) do ts[#ts + 1] = t end
  new.t = table.concat(ts, ',')
elseif op == 'all' then
  if val == '1' then new.a = '1' else new.a = nil end
elseif op == 'langs' then
  new.sl = val
elseif op == 'lang' then
  new.l = val
elseif op == 'mode' then
  new.m = val
  new.ms = since(old, new, ARGV[3])
elseif op == 'dtime' then
  local has, n = {}, 0
  if new.dt and new.dt ~= '' then
    for _, c in ipairs(split(new.dt)) do has[c] = true end
  else
    for _, c in ipairs(split(ARGV[7])) do has[c] = true end
  end
  if has[val] then has[val] = nil else has[val] = true end
  local ts = {}
  for _, c in ipairs(split(ARGV[7])) do
    if has[c] then ts[#ts + 1] = c end
  end
  if #ts == 0 then return redis.error_reply('LAST the last digest time is kept') end
  new.dt = table.concat(ts, ',')
  if #ts == #split(ARGV[7]) then new.dt = nil end
elseif op == 'quiet' then
  if val == '1' then new.q = nil else new.q = '0' end
else
  return redis.error_reply('unknown op ' .. op)
end
move(id, old, id, new)
store(KEYS[1], new)
return flat(new)
`)

// deleteScript forgets a reader. KEYS[1] record; ARGV: base, chat id. Returns 1 when there was one.
var deleteScript = redis.NewScript(luaPrelude + `
local old = load(KEYS[1])
if old == nil then return 0 end
move(ARGV[2], old, ARGV[2], nil)
redis.call('DEL', KEYS[1])
return 1
`)

// migrateScript moves a group's record to its new (supergroup) id. KEYS[1] old record,
// KEYS[2] new record; ARGV: base, old id, new id, now.
// Returns 0 when neither exists, 1 when moved, 2 when the new id already had a record (it is
// kept: it holds the newer choices; the old one is dropped), 3 when already moved.
var migrateScript = redis.NewScript(luaPrelude + `
local from, to = ARGV[2], ARGV[3]
local old = load(KEYS[1])
local cur = load(KEYS[2])
if old == nil then
  if cur == nil then return 0 end
  return 3
end
if cur ~= nil then
  move(from, old, from, nil)
  redis.call('DEL', KEYS[1])
  return 2
end
local new = {}
for k, v in pairs(old) do new[k] = v end
new.u = ARGV[4]
new.g = '1'
move(from, old, to, new)
redis.call('DEL', KEYS[1])
store(KEYS[2], new)
return 1
`)
