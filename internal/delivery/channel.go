package delivery

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"newsbot/internal/article"
	"newsbot/internal/telegram"
)

// The channel post of a story is a task of its own, run by the workers like fan-out pages:
// handing a story on (Publish, Correct, Retract) records the story and queues the task, and
// the task brings the channel in line with the story — posts it, edits it after a correction,
// deletes it after a retraction — whatever happened before. So the order in which the steps
// arrive does not matter, a replay does nothing, and nobody waits on Telegram to hand on.
//
// The channel queue holds one member per version of the task ("<story id>#<version>"), scored
// by when it is due: a newer version never erases an older one being worked on, and the
// worker holding the story's lease runs again when the version moved meanwhile.
//
// Channel post states in the story's channels hash (channel → state):
//
//	"w"                                    posting (or a crash left the outcome unknown: it is
//	                                       never posted again, at most once)
//	"p:<message id>:<method>:<image url>"  posted; kept so that corrections can edit it;
//	                                       message id 0: deleted for a repost that failed,
//	                                       to be posted by the next correction
//	"r"                                    retracted: deleted, never posted again
//
// and beside each, "h:<channel>" holds the content hash (article.Hash) the post shows.
const (
	chanPosting   = "w"
	chanRetracted = "r"
)

type channelPost struct {
	msgID  int
	method string
	image  string
}

func parseChannelPost(v string) (channelPost, bool) {
	parts := strings.SplitN(v, ":", 4)
	if len(parts) != 4 || parts[0] != "p" {
		return channelPost{}, false
	}
	id, err := strconv.Atoi(parts[1])
	if err != nil {
		return channelPost{}, false
	}
	return channelPost{msgID: id, method: parts[2], image: parts[3]}, true
}

func (c channelPost) String() string {
	return "p:" + strconv.Itoa(c.msgID) + ":" + c.method + ":" + c.image
}

func hashField(ch string) string { return "h:" + ch }

// chanMember names one version of a story's channel task in the channel queue.
func chanMember(storyID string, version int64) string {
	return storyID + "#" + strconv.FormatInt(version, 10)
}

func parseChanMember(m string) (storyID string) {
	if i := strings.LastIndexByte(m, '#'); i >= 0 {
		return m[:i]
	}
	return m
}

// errDefer asks for the channel task to run again at a given time: the channel is paced (20
// posts a minute), everyone is paused after a 429, or Telegram could not be reached.
type errDefer struct {
	until time.Time
	cause error
}

func (e *errDefer) Error() string {
	return fmt.Sprintf("channel task deferred until %s: %v", e.until.Format(time.TimeOnly), e.cause)
}

func (e *errDefer) Unwrap() error { return e.cause }

// chanBusyDelay is how long a channel task whose story another worker is syncing waits.
const chanBusyDelay = 250 * time.Millisecond

// claimSeq makes each channel lease token unique: the workers of one copy share its owner.
var claimSeq atomic.Uint64

// runChannelTask takes the first due channel task, if any, and runs it. It reports whether
// there was one.
func (e *Engine) runChannelTask(ctx context.Context, member string) (bool, error) {
	storyID := parseChanMember(member)
	token := e.owner + "." + strconv.FormatUint(claimSeq.Add(1), 10)
	meta := e.keys.meta(storyID)
	res, err := chanClaimScript.Run(ctx, e.rdb, []string{meta}, token, e.opt.LeaseTTL.Milliseconds()).StringSlice()
	if err != nil {
		return false, fmt.Errorf("claim channel task of %s: %w", storyID, err)
	}
	switch res[0] {
	case replyGone:
		e.rdb.ZRem(ctx, e.keys.chanQueue(), member)
		return true, nil
	case replyBusy:
		// Another worker runs the story's task and runs it again itself if the story changed
		// meanwhile; this version is looked at again shortly (and then has nothing to do).
		e.rdb.ZAddXX(ctx, e.keys.chanQueue(), redis.Z{Score: float64(time.Now().Add(chanBusyDelay).UnixMilli()), Member: member})
		return true, nil
	}
	version := res[1]
	for {
		err := e.syncChannel(ctx, storyID)
		var d *errDefer
		if errors.As(err, &d) {
			_, rerr := chanReleaseScript.Run(context.WithoutCancel(ctx), e.rdb, []string{meta}, token, version, e.opt.LeaseTTL.Milliseconds(), "1").Result()
			e.rdb.ZAddXX(context.WithoutCancel(ctx), e.keys.chanQueue(), redis.Z{Score: float64(d.until.UnixMilli()), Member: member})
			return true, rerr
		}
		if err != nil {
			// Redis failed mid-way: the lease expires and the task runs again.
			return true, fmt.Errorf("channel task of %s: %w", storyID, err)
		}
		rel, err := chanReleaseScript.Run(context.WithoutCancel(ctx), e.rdb, []string{meta}, token, version, e.opt.LeaseTTL.Milliseconds(), "0").StringSlice()
		if err != nil {
			return true, fmt.Errorf("release channel task of %s: %w", storyID, err)
		}
		if rel[0] == replyAgain {
			version = rel[1]
			continue
		}
		e.rdb.ZRem(context.WithoutCancel(ctx), e.keys.chanQueue(), member)
		return true, nil
	}
}

