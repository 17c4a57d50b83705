package delivery

import (
	"context"
	"errors"
	"time"

	"newsbot/internal/backoff"
	"newsbot/internal/post"
	"newsbot/internal/subscriber"
	"newsbot/internal/telegram"
)

// The retry policy, shared by fan-out, channel tasks and replies: what did not leave is sent
// again, what may have arrived never is.
//
//	NotSent, Unauthorized  sent again after a backoff (Backoff doubling to MaxBackoff), on a new
//	                       slot, until the send is stale (fan-out: MaxAge; replies:
//	                       ReplyPatience)
//	RetryAfter             everyone pauses for retry_after; then sent again on a new slot
//	InDoubt                never sent again (at most once)
//	BadMedia               sent again once, in the story's text form
//	anything else          an answer that sending again cannot change

// pauseAll pauses every copy's sending for a 429's retry_after and counts it. It returns the
// pause.
func (e *Engine) pauseAll(ctx context.Context, err error) time.Duration {
	d := max(telegram.RetryAfterOf(err), time.Second)
	e.met.limited.Inc()
	e.countStats(ctx, 0, nil, 1)
	e.log.Warn("telegram says too many requests: everyone pauses", "retry_after", d.String())
	if perr := e.lim.pause(context.WithoutCancel(ctx), d); perr != nil {
		e.log.Error("pause sending", "err", perr)
	}
	return d
}

// notSentDelay is the wait before a channel task whose request did not leave runs again.
func (e *Engine) notSentDelay(err error) time.Duration {
	if telegram.OutcomeOf(err) == telegram.Unauthorized {
		return e.opt.MaxBackoff // nothing works until the token is fixed; do not hammer
	}
	return e.opt.Backoff
}

// retry is the state of one send's retries.
type retry struct {
	e        *Engine
	b        backoff.Backoff
	deadline time.Time
}

func (e *Engine) newRetry(deadline time.Time) *retry {
	return &retry{e: e, b: backoff.Backoff{Min: e.opt.Backoff, Max: e.opt.MaxBackoff}, deadline: deadline}
}

// again decides, after a failed send, whether to send again: it waits what the answer asks
// (a pause, a backoff) and reports true, or false when the send is to be given up (the answer
// is final, the deadline passed, or ctx ended).
func (r *retry) again(ctx context.Context, err error) bool {
	var wait time.Duration
	switch telegram.OutcomeOf(err) {
	case telegram.RetryAfter:
		// The pause holds every sender; the next slot comes after it.
		r.e.pauseAll(ctx, err)
	case telegram.NotSent, telegram.Unauthorized:
		wait = r.b.Next()
		if telegram.OutcomeOf(err) == telegram.Unauthorized {
			wait = r.e.opt.MaxBackoff
		}
	default:
		return false
	}
	if !time.Now().Add(wait).Before(r.deadline) {
		return false
	}
	return backoff.Sleep(ctx, wait) == nil
}

