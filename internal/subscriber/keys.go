package subscriber

import "strconv"

// Every key of the store carries one hash tag, "{sub}", so that a Lua script may touch a
// reader's record and all of the audience indexes and counters it belongs to in one atomic
// step, also on Redis Cluster (keys of one script must live in one slot). The cost is that all
// subscriber data lives on one cluster slot, hence one node: at a few hundred bytes per reader
// (see the benchmark) millions of readers still fit one node comfortably.
const hashTag = "{sub}:"

// keys names the store's Redis keys under the configured prefix.
type keys struct {
	base string // prefix + hash tag; the Lua scripts build index key names from it
}

func newKeys(prefix string) keys { return keys{base: prefix + hashTag} }

// record is the hash holding one reader (fields: see recordField*).
func (k keys) record(chatID int64) string { return k.base + "r:" + strconv.FormatInt(chatID, 10) }

// lang is the ZSET of every active reader with lang among their story languages (breaking news,
// counts). Score and member are the chat id.
func (k keys) lang(lang string) string { return k.base + "lang:" + lang }

// allTopics is the ZSET of active readers of lang who follow all topics.
func (k keys) allTopics(lang string) string { return k.base + "all:" + lang }

// topic is the ZSET of active readers of lang who follow topic (all-topics followers are only
// in allTopics, so that adding a topic to TOPICS needs no migration).
func (k keys) topic(lang, topic string) string { return k.base + "topic:" + lang + ":" + topic }

// digest is the ZSET of active digest readers (each keeps some or all of DIGEST_TIMES).
func (k keys) digest() string { return k.base + "digest" }

// stats is a hash of counters kept by the scripts: "s:<status>" readers by status, "g:<status>"
// groups by status, "ui:<lang>" active readers by interface language, "m:<mode>" active readers by reading mode.
func (k keys) stats() string { return k.base + "stats" }
