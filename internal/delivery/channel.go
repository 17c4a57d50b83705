package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"newsbot/internal/article"
	"newsbot/internal/post"
	"newsbot/internal/telegram"
)

// Channel post states in the story's channels hash (channel → state):
//
//	"w"                                    posting (or a crash left the outcome unknown)
//	"p:<message id>:<method>:<image url>"  posted; kept so that corrections can edit it;
//	                                       message id 0: deleted for a repost that failed,
//	                                       to be posted by the next correction
//	"r"                                    retracted: deleted, never posted again
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

// hashField is the field of the channels hash beside a channel's post state that holds the
// content digest (article.Hash) of what the post shows.
func hashField(ch string) string { return "h:" + ch }

// postChannel posts a story to the channel of its language, once: a channel that is posting
// the story or had it retracted is left alone, and one that holds it is only brought up to
// date — a copy whose hand-on outlived its claim may publish an older text than the copy
// that took the story over, and the channel must end with the newer one either way.
func (e *Engine) postChannel(ctx context.Context, a article.Article) error {
	ch := e.opt.Channels[a.Lang]
	if ch == "" {
		return nil
	}
	key := e.keys.channels(a.ID)
	ok, err := e.rdb.HSetNX(ctx, key, ch, chanPosting).Result()
	if err != nil {
		return fmt.Errorf("post to channel %s: %w", ch, err)
	}
	if !ok {
		cur, err := e.rdb.HMGet(ctx, key, ch, hashField(ch)).Result()
		if err != nil {
			return fmt.Errorf("post to channel %s: %w", ch, err)
		}
		v, _ := cur[0].(string)
		h, _ := cur[1].(string)
		if cp, posted := parseChannelPost(v); posted && h != "" && h != a.Hash() {
			return e.correctOne(ctx, a, ch, cp)
		}
		return nil
	}
	e.rdb.Expire(ctx, key, e.opt.LedgerTTL)
	p, err := e.render.Render(a, a.Lang, chatParam(ch))
	if err != nil {
		e.rdb.HDel(ctx, key, ch)
		return fmt.Errorf("post to channel %s: render: %w", ch, err)
	}
	msg, err := e.sendOne(ctx, ch, p)
	if err != nil {
		e.met.channel.WithLabelValues("post_failed").Inc()
		if !inDoubt(err) {
			// Telegram answered no: nothing was posted, so a later attempt may post.
			e.rdb.HDel(context.WithoutCancel(ctx), key, ch)
		}
		return fmt.Errorf("post to channel %s: %w", ch, err)
	}
	e.met.channel.WithLabelValues("post").Inc()
	st := channelPost{msgID: msg.MessageID, method: p.Method, image: a.ImageURL}
	if err := e.rdb.HSet(context.WithoutCancel(ctx), key, ch, st.String(), hashField(ch), a.Hash()).Err(); err != nil {
		return fmt.Errorf("record channel post %s: %w", ch, err)
	}
	e.log.Info("posted to channel", "article_id", a.ID, "lang", a.Lang, "channel", ch, "message_id", msg.MessageID)
	return nil
}

// inDoubt reports whether a failed call may still have reached Telegram (no answer came).
func inDoubt(err error) bool {
	if errors.As(err, new(notSent)) {
		return false
	}
	return telegram.OutcomeOf(err) == telegram.InDoubt
}

// notSent wraps an error that ended a call before its request left (ctx done while waiting
// for a slot or a retry, the limiter unreachable): nothing reached Telegram, so a later
// attempt may post without risking a second copy.
type notSent struct{ err error }

func (n notSent) Error() string { return n.err.Error() }
func (n notSent) Unwrap() error { return n.err }

// refused reports whether Telegram turned a channel call down for good (the bot is not in
// the channel, the channel is gone, the post is malformed): an answer came, and sending
// again will not help.
func refused(err error) bool {
	switch telegram.OutcomeOf(err) {
	case telegram.Refused, telegram.Blocked, telegram.ChatGone, telegram.Migrated, telegram.BadMedia, telegram.Unauthorized:
		return true
	}
	return false
}

