package source

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"newsbot/internal/article"
)

// Defaults of StoreOptions.
const (
	DefaultKeepPerLang = 1000
	DefaultClaimTTL    = 2 * time.Minute
)

// StoreOptions tune the Store; the zero value gives the defaults.
type StoreOptions struct {
	// KeepPerLang is how many stories per language keep their article JSON (for /latest and
	// /publish). Older ones are trimmed to a small "seen" record (id, hash, times), which is
	// never dropped, so a trimmed story still never comes back as new.
	KeepPerLang int
	// ClaimTTL is how long a claim whose hand-on was never confirmed blocks other copies. After
	// it a pending claim (its copy died between claim and confirm) may be re-taken. A hand-on
	// slower than this can happen twice; delivery's once-only ledger absorbs that.
	ClaimTTL time.Duration
}

// Store records which stories were seen, with which content, in Redis; it decides atomically
// what is new, corrected or retracted, and keeps the newest stories for /latest and /publish.
type Store struct {
	rdb      redis.UniversalClient
	keys     keys
	keep     int
	claimTTL time.Duration
	now      func() time.Time
}

// NewStore returns a Store of stories under prefix. It does no I/O.
func NewStore(rdb redis.UniversalClient, prefix string, opt StoreOptions) *Store {
	if opt.KeepPerLang <= 0 {
		opt.KeepPerLang = DefaultKeepPerLang
	}
	if opt.ClaimTTL <= 0 {
		opt.ClaimTTL = DefaultClaimTTL
	}
	return &Store{rdb: rdb, keys: keys{prefix: prefix}, keep: opt.KeepPerLang, claimTTL: opt.ClaimTTL, now: time.Now}
}

// errBusy: another running copy holds a fresh claim on this story and is handing it on now.
// The caller tries again later; if that copy dies its claim expires after ClaimTTL.
var errBusy = errors.New("story is being handed on by another copy")

// recordLua records an article as confirmed (seen) and maintains the indexes. It expects
// K (story key), LATEST (its language's ZSET), URLS, and the ARGV layout of confirm/seed.
// Keys of other stories (trim, language change) are built from the prefix: they share the
// {src} hash tag, so they live in the same Cluster slot.
const recordLua = `
local function record(K, LATEST, URLS, hash, retracted, json, pub, id, url, lang, now, keep, storyPrefix, latestPrefix)
  local old = redis.call('HMGET', K, 'url', 'lang')
  if old[1] and old[1] ~= url and redis.call('HGET', URLS, old[1]) == id then
    redis.call('HDEL', URLS, old[1])
  end
  if old[2] and old[2] ~= lang then
    redis.call('ZREM', latestPrefix .. old[2], id)
  end
  redis.call('HSET', K, 'h', hash, 'r', retracted, 'a', json, 'pub', pub, 'lang', lang, 'url', url)
  redis.call('HSETNX', K, 'seen', now)
  redis.call('HDEL', K, 'p', 'pk', 'po', 'pt')
  redis.call('HSET', URLS, url, id)
  if retracted == '1' then
    redis.call('ZREM', LATEST, id)
    return
  end
  redis.call('ZADD', LATEST, pub, id)
  local n = redis.call('ZCARD', LATEST)
  if n > keep then
    local gone = redis.call('ZRANGE', LATEST, 0, n - keep - 1)
    redis.call('ZREMRANGEBYRANK', LATEST, 0, n - keep - 1)
    for _, gid in ipairs(gone) do
      local gk = storyPrefix .. gid
      local gurl = redis.call('HGET', gk, 'url')
      if gurl and redis.call('HGET', URLS, gurl) == gid then
        redis.call('HDEL', URLS, gurl)
      end
      redis.call('HDEL', gk, 'a')
    end
  end
end
`

// claimScript decides what a story is and, if it is to be handed on, claims it for owner.
// Returns 0 (nothing to do), 1 new, 2 correction, 3 retraction, -1 busy (another owner's
// claim is fresh). A retraction of a story never seen is recorded silently (nothing to undo).
var claimScript = redis.NewScript(recordLua + `
local K, LATEST, URLS = KEYS[1], KEYS[2], KEYS[3]
local hash, retracted, owner, now, ttl = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local order = ARGV[14]
local cur = redis.call('HMGET', K, 'h', 'r', 'p', 'po', 'pt', 'o')
if cur[1] == hash then return 0 end
if order ~= '' and cur[6] and cur[6] >= order then return 0 end
if cur[3] and cur[4] ~= owner and tonumber(cur[5]) + ttl > now then return -1 end
local kind
if retracted == '1' then
  if not cur[1] or cur[2] == '1' then
    record(K, LATEST, URLS, hash, retracted, ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10], now, tonumber(ARGV[11]), ARGV[12], ARGV[13])
    if order ~= '' then redis.call('HSET', K, 'o', order) end
    return 0
  end
  kind = 3
elseif not cur[1] then
  kind = 1
else
  kind = 2
end
redis.call('HSET', K, 'p', hash, 'pk', kind, 'po', owner, 'pt', now)
return kind
`)

