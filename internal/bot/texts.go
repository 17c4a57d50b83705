package bot

import (
	"html"
	"strings"
	"unicode/utf8"

	"newsbot/internal/subscriber"
)

// How the bot writes: escaping, cuts, and the names of topics and languages in a reader's
// language. The desk's commands write the same way, through the exported helpers.

// t is the message id in lang (English when lang lacks it).
func (b *Bot) t(lang, id string, data map[string]any) string {
	return b.texts.T(lang, id, data)
}

// Escape escapes text for Telegram's HTML parse mode. html.EscapeString writes ' and " as
// numeric entities, which Telegram accepts (it knows only four named ones).
func Escape(s string) string { return html.EscapeString(s) }

// Truncate cuts s to at most n runes, marking the cut.
func Truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimSpace(string(r[:n-1])) + "…"
}

// TopicName is the topic's name in lang, or its slug for a topic nobody translated.
func TopicName(t Texts, lang, slug string) string {
	id := "topic_" + slug
	if s := t.T(lang, id, nil); s != id && s != "" {
		return s
	}
	return slug
}

// LangNames lists languages by their names in lang, as headings and buttons write them:
// "Kazakh, Russian".
func LangNames(t Texts, lang string, langs []string) string {
	names := make([]string, 0, len(langs))
	for _, l := range langs {
		id := "lang_" + l
		s := t.T(lang, id, nil)
		if s == id || s == "" {
			s = l
		}
		names = append(names, s)
	}
	return strings.Join(names, ", ")
}

// LangsInText lists languages as they stand inside a sentence in lang: «казахский, русский».
// Kazakh and Russian write language names in lower case there; the capitalised LangNames
// are for headings (/stats) and buttons.
func LangsInText(t Texts, lang string, langs []string) string {
	names := make([]string, 0, len(langs))
	for _, l := range langs {
		id := "bot_lang_" + l
		s := t.T(lang, id, nil)
		if s == id || s == "" {
			s = LangNames(t, lang, []string{l})
		}
		names = append(names, s)
	}
	return strings.Join(names, ", ")
}

// langsInText is LangsInText in the bot's translations.
func (b *Bot) langsInText(lang string, langs []string) string {
	return LangsInText(b.texts, lang, langs)
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

// statusTopics says which topics the reader follows, with the right plural form.
func (b *Bot) statusTopics(r subscriber.Reader) string {
	switch {
	case r.AllTopics:
		return b.t(r.Lang, "bot_status_all_topics", nil)
	case len(r.Topics) == 0:
		return b.t(r.Lang, "bot_status_no_topics", nil)
	}
	// In quotes, as in «Вы подписались на тему «Спорт»»: a bare capitalised name would be
	// wrong mid-sentence in Kazakh and Russian.
	names := make([]string, 0, len(r.Topics))
	for _, t := range r.Topics {
		names = append(names, "«"+TopicName(b.texts, r.Lang, t)+"»")
	}
	return b.texts.Plural(r.Lang, "bot_status_topics", len(r.Topics), map[string]any{"Topics": strings.Join(names, ", ")})
}