// sendOne makes one Bot API call for a channel, on the global schedule, waiting out 429s and
// retrying transient failures a few times.
func (e *Engine) sendOne(ctx context.Context, ch string, p post.Post) (telegram.Message, error) {
	backoff := e.opt.Backoff
	for attempt := 0; ; attempt++ {
		if err := e.lim.waitSlot(ctx, ch); err != nil {
			return telegram.Message{}, notSent{err}
		}
		if err := ctx.Err(); err != nil {
			return telegram.Message{}, notSent{err}
		}
		msg, err := e.sendDraining(ctx, p)
		if err == nil {
			return msg, nil
		}
		switch telegram.OutcomeOf(err) {
		case telegram.RetryAfter:
			if attempt >= 10 {
				return telegram.Message{}, err
			}
			e.met.limited.Inc()
			e.countStats(ctx, 0, nil, 1)
			if perr := e.lim.pause(ctx, telegram.RetryAfterOf(err)); perr != nil {
				e.log.Error("pause sending", "err", perr)
			}
		case telegram.NotSent:
			if attempt >= e.opt.Retries {
				return telegram.Message{}, err
			}
			if err := sleepUntil(ctx, time.Now().Add(backoff)); err != nil {
				return telegram.Message{}, notSent{err}
			}
			backoff *= 2
		default:
			return telegram.Message{}, err
		}
	}
}

// sendDraining makes the call with a ctx that outlives ctx by up to DrainTimeout: a call on
// its way when the service shuts down gets its answer (and the post its record) instead of
// being cut off with its outcome unknown — the post in the channel, but beyond any later
// correction or retraction.
func (e *Engine) sendDraining(ctx context.Context, p post.Post) (telegram.Message, error) {
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(e.opt.DrainTimeout, cancel)
		context.AfterFunc(sctx, func() { t.Stop() })
	})
	defer stop()
	return e.tg.Send(sctx, p.Method, p.Params)
}

// Correct edits the channel posts of a story whose content changed. Photo posts get their
// caption edited (editMessageMedia when the photo itself changed), text posts their text. When
// a correction adds or removes the photo, Telegram cannot turn one kind of message into the
// other, so the post is deleted and posted anew (the channel still holds one copy).
// Readers' private copies are left as they are.
func (e *Engine) Correct(ctx context.Context, a article.Article) error {
	if a.Retracted {
		return e.Retract(ctx, a)
	}
	if err := e.revise(ctx, a); err != nil {
		return fmt.Errorf("correct %s: %w", a.ID, err)
	}
	posts, err := e.rdb.HGetAll(ctx, e.keys.channels(a.ID)).Result()
	if err != nil {
		return fmt.Errorf("correct %s: %w", a.ID, err)
	}
	var errs []error
	for ch, v := range posts {
		cp, ok := parseChannelPost(v)
		if !ok {
			continue
		}
		if err := e.correctOne(ctx, a, ch, cp); err != nil {
			e.met.channel.WithLabelValues("edit_failed").Inc()
			if refused(err) {
				// Asking again will not help (a post Telegram will not edit any more):
				// the correction is done as far as newsbot can do it.
				e.log.Error("channel post could not be corrected; edit it by hand", "article_id", a.ID,
					"channel", ch, "message_id", cp.msgID, "err", err)
				continue
			}
			errs = append(errs, fmt.Errorf("correct %s in %s: %w", a.ID, ch, err))
		}
	}
	return errors.Join(errs...)
}

