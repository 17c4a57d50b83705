package bot

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"newsbot/internal/subscriber"
	"newsbot/internal/telegram"
)

// mayChangeGroup reports whether a user may change a group's subscription: its creator and
// administrators may, including an admin posting anonymously (the message then comes from
// the group itself). Telegram's answer is cached briefly in Redis, so a burst of presses
// costs one getChatMember, and a demoted admin loses the right within the TTL.
func (b *Bot) mayChangeGroup(ctx context.Context, chatID int64, m *telegram.Message, userID int64) (bool, error) {
	if m != nil && m.SenderChat != nil && m.SenderChat.ID == chatID {
		return true, nil
	}
	if userID == 0 {
		return false, nil
	}
	key := keyGroupAdmin(b.prefix, chatID, userID)
	v, err := b.rdb.Get(ctx, key).Result()
	switch {
	case err == nil:
		return v == "1", nil
	case !errors.Is(err, redis.Nil):
		b.log.Warn("read the group-admin cache", "chat_id", chatID, "err", err)
	}
	member, err := b.api.GetChatMember(ctx, chatID, userID)
	if err != nil {
		return false, fmt.Errorf("check admin %d of group %d: %w", userID, chatID, err)
	}
	admin := telegram.IsChatAdmin(member)
	flag := "0"
	if admin {
		flag = "1"
	}
	if err := b.rdb.Set(ctx, key, flag, b.adminTTL).Err(); err != nil {
		b.log.Warn("write the group-admin cache", "chat_id", chatID, "err", err)
	}
	return admin, nil
}

// onMyChatMember follows the bot's own membership. Blocked in a private chat, or removed from
// a group: the reader is marked blocked and leaves every audience. Unblocked: nothing
// happens by itself — Telegram sends /start when the reader presses Restart, and a reader
// who only unblocked should not start receiving stories unasked. Added to a group: the
// group is told how an admin subscribes it.
func (b *Bot) onMyChatMember(ctx context.Context, u *telegram.ChatMemberUpdated) error {
	chat := u.Chat
	group := chat.Type == "group" || chat.Type == "supergroup"
	if !group && chat.Type != "private" {
		return nil // the publisher's channels are configured, not subscribed
	}
	switch u.NewChatMember.Status {
	case "kicked", "left":
		r, ok, err := b.readers.Get(ctx, chat.ID)
		if err != nil {
			return fmt.Errorf("load reader %d: %w", chat.ID, err)
		}
		if !ok || r.Status == subscriber.Blocked {
			return nil
		}
		if err := b.readers.SetStatus(ctx, chat.ID, subscriber.Blocked); err != nil {
			return fmt.Errorf("mark reader %d blocked: %w", chat.ID, err)
		}
		b.log.Info("removed from chat", "chat_id", chat.ID, "status", u.NewChatMember.Status)
	case "member", "administrator":
		old := u.OldChatMember.Status
		if !group || (old != "left" && old != "kicked" && old != "") {
			return nil
		}
		lang := b.langOf(u.From.LanguageCode)
		if lang == "" {
			lang = b.defLang
		}
		return b.send(ctx, chat.ID, Escape(b.t(lang, "bot_group_added", nil)), nil)
	}
	return nil
}