// confirmScript records a claimed story as seen once it was handed on. Returns 0 when the
// claim was lost (expired and re-taken by another copy): the story is then that copy's.
var confirmScript = redis.NewScript(recordLua + `
local K, LATEST, URLS = KEYS[1], KEYS[2], KEYS[3]
local hash, retracted, owner, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local cur = redis.call('HMGET', K, 'p', 'po')
if cur[1] ~= hash or cur[2] ~= owner then return 0 end
record(K, LATEST, URLS, hash, retracted, ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10], now, tonumber(ARGV[11]), ARGV[12], ARGV[13])
if ARGV[14] ~= '' then redis.call('HSET', K, 'o', ARGV[14]) end
return 1
`)

// seedScript records a story as seen without handing it on (first start), unless it is
// known already or being handed on by someone. Returns 1 when recorded.
var seedScript = redis.NewScript(recordLua + `
local K, LATEST, URLS = KEYS[1], KEYS[2], KEYS[3]
local hash, retracted, owner, now, ttl = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local order = ARGV[14]
local cur = redis.call('HMGET', K, 'h', 'p', 'pt', 'o')
-- A later entry of the same stream (a correction already there at the first start)
-- replaces the version recorded from an earlier one.
if cur[1] and not (order ~= '' and cur[4] and cur[4] < order and cur[1] ~= hash) then return 0 end
if cur[2] and tonumber(cur[3]) + ttl > now then return 0 end
record(K, LATEST, URLS, hash, retracted, ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10], now, tonumber(ARGV[11]), ARGV[12], ARGV[13])
if order ~= '' then redis.call('HSET', K, 'o', order) end
return 1
`)

// releaseScript drops owner's claim after a failed hand-on so the next try need not wait.
var releaseScript = redis.NewScript(`
local cur = redis.call('HMGET', KEYS[1], 'p', 'po')
if cur[1] == ARGV[1] and cur[2] == ARGV[2] then redis.call('HDEL', KEYS[1], 'p', 'pk', 'po', 'pt') end
return 0
`)

// run calls one of the scripts. order places the story's version in its source (a stream
// entry id, see streamID.order); "" when the source has no order (a file, a feed): a story
// is never handed on from an entry older than the one it was last handed on from, so a
// retried or taken-over old entry cannot undo a newer correction.
func (s *Store) run(ctx context.Context, script *redis.Script, a article.Article, owner, order string) (int64, error) {
	js, err := json.Marshal(a)
	if err != nil {
		return 0, fmt.Errorf("encode article %s: %w", a.ID, err)
	}
	retracted := "0"
	if a.Retracted {
		retracted = "1"
	}
	keysList := []string{s.keys.story(a.ID), s.keys.latest(a.Lang), s.keys.urls()}
	args := []any{
		a.Hash(), retracted, owner, s.now().UnixMilli(), s.claimTTL.Milliseconds(),
		js, a.PublishedAt.UnixMilli(), a.ID, a.URL, a.Lang, s.keep,
		s.keys.story(""), s.keys.latest(""), order,
	}
	return script.Run(ctx, s.rdb, keysList, args...).Int64()
}

// claim decides what the article is. Kind 0: nothing to hand on (seen with this content, or
// recorded silently). Otherwise the story is claimed by owner: hand it on, then confirm (or
// release on failure). errBusy: another copy is handing it on; try later.
func (s *Store) claim(ctx context.Context, a article.Article, owner, order string) (Kind, error) {
	n, err := s.run(ctx, claimScript, a, owner, order)
	if err != nil {
		return 0, fmt.Errorf("claim story %s: %w", a.ID, err)
	}
	if n < 0 {
		return 0, errBusy
	}
	return Kind(n), nil
}

// confirm records a claimed story as handed on. It reports false when the claim had expired
// and was re-taken by another copy (the story was then handed on twice; see ClaimTTL).
func (s *Store) confirm(ctx context.Context, a article.Article, owner, order string) (bool, error) {
	n, err := s.run(ctx, confirmScript, a, owner, order)
	if err != nil {
		return false, fmt.Errorf("confirm story %s: %w", a.ID, err)
	}
	return n == 1, nil
}

// release gives up owner's claim after a failed hand-on.
func (s *Store) release(ctx context.Context, a article.Article, owner string) error {
	if err := releaseScript.Run(ctx, s.rdb, []string{s.keys.story(a.ID)}, a.Hash(), owner).Err(); err != nil {
		return fmt.Errorf("release story %s: %w", a.ID, err)
	}
	return nil
}

// seed records the article as seen without handing it on, unless it is known already.
func (s *Store) seed(ctx context.Context, a article.Article, owner, order string) (bool, error) {
	n, err := s.run(ctx, seedScript, a, owner, order)
	if err != nil {
		return false, fmt.Errorf("record story %s as seen: %w", a.ID, err)
	}
	return n == 1, nil
}

