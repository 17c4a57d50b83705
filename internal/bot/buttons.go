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
	// Admin: only ADMIN_IDS may press it; others are told the button no longer works.
	Admin bool
	// Changes: it changes the chat's subscription, so in a group only its admins may press.
	Changes bool
	Run     func(b *Bot, ctx context.Context, p *press) error
}

// The views a reader's keyboard belongs to; a press re-renders the keyboard of its view.
const (
	viewStart    = "s1" // the /start welcome: topics and an interface-language row
	viewTopics   = "t1" // /topics
	viewLanguage = "l1" // /language: interface language and story languages
)

// Actions of the settings buttons: callback_data is "<view>:<action>:<arg>".
const (
	actTopic = "t" // toggle a topic; arg a slug or allTopicsArg
	actUI    = "u" // set the interface language; arg a language
	actNews  = "n" // toggle a story language; arg a language
)

const allTopicsArg = "*"

// checkMark precedes the label of a followed topic or chosen language.
const checkMark = "✓ "

func readerButtons() []Button {
	return []Button{
		{Prefix: viewStart, Changes: true, Run: (*Bot).pressSettings},
		{Prefix: viewTopics, Changes: true, Run: (*Bot).pressSettings},
		{Prefix: viewLanguage, Changes: true, Run: (*Bot).pressSettings},
	}
}

// press is one button press being answered.
type press struct {
	q         *telegram.CallbackQuery
	chatID    int64
	messageID int
	userID    int64
	group     bool
	lang      string
	view      string
	arg       string // callback_data after the prefix and its ':'
	reader    subscriber.Reader
	known     bool
	answered  bool
}

func (b *Bot) button(prefix string) *Button {
	for i := range b.buttons {
		if b.buttons[i].Prefix == prefix {
			return &b.buttons[i]
		}
	}
	return nil
}

// answer stops the button's spinner, with text as a short notice. Telegram expects exactly
// one answer per press.
func (b *Bot) answer(ctx context.Context, p *press, text string) {
	if p.answered || p.q.ID == "" {
		return
	}
	p.answered = true
	if err := b.api.AnswerCallbackQuery(ctx, p.q.ID, truncate(text, 200), false); err != nil {
		b.log.Warn("bot: answer callback query", "chat_id", p.chatID, "err", err)
	}
}

func (b *Bot) onCallback(ctx context.Context, q *telegram.CallbackQuery) error {
	p := &press{q: q}
	if q.From != nil {
		p.userID = q.From.ID
		p.lang = b.langOf(q.From.LanguageCode)
	}
	if p.lang == "" {
		p.lang = b.defLang
	}
	// Whatever happens below, the press gets its answer.
	defer b.answer(ctx, p, "")

	if q.Message == nil || q.Message.Chat == nil {
		// A button under an inline message or a message too old to be sent along.
		b.answer(ctx, p, b.t(p.lang, "bot_button_stale", nil))
		return nil
	}
	chat := q.Message.Chat
	p.chatID, p.messageID = chat.ID, q.Message.MessageID
	p.group = chat.Type == "group" || chat.Type == "supergroup"
	if !p.group && chat.Type != "private" {
		return nil
	}
	if !b.allow(ctx, chat.ID, nil) {
		// A notice on the button costs no message in the chat, so every press may get one.
		b.answer(ctx, p, b.t(p.lang, "bot_flood", nil))
		return nil
	}
	prefix, rest, _ := strings.Cut(q.Data, ":")
	btn := b.button(prefix)
	if btn != nil && btn.Admin && !b.isAdmin(p.userID) {
		// A forwarded or forged admin button: answered as an unknown one below.
		b.log.Warn("bot: admin button pressed by a non-admin", "user_id", p.userID, "chat_id", p.chatID, "data_len", len(q.Data))
	}
	if btn == nil || len(q.Data) > 64 || !utf8.ValidString(q.Data) || (btn.Admin && !b.isAdmin(p.userID)) {
		b.log.Debug("bot: unknown callback data", "chat_id", p.chatID, "data_len", len(q.Data))
		b.answer(ctx, p, b.t(p.lang, "bot_button_stale", nil))
		return nil
	}
	p.view, p.arg = prefix, rest

	r, ok, err := b.readers.Get(ctx, p.chatID)
	if errors.Is(err, subscriber.ErrCorrupt) {
		// As in loadReader: a stranger, told to /start, which repairs the record.
		b.log.Error("bot: unreadable reader record; treating the chat as new", "chat_id", p.chatID, "err", err)
		r, ok, err = subscriber.Reader{}, false, nil
	}
	if err != nil {
		b.answer(ctx, p, b.t(p.lang, "bot_error", nil))
		return fmt.Errorf("load reader %d: %w", p.chatID, err)
	}
	p.reader, p.known = r, ok
	if ok && slices.Contains(b.langs, r.Lang) {
		p.lang = r.Lang
	}
	if p.group && btn.Changes {
		ok, err := b.mayChangeGroup(ctx, p.chatID, nil, p.userID)
		if err != nil {
			b.answer(ctx, p, b.t(p.lang, "bot_error", nil))
			return err
		}
		if !ok {
			b.answer(ctx, p, b.t(p.lang, "bot_group_admin_only", nil))
			return nil
		}
	}
	if err := btn.Run(b, ctx, p); err != nil {
		b.answer(ctx, p, b.t(p.lang, "bot_error", nil))
		return fmt.Errorf("button %s in %d: %w", prefix, p.chatID, err)
	}
	return nil
}

