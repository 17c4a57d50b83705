package bot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"newsbot/internal/subscriber"
	"newsbot/internal/telegram"
)

// Button is one entry of the callback router, keyed by the part of callback_data before the
// first ':', a view letter and a format version ("t1"). A changed format gets a new version,
// so a press on a keyboard an older release sent is answered as out of date, never misread.
// Admin buttons slot in with Admin set.
type Button struct {
	Prefix string
	// Admin: only ADMIN_IDS may press it; others are told the button no longer works, and
	// the press is logged with their user_id.
	Admin bool
	// Changes: it changes the chat's subscription, so in a group only its admins may press.
	Changes bool
	Run     func(ctx context.Context, p *Press) error
}

// Press is one button press being answered. Telegram expects exactly one answer per press:
// the router answers whatever Run did not.
type Press struct {
	From      *telegram.User // who pressed
	ChatID    int64
	MessageID int // the message the button sits under
	UserID    int64
	Group     bool
	Lang      string // the language to answer in
	Arg       string // callback_data after the prefix and its ':'

	b        *Bot
	id       string // the callback query's
	view     string
	reader   subscriber.Reader
	known    bool
	answered bool
}

// Answer stops the button's spinner, with text as a short notice (at most 200 characters;
// "" for none). Only the first answer of a press counts.
func (p *Press) Answer(ctx context.Context, text string) {
	if p.answered || p.id == "" {
		return
	}
	p.answered = true
	if err := p.b.api.AnswerCallbackQuery(ctx, p.id, Truncate(text, 200), false); err != nil {
		p.b.log.Warn("answer callback query", "chat_id", p.ChatID, "err", err)
	}
}

// Edit replaces the text and keyboard of the message the button sits under (text "" keeps
// the text). An edit that changes nothing is no failure.
func (p *Press) Edit(ctx context.Context, text string, markup any) error {
	return p.b.edit(ctx, p.ChatID, p.MessageID, text, markup)
}

// The views a reader's keyboard belongs to; a press re-renders the keyboard of its view.
const (
	viewStart    = "s1" // the /start welcome: topics and an interface-language row
	viewTopics   = "t1" // /topics
	viewLanguage = "l1" // /language: interface language and story languages
	viewSettings = "o1" // /settings: reading mode, digest times, quiet hours (modes.go)
	// The /topics and /language keyboards opened from /settings: the same buttons, and a
	// last row back to /settings, which a redraw after a press must keep.
	viewSettingsTopics   = "i1"
	viewSettingsLanguage = "j1"
)

// baseView is the view whose buttons a view holds: the keyboards opened from /settings are
// /topics and /language with a way back.
func baseView(view string) string {
	switch view {
	case viewSettingsTopics:
		return viewTopics
	case viewSettingsLanguage:
		return viewLanguage
	}
	return view
}

// Actions of the settings buttons: callback_data is "<view>:<action>:<arg>".
const (
	actTopic = "t" // toggle a topic; arg a slug or allTopicsArg
	actUI    = "u" // set the interface language; arg a language
	actNews  = "n" // toggle a story language; arg a language
)

const allTopicsArg = "*"

func (b *Bot) readerButtons() []Button {
	return []Button{
		{Prefix: viewStart, Changes: true, Run: b.pressSettings},
		{Prefix: viewTopics, Changes: true, Run: b.pressSettings},
		{Prefix: viewLanguage, Changes: true, Run: b.pressSettings},
		{Prefix: viewSettings, Changes: true, Run: b.pressOptions},
		{Prefix: viewSettingsTopics, Changes: true, Run: b.pressSettings},
		{Prefix: viewSettingsLanguage, Changes: true, Run: b.pressSettings},
	}
}

func (b *Bot) button(prefix string) *Button {
	for i := range b.buttons {
		if b.buttons[i].Prefix == prefix {
			return &b.buttons[i]
		}
	}
	return nil
}

func (b *Bot) onCallback(ctx context.Context, q *telegram.CallbackQuery) error {
	p := &Press{b: b, id: q.ID, From: q.From}
	if q.From != nil {
		p.UserID = q.From.ID
		p.Lang = b.langOf(q.From.LanguageCode)
	}
	if p.Lang == "" {
		p.Lang = b.defLang
	}
	// Whatever happens below, the press gets its answer.
	defer p.Answer(ctx, "")

	if q.Message == nil || q.Message.Chat == nil {
		// A button under an inline message or a message too old to be sent along.
		p.Answer(ctx, b.t(p.Lang, "bot_button_stale", nil))
		return nil
	}
	chat := q.Message.Chat
	p.ChatID, p.MessageID = chat.ID, q.Message.MessageID
	p.Group = chat.Type == "group" || chat.Type == "supergroup"
	if !p.Group && chat.Type != "private" {
		return nil
	}
	if !b.allow(ctx, chat.ID, nil) {
		// A notice on the button costs no message in the chat, so every press may get one.
		p.Answer(ctx, b.t(p.Lang, "bot_flood", nil))
		return nil
	}
	prefix, rest, _ := strings.Cut(q.Data, ":")
	btn := b.button(prefix)
	if btn != nil && btn.Admin && !b.isAdmin(p.UserID) {
		// A forwarded or forged admin button: answered as an unknown one below.
		b.log.Warn("admin button pressed by a non-admin", "user_id", p.UserID, "chat_id", p.ChatID, "data_len", len(q.Data))
	}
	if btn == nil || len(q.Data) > 64 || !utf8.ValidString(q.Data) || (btn.Admin && !b.isAdmin(p.UserID)) {
		b.log.Debug("unknown callback data", "chat_id", p.ChatID, "data_len", len(q.Data))
		p.Answer(ctx, b.t(p.Lang, "bot_button_stale", nil))
		return nil
	}
	p.view, p.Arg = prefix, rest

	r, ok, err := b.readers.Get(ctx, p.ChatID)
	if errors.Is(err, subscriber.ErrCorrupt) {
		// As in loadReader: a stranger, told to /start, which repairs the record.
		b.log.Error("unreadable reader record; treating the chat as new", "chat_id", p.ChatID, "err", err)
		r, ok, err = subscriber.Reader{}, false, nil
	}
	if err != nil {
		p.Answer(ctx, b.t(p.Lang, "bot_error", nil))
		return fmt.Errorf("load reader %d: %w", p.ChatID, err)
	}
	p.reader, p.known = r, ok
	if ok && slices.Contains(b.langs, r.Lang) {
		p.Lang = r.Lang
	}
	if p.Group && btn.Changes {
		ok, err := b.mayChangeGroup(ctx, p.ChatID, nil, p.UserID)
		if err != nil {
			p.Answer(ctx, b.t(p.Lang, "bot_error", nil))
			return err
		}
		if !ok {
			p.Answer(ctx, b.t(p.Lang, "bot_group_admin_only", nil))
			return nil
		}
	}
	if err := btn.Run(ctx, p); err != nil {
		p.Answer(ctx, b.t(p.Lang, "bot_error", nil))
		return fmt.Errorf("button %s in %d: %w", prefix, p.ChatID, err)
	}
	return nil
}