// revise puts the corrected story into its running fan-out jobs: readers not reached yet
// get the corrected text (those already sent keep theirs). Two round trips.
func (e *Engine) revise(ctx context.Context, a article.Article) error {
	seq, err := e.rdb.HGet(ctx, e.keys.meta(a.ID), "seq").Int64()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("find running jobs: %w", err)
	}
	raw, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encode story: %w", err)
	}
	jobs := make([]string, 0, seq+1)
	for n := range seq + 1 {
		jobs = append(jobs, e.keys.job(newJobID(a.ID, n)))
	}
	n, err := reviseScript.Run(ctx, e.rdb, jobs, raw).Int()
	if err != nil {
		return fmt.Errorf("revise running jobs: %w", err)
	}
	if n > 0 {
		e.log.Info("correction reaches the readers not sent the story yet", "article_id", a.ID, "jobs", n)
	}
	return nil
}

func (e *Engine) correctOne(ctx context.Context, a article.Article, ch string, cp channelPost) error {
	chat := chatParam(ch)
	p, err := e.render.Render(a, a.Lang, chat)
	if err != nil {
		return fmt.Errorf("render: %w", err)
	}
	params := maps.Clone(p.Params)
	params["message_id"] = cp.msgID
	var method string
	switch {
	case cp.msgID == 0:
		return e.repost(ctx, a, ch, cp, p)
	case p.Method == cp.method && p.Method == "sendPhoto" && cp.image == a.ImageURL:
		method = "editMessageCaption"
		delete(params, "photo")
	case p.Method == cp.method && p.Method == "sendPhoto":
		method = "editMessageMedia"
		media := map[string]any{"type": "photo", "media": params["photo"]}
		for _, k := range []string{"caption", "parse_mode", "caption_entities", "show_caption_above_media"} {
			if v, ok := params[k]; ok {
				media[k] = v
				delete(params, k)
			}
		}
		delete(params, "photo")
		params["media"] = media
	case p.Method == cp.method && p.Method == "sendMessage":
		method = "editMessageText"
	default:
		return e.repost(ctx, a, ch, cp, p)
	}
	_, err = e.sendOne(ctx, ch, post.Post{Method: method, Params: params})
	if alreadyGone(err) {
		// Somebody deleted the channel post by hand; a correction does not bring it back.
		e.log.Warn("channel post to correct is gone", "article_id", a.ID, "channel", ch, "message_id", cp.msgID)
		return nil
	}
	if err != nil && !notModified(err) {
		return err
	}
	fields := []any{hashField(ch), a.Hash()}
	if method == "editMessageMedia" {
		cp.image = a.ImageURL
		fields = append(fields, ch, cp.String())
	}
	if err := e.rdb.HSet(context.WithoutCancel(ctx), e.keys.channels(a.ID), fields...).Err(); err != nil {
		return fmt.Errorf("record edit: %w", err)
	}
	e.met.channel.WithLabelValues("edit").Inc()
	e.log.Info("corrected channel post", "article_id", a.ID, "channel", ch, "message_id", cp.msgID, "method", method)
	return nil
}

// repost replaces a channel post that cannot be edited into the corrected one.
func (e *Engine) repost(ctx context.Context, a article.Article, ch string, cp channelPost, p post.Post) error {
	if cp.msgID != 0 {
		if err := e.deleteMessage(ctx, ch, cp.msgID); err != nil {
			return err
		}
	}
	key := e.keys.channels(a.ID)
	if err := e.rdb.HSet(ctx, key, ch, chanPosting).Err(); err != nil {
		return fmt.Errorf("record repost: %w", err)
	}
	msg, err := e.sendOne(ctx, ch, p)
	if err != nil {
		if !inDoubt(err) {
			// The old post is gone and the new one was not posted: remember that, so that
			// the correction, offered again, posts it instead of finding nothing to edit.
			gone := channelPost{method: cp.method, image: cp.image}
			if herr := e.rdb.HSet(context.WithoutCancel(ctx), key, ch, gone.String()).Err(); herr != nil {
				err = errors.Join(err, herr)
			}
		}
		return fmt.Errorf("repost: %w", err)
	}
	st := channelPost{msgID: msg.MessageID, method: p.Method, image: a.ImageURL}
	if err := e.rdb.HSet(context.WithoutCancel(ctx), key, ch, st.String(), hashField(ch), a.Hash()).Err(); err != nil {
		return fmt.Errorf("record repost: %w", err)
	}
	e.met.channel.WithLabelValues("repost").Inc()
	e.log.Info("reposted corrected story", "article_id", a.ID, "channel", ch, "old_message_id", cp.msgID, "message_id", msg.MessageID)
	return nil
}

