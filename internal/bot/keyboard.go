package bot

import (
	"slices"

	"newsbot/internal/subscriber"
)

// Keyboard is an inline keyboard as the Bot API takes it in reply_markup.
type Keyboard struct {
	InlineKeyboard [][]KeyButton `json:"inline_keyboard"`
}

// KeyButton is one button of a Keyboard.
type KeyButton struct {
	Text         string `json:"text"`
	CallbackData string `json:"callback_data"`
}

// checkMark precedes the label of a followed topic or chosen language.
const checkMark = "✓ "

// Mark checks label when on: a followed topic, a chosen language, a set flag.
func Mark(on bool, label string) string {
	if on {
		return checkMark + label
	}
	return label
}

// topicsKeyboard shows every topic, two to a row, then "All topics"; a check marks what the
// reader follows (everything, when they follow all topics). Opened from /settings, it ends
// with the way back there.
func (b *Bot) topicsKeyboard(r subscriber.Reader, view string) Keyboard {
	var kb Keyboard
	var row []KeyButton
	for _, t := range b.topics {
		on := r.AllTopics || slices.Contains(r.Topics, t)
		row = append(row, KeyButton{Text: Mark(on, TopicName(b.texts, r.Lang, t)), CallbackData: view + ":" + actTopic + ":" + t})
		if len(row) == 2 {
			kb.InlineKeyboard = append(kb.InlineKeyboard, row)
			row = nil
		}
	}
	if len(row) > 0 {
		kb.InlineKeyboard = append(kb.InlineKeyboard, row)
	}
	kb.InlineKeyboard = append(kb.InlineKeyboard, []KeyButton{{
		Text:         Mark(r.AllTopics, b.t(r.Lang, "all_topics", nil)),
		CallbackData: view + ":" + actTopic + ":" + allTopicsArg,
	}})
	if view == viewSettingsTopics {
		kb.InlineKeyboard = append(kb.InlineKeyboard, b.backRow(r))
	}
	return kb
}

// startKeyboard is the topics keyboard with a row that switches the bot's language, each
// language written as its readers write it.
func (b *Bot) startKeyboard(r subscriber.Reader) Keyboard {
	kb := b.topicsKeyboard(r, viewStart)
	kb.InlineKeyboard = append(kb.InlineKeyboard, b.interfaceRow(r, viewStart))
	return kb
}

func (b *Bot) interfaceRow(r subscriber.Reader, view string) []KeyButton {
	var row []KeyButton
	for _, l := range b.langs {
		row = append(row, KeyButton{Text: Mark(l == r.Lang, b.selfName(l)), CallbackData: view + ":" + actUI + ":" + l})
	}
	return row
}

// languageKeyboard: the first row sets the bot's language; below, one toggle per story
// language. Opened from /settings (viewSettingsLanguage), it ends with the way back there.
func (b *Bot) languageKeyboard(r subscriber.Reader, view string) Keyboard {
	kb := Keyboard{InlineKeyboard: [][]KeyButton{b.interfaceRow(r, view)}}
	for _, l := range b.langs {
		kb.InlineKeyboard = append(kb.InlineKeyboard, []KeyButton{{
			Text:         Mark(slices.Contains(r.Langs, l), b.newsIn(r.Lang, l)),
			CallbackData: view + ":" + actNews + ":" + l,
		}})
	}
	if view == viewSettingsLanguage {
		kb.InlineKeyboard = append(kb.InlineKeyboard, b.backRow(r))
	}
	return kb
}

// backRow turns the topics or language keyboard opened from /settings back into /settings.
func (b *Bot) backRow(r subscriber.Reader) []KeyButton {
	return []KeyButton{{Text: "‹ " + b.t(r.Lang, "button_back", nil), CallbackData: viewSettings + ":" + optShow}}
}