// pressSettings applies a topic or language button and redraws the keyboard it sits in.
func (b *Bot) pressSettings(ctx context.Context, p *press) error {
	action, arg, _ := strings.Cut(p.arg, ":")
	if !b.validSetting(p.view, action, arg) {
		b.answer(ctx, p, b.t(p.lang, "bot_button_stale", nil))
		return nil
	}
	if !p.known || p.reader.Status != subscriber.Active {
		b.answer(ctx, p, b.t(p.lang, "bot_button_stopped", nil))
		return nil
	}
	var (
		r    subscriber.Reader
		note string
		err  error
	)
	switch action {
	case actTopic:
		r, note, err = b.toggleTopic(ctx, p.reader, arg)
	case actUI:
		if arg == p.reader.Lang {
			// Nothing to redraw; Telegram would refuse an edit that changes nothing.
			b.answer(ctx, p, b.t(arg, "bot_language_set", map[string]any{"Lang": b.langsInText(arg, []string{arg})}))
			return nil
		}
		// The welcome's language row is a quick "I read this language": stories follow. On
		// the /language screen both rows are in view, so each button changes just its own.
		r, note, err = b.setInterface(ctx, p.reader, arg, p.view == viewStart)
	case actNews:
		var changed bool
		r, note, changed, err = b.toggleNews(ctx, p.reader, arg)
		if err == nil && !changed {
			b.answer(ctx, p, note)
			return nil
		}
	}
	if err != nil {
		return err
	}
	b.answer(ctx, p, note)

	switch {
	case p.view == viewTopics:
		err = b.edit(ctx, p.chatID, p.messageID, "", b.topicsKeyboard(r, viewTopics))
	case p.view == viewStart && action == actTopic:
		err = b.edit(ctx, p.chatID, p.messageID, "", b.startKeyboard(r))
	case p.view == viewStart:
		err = b.edit(ctx, p.chatID, p.messageID, b.welcomeText(r, "bot_welcome"), b.startKeyboard(r))
	default:
		err = b.edit(ctx, p.chatID, p.messageID, b.languageText(r), b.languageKeyboard(r))
	}
	return err
}

// validSetting checks callback data against what the view's keyboard can hold, so forged or
// outdated data never reaches the store.
func (b *Bot) validSetting(view, action, arg string) bool {
	switch action {
	case actTopic:
		return view != viewLanguage && (arg == allTopicsArg || slices.Contains(b.topics, arg))
	case actUI:
		return view != viewTopics && slices.Contains(b.langs, arg)
	case actNews:
		return view == viewLanguage && slices.Contains(b.langs, arg)
	}
	return false
}

