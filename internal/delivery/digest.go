package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"newsbot/internal/article"
	"newsbot/internal/post"
	"newsbot/internal/schedule"
	"newsbot/internal/subscriber"
)

// Digests. At each of DIGEST_TIMES one digest job is made — by whichever copy sees the time
// first; its id is the time, so every copy makes the same one — and it walks the digest readers
// in pages like any fan-out: the same global limit, ledger, leases and shutdown. Each reader
// gets one message with the stories of their languages and topics since their last digest
// time; an empty one is not sent. A reader keeping only some of the times gets only those.
//
// No gap, no duplicate when a reader changes mode: a digest covers the stories handed on since
// the reader's previous digest time, leaving out those the story's ledger shows the reader got
// while they read instantly (only stories from before their switch are looked up); an instant
// push is not sent to a reader who took up instant reading after the story was handed on —
// their last digest, or the catch-up digest sent when they left digests (CatchUp), has it.
// Breaking stories reach every mode at once and are never in a digest.

// digestMark starts the id of a digest job. Article ids cannot hold control characters, so no
// story's keys or jobs are ever a digest's.
const digestMark = "\x1edigest:"

// digestLate is how late a digest is still sent: a copy that was down at 08:00 and comes back
// at 09:00 sends the 08:00 digest; one back at 11:00 leaves it to the next time.
const digestLate = 2 * time.Hour

// digestWindow bounds how far back a digest looks (a reader of one digest a day gets a day).
const digestWindow = 25 * time.Hour

// recentKeep is how long the index of recently handed-on stories keeps a story.
const recentKeep = 8 * 24 * time.Hour

func digestJobID(at time.Time) JobID {
	return JobID(digestMark + strconv.FormatInt(at.Unix(), 10) + "#0")
}

// digestAt is the time of a digest job; false for a story's job.
func (j JobID) digestAt() (time.Time, bool) {
	s, ok := strings.CutPrefix(j.story(), digestMark)
	if !ok {
		return time.Time{}, false
	}
	sec, err := strconv.ParseInt(s, 10, 64)
	return time.Unix(sec, 0), err == nil
}

// String is the job id as logs show it: "story-id#2", or "digest@2026-11-28T08:00:00Z#0".
func (j JobID) String() string {
	if at, ok := j.digestAt(); ok {
		return "digest@" + at.UTC().Format(time.RFC3339) + "#" + j.num()
	}
	return string(j)
}

// keepTime is the engine's clock work: it makes each digest job when its time comes and keeps
// the budget figures up to date, until ctx ends.
func (e *Engine) keepTime(ctx context.Context) {
	t := time.NewTicker(digestCheck)
	defer t.Stop()
	for {
		if err := e.makeDigests(ctx); err != nil && ctx.Err() == nil {
			e.log.Error("make the digest", "err", err)
		}
		e.refreshBudget(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// digestCheck is how often the engine looks at the clock for digest times.
const digestCheck = 5 * time.Second

// makeDigests makes the job of every digest time that has come (within digestLate) and has
// none yet.
func (e *Engine) makeDigests(ctx context.Context) error {
	now := e.now()
	var errs []error
	for _, c := range e.opt.DigestTimes {
		at := schedule.Prev(now.Add(time.Nanosecond), c, e.opt.Location)
		if now.Sub(at) > digestLate {
			continue
		}
		if err := e.makeDigest(ctx, at, c); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// makeDigest creates and queues the digest job of time at, unless it exists.
func (e *Engine) makeDigest(ctx context.Context, at time.Time, c schedule.Clock) error {
	id := digestJobID(at)
	now := e.now().UnixMilli()
	created, err := e.rdb.HSetNX(ctx, e.keys.job(id), "st", string(JobRunning)).Result()
	if err != nil {
		return fmt.Errorf("make digest %s: %w", id, err)
	}
	if !created {
		return nil // made by this or another copy: queued with it
	}
	est, err := e.readers.DigestSize(ctx)
	if err != nil {
		est = 0 // only the budget's estimate suffers
	}
	_, err = e.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, e.keys.job(id), "clock", c.String(), "at", now, "cur", strconv.FormatInt(math.MinInt64, 10),
			"sent", 0, "failed", 0, "est", est)
		p.Expire(ctx, e.keys.job(id), e.opt.LedgerTTL)
		p.ZAddNX(ctx, e.keys.queue(false), redis.Z{Score: float64(time.Now().UnixMilli()), Member: string(id)})
		return nil
	})
	if err != nil {
		return fmt.Errorf("queue digest %s: %w", id, err)
	}
	e.notify()
	e.log.Info("digest queued", "job_id", id.String(), "digest_time", c.String(), "readers", est)
	return nil
}

// digestRun is what a copy keeps of a digest job: its time and the stories it may show.
type digestRun struct {
	at      time.Time
	clock   string
	stories []digestStory // handed on within digestWindow before at, newest first

	mu    sync.Mutex
	rates map[string]string // the rates line by language
	texts map[string]string // digests by what makes them (readers who chose alike share one)
}

// digestStory is a story as digests see it: the article and when it was handed on.
type digestStory struct {
	art   article.Article
	first time.Time
}

// loadDigest loads what a digest job needs: the stories of its window.
func (e *Engine) loadDigest(ctx context.Context, id JobID, at time.Time) (*jobRun, error) {
	clock, err := e.rdb.HGet(ctx, e.keys.job(id), "clock").Result()
	if err != nil {
		return nil, fmt.Errorf("load digest %s: %w", id, err)
	}
	stories, err := e.recentStories(ctx, at.Add(-digestWindow), at)
	if err != nil {
		return nil, fmt.Errorf("load digest %s: %w", id, err)
	}
	d := &digestRun{at: at, clock: clock, stories: stories, rates: map[string]string{}, texts: map[string]string{}}
	return &jobRun{id: id, digest: d, queued: at, used: time.Now()}, nil
}

// recentStories returns the non-breaking stories handed on in [from, to) that are not
// retracted, newest first.
func (e *Engine) recentStories(ctx context.Context, from, to time.Time) ([]digestStory, error) {
	ids, err := e.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: e.keys.recent(), ByScore: true,
		Start: strconv.FormatInt(from.UnixMilli(), 10), Stop: "(" + strconv.FormatInt(to.UnixMilli(), 10)}).Result()
	if err != nil {
		return nil, fmt.Errorf("recent stories: %w", err)
	}
	cmds := make([]*redis.SliceCmd, len(ids))
	_, err = e.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HMGet(ctx, e.keys.meta(id), "a", "retracted", "first")
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("recent stories: %w", err)
	}
	var out []digestStory
	for _, c := range cmds {
		v := c.Val()
		raw, _ := v[0].(string)
		if raw == "" || v[1] != nil {
			continue
		}
		var s digestStory
		if err := json.Unmarshal([]byte(raw), &s.art); err != nil || s.art.Breaking {
			continue
		}
		ms, _ := v[2].(string)
		n, _ := strconv.ParseInt(ms, 10, 64)
		s.first = time.UnixMilli(n)
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b digestStory) int { return b.first.Compare(a.first) })
	return out, nil
}