// syncChannel brings the channel post of a story in line with the story as kept in meta.
func (e *Engine) syncChannel(ctx context.Context, storyID string) error {
	s, err := e.loadStory(ctx, storyID)
	if err != nil {
		return err
	}
	if !s.found {
		return nil
	}
	a := s.art
	ch := e.opt.Channels[a.Lang]
	if ch == "" {
		return nil
	}
	key := e.keys.channels(a.ID)
	cur, err := e.rdb.HMGet(ctx, key, ch, hashField(ch)).Result()
	if err != nil {
		return fmt.Errorf("read channel post of %s: %w", a.ID, err)
	}
	state, _ := cur[0].(string)
	hash, _ := cur[1].(string)
	cp, posted := parseChannelPost(state)
	switch {
	case s.retracted:
		if posted && cp.msgID != 0 {
			if _, err := e.deletePost(ctx, a, ch, cp); err != nil {
				return err
			}
		}
		if state != chanRetracted {
			if state == chanPosting {
				e.log.Error("retracted story's channel post was in doubt (no answer came); delete it by hand if it is there",
					"story_id", a.ID, "channel", ch)
			}
			_, err := e.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.HSet(ctx, key, ch, chanRetracted)
				p.PExpire(ctx, key, e.opt.LedgerTTL)
				return nil
			})
			return err
		}
		return nil
	case state == chanRetracted, state == chanPosting:
		return nil
	case !posted && !s.published:
		return nil // a correction of a story this channel never got (or long forgotten)
	case !posted:
		return e.postChannel(ctx, s, ch)
	case hash != a.Hash():
		return e.correctPost(ctx, s, ch, cp)
	}
	return nil
}

// channelSlot waits for the channel's next slot on the global schedule, or defers the task
// when the slot is not near (the channel is paced, a 429 pause is on).
func (e *Engine) channelSlot(ctx context.Context, ch string) error {
	r, err := e.lim.reserve(ctx, []any{ch}, false)
	if err != nil {
		return err
	}
	if len(r.granted) == 0 {
		return &errDefer{until: r.retryAt, cause: errors.New("channel paced or sending paused")}
	}
	return e.lim.sleepSlot(ctx, r.granted[0].at)
}

// channelCall makes one Bot API call for a channel task on its slot. Answers that say nothing
// happened (not sent, a 429) defer the task; everything else is the caller's to handle.
func (e *Engine) channelCall(ctx context.Context, ch string, method string, params map[string]any) (telegram.Message, error) {
	if err := e.channelSlot(ctx, ch); err != nil {
		return telegram.Message{}, err
	}
	msg, err := e.sendDraining(ctx, method, params)
	switch telegram.OutcomeOf(err) {
	case telegram.RetryAfter:
		d := e.pauseAll(ctx, err)
		return msg, &errDefer{until: time.Now().Add(d), cause: err}
	case telegram.NotSent, telegram.Unauthorized:
		d := e.notSentDelay(err)
		e.log.Warn("channel call not sent; trying again", "channel", ch, "method", method, "retry_in", d.String(), "err", err)
		return msg, &errDefer{until: time.Now().Add(d), cause: err}
	}
	return msg, err
}

// sendDraining makes the call with a ctx that outlives ctx by up to DrainTimeout: a call on
// its way when the service shuts down gets its answer (and the post its record) instead of
// being cut off with its outcome unknown.
func (e *Engine) sendDraining(ctx context.Context, method string, params map[string]any) (telegram.Message, error) {
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(e.opt.DrainTimeout, cancel)
		context.AfterFunc(sctx, func() { t.Stop() })
	})
	defer stop()
	return e.tg.Send(sctx, method, params)
}