// toggleTopic follows or unfollows one topic, or all of them. Checking every topic one by one
// becomes "all topics", which also brings stories without topics and topics added later.
func (b *Bot) toggleTopic(ctx context.Context, r subscriber.Reader, topic string) (subscriber.Reader, string, error) {
	lang := r.Lang
	if topic == allTopicsArg {
		// Decided on the stored reader, in one atomic step: another copy may be applying
		// another press of this reader, which a save of the record read earlier would undo.
		nr, err := b.readers.Update(ctx, r.ChatID, func(cur *subscriber.Reader, exists bool) error {
			if !exists {
				return subscriber.ErrNotFound
			}
			c := b.configured(*cur)
			switch {
			case !c.AllTopics:
				c.AllTopics = true
			case b.followsEach(c.Topics):
				// The kept choice is every topic: unchecking "all" must visibly clear them.
				c.AllTopics, c.Topics = false, nil
			default:
				c.AllTopics = false
			}
			*cur = c
			return nil
		})
		if err != nil {
			return r, "", err
		}
		if nr.AllTopics {
			return nr, b.t(lang, "bot_all_topics_on", nil), nil
		}
		return nr, b.t(lang, "bot_all_topics_off", nil), nil
	}
	nr, err := b.readers.ToggleTopic(ctx, r.ChatID, topic)
	if err != nil {
		return r, "", err
	}
	if !nr.AllTopics && b.followsEach(nr.Topics) {
		if nr, err = b.readers.SetAllTopics(ctx, r.ChatID, true); err != nil {
			return r, "", err
		}
	}
	data := map[string]any{"Topic": b.topicName(lang, topic)}
	note := b.t(lang, "bot_topic_off", data)
	if nr.AllTopics || slices.Contains(nr.Topics, topic) {
		note = b.t(lang, "bot_topic_on", data)
	}
	return nr, note + " " + b.statusTopics(nr), nil
}

// followsEach reports whether topics holds every configured topic.
func (b *Bot) followsEach(topics []string) bool {
	if len(b.topics) == 0 {
		return false
	}
	for _, t := range b.topics {
		if !slices.Contains(topics, t) {
			return false
		}
	}
	return true
}

// setInterface switches the bot's language. With stories, a reader whose only story language
// is the old interface language (the default) reads stories in the new one too.
func (b *Bot) setInterface(ctx context.Context, r subscriber.Reader, lang string, stories bool) (subscriber.Reader, string, error) {
	old := r.Lang
	nr, err := b.readers.SetInterfaceLanguage(ctx, r.ChatID, lang)
	if err != nil {
		return r, "", err
	}
	if stories && old != lang && len(nr.Langs) == 1 && nr.Langs[0] == old {
		if nr, err = b.readers.SetLanguages(ctx, r.ChatID, []string{lang}); err != nil {
			return r, "", err
		}
	}
	return nr, b.t(lang, "bot_language_set", map[string]any{"Lang": b.langsInText(lang, []string{lang})}), nil
}

// toggleNews adds or removes a story language; the last one stays (changed false). The
// toggle is read and written in one atomic step of the store, so two quick presses, even
// handled by two running copies, never undo each other.
func (b *Bot) toggleNews(ctx context.Context, r subscriber.Reader, lang string) (subscriber.Reader, string, bool, error) {
	data := map[string]any{"Lang": b.langsInText(r.Lang, []string{lang})}
	nr, err := b.readers.Update(ctx, r.ChatID, func(cur *subscriber.Reader, exists bool) error {
		if !exists {
			return subscriber.ErrNotFound
		}
		c := b.configured(*cur)
		if slices.Contains(c.Langs, lang) {
			if len(c.Langs) == 1 {
				return errLastLanguage
			}
			cur.Langs = slices.DeleteFunc(c.Langs, func(l string) bool { return l == lang })
		} else {
			cur.Langs = append(c.Langs, lang)
		}
		cur.Topics = c.Topics
		return nil
	})
	switch {
	case errors.Is(err, errLastLanguage):
		return r, b.t(r.Lang, "bot_news_last", nil), false, nil
	case err != nil:
		return r, "", false, err
	}
	if slices.Contains(nr.Langs, lang) {
		return nr, b.t(r.Lang, "bot_news_on", data), true, nil
	}
	return nr, b.t(r.Lang, "bot_news_off", data), true, nil
}