// digestFor composes reader r's digest of job d (false: nothing to send). gotten says whether
// the reader received a story while reading instantly (its ledger has the chat).
func (e *Engine) digestFor(ctx context.Context, d *digestRun, r subscriber.Reader, gotten func(storyID string) bool) (string, bool) {
	from := e.digestStart(r, d.at)
	// Readers who chose alike get the same digest: made once per job and copy. (Readers who
	// switched within the window have their own, since the ledger decides part of it.)
	var key string
	if !r.ModeSince.After(from) {
		key = r.Lang + "|" + strings.Join(r.Langs, ",") + "|" + strings.Join(r.Topics, ",") + "|" +
			strconv.FormatBool(r.AllTopics) + "|" + strconv.FormatInt(from.Unix(), 10)
		d.mu.Lock()
		text, ok := d.texts[key]
		d.mu.Unlock()
		if ok {
			return text, text != ""
		}
	}
	text, ok := e.composeDigest(ctx, d, r, from, gotten)
	if key != "" {
		d.mu.Lock()
		d.texts[key] = text
		d.mu.Unlock()
	}
	return text, ok
}

func (e *Engine) composeDigest(ctx context.Context, d *digestRun, r subscriber.Reader, from time.Time, gotten func(storyID string) bool) (string, bool) {
	var stories []article.Article
	for _, s := range d.stories {
		if s.first.Before(from) {
			break // newest first: the rest are older
		}
		if !follows(r, s.art) {
			continue
		}
		if s.first.Before(r.ModeSince) && gotten(s.art.ID) {
			continue // sent instantly before the reader took up digests
		}
		stories = append(stories, s.art)
	}
	if len(stories) == 0 {
		return "", false
	}
	in := post.DigestInput{At: d.at, Stories: stories, More: e.channelLink(r)}
	if !r.AllTopics {
		in.Topics = r.Topics
	}
	if e.opt.RatesLine != nil {
		d.mu.Lock()
		line, ok := d.rates[r.Lang]
		d.mu.Unlock()
		if !ok {
			line = e.opt.RatesLine(ctx, r.Lang)
			d.mu.Lock()
			d.rates[r.Lang] = line
			d.mu.Unlock()
		}
		in.Rates = line
	}
	return e.render.Digest(in, r.Lang)
}

// digestStart is where reader r's digest at time at begins: their previous digest time.
func (e *Engine) digestStart(r subscriber.Reader, at time.Time) time.Time {
	var from time.Time
	for _, c := range e.opt.DigestTimes {
		if len(r.DigestTimes) > 0 && !slices.Contains(r.DigestTimes, c.String()) {
			continue
		}
		if p := schedule.Prev(at, c, e.opt.Location); p.After(from) {
			from = p
		}
	}
	if from.IsZero() || at.Sub(from) > digestWindow {
		from = at.Add(-digestWindow)
	}
	return from
}