// postChannel posts the story to its channel, once.
func (e *Engine) postChannel(ctx context.Context, s storyRecord, ch string) error {
	a := s.art
	key := e.keys.channels(a.ID)
	p, err := e.renderFor(s, a.Lang, chatParam(ch))
	if err != nil {
		e.log.Error("render channel post; the channel does not get the story", "story_id", a.ID, "channel", ch, "err", err)
		return nil
	}
	if err := e.channelSlot(ctx, ch); err != nil {
		return err
	}
	ok, err := e.rdb.HSetNX(ctx, key, ch, chanPosting).Result()
	if err != nil || !ok {
		return err // another copy posts it (a task lease that outlived its worker)
	}
	e.rdb.PExpire(ctx, key, e.opt.LedgerTTL)
	msg, err := e.sendDraining(ctx, p.Method, p.Params)
	switch telegram.OutcomeOf(err) {
	case 0:
		e.met.channel.WithLabelValues("post").Inc()
		st := channelPost{msgID: msg.MessageID, method: p.Method, image: imageOf(s, p)}
		if err := e.rdb.HSet(context.WithoutCancel(ctx), key, ch, st.String(), hashField(ch), a.Hash()).Err(); err != nil {
			return fmt.Errorf("record channel post of %s: %w", a.ID, err)
		}
		e.log.Info("posted to channel", "story_id", a.ID, "lang", a.Lang, "channel", ch, "message_id", msg.MessageID)
		return nil
	case telegram.InDoubt:
		e.met.channel.WithLabelValues("post_failed").Inc()
		e.log.Error("channel post got no answer; not posted again (it may be there)", "story_id", a.ID, "channel", ch, "err", err)
		return nil
	}
	// Telegram answered no, or the request never left: nothing was posted.
	e.met.channel.WithLabelValues("post_failed").Inc()
	if herr := e.rdb.HDel(context.WithoutCancel(ctx), key, ch).Err(); herr != nil {
		return fmt.Errorf("channel post of %s: %w", a.ID, errors.Join(err, herr))
	}
	switch telegram.OutcomeOf(err) {
	case telegram.BadMedia:
		if e.noPhoto(ctx, s, err) {
			return e.postChannel(ctx, s.withoutPhoto(), ch)
		}
	case telegram.RetryAfter:
		return &errDefer{until: time.Now().Add(e.pauseAll(ctx, err)), cause: err}
	case telegram.NotSent, telegram.Unauthorized:
		d := e.notSentDelay(err)
		e.log.Warn("channel post not sent; trying again", "story_id", a.ID, "channel", ch, "retry_in", d.String(), "err", err)
		return &errDefer{until: time.Now().Add(d), cause: err}
	}
	// Refused for good (the bot removed from the channel, a renamed channel): readers still
	// get the story, and as nothing was posted, the next push of the story tries again.
	e.log.Error("channel refused the story; readers get it all the same", "story_id", a.ID,
		"lang", a.Lang, "channel", ch, "err", err)
	return nil
}