// errLastLanguage: a reader keeps at least one story language.
var errLastLanguage = errors.New("the last story language stays")

// keyboard is an inline keyboard as the Bot API takes it in reply_markup.
type keyboard struct {
	InlineKeyboard [][]keyButton `json:"inline_keyboard"`
}

type keyButton struct {
	Text         string `json:"text"`
	CallbackData string `json:"callback_data"`
}

func mark(on bool, label string) string {
	if on {
		return checkMark + label
	}
	return label
}

// topicsKeyboard shows every topic, two to a row, then "All topics"; a check marks what the
// reader follows (everything, when they follow all topics).
func (b *Bot) topicsKeyboard(r subscriber.Reader, view string) keyboard {
	var kb keyboard
	var row []keyButton
	for _, t := range b.topics {
		on := r.AllTopics || slices.Contains(r.Topics, t)
		row = append(row, keyButton{Text: mark(on, b.topicName(r.Lang, t)), CallbackData: view + ":" + actTopic + ":" + t})
		if len(row) == 2 {
			kb.InlineKeyboard = append(kb.InlineKeyboard, row)
			row = nil
		}
	}
	if len(row) > 0 {
		kb.InlineKeyboard = append(kb.InlineKeyboard, row)
	}
	kb.InlineKeyboard = append(kb.InlineKeyboard, []keyButton{{
		Text:         mark(r.AllTopics, b.t(r.Lang, "all_topics", nil)),
		CallbackData: view + ":" + actTopic + ":" + allTopicsArg,
	}})
	return kb
}

// startKeyboard is the topics keyboard with a row that switches the bot's language, each
// language written as its readers write it.
func (b *Bot) startKeyboard(r subscriber.Reader) keyboard {
	kb := b.topicsKeyboard(r, viewStart)
	kb.InlineKeyboard = append(kb.InlineKeyboard, b.interfaceRow(r, viewStart))
	return kb
}

func (b *Bot) interfaceRow(r subscriber.Reader, view string) []keyButton {
	var row []keyButton
	for _, l := range b.langs {
		row = append(row, keyButton{Text: mark(l == r.Lang, b.selfName(l)), CallbackData: view + ":" + actUI + ":" + l})
	}
	return row
}

// languageKeyboard: the first row sets the bot's language; below, one toggle per story
// language.
func (b *Bot) languageKeyboard(r subscriber.Reader) keyboard {
	kb := keyboard{InlineKeyboard: [][]keyButton{b.interfaceRow(r, viewLanguage)}}
	for _, l := range b.langs {
		kb.InlineKeyboard = append(kb.InlineKeyboard, []keyButton{{
			Text:         mark(slices.Contains(r.Langs, l), b.newsIn(r.Lang, l)),
			CallbackData: viewLanguage + ":" + actNews + ":" + l,
		}})
	}
	return kb
}

// selfName is a language's name for itself ("Қазақша"), or its code when untranslated
// (the translations would otherwise answer with the English fallback, "English").
func (b *Bot) selfName(lang string) string {
	s := b.texts.T(lang, "lang_self", nil)
	if s == "" || s == "lang_self" || lang != "en" && s == b.texts.T("en", "lang_self", nil) {
		return lang
	}
	return s
}

// newsIn labels a story-language toggle: "Stories in Kazakh".
func (b *Bot) newsIn(ui, lang string) string {
	id := "bot_news_in_" + lang
	if s := b.texts.T(ui, id, nil); s != "" && s != id {
		return s
	}
	return b.t(ui, "bot_news_in", map[string]any{"Lang": b.langsInText(ui, []string{lang})})
}
