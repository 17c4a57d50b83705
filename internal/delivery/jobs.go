package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"newsbot/internal/article"
	"newsbot/internal/post"
	"newsbot/internal/subscriber"
	"newsbot/internal/telegram"
)

// The story hash (keys.meta) holds:
//
//	a          the story's newest text (article JSON)
//	h          its content hash (article.Hash); v its revision, bumped when the text changes
//	retracted  when it was retracted (unix s); never stored or sent again after that
//	nophoto    an image URL Telegram could not fetch: the story goes out in its text form
//	seq        the number of the story's last job; first: when its first job was made (ms)
//	cv         the channel task's version; cl, ce: its lease (owner, expiry ms)
//
// A job hash (keys.job) holds jobFields: st (JobState), brk (audience: every reader of the
// language), hi (priority queue), by (the editor who pushed it), at (queued, ms), cur (the
// audience cursor), ex (the audience is exhausted), sent, failed, skipped, doubt, fin (ms).

// PushOptions are an admin's choices for /publish.
type PushOptions struct {
	Breaking bool  // send to every reader of the language, whatever their topics
	By       int64 // the admin's user id, kept on the job for /stats
}

// ErrRetracted is Push's answer for a story that was withdrawn.
var ErrRetracted = errors.New("story was retracted")

// Publish hands on a new story: it is recorded, its channel post queued and a fan-out job
// over its audience queued (breaking stories jump the queue). Nothing waits on Telegram.
// Publishing a story again (a replay, a restart, a second copy) makes nothing new; a newer
// text brings the channel post and the running fan-out up to date.
func (e *Engine) Publish(ctx context.Context, a article.Article) error {
	// A story that cannot be rendered is refused now, not by every send.
	if _, err := e.render.Render(a, a.Lang, int64(0)); err != nil {
		return fmt.Errorf("publish %s: render: %w", a.ID, err)
	}
	if _, err := e.store(ctx, a, newJobID(a.ID, 0), a.Breaking, a.Breaking, 0); err != nil {
		return fmt.Errorf("publish %s: %w", a.ID, err)
	}
	return nil
}

// Correct hands on a corrected story: the channel post is edited and readers a running
// fan-out has not reached yet get the corrected text. Readers' private copies stay as sent.
func (e *Engine) Correct(ctx context.Context, a article.Article) error {
	if _, err := e.store(ctx, a, "", false, false, 0); err != nil {
		return fmt.Errorf("correct %s: %w", a.ID, err)
	}
	return nil
}

// Retract withdraws a story: its channel post is deleted, running fan-outs stop, and it is
// never posted again. Readers' private copies are left as they are.
func (e *Engine) Retract(ctx context.Context, a article.Article) error {
	raw, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("retract %s: encode story: %w", a.ID, err)
	}
	cv, err := retractScript.Run(ctx, e.rdb, []string{e.keys.meta(a.ID)}, raw, time.Now().Unix(), e.opt.LedgerTTL.Milliseconds()).Int64()
	if err != nil {
		return fmt.Errorf("retract %s: %w", a.ID, err)
	}
	if err := e.queueChannel(ctx, a, cv); err != nil {
		return fmt.Errorf("retract %s: %w", a.ID, err)
	}
	e.log.Info("retraction queued", "story_id", a.ID, "lang", a.Lang)
	return nil
}

// Push is an admin's /publish: the channel post if the channel does not hold the story yet,
// and a new priority fan-out job. Readers who already got the story are skipped.
func (e *Engine) Push(ctx context.Context, a article.Article, opt PushOptions) (JobID, error) {
	if a.Retracted {
		return "", fmt.Errorf("push %s: %w", a.ID, ErrRetracted)
	}
	n, err := e.rdb.HIncrBy(ctx, e.keys.meta(a.ID), "seq", 1).Result()
	if err != nil {
		return "", fmt.Errorf("push %s: new job: %w", a.ID, err)
	}
	id := newJobID(a.ID, n)
	st, err := e.store(ctx, a, id, a.Breaking || opt.Breaking, true, opt.By)
	if err != nil {
		return "", fmt.Errorf("push %s: %w", a.ID, err)
	}
	if st == replyRetracted {
		return "", fmt.Errorf("push %s: %w", a.ID, ErrRetracted)
	}
	return id, nil
}