// deliver sends the story to one chat, handling every answer Telegram can give. ctx is the
// worker's (shutdown stops retries); sendCtx bounds the request itself.
func (e *Engine) deliver(ctx, sendCtx context.Context, jr *jobRun, chat int64, m chatMsg) result {
	job := jr.id.num()
	failed := func(reason string) result {
		e.met.failed.WithLabelValues(reason).Inc()
		return result{chat: chat, state: failedState(job, reason), reason: reason}
	}
	r := e.newRetry(jr.deadline(e.opt.MaxAge))
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			// Every attempt after the first takes a slot of its own (the first had one).
			if err := e.lim.waitSlot(ctx, chat, false); err != nil {
				return result{chat: chat} // shutting down: hand back, it was not sent
			}
		}
		p, err := e.message(jr, chat, m)
		if err != nil {
			return failed(reasonRender)
		}
		msg, err := e.tg.Send(sendCtx, p.Method, p.Params)
		switch outcome := telegram.OutcomeOf(err); outcome {
		case 0:
			e.met.sent.Inc()
			return result{chat: chat, state: sentState(msg.MessageID)}
		case telegram.InDoubt:
			// No answer: the message may or may not have arrived. Sending again could
			// give the reader two copies.
			e.met.failed.WithLabelValues(reasonInDoubt).Inc()
			e.log.Warn("send outcome unknown, not sent again", "chat_id", chat, "story_id", jr.story.art.ID, "err", err)
			return result{chat: chat, state: doubtState(job), reason: reasonInDoubt}
		case telegram.Blocked:
			if err := e.readers.SetStatus(ctx, chat, subscriber.Blocked); err != nil {
				e.log.Error("mark reader blocked", "chat_id", chat, "err", err)
			}
			e.met.failed.WithLabelValues(reasonBlocked).Inc()
			return result{chat: chat, state: goneState(reasonBlocked), reason: reasonBlocked}
		case telegram.ChatGone:
			if err := e.readers.Delete(ctx, chat); err != nil {
				e.log.Error("remove reader whose chat is gone", "chat_id", chat, "err", err)
			}
			e.met.failed.WithLabelValues(reasonNotFound).Inc()
			return result{chat: chat, state: goneState(reasonNotFound), reason: reasonNotFound}
		case telegram.Migrated:
			return e.migrate(ctx, sendCtx, jr, chat, telegram.MigratedTo(err), m)
		case telegram.BadMedia:
			if p.Method == "sendPhoto" {
				if jr.dropPhoto() {
					e.noPhoto(ctx, jr.story, err)
				}
				continue // nothing was sent: the text form goes on the next slot
			}
			e.log.Warn("telegram refused the message", "chat_id", chat, "story_id", jr.story.art.ID, "err", err)
			return failed(reasonBadRequest)
		case telegram.NotSent, telegram.RetryAfter, telegram.Unauthorized:
			if sendCtx.Err() != nil || ctx.Err() != nil {
				return result{chat: chat} // cut off at shutdown before it left: hand back
			}
			if outcome == telegram.Unauthorized && attempt == 0 {
				e.log.Error("telegram refuses the bot token; sends wait for it to be fixed", "err", err)
			}
			if !r.again(ctx, err) {
				if ctx.Err() != nil {
					return result{chat: chat}
				}
				reason := reasonStale
				if outcome == telegram.Unauthorized {
					reason = reasonUnauthorized
				}
				e.log.Warn("send given up: still not sent when the story went stale", "chat_id", chat, "story_id", jr.story.art.ID, "err", err)
				return failed(reason)
			}
		default: // Refused and anything unknown: sending again will not help
			e.log.Warn("telegram refused the message", "chat_id", chat, "story_id", jr.story.art.ID, "err", err)
			return failed(reasonBadRequest)
		}
	}
}

// message is what chat is sent: the story's copy in its label language, or its digest; quiet
// hours make it silent, paid broadcasts are asked for.
func (e *Engine) message(jr *jobRun, chat int64, m chatMsg) (post.Post, error) {
	if jr.digest != nil {
		return post.Post{Method: "sendMessage", Params: e.digestParams(chat, m.text, m.silent)}, nil
	}
	p, err := jr.post(e, m.lang)
	if err != nil {
		return post.Post{}, err
	}
	p = p.WithChat(chat)
	if m.silent {
		p.Params["disable_notification"] = true
	}
	if e.opt.PaidBroadcast {
		p.Params["allow_paid_broadcast"] = true
	}
	return p, nil
}

// migrate follows a group that became a supergroup: the subscription moves, the old id is
// recorded as migrated and the story goes to the new id (unless it already has it).
func (e *Engine) migrate(ctx, sendCtx context.Context, jr *jobRun, from, to int64, m chatMsg) result {
	if err := e.readers.Migrate(ctx, from, to); err != nil {
		e.log.Error("move migrated group", "chat_id", from, "new_chat_id", to, "err", err)
	}
	r := result{chat: from, state: movedState(to)}
	marked, err := e.markChats(ctx, jr, []any{"", "", jr.id.num(), e.opt.LedgerTTL.Milliseconds(), to})
	if err != nil {
		if !errors.Is(err, errStoryRetracted) {
			e.log.Error("mark migrated group sending", "chat_id", to, "err", err)
			r.state = handBack
		}
		return r
	}
	if len(marked) == 0 {
		return r // the new id already has the story
	}
	if err := e.lim.waitSlot(ctx, to, false); err != nil {
		x := result{chat: to}
		r.extra = &x
		return r
	}
	x := e.deliver(ctx, sendCtx, jr, to, m)
	r.reason = x.reason
	x.reason = ""
	r.extra = &x
	return r
}
