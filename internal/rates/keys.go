package rates

import "github.com/redis/go-redis/v9"

// Every key of the package, under the configured prefix. Both share the hash tag {rates}, so
// saveScript, which touches both, also runs on Redis Cluster.
type keys struct{ base string }

func newKeys(prefix string) keys { return keys{base: prefix + "{rates}:"} }

// state is a HASH, the one record all running copies share:
//
//	day            JSON {"date":"2022-09-14","rates":[{"code":"USD","per_unit":"498.55",...}]}
//	prev           the same for the bank day before day (absent until the date first changes)
//	fetched_at     RFC 3339: the last fetch that returned the rates or a 304
//	failed_at      RFC 3339: the last failed fetch, when it came after fetched_at; absent otherwise
//	error          why that fetch failed
//	etag           ETag of the document day came from, for If-None-Match
//	last_modified  its Last-Modified, for If-Modified-Since
//	missing        comma list of requested currencies the feed lacked at the last fetch, so a
//	               gap is logged once by whichever copy sees it first, not once per fetch
func (k keys) state() string { return k.base + "state" }

// lock is a STRING with a TTL of one interval, set NX by the copy that fetches: holding it
// for the whole interval (never releasing it) is what makes it one fetch per interval for all
// copies, not one fetch at a time.
func (k keys) lock() string { return k.base + "lock" }

// saveScript writes the result of a fetch, unless another copy holds the lock by now (this
// copy's lock expired during a slow fetch and the other copy fetched since): the newer fetch
// wins. A lock that expired with nobody else holding it does not stop the write.
//
//	KEYS[1]  lock
//	KEYS[2]  state
//	ARGV[1]  the token this copy set the lock with
//	ARGV[2]  n, the number of field/value pairs that follow
//	ARGV[3 .. 2+2n]        fields and values to set
//	ARGV[3+2n ..]          fields to delete
//
// Returns 1 when written, 0 when another copy holds the lock.
var saveScript = redis.NewScript(`
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
local n = tonumber(ARGV[2])
if n > 0 then
  local args = {}
  for i = 3, 2 + 2 * n do args[#args + 1] = ARGV[i] end
  redis.call('HSET', KEYS[2], unpack(args))
end
local del = {}
for i = 3 + 2 * n, #ARGV do del[#del + 1] = ARGV[i] end
if #del > 0 then redis.call('HDEL', KEYS[2], unpack(del)) end
return 1
`)