// store records the story and its channel task, and creates and queues job id ("": no job).
// Queuing a job again is harmless (a finished job leaves the queue when a worker sees it),
// and it heals a crash between creating and queuing. It returns storeScript's reply.
func (e *Engine) store(ctx context.Context, a article.Article, id JobID, breaking, high bool, by int64) (string, error) {
	raw, err := json.Marshal(a)
	if err != nil {
		return "", fmt.Errorf("encode story: %w", err)
	}
	// now is the story's time (the clock tests and simulations move); wall orders the queues.
	now, wall := e.now().UnixMilli(), time.Now().UnixMilli()
	keys := []string{e.keys.meta(a.ID)}
	args := []any{raw, a.Hash(), now, e.opt.LedgerTTL.Milliseconds()}
	if id != "" {
		keys = append(keys, e.keys.job(id))
		args = append(args, "st", string(JobRunning), "brk", flag(breaking), "hi", flag(high), "by", by,
			"at", now, "cur", strconv.FormatInt(math.MinInt64, 10), "sent", 0, "failed", 0)
	}
	res, err := storeScript.Run(ctx, e.rdb, keys, args...).StringSlice()
	if err != nil {
		return "", fmt.Errorf("store story: %w", err)
	}
	st := res[0]
	if st == replyRetracted {
		e.log.Info("story was retracted, not handed on again", "story_id", a.ID)
		return st, nil
	}
	cv, _ := strconv.ParseInt(res[1], 10, 64)
	first := st == replyFirst
	queue := id != "" && (first || st == replyCreated || st == string(JobRunning))
	var est int64
	if first || st == replyCreated {
		// The budget counts what waits; a failed count only blurs the estimate.
		est, _ = e.readers.AudienceSize(ctx, a.Lang, a.Topics, breaking)
	}
	_, err = e.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		if est > 0 {
			p.HSet(ctx, e.keys.job(id), "est", est)
		}
		if e.opt.Channels[a.Lang] != "" {
			p.ZAdd(ctx, e.keys.chanQueue(), redis.Z{Score: float64(wall), Member: chanMember(a.ID, cv)})
		}
		if queue {
			p.ZAddNX(ctx, e.keys.queue(high), redis.Z{Score: float64(wall), Member: string(id)})
		}
		if first {
			// Counted here, in the round trip the job needs anyway. The hourly key lives in
			// another hash slot than the story, so it cannot share the script: a crash between
			// the two leaves the story uncounted, never counted twice.
			e.storyCmds(ctx, p)
			// Digests find the stories handed on since a reader's last one here.
			p.ZAdd(ctx, e.keys.recent(), redis.Z{Score: float64(now), Member: a.ID})
			p.ZRemRangeByScore(ctx, e.keys.recent(), "-inf", "("+strconv.FormatInt(now-recentKeep.Milliseconds(), 10))
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("queue story %s: %w", a.ID, err)
	}
	e.notify()
	if first || st == replyCreated {
		e.log.Info("fan-out queued", "job_id", string(id), "story_id", a.ID, "lang", a.Lang,
			"breaking", breaking, "priority", high)
	}
	return st, nil
}