// Retract withdraws a story: its channel posts are deleted, running fan-out jobs stop, and it
// is never posted again. Readers' private copies are left as they are.
func (e *Engine) Retract(ctx context.Context, a article.Article) error {
	key := e.keys.channels(a.ID)
	_, err := e.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		// Kept as long as the story's other records, not for good.
		p.HSet(ctx, e.keys.meta(a.ID), "retracted", time.Now().Unix())
		p.Expire(ctx, e.keys.meta(a.ID), e.opt.LedgerTTL)
		if ch := e.opt.Channels[a.Lang]; ch != "" {
			// A channel that never got the story must not get it from a late replay.
			p.HSetNX(ctx, key, ch, chanRetracted)
			p.Expire(ctx, key, e.opt.LedgerTTL)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("retract %s: %w", a.ID, err)
	}
	posts, err := e.rdb.HGetAll(ctx, key).Result()
	if err != nil {
		return fmt.Errorf("retract %s: %w", a.ID, err)
	}
	var errs []error
	for ch, v := range posts {
		cp, ok := parseChannelPost(v)
		if !ok {
			continue
		}
		// Message id 0: deleted already by a repost that failed; nothing left to delete.
		deleted := cp.msgID != 0
		if cp.msgID != 0 {
			err := e.deleteMessage(ctx, ch, cp.msgID)
			if refused(err) {
				deleted = false
				// Telegram deletes a bot's channel post only within 48 hours; asking
				// again will not help. The story is retracted everywhere else.
				e.log.Error("channel post of a retracted story could not be deleted; delete it by hand",
					"article_id", a.ID, "channel", ch, "message_id", cp.msgID, "err", err)
			} else if err != nil {
				errs = append(errs, fmt.Errorf("retract %s in %s: %w", a.ID, ch, err))
				continue
			}
		}
		if err := e.rdb.HSet(ctx, key, ch, chanRetracted).Err(); err != nil {
			errs = append(errs, fmt.Errorf("retract %s in %s: %w", a.ID, ch, err))
			continue
		}
		if deleted {
			e.log.Info("deleted retracted story from channel", "article_id", a.ID, "channel", ch, "message_id", cp.msgID)
		}
	}
	return errors.Join(errs...)
}

func (e *Engine) deleteMessage(ctx context.Context, ch string, msgID int) error {
	_, err := e.sendOne(ctx, ch, post.Post{Method: "deleteMessage", Params: map[string]any{
		"chat_id": chatParam(ch), "message_id": msgID,
	}})
	if err != nil && !alreadyGone(err) {
		e.met.channel.WithLabelValues("delete_failed").Inc()
		return fmt.Errorf("delete message %d: %w", msgID, err)
	}
	e.met.channel.WithLabelValues("delete").Inc()
	return nil
}

// notModified is Telegram's answer to an edit that changes nothing: the post is already right.
func notModified(err error) bool { return telegram.OutcomeOf(err) == telegram.NotModified }

// alreadyGone is Telegram's answer to deleting or editing a message that is not there any
// more (an admin deleted it, or an earlier attempt's answer was lost).
func alreadyGone(err error) bool { return telegram.OutcomeOf(err) == telegram.MessageGone }

func decodeStory(raw string) (article.Article, error) {
	var a article.Article
	err := json.Unmarshal([]byte(raw), &a)
	return a, err
}
