package telegram

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
)

// GetUpdates long-polls for updates with update_id >= offset, waiting up to timeout for
// one to arrive. Passing offset confirms (and makes Telegram forget) every earlier update.
// allowedUpdates nil keeps the previous setting.
func (c *Client) GetUpdates(ctx context.Context, offset int, timeout time.Duration, allowedUpdates ...string) ([]Update, error) {
	p := tgbotapi.Params{"timeout": strconv.Itoa(int(timeout / time.Second))}
	if offset != 0 {
		p["offset"] = strconv.Itoa(offset)
	}
	if allowedUpdates != nil {
		b, _ := json.Marshal(allowedUpdates)
		p["allowed_updates"] = string(b)
	}
	// The answer may take the whole poll timeout; leave room for the network on top.
	raw, err := c.call(ctx, "getUpdates", p, timeout+defaultCallTimeout)
	if err != nil {
		return nil, err
	}
	var ups []Update
	if err := decode("getUpdates", raw, &ups); err != nil {
		return nil, err
	}
	return ups, nil
}

// SetWebhook asks Telegram to POST updates to url, with secret in the
// X-Telegram-Bot-Api-Secret-Token header of every request.
func (c *Client) SetWebhook(ctx context.Context, url, secret string, allowedUpdates []string) error {
	p := map[string]any{"url": url}
	if secret != "" {
		p["secret_token"] = secret
	}
	if allowedUpdates != nil {
		p["allowed_updates"] = allowedUpdates
	}
	_, err := c.Call(ctx, "setWebhook", p)
	return err
}

// DeleteWebhook switches the bot back to getUpdates. Pending updates are kept unless
// dropPending.
func (c *Client) DeleteWebhook(ctx context.Context, dropPending bool) error {
	p := map[string]any{}
	if dropPending {
		p["drop_pending_updates"] = true
	}
	_, err := c.Call(ctx, "deleteWebhook", p)
	return err
}

// SetMyCommands registers the command list shown for users whose Telegram language is
// languageCode ("" = the default list).
func (c *Client) SetMyCommands(ctx context.Context, commands []BotCommand, languageCode string) error {
	p := map[string]any{"commands": commands}
	if languageCode != "" {
		p["language_code"] = languageCode
	}
	_, err := c.Call(ctx, "setMyCommands", p)
	return err
}

// AnswerCallbackQuery stops the button's spinner, optionally showing text (as an alert
// when showAlert).
func (c *Client) AnswerCallbackQuery(ctx context.Context, id, text string, showAlert bool) error {
	p := map[string]any{"callback_query_id": id}
	if text != "" {
		p["text"] = text
	}
	if showAlert {
		p["show_alert"] = true
	}
	_, err := c.Call(ctx, "answerCallbackQuery", p)
	return err
}

// GetChatMember returns a user's membership in a chat; Status is "creator",
// "administrator", "member", "restricted", "left" or "kicked".
func (c *Client) GetChatMember(ctx context.Context, chatID, userID int64) (ChatMember, error) {
	raw, err := c.Call(ctx, "getChatMember", map[string]any{"chat_id": chatID, "user_id": userID})
	if err != nil {
		return ChatMember{}, err
	}
	var m ChatMember
	if err := decode("getChatMember", raw, &m); err != nil {
		return ChatMember{}, err
	}
	return m, nil
}

// IsChatAdmin reports whether a chat member may administer the chat.
func IsChatAdmin(m ChatMember) bool { return m.Status == "creator" || m.Status == "administrator" }

// GetMe returns the bot's own user (its username is needed for deep links and for
// commands addressed as /start@botname in groups).
func (c *Client) GetMe(ctx context.Context) (User, error) {
	raw, err := c.Call(ctx, "getMe", nil)
	if err != nil {
		return User{}, err
	}
	var u User
	if err := decode("getMe", raw, &u); err != nil {
		return User{}, err
	}
	return u, nil
}