// queueChannel queues version cv of the story's channel task.
func (e *Engine) queueChannel(ctx context.Context, a article.Article, cv int64) error {
	if e.opt.Channels[a.Lang] == "" {
		return nil
	}
	err := e.rdb.ZAdd(ctx, e.keys.chanQueue(), redis.Z{Score: float64(time.Now().UnixMilli()), Member: chanMember(a.ID, cv)}).Err()
	if err != nil {
		return fmt.Errorf("queue channel task: %w", err)
	}
	e.notify()
	return nil
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// storyRecord is a story as delivery keeps it.
type storyRecord struct {
	art       article.Article
	revision  string
	retracted bool
	noPhoto   bool      // its photo could not be fetched: send the text form
	published bool      // it was published or pushed (not only corrected): the channel gets it
	first     time.Time // when it was first handed on for readers
	found     bool
}

// withoutPhoto is the story as it goes out when Telegram cannot fetch its photo.
func (s storyRecord) withoutPhoto() storyRecord {
	s.noPhoto = true
	return s
}

// loadStory reads a story's record. found is false when it expired or was never stored.
func (e *Engine) loadStory(ctx context.Context, storyID string) (storyRecord, error) {
	v, err := e.rdb.HMGet(ctx, e.keys.meta(storyID), "a", "v", "retracted", "nophoto", "first").Result()
	if err != nil {
		return storyRecord{}, fmt.Errorf("load story %s: %w", storyID, err)
	}
	raw, _ := v[0].(string)
	if raw == "" {
		return storyRecord{}, nil
	}
	s := storyRecord{found: true, retracted: v[2] != nil, published: v[4] != nil}
	if ms, ok := v[4].(string); ok {
		n, _ := strconv.ParseInt(ms, 10, 64)
		s.first = time.UnixMilli(n)
	}
	s.revision, _ = v[1].(string)
	if err := json.Unmarshal([]byte(raw), &s.art); err != nil {
		return storyRecord{}, fmt.Errorf("load story %s: %w", storyID, err)
	}
	if bad, _ := v[3].(string); bad != "" && bad == s.art.ImageURL {
		s.noPhoto = true
	}
	return s, nil
}

// renderFor renders the story for label language lang, in its text form when its photo
// could not be fetched.
func (e *Engine) renderFor(s storyRecord, lang string, chat any) (post.Post, error) {
	a := s.art
	if s.noPhoto {
		a.ImageURL, a.ImageCredit = "", ""
	}
	return e.render.Render(a, lang, chat)
}

// imageOf is the photo a rendered post of the story shows ("" for the text form).
func imageOf(s storyRecord, p post.Post) string {
	if p.Method != "sendPhoto" {
		return ""
	}
	return s.art.ImageURL
}

// noPhoto records that Telegram could not fetch the story's photo, so that the channel and
// every reader get the text form with the story's link preview instead. It reports whether
// the text form is worth trying (the story has a photo to leave out). Logged once per story,
// by the copy that records it.
func (e *Engine) noPhoto(ctx context.Context, s storyRecord, cause error) bool {
	if s.noPhoto || s.art.ImageURL == "" {
		return false
	}
	set, err := e.rdb.HSet(context.WithoutCancel(ctx), e.keys.meta(s.art.ID), "nophoto", s.art.ImageURL).Result()
	if err != nil {
		e.log.Error("record unfetchable photo", "story_id", s.art.ID, "err", err)
	}
	if set > 0 {
		e.met.channel.WithLabelValues("photo_fallback").Inc()
		e.log.Warn("Telegram could not fetch the story's photo; sending the text form with the link preview",
			"story_id", s.art.ID, "image_url", s.art.ImageURL, "err", cause)
	}
	return true
}

// jobRun is what a copy knows about a job it works on: the story and its posts, rendered once
// per label language (only chat_id changes per reader).
type jobRun struct {
	id       JobID
	digest   *digestRun  // a digest job; nil for a story's
	story    storyRecord // as loaded; not changed after
	breaking bool
	by       int64     // the editor who pushed it; 0 for a story published on its own
	queued   time.Time // when the job was made
	used     time.Time // last claim; guarded by Engine.mu

	mu      sync.Mutex
	noPhoto bool // the photo could not be fetched: the text form goes out
	posts   map[string]post.Post
	errs    map[string]error
}

// post returns the job's post for readers of label language lang.
func (j *jobRun) post(e *Engine, lang string) (post.Post, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if p, ok := j.posts[lang]; ok {
		return p, nil
	}
	if err, ok := j.errs[lang]; ok {
		return post.Post{}, err
	}
	s := j.story
	if j.noPhoto {
		s = s.withoutPhoto()
	}
	p, err := e.renderFor(s, lang, int64(0))
	if err == nil {
		// Encoded once for every reader of the language: only chat_id changes per send.
		p.Params, err = telegram.PrepareParams(p.Params)
	}
	if err != nil {
		j.errs[lang] = err
		e.log.Error("render story; its readers of this language are not sent it", "story_id", j.story.art.ID, "lang", lang, "err", err)
		return post.Post{}, err
	}
	j.posts[lang] = p
	return p, nil
}

// dropPhoto switches the job to the story's text form (its photo could not be fetched). It
// reports false when the job sends the text form already.
func (j *jobRun) dropPhoto() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.noPhoto || j.story.noPhoto {
		return false
	}
	j.noPhoto = true
	clear(j.posts)
	clear(j.errs)
	return true
}

