package source

import (
	"crypto/sha256"
	"encoding/hex"
)

// Every key of the package, all under the configured prefix. The story records and their
// indexes are touched together by the Lua scripts of the Store, so they share the hash tag
// {src} and live in one Redis Cluster slot.
type keys struct{ prefix string }

// story is a HASH per story id: the confirmed content hash, the pending claim, the article
// JSON (dropped when trimmed), seen time and published time.
func (k keys) story(id string) string { return k.prefix + "source:{src}:story:" + id }

// latest is a ZSET per language of story ids scored by published_at (unix ms); it is what
// /latest reads and what bounds the memory spent on article JSON.
func (k keys) latest(lang string) string { return k.prefix + "source:{src}:latest:" + lang }

// urls is a HASH story URL -> id, for /publish URL.
func (k keys) urls() string { return k.prefix + "source:{src}:urls" }

// initialised is a STRING per watched source (dir path, feed URL, stream name), set once the
// source's first start has recorded what was already there.
func (k keys) initialised(source string) string {
	return k.prefix + "source:init:" + digest(source)
}

// feedCache is a HASH per feed URL with the ETag and Last-Modified of the last fetch whose
// stories were all handed on, so conditional requests survive restarts.
func (k keys) feedCache(feedURL string) string { return k.prefix + "source:feed:" + digest(feedURL) }

// deadLetter is the STREAM where entries of ARTICLES_STREAM that can never succeed are copied
// before they are acknowledged.
func (k keys) deadLetter() string { return k.prefix + "source:dead" }

// group is the consumer group of ARTICLES_STREAM; the prefix lets several bots read one stream.
func (k keys) group() string { return k.prefix + "source" }

func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:12])
}
