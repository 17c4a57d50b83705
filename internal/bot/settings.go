package bot

import (
	"context"
	"errors"
	"slices"
	"strings"

	"newsbot/internal/subscriber"
)

// The readers' topic and language buttons, under /start, /topics and /language (also as
// opened from /settings). The reading-mode buttons of /settings are in modes.go.

// pressSettings applies a topic or language button and redraws the keyboard it sits in.
func (b *Bot) pressSettings(ctx context.Context, p *Press) error {
	action, arg, _ := strings.Cut(p.Arg, ":")
	if !b.validSetting(p.view, action, arg) {
		p.Answer(ctx, b.t(p.Lang, "bot_button_stale", nil))
		return nil
	}
	if !p.known || p.reader.Status != subscriber.Active {
		p.Answer(ctx, b.t(p.Lang, "bot_button_stopped", nil))
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
			p.Answer(ctx, b.t(arg, "bot_language_set", map[string]any{"Lang": b.langsInText(arg, []string{arg})}))
			return nil
		}
		// The welcome's language row is a quick "I read this language": stories follow. On
		// the /language screen both rows are in view, so each button changes just its own.
		r, note, err = b.setInterface(ctx, p.reader, arg, p.view == viewStart)
	case actNews:
		var changed bool
		r, note, changed, err = b.toggleNews(ctx, p.reader, arg)
		if err == nil && !changed {
			p.Answer(ctx, note)
			return nil
		}
	}
	if err != nil {
		return err
	}
	p.Answer(ctx, note)

	switch {
	case baseView(p.view) == viewTopics:
		err = p.Edit(ctx, "", b.topicsKeyboard(r, p.view))
	case p.view == viewStart && action == actTopic:
		err = p.Edit(ctx, "", b.startKeyboard(r))
	case p.view == viewStart:
		err = p.Edit(ctx, b.welcomeText(r, "bot_welcome"), b.startKeyboard(r))
	default:
		err = p.Edit(ctx, b.languageText(r), b.languageKeyboard(r, p.view))
	}
	return err
}

// validSetting checks callback data against what the view's keyboard can hold, so forged or
// outdated data never reaches the store.
func (b *Bot) validSetting(view, action, arg string) bool {
	view = baseView(view)
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
	data := map[string]any{"Topic": TopicName(b.texts, lang, topic)}
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
