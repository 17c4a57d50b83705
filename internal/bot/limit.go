package bot

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// FloodLimit is how many updates (commands, texts, presses) one chat may send per Window
// before the bot stops answering them until the window ends. The count lives in Redis, so
// every running copy slows a chat the same; other chats are never affected.
type FloodLimit struct {
	Events int
	Window time.Duration
}

// DefaultFlood lets a reader press every topic and language button in quick succession,
// which a real reader setting up does, and slows a script or a stuck key to 1.5 updates a
// second, about what Telegram lets the bot send to one chat anyway.
func DefaultFlood() FloodLimit { return FloodLimit{Events: 15, Window: 10 * time.Second} }

func (f FloodLimit) withDefaults() FloodLimit {
	d := DefaultFlood()
	if f.Events <= 0 {
		f.Events = d.Events
	}
	if f.Window <= 0 {
		f.Window = d.Window
	}
	return f
}

// floodLua counts an update of a chat in a fixed window. KEYS[1] the counter
// (keyFlood), KEYS[2] the note (keyFloodNote); ARGV[1] the events allowed per window,
// ARGV[2] the window in ms. Returns 0: allowed; 1: over the limit and the chat has not been
// told yet; 2: over the limit, already told. The note key is refreshed on every refused
// update, so a chat that keeps flooding is told once, and told again only after a quiet
// window.
const floodLua = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if n <= tonumber(ARGV[1]) then return 0 end
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[2]) then return 1 end
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 2
`

func newFloodScript() *redis.Script { return redis.NewScript(floodLua) }

// allow counts an update of chatID and reports whether to answer it. notify, when not nil,
// runs once per burst of refused updates. When Redis fails the update is allowed: a limiter
// outage must not silence the bot.
func (b *Bot) allow(ctx context.Context, chatID int64, notify func()) bool {
	res, err := b.floodScript.Run(ctx, b.rdb,
		[]string{keyFlood(b.prefix, chatID), keyFloodNote(b.prefix, chatID)},
		b.flood.Events, b.flood.Window.Milliseconds()).Int()
	if err != nil {
		b.log.Warn("flood limiter unavailable; answering anyway", "chat_id", chatID, "err", err)
		return true
	}
	if res == 0 {
		return true
	}
	b.log.Info("chat slowed", "chat_id", chatID)
	if res == 1 && notify != nil {
		notify()
	}
	return false
}

// notifyFlood tells a chat, once per burst, to wait.
func (b *Bot) notifyFlood(ctx context.Context, c *Call) {
	if err := b.loadReader(ctx, c); err != nil {
		b.log.Warn("load reader for the flood notice", "chat_id", c.ChatID, "err", err)
	}
	if err := c.Reply(ctx, "bot_flood"); err != nil {
		b.log.Warn("send the flood notice", "chat_id", c.ChatID, "err", err)
	}
}
