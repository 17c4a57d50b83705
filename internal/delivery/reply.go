package delivery

import (
	"context"
	"encoding/json"
	"time"

	"newsbot/internal/telegram"
)

// Caller is the part of the Bot API client the bot's replies need (*telegram.Client).
type Caller interface {
	Call(ctx context.Context, method string, params map[string]any) (json.RawMessage, error)
	GetChatMember(ctx context.Context, chatID, userID int64) (telegram.ChatMember, error)
	SetMyCommands(ctx context.Context, commands []telegram.BotCommand, languageCode string) error
}

// Replies is how the bot answers readers: every message, edit and answer to a button press
// takes a slot of the same global limit as fan-out, ahead of it (a reader is waiting; fan-out
// holds at most a horizon of slots, so a reply waits at most that long), so replies do not
// draw 429s in the first place. New messages also keep per-chat pacing. A reply that did not
// leave (a refused connection, a 5xx) is sent again until it does or the reader has waited
// ReplyPatience; one that meets a 429 waits the pause out with everyone and is sent. A reply
// that may have arrived (no answer came) is never sent twice.
//
// Replies has the methods of *telegram.Client the bot uses, so the bot does not know it is
// there.
type Replies struct {
	e  *Engine
	tg Caller
}

// Replies returns the engine's reply path over tg.
func (e *Engine) Replies(tg Caller) *Replies { return &Replies{e: e, tg: tg} }

// pacedMethods send a new message into a chat: they keep Telegram's per-chat pace.
var pacedMethods = map[string]bool{
	"sendMessage": true, "sendPhoto": true, "copyMessage": true, "forwardMessage": true,
	"sendMediaGroup": true, "sendDocument": true, "sendChatAction": false,
}

// slottedMethods change what a reader sees without a new message: a global slot, no pacing.
var slottedMethods = map[string]bool{
	"editMessageText": true, "editMessageCaption": true, "editMessageReplyMarkup": true,
	"editMessageMedia": true, "deleteMessage": true, "answerCallbackQuery": true,
}

// Call makes a Bot API call for a reply, on a slot when it is a message, with the retry
// policy above.
func (r *Replies) Call(ctx context.Context, method string, params map[string]any) (json.RawMessage, error) {
	e := r.e
	var chat any
	switch {
	case pacedMethods[method]:
		chat = params["chat_id"]
	case slottedMethods[method]:
		chat = unpaced(params["chat_id"])
	default:
		return r.tg.Call(ctx, method, params)
	}
	retry := e.newRetry(time.Now().Add(e.opt.ReplyPatience))
	for attempt := 0; ; attempt++ {
		if err := e.lim.waitSlot(ctx, chat, true); err != nil {
			return nil, &telegram.Error{Method: method, Outcome: telegram.NotSent, Description: "no send slot: " + err.Error()}
		}
		res, err := r.tg.Call(ctx, method, params)
		switch o := telegram.OutcomeOf(err); o {
		case 0:
			if attempt > 0 {
				e.met.replies.WithLabelValues("retried").Inc()
			}
			e.met.replies.WithLabelValues("sent").Inc()
			return res, nil
		case telegram.NotSent, telegram.RetryAfter, telegram.Unauthorized:
			if retry.again(ctx, err) {
				continue
			}
			e.met.replies.WithLabelValues("given_up").Inc()
			if ctx.Err() == nil {
				e.log.Warn("reply given up: not sent while the reader waited", "method", method,
					"chat_id", params["chat_id"], "waited", time.Since(retry.deadline.Add(-e.opt.ReplyPatience)).Round(time.Millisecond).String(), "err", err)
			}
			return nil, err
		default:
			e.met.replies.WithLabelValues("refused").Inc()
			return nil, err
		}
	}
}

// AnswerCallbackQuery stops a button's spinner, optionally showing text (as an alert when
// showAlert).
func (r *Replies) AnswerCallbackQuery(ctx context.Context, id, text string, showAlert bool) error {
	p := map[string]any{"callback_query_id": id}
	if text != "" {
		p["text"] = text
	}
	if showAlert {
		p["show_alert"] = true
	}
	_, err := r.Call(ctx, "answerCallbackQuery", p)
	return err
}

// GetChatMember is the client's: a lookup, not a message.
func (r *Replies) GetChatMember(ctx context.Context, chatID, userID int64) (telegram.ChatMember, error) {
	return r.tg.GetChatMember(ctx, chatID, userID)
}

// SetMyCommands is the client's: a setting, not a message.
func (r *Replies) SetMyCommands(ctx context.Context, commands []telegram.BotCommand, languageCode string) error {
	return r.tg.SetMyCommands(ctx, commands, languageCode)
}