// publishedAt is the recorded published time of a story, kept even after trimming (feeds
// without dates reuse it so that the story's hash stays the same from fetch to fetch).
func (s *Store) publishedAt(ctx context.Context, id string) (time.Time, bool, error) {
	v, err := s.rdb.HGet(ctx, s.keys.story(id), "pub").Result()
	if errors.Is(err, redis.Nil) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("load story %s: %w", id, err)
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("load story %s: published time %q: %w", id, v, err)
	}
	return time.UnixMilli(ms).UTC(), true, nil
}

// initialised reports whether the source has had its first start (and the marker's value).
func (s *Store) initialised(ctx context.Context, source string) (string, bool, error) {
	v, err := s.rdb.Get(ctx, s.keys.initialised(source)).Result()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("load first-start marker of %s: %w", source, err)
	}
	return v, true, nil
}

// markInitialised sets the source's marker unless set; it returns the value that holds.
func (s *Store) markInitialised(ctx context.Context, source, value string) (string, error) {
	k := s.keys.initialised(source)
	ok, err := s.rdb.SetNX(ctx, k, value, 0).Result()
	if err != nil {
		return "", fmt.Errorf("set first-start marker of %s: %w", source, err)
	}
	if ok {
		return value, nil
	}
	v, err := s.rdb.Get(ctx, k).Result()
	if err != nil {
		return "", fmt.Errorf("load first-start marker of %s: %w", source, err)
	}
	return v, nil
}

// Get returns the stored story with this id. Retracted stories are returned (with
// Retracted set); stories trimmed out of the newest KeepPerLang are not found.
func (s *Store) Get(ctx context.Context, id string) (article.Article, bool, error) {
	v, err := s.rdb.HGet(ctx, s.keys.story(id), "a").Result()
	if errors.Is(err, redis.Nil) {
		return article.Article{}, false, nil
	}
	if err != nil {
		return article.Article{}, false, fmt.Errorf("load story %s: %w", id, err)
	}
	var a article.Article
	if err := json.Unmarshal([]byte(v), &a); err != nil {
		return article.Article{}, false, fmt.Errorf("decode story %s: %w", id, err)
	}
	return a, true, nil
}

// FindByURL returns the stored story with this URL (as written, or with/without a trailing
// slash, since editors paste both).
func (s *Store) FindByURL(ctx context.Context, rawURL string) (article.Article, bool, error) {
	u := strings.TrimSpace(rawURL)
	if u == "" {
		return article.Article{}, false, nil
	}
	alt := u + "/"
	if strings.HasSuffix(u, "/") {
		alt = strings.TrimSuffix(u, "/")
	}
	ids, err := s.rdb.HMGet(ctx, s.keys.urls(), u, alt).Result()
	if err != nil {
		return article.Article{}, false, fmt.Errorf("find story by url: %w", err)
	}
	for _, id := range ids {
		if id, ok := id.(string); ok {
			return s.Get(ctx, id)
		}
	}
	return article.Article{}, false, nil
}

// Latest returns up to n newest stories in the given languages, newest first by published_at
// and then by the time newsbot first saw them; retracted stories are left out.
func (s *Store) Latest(ctx context.Context, langs []string, n int) ([]article.Article, error) {
	if n <= 0 || len(langs) == 0 {
		return nil, nil
	}
	langs = slices.Compact(slices.Sorted(slices.Values(langs)))
	pipe := s.rdb.Pipeline()
	ranges := make([]*redis.StringSliceCmd, len(langs))
	for i, l := range langs {
		ranges[i] = pipe.ZRevRange(ctx, s.keys.latest(l), 0, int64(n-1))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("load latest stories: %w", err)
	}
	var ids []string
	for _, r := range ranges {
		ids = append(ids, r.Val()...)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	pipe = s.rdb.Pipeline()
	recs := make([]*redis.SliceCmd, len(ids))
	for i, id := range ids {
		recs[i] = pipe.HMGet(ctx, s.keys.story(id), "a", "seen")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("load latest stories: %w", err)
	}
	type seenArticle struct {
		a    article.Article
		seen int64
	}
	out := make([]seenArticle, 0, len(ids))
	for _, r := range recs {
		v := r.Val()
		js, ok := v[0].(string)
		if !ok {
			continue // trimmed between the two round trips
		}
		var sa seenArticle
		if err := json.Unmarshal([]byte(js), &sa.a); err != nil {
			return nil, fmt.Errorf("decode story: %w", err)
		}
		if sa.a.Retracted {
			continue
		}
		if seen, ok := v[1].(string); ok {
			sa.seen, _ = strconv.ParseInt(seen, 10, 64)
		}
		out = append(out, sa)
	}
	slices.SortStableFunc(out, func(x, y seenArticle) int {
		if c := y.a.PublishedAt.Compare(x.a.PublishedAt); c != 0 {
			return c
		}
		switch {
		case x.seen > y.seen:
			return -1
		case x.seen < y.seen:
			return 1
		}
		return strings.Compare(x.a.ID, y.a.ID)
	})
	if len(out) > n {
		out = out[:n]
	}
	res := make([]article.Article, len(out))
	for i, sa := range out {
		res[i] = sa.a
	}
	return res, nil
}