// deadline is when a send that could not leave is given up: MaxAge after the story, or after
// an editor pushed it.
func (j *jobRun) deadline(maxAge time.Duration) time.Time {
	if j.by != 0 {
		return j.queued.Add(maxAge)
	}
	return j.story.art.PublishedAt.Add(maxAge)
}

// loadJob loads a job's story once per copy and revision ("" takes any revision).
func (e *Engine) loadJob(ctx context.Context, id JobID, revision string) (*jobRun, error) {
	now := time.Now()
	e.mu.Lock()
	jr, ok := e.jobs[id]
	if ok && (revision == "" || jr.story.revision == revision || jr.digest != nil) {
		jr.used = now
		e.mu.Unlock()
		return jr, nil
	}
	e.mu.Unlock()
	if at, ok := id.digestAt(); ok {
		jr, err := e.loadDigest(ctx, id, at)
		if err != nil {
			return nil, err
		}
		e.mu.Lock()
		e.jobs[id] = jr
		e.mu.Unlock()
		return jr, nil
	}
	s, err := e.loadStory(ctx, id.story())
	if err != nil {
		return nil, err
	}
	if !s.found {
		return nil, fmt.Errorf("load job %s: %w: the story is not kept any more", id, subscriber.ErrInvalid)
	}
	v, err := e.rdb.HMGet(ctx, e.keys.job(id), "brk", "at", "by").Result()
	if err != nil {
		return nil, fmt.Errorf("load job %s: %w", id, err)
	}
	num := func(i int) int64 { s, _ := v[i].(string); n, _ := strconv.ParseInt(s, 10, 64); return n }
	jr = &jobRun{id: id, story: s, breaking: v[0] == "1", queued: time.UnixMilli(num(1)), by: num(2), used: now,
		posts: map[string]post.Post{}, errs: map[string]error{}}
	e.mu.Lock()
	e.jobs[id] = jr
	e.mu.Unlock()
	return jr, nil
}

// jobCacheIdle is how long a job's story stays cached after this copy last claimed a page
// of it. Another copy may finish the job and take it off the queue; without this the story
// and its rendered posts would stay in this copy's memory for good.
const jobCacheIdle = 10 * time.Minute

// pruneJobs forgets the stories of jobs this copy has not claimed a page of lately (a job
// still running is simply loaded again at its next claim).
func (e *Engine) pruneJobs(now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for id, jr := range e.jobs {
		if now.Sub(jr.used) > jobCacheIdle {
			delete(e.jobs, id)
		}
	}
}

// work is what a worker found to do: a page to send, or a channel task it already did.
type work struct {
	page *page
	did  bool
}