// follows reports whether reader r follows story a (its language, and one of its topics or all).
func follows(r subscriber.Reader, a article.Article) bool {
	if !slices.Contains(r.Langs, a.Lang) {
		return false
	}
	if r.AllTopics {
		return true
	}
	for _, t := range a.Topics {
		if slices.Contains(r.Topics, t) {
			return true
		}
	}
	return false
}

// channelLink is the public link of the channel of the reader's language (or of their first
// story language): where "and N more" points. "" for a channel known only by its numeric id.
func (e *Engine) channelLink(r subscriber.Reader) string {
	for _, l := range append([]string{r.Lang}, r.Langs...) {
		if ch := e.opt.Channels[l]; strings.HasPrefix(ch, "@") {
			return "https://t.me/" + ch[1:]
		}
	}
	return ""
}

// digestPage composes the digests of a page's chats: the readers' records in one round trip,
// the ledgers of stories from before a reader's switch to digests in another (only for such
// readers). It returns the text per chat and whether the reader wants quiet nights; chats
// missing from the texts get nothing (not a digest reader of this time any more, or nothing
// new).
func (e *Engine) digestPage(ctx context.Context, d *digestRun, chats []int64) (texts map[int64]string, quiet map[int64]bool, err error) {
	rs, found, err := e.readers.Readers(ctx, chats)
	if err != nil {
		return nil, nil, err
	}
	var readers []subscriber.Reader
	quiet = make(map[int64]bool, len(chats))
	for i, r := range rs {
		if found[i] && r.Status == subscriber.Active && r.KeepsDigest(d.clock) {
			readers = append(readers, r)
			quiet[r.ChatID] = r.Quiet()
		}
	}
	texts, err = e.composeDigests(ctx, d, readers)
	return texts, quiet, err
}

// composeDigests composes the digests of readers (who get digest d).
func (e *Engine) composeDigests(ctx context.Context, d *digestRun, rs []subscriber.Reader) (map[int64]string, error) {
	// Which stories to look up in which ledger: those handed on before the reader's switch.
	type check struct {
		story string
		chat  int64
	}
	var checks []check
	for _, r := range rs {
		from := e.digestStart(r, d.at)
		if !r.ModeSince.After(from) {
			continue
		}
		for _, s := range d.stories {
			if s.first.Before(from) {
				break
			}
			if s.first.Before(r.ModeSince) && follows(r, s.art) {
				checks = append(checks, check{s.art.ID, r.ChatID})
			}
		}
	}
	got := map[check]bool{}
	if len(checks) > 0 {
		cmds := make([]*redis.BoolCmd, len(checks))
		_, err := e.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, c := range checks {
				cmds[i] = p.HExists(ctx, e.keys.ledger(c.story), strconv.FormatInt(c.chat, 10))
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("look up what readers got before their switch: %w", err)
		}
		for i, c := range checks {
			got[c] = cmds[i].Val()
		}
	}
	texts := make(map[int64]string, len(rs))
	for _, r := range rs {
		if text, ok := e.digestFor(ctx, d, r, func(id string) bool { return got[check{id, r.ChatID}] }); ok {
			texts[r.ChatID] = text
		}
	}
	return texts, nil
}

// CatchUp sends a reader who leaves digests for instant reading the stories since their last
// digest (one message, through the reply path, right away): what the next digest would have
// shown them. before is the reader as they were; nothing is sent when there is nothing new.
func (e *Engine) CatchUp(ctx context.Context, replies *Replies, before subscriber.Reader) (bool, error) {
	if before.Mode != subscriber.Digest {
		return false, nil
	}
	now := e.now()
	stories, err := e.recentStories(ctx, now.Add(-digestWindow), now.Add(time.Millisecond))
	if err != nil {
		return false, fmt.Errorf("catch up reader %d: %w", before.ChatID, err)
	}
	d := &digestRun{at: now, stories: stories, rates: map[string]string{}, texts: map[string]string{}}
	texts, err := e.composeDigests(ctx, d, []subscriber.Reader{before})
	if err != nil {
		return false, fmt.Errorf("catch up reader %d: %w", before.ChatID, err)
	}
	text, ok := texts[before.ChatID]
	if !ok {
		return false, nil
	}
	if _, err := replies.Call(ctx, "sendMessage", e.digestParams(before.ChatID, text, false)); err != nil {
		return false, fmt.Errorf("catch up reader %d: %w", before.ChatID, err)
	}
	return true, nil
}

// digestParams is the sendMessage of a digest.
func (e *Engine) digestParams(chat int64, text string, silent bool) map[string]any {
	p := map[string]any{
		"chat_id": chat, "text": text, "parse_mode": "HTML",
		"link_preview_options": map[string]any{"is_disabled": true},
	}
	if silent {
		p["disable_notification"] = true
	}
	if e.opt.PaidBroadcast {
		p["allow_paid_broadcast"] = true
	}
	return p
}