// correctPost edits the channel post into the story's newest text. Photo posts get their
// caption edited (editMessageMedia when the photo itself changed), text posts their text. When
// a correction adds or removes the photo, Telegram cannot turn one kind of message into the
// other, so the post is deleted and posted anew (the channel still holds one copy).
func (e *Engine) correctPost(ctx context.Context, s storyRecord, ch string, cp channelPost) error {
	a := s.art
	p, err := e.renderFor(s, a.Lang, chatParam(ch))
	if err != nil {
		e.log.Error("render corrected channel post; left as it was", "story_id", a.ID, "channel", ch, "err", err)
		return nil
	}
	if cp.msgID == 0 || p.Method != cp.method {
		return e.repost(ctx, s, ch, cp)
	}
	image := imageOf(s, p)
	params := maps.Clone(p.Params)
	params["message_id"] = cp.msgID
	method := "editMessageText"
	if p.Method == "sendPhoto" {
		delete(params, "photo")
		method = "editMessageCaption"
		if cp.image != image {
			method = "editMessageMedia"
			media := map[string]any{"type": "photo", "media": p.Params["photo"]}
			for _, k := range []string{"caption", "parse_mode", "caption_entities", "show_caption_above_media"} {
				if v, ok := params[k]; ok {
					media[k] = v
					delete(params, k)
				}
			}
			params["media"] = media
		}
	}
	_, err = e.channelCall(ctx, ch, method, params)
	switch telegram.OutcomeOf(err) {
	case 0, telegram.NotModified:
	case telegram.MessageGone:
		// Somebody deleted the channel post by hand; a correction does not bring it back.
		e.log.Warn("channel post to correct is gone", "story_id", a.ID, "channel", ch, "message_id", cp.msgID)
	case telegram.BadMedia:
		if e.noPhoto(ctx, s, err) {
			return e.correctPost(ctx, s.withoutPhoto(), ch, cp)
		}
		fallthrough
	default:
		var d *errDefer
		if errors.As(err, &d) {
			return err
		}
		e.met.channel.WithLabelValues("edit_failed").Inc()
		// Asking again will not help (a post Telegram will not edit any more): the
		// correction is done as far as newsbot can do it.
		e.log.Error("channel post could not be corrected; edit it by hand", "story_id", a.ID,
			"channel", ch, "message_id", cp.msgID, "err", err)
	}
	fields := []any{hashField(ch), a.Hash()}
	if method == "editMessageMedia" && err == nil {
		cp.image = image
		fields = append(fields, ch, cp.String())
	}
	if err := e.rdb.HSet(context.WithoutCancel(ctx), e.keys.channels(a.ID), fields...).Err(); err != nil {
		return fmt.Errorf("record edit of %s: %w", a.ID, err)
	}
	e.met.channel.WithLabelValues("edit").Inc()
	e.log.Info("corrected channel post", "story_id", a.ID, "channel", ch, "message_id", cp.msgID, "method", method)
	return nil
}

// repost replaces a channel post that cannot be edited into the corrected one: delete, then
// post. Each step is recorded only once done, so a task cut off between them finds the old
// post gone (deleting it again is fine) or nothing posted, and finishes the job.
func (e *Engine) repost(ctx context.Context, s storyRecord, ch string, cp channelPost) error {
	a := s.art
	if cp.msgID != 0 {
		gone, err := e.deletePost(ctx, a, ch, cp)
		if err != nil {
			return err
		}
		if !gone {
			// Telegram keeps the old post (older than 48 hours): a new one beside it would
			// make two copies in the channel.
			e.log.Error("corrected story not reposted: the old channel post could not be deleted; edit it by hand",
				"story_id", a.ID, "channel", ch, "message_id", cp.msgID)
			return e.rdb.HSet(ctx, e.keys.channels(a.ID), hashField(ch), a.Hash()).Err()
		}
	}
	if err := e.rdb.HDel(ctx, e.keys.channels(a.ID), ch).Err(); err != nil {
		return fmt.Errorf("repost %s: %w", a.ID, err)
	}
	e.met.channel.WithLabelValues("repost").Inc()
	e.log.Info("reposting corrected story", "story_id", a.ID, "channel", ch, "old_message_id", cp.msgID)
	return e.postChannel(ctx, s, ch)
}

// deletePost deletes a channel post and reports whether it is gone. A post already gone is
// fine; one Telegram will not delete (older than 48 hours) is logged for an editor to delete
// by hand.
func (e *Engine) deletePost(ctx context.Context, a article.Article, ch string, cp channelPost) (bool, error) {
	_, err := e.channelCall(ctx, ch, "deleteMessage", map[string]any{"chat_id": chatParam(ch), "message_id": cp.msgID})
	var d *errDefer
	switch o := telegram.OutcomeOf(err); {
	case errors.As(err, &d):
		return false, err
	case o == 0 || o == telegram.MessageGone:
		e.met.channel.WithLabelValues("delete").Inc()
		e.log.Info("deleted story from channel", "story_id", a.ID, "channel", ch, "message_id", cp.msgID)
		return true, nil
	case o == telegram.InDoubt:
		// Most likely deleted; if not, an editor sees the warning.
		e.met.channel.WithLabelValues("delete_failed").Inc()
		e.log.Warn("delete of a channel post got no answer; check that it is gone", "story_id", a.ID, "channel", ch, "message_id", cp.msgID, "err", err)
		return true, nil
	default:
		e.met.channel.WithLabelValues("delete_failed").Inc()
		e.log.Error("channel post could not be deleted; delete it by hand",
			"story_id", a.ID, "channel", ch, "message_id", cp.msgID, "err", err)
		return false, nil
	}
}

// chatParam is a CHANNELS value as a chat_id parameter: numeric ids as numbers.
func chatParam(ch string) any {
	if id, err := strconv.ParseInt(ch, 10, 64); err == nil {
		return id
	}
	return ch
}