// next finds work: a due channel task, else a page of the first job in the queues that has
// one (priority queue first).
func (e *Engine) next(ctx context.Context) (work, error) {
	var high, normal, chans *redis.StringSliceCmd
	var nh, nn *redis.IntCmd
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	_, err := e.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		chans = p.ZRangeByScore(ctx, e.keys.chanQueue(), &redis.ZRangeBy{Min: "-inf", Max: now, Count: 4})
		high = p.ZRange(ctx, e.keys.queue(true), 0, 31)
		normal = p.ZRange(ctx, e.keys.queue(false), 0, 31)
		nh = p.ZCard(ctx, e.keys.queue(true))
		nn = p.ZCard(ctx, e.keys.queue(false))
		return nil
	})
	if err != nil {
		return work{}, fmt.Errorf("read job queues: %w", err)
	}
	e.pruneJobs(time.Now())
	e.met.queue.WithLabelValues("high").Set(float64(nh.Val()))
	e.met.queue.WithLabelValues("normal").Set(float64(nn.Val()))
	var errs []error
	for _, m := range chans.Val() {
		did, err := e.runChannelTask(ctx, m)
		if err != nil {
			errs = append(errs, err)
		}
		if did {
			return work{did: true}, errors.Join(errs...)
		}
	}
	for _, id := range append(high.Val(), normal.Val()...) {
		p, err := e.claim(ctx, JobID(id))
		if errors.Is(err, subscriber.ErrInvalid) {
			// The story cannot have an audience (a language or topic no longer
			// configured, the story expired): give the job up rather than retry it forever.
			e.abandon(ctx, JobID(id), err)
			continue
		}
		if err != nil {
			errs = append(errs, err) // one job's trouble must not hold up the others
			continue
		}
		if p != nil {
			return work{page: p}, nil
		}
	}
	return work{}, errors.Join(errs...)
}

// abandon ends a job that can never be worked.
func (e *Engine) abandon(ctx context.Context, id JobID, cause error) {
	e.log.Error("fan-out abandoned", "job_id", string(id), "story_id", id.story(), "err", cause)
	_, err := e.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, e.keys.job(id), "st", string(JobAbandoned), "fin", time.Now().UnixMilli())
		// Pages leased before the job became impossible are never finished: drop their
		// leases, which have no TTL of their own.
		p.Del(ctx, e.keys.leases(id), e.keys.owners(id))
		return nil
	})
	if err != nil {
		e.log.Error("abandon fan-out", "job_id", string(id), "err", err)
		return
	}
	e.dequeue(ctx, id)
}

func (e *Engine) dequeue(ctx context.Context, id JobID) {
	e.mu.Lock()
	delete(e.jobs, id)
	e.mu.Unlock()
	_, err := e.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.ZRem(ctx, e.keys.queue(true), string(id))
		p.ZRem(ctx, e.keys.queue(false), string(id))
		return nil
	})
	if err != nil && ctx.Err() == nil {
		e.log.Error("remove finished job from queue", "job_id", string(id), "err", err)
	}
}

// finished logs the one line per fan-out and records its duration; res is nextScript's answer
// after replyFinished: state, sent, failed, created ms, finished ms.
func (e *Engine) finished(ctx context.Context, id JobID, res []string) {
	var lang string
	if jr, err := e.loadJob(ctx, id, ""); err == nil {
		lang = jr.story.art.Lang
	}
	e.dequeue(ctx, id)
	n := func(i int) int64 { v, _ := strconv.ParseInt(res[i], 10, 64); return v }
	d := time.Duration(n(4)-n(3)) * time.Millisecond
	e.met.duration.Observe(d.Seconds())
	e.log.Info("fan-out finished", "job_id", string(id), "story_id", id.story(), "lang", lang,
		"state", res[0], "sent", n(1), "failed", n(2), "duration", d.Round(time.Millisecond).String())
}
