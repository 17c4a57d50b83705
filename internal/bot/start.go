package bot

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"newsbot/internal/subscriber"
)

// deepLink is what a /start payload asks for.
type deepLink struct{ lang, topic string }

// parseDeepLink reads "politics", "ru", "ru_politics" (or "politics_ru"). ok is false for a
// payload that is malformed or names an unknown language or topic.
func (b *Bot) parseDeepLink(payload string) (deepLink, bool) {
	if payload == "" {
		return deepLink{}, true
	}
	if len(payload) > 64 {
		return deepLink{}, false
	}
	for _, r := range payload {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return deepLink{}, false
		}
	}
	p := strings.ToLower(payload)
	switch {
	case slices.Contains(b.topics, p):
		return deepLink{topic: p}, true
	case slices.Contains(b.langs, p):
		return deepLink{lang: p}, true
	}
	// Topic slugs may hold "_" themselves, so try the language on either end.
	if l, t, ok := strings.Cut(p, "_"); ok && slices.Contains(b.langs, l) && slices.Contains(b.topics, t) {
		return deepLink{lang: l, topic: t}, true
	}
	if i := strings.LastIndex(p, "_"); i > 0 {
		if t, l := p[:i], p[i+1:]; slices.Contains(b.langs, l) && slices.Contains(b.topics, t) {
			return deepLink{lang: l, topic: t}, true
		}
	}
	return deepLink{}, false
}

// cmdStart subscribes the chat: a new reader follows all topics of their language (or what
// the deep link names); a stopped reader comes back with their earlier choices.
func (b *Bot) cmdStart(ctx context.Context, c *Call) error {
	link, valid := b.parseDeepLink(c.Args)
	greeting := "bot_welcome"
	// Read, change and write in one atomic step of the store: another running copy may be
	// applying this reader's button press right now, and saving the record read earlier
	// would undo it.
	r, err := b.readers.Update(ctx, c.ChatID, func(r *subscriber.Reader, exists bool) error {
		if exists {
			greeting = "bot_welcome_back"
			if r.Status == subscriber.Active {
				greeting = "bot_already"
			}
			r.Status = subscriber.Active
			if link.lang != "" && !slices.Contains(r.Langs, link.lang) {
				r.Langs = append(r.Langs, link.lang)
			}
			if link.topic != "" && !r.AllTopics && !slices.Contains(r.Topics, link.topic) {
				r.Topics = append(r.Topics, link.topic)
			}
		} else {
			greeting = "bot_welcome"
			lang := c.Lang
			if link.lang != "" && c.msg.From != nil && b.langOf(c.msg.From.LanguageCode) == "" {
				// Telegram's language is none of ours: the link's language is the better guess.
				lang = link.lang
			}
			*r = subscriber.Reader{
				ChatID:    c.ChatID,
				Lang:      lang,
				Langs:     []string{lang},
				AllTopics: link.topic == "",
				Status:    subscriber.Active,
				Group:     c.Group,
				Mode:      b.defMode,
			}
			if link.lang != "" {
				r.Langs = []string{link.lang}
			}
			if link.topic != "" {
				r.Topics = []string{link.topic}
			}
			if c.msg.From != nil && validLangCode(c.msg.From.LanguageCode) {
				// Only a hint for later: one the store would refuse is left out, not
				// allowed to stop the subscription.
				r.LangCode = c.msg.From.LanguageCode
			}
		}
		*r = b.configured(*r)
		return nil
	})
	if err != nil {
		_ = c.Reply(ctx, "bot_error")
		return fmt.Errorf("save reader: %w", err)
	}
	c.Lang = r.Lang
	text := b.welcomeText(r, greeting)
	if !valid {
		text = Escape(b.t(r.Lang, "bot_link_invalid", nil)) + "\n\n" + text
	}
	return c.Send(ctx, text, b.startKeyboard(r))
}

// validLangCode reports whether a Telegram language_code is an IETF tag the store keeps.
func validLangCode(code string) bool {
	if len(code) > 35 {
		return false
	}
	for _, r := range code {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// configured drops languages and topics that LANGUAGES and TOPICS no longer hold, so that
// a reader saved under an older configuration can still come back (the store refuses
// unknown ones).
func (b *Bot) configured(r subscriber.Reader) subscriber.Reader {
	if !slices.Contains(b.langs, r.Lang) {
		r.Lang = b.defLang
	}
	known := func(list []string) func(string) bool {
		return func(s string) bool { return !slices.Contains(list, s) }
	}
	r.Langs = slices.DeleteFunc(slices.Clone(r.Langs), known(b.langs))
	r.Topics = slices.DeleteFunc(slices.Clone(r.Topics), known(b.topics))
	if len(r.Langs) == 0 {
		r.Langs = []string{r.Lang}
	}
	return r
}

// welcomeText is the /start message: greeting, what the reader gets and how (the reading
// mode: with DEFAULT_MODE=digest a new reader must not expect every story at once), how to
// change it. It names no topics, so that a topic press edits only the keyboard under it.
func (b *Bot) welcomeText(r subscriber.Reader, greeting string) string {
	lines := []string{
		Escape(b.t(r.Lang, greeting, nil)),
		Escape(b.t(r.Lang, "bot_status_langs", map[string]any{"Langs": b.langsInText(r.Lang, r.Langs)})),
		Escape(b.modeText(r)),
		"",
		Escape(b.t(r.Lang, "bot_start_hint", nil)),
	}
	return strings.Join(lines, "\n")
}
