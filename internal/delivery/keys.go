package delivery

import (
	"strconv"
	"strings"
	"time"
)

// Key layout. Every key lives under the configured prefix and "d:". Keys that one Lua script
// touches together share a hash tag, so the scripts also run on Redis Cluster:
//
//   - {rate}: the global send schedule (GCRA), the 429 pause and the per-chat pacing set —
//     the limiter script reads and writes all three at once.
//   - {q}: the two job queues (high, normal) and the channel queue; workers read their heads
//     in one round trip.
//   - {s:<story id>}: everything about one story — the story itself, its once-only ledger, its
//     channel posts, its jobs with their cursors and page leases — because claiming a page,
//     marking chats "sending" and recording results each touch a job and the ledger in one
//     script. A story's jobs share the story's ledger so that an admin re-push skips readers
//     who already got it.
//   - stats:<hour>: hourly counters, touched alone.
type keys struct {
	base string // prefix + "d:"
}

func newKeys(prefix string) keys { return keys{base: prefix + "d:"} }

func (k keys) gcra() string  { return k.base + "{rate}:tat" }
func (k keys) pause() string { return k.base + "{rate}:pause" }
func (k keys) pace() string  { return k.base + "{rate}:pace" }

func (k keys) queue(high bool) string {
	if high {
		return k.base + "{q}:high"
	}
	return k.base + "{q}:normal"
}

// recent is a ZSET of the stories handed on lately (id → when, ms), for digests.
func (k keys) recent() string { return k.base + "{q}:recent" }

// chanQueue is the channel queue: a ZSET of channel tasks ("<story id>#<version>", see
// channel.go) scored by when they are due (ms).
func (k keys) chanQueue() string { return k.base + "{q}:chan" }

// story is the common part of a story's keys: "{s:<id>}:". An id holding "}" ends the tag
// early, which is harmless: every key of the story still shares the same (shorter) tag.
func (k keys) story(storyID string) string { return k.base + "{s:" + storyID + "}:" }

// ledger is the once-only ledger of a story: hash chat id → state (ledger.go).
func (k keys) ledger(storyID string) string { return k.story(storyID) + "ledger" }

// channels is a hash channel chat ("@name" or id) → channel post state (channel.go).
func (k keys) channels(storyID string) string { return k.story(storyID) + "chan" }

// meta is the story as delivery keeps it (storyFields in jobs.go): its newest text and
// revision, whether it was retracted, its job counter, the channel task's version and lease.
func (k keys) meta(storyID string) string { return k.story(storyID) + "meta" }

// job is a hash of one fan-out job (jobFields in jobs.go); leases a ZSET of its claimed pages
// ("from:to" → lease expiry, ms) and owners a hash page → owner token.
func (k keys) job(j JobID) string    { return k.story(j.story()) + "job:" + j.num() }
func (k keys) leases(j JobID) string { return k.story(j.story()) + "lease:" + j.num() }
func (k keys) owners(j JobID) string { return k.story(j.story()) + "owner:" + j.num() }

// stats is the hash of counters of one UTC hour ("2026112704").
func (k keys) stats(hour time.Time) string {
	return k.base + "stats:" + hour.UTC().Format("2006010215")
}

// JobID names a fan-out job: "<story id>#<n>", n counting the story's jobs from 1.
type JobID string

func newJobID(storyID string, n int64) JobID {
	return JobID(storyID + "#" + strconv.FormatInt(n, 10))
}

func (j JobID) story() string {
	if i := strings.LastIndexByte(string(j), '#'); i >= 0 {
		return string(j[:i])
	}
	return string(j)
}

func (j JobID) num() string {
	if i := strings.LastIndexByte(string(j), '#'); i >= 0 {
		return string(j[i+1:])
	}
	return "0"
}
