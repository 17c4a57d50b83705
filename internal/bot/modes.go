package bot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"newsbot/internal/schedule"
	"newsbot/internal/subscriber"
)

// /settings: how the news comes. One message whose text says what the reader's choice means
// and whose buttons change it: the reading mode, the digest times (digest readers), quiet
// hours (when QUIET_HOURS is set), and the /topics and /language keyboards. Every press edits
// that message in place.

// Actions of the /settings buttons: callback_data is "o1:<action>[:<arg>]".
const (
	optMode     = "m" // set the reading mode; arg a subscriber.Mode
	optDigest   = "d" // keep or drop a digest time; arg "HHMM" (a ':' would read as a separator)
	optQuiet    = "q" // quiet hours; arg "1" on, "0" off (a value, not a toggle: a second press of one keyboard changes nothing)
	optTopics   = "t" // turn the message into the /topics keyboard
	optLanguage = "l" // turn the message into the /language keyboard
	optShow     = "s" // turn it (back) into /settings
)

func (b *Bot) cmdSettings(ctx context.Context, c *Call) error {
	if !c.active() {
		return c.Reply(ctx, "bot_not_subscribed")
	}
	return c.Send(ctx, b.settingsText(c.reader), b.settingsKeyboard(c.reader))
}

// pressOptions applies a /settings button and redraws the message.
func (b *Bot) pressOptions(ctx context.Context, p *Press) error {
	action, arg, _ := strings.Cut(p.Arg, ":")
	if !b.validOption(action, arg) {
		p.Answer(ctx, b.t(p.Lang, "bot_button_stale", nil))
		return nil
	}
	if !p.known || p.reader.Status != subscriber.Active {
		p.Answer(ctx, b.t(p.Lang, "bot_button_stopped", nil))
		return nil
	}
	r := p.reader
	switch action {
	case optMode:
		return b.pressMode(ctx, p, subscriber.Mode(arg))
	case optDigest:
		clock, _ := b.digestClock(arg)
		nr, err := b.readers.ToggleDigestTime(ctx, p.ChatID, clock.String())
		if errors.Is(err, subscriber.ErrLastDigestTime) {
			p.Answer(ctx, b.t(r.Lang, "bot_digest_time_last", nil))
			return nil
		}
		if err != nil {
			return err
		}
		note := "bot_digest_time_off"
		if keeps(nr, clock) {
			note = "bot_digest_time_on"
		}
		p.Answer(ctx, b.t(nr.Lang, note, map[string]any{"Time": clock.String()}))
		r = nr
	case optQuiet:
		nr, err := b.readers.SetQuiet(ctx, p.ChatID, arg == "1")
		if err != nil {
			return err
		}
		note := "bot_quiet_off"
		if nr.Quiet() {
			note = "bot_quiet_on"
		}
		p.Answer(ctx, b.t(nr.Lang, note, map[string]any{"Window": b.window()}))
		r = nr
	case optTopics:
		return p.Edit(ctx, Escape(b.t(r.Lang, "bot_topics_title", nil)), b.topicsKeyboard(r, viewSettingsTopics))
	case optLanguage:
		return p.Edit(ctx, b.languageText(r), b.languageKeyboard(r, viewSettingsLanguage))
	}
	return p.Edit(ctx, b.settingsText(r), b.settingsKeyboard(r))
}

// pressMode sets the reading mode. A reader who leaves digests for instant reading is sent
// what the next digest would have brought them; that message failing is logged, and the
// switch holds.
func (b *Bot) pressMode(ctx context.Context, p *Press, mode subscriber.Mode) error {
	note := b.t(p.reader.Lang, "bot_mode_set", map[string]any{"Mode": b.t(p.reader.Lang, "bot_mode_"+string(mode), nil)})
	if modeOf(p.reader) == mode {
		// Nothing to redraw; Telegram would refuse an edit that changes nothing.
		p.Answer(ctx, note)
		return nil
	}
	// The mode before the switch is read in the same atomic step that changes it: two quick
	// presses, even on two copies, make one switch from digest and so one catch-up.
	var before subscriber.Reader
	r, err := b.readers.Update(ctx, p.ChatID, func(cur *subscriber.Reader, exists bool) error {
		if !exists {
			return subscriber.ErrNotFound
		}
		before = *cur
		c := b.configured(*cur)
		c.Mode = mode
		*cur = c
		return nil
	})
	if err != nil {
		return fmt.Errorf("set reading mode: %w", err)
	}
	p.Answer(ctx, note)
	err = p.Edit(ctx, b.settingsText(r), b.settingsKeyboard(r))
	if modeOf(before) == subscriber.Digest && mode == subscriber.Instant && b.digests != nil {
		sent, cerr := b.digests.CatchUp(ctx, before)
		switch {
		case cerr != nil:
			b.log.Warn("catch-up of a reader leaving digests", "chat_id", p.ChatID, "err", cerr)
		case sent:
			b.log.Debug("caught up a reader leaving digests", "chat_id", p.ChatID)
		}
	}
	return err
}

// validOption checks callback data against what the /settings keyboard can hold, so forged
// or outdated data never reaches the store.
func (b *Bot) validOption(action, arg string) bool {
	switch action {
	case optMode:
		return subscriber.Mode(arg).Valid()
	case optDigest:
		_, ok := b.digestClock(arg)
		return ok
	case optQuiet:
		return !b.quiet.IsZero() && (arg == "1" || arg == "0")
	case optTopics, optLanguage, optShow:
		return arg == ""
	}
	return false
}

// digestArg is a digest time as callback data holds it: "0800".
func digestArg(c schedule.Clock) string { return fmt.Sprintf("%02d%02d", c.Hour(), c.Minute()) }

// digestClock is the one of DIGEST_TIMES that arg names.
func (b *Bot) digestClock(arg string) (schedule.Clock, bool) {
	for _, c := range b.dtimes {
		if digestArg(c) == arg {
			return c, true
		}
	}
	return 0, false
}

// modeOf is the reader's reading mode; a record from before modes existed reads instant.
func modeOf(r subscriber.Reader) subscriber.Mode {
	if r.Mode.Valid() {
		return r.Mode
	}
	return subscriber.Instant
}

// keeps reports whether the reader's digests come at c (no choice kept: all of DIGEST_TIMES).
func keeps(r subscriber.Reader, c schedule.Clock) bool {
	return len(r.DigestTimes) == 0 || slices.Contains(r.DigestTimes, c.String())
}

// window is QUIET_HOURS as readers read it: "23:00–07:00".
func (b *Bot) window() string {
	return b.quiet.From.String() + "–" + b.quiet.To.String()
}

// settingsText says what the reader's choices mean, in one or two sentences each.
func (b *Bot) settingsText(r subscriber.Reader) string {
	lines := []string{"<b>" + Escape(b.t(r.Lang, "bot_settings_title", nil)) + "</b>", Escape(b.modeText(r))}
	if !b.quiet.IsZero() {
		id := "bot_quiet_off_text"
		if r.Quiet() {
			id = "bot_quiet_on_text"
		}
		lines = append(lines, Escape(b.t(r.Lang, id, map[string]any{"Window": b.window()})))
	}
	return strings.Join(lines, "\n")
}

// modeText says how the news comes to the reader: "Digest: one message at 08:00 and 19:00…".
func (b *Bot) modeText(r subscriber.Reader) string {
	mode := modeOf(r)
	if mode != subscriber.Digest {
		return b.t(r.Lang, "bot_mode_"+string(mode)+"_text", nil)
	}
	var times []string
	for _, c := range b.dtimes {
		if keeps(r, c) {
			times = append(times, c.String())
		}
	}
	if len(times) == 0 {
		// Only the times the reader kept were taken out of DIGEST_TIMES since.
		return b.t(r.Lang, "bot_mode_digest_none", nil)
	}
	return b.t(r.Lang, "bot_mode_digest_text", map[string]any{"Times": b.joinAnd(r.Lang, times)})
}

// joinAnd lists items as a sentence does: "08:00, 13:00 and 19:00".
func (b *Bot) joinAnd(lang string, items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	last := len(items) - 1
	return strings.Join(items[:last], ", ") + " " + b.t(lang, "bot_and", nil) + " " + items[last]
}

// settingsKeyboard: a row per reading mode, the current one checked; the digest times of a
// digest reader (when there is more than one to choose from); quiet hours; topics and
// languages.
func (b *Bot) settingsKeyboard(r subscriber.Reader) Keyboard {
	var kb Keyboard
	mode := modeOf(r)
	for _, m := range subscriber.Modes {
		kb.InlineKeyboard = append(kb.InlineKeyboard, []KeyButton{{
			Text:         Mark(m == mode, b.t(r.Lang, "bot_mode_"+string(m), nil)),
			CallbackData: viewSettings + ":" + optMode + ":" + string(m),
		}})
	}
	if mode == subscriber.Digest && len(b.dtimes) > 1 {
		var row []KeyButton
		for _, c := range b.dtimes {
			row = append(row, KeyButton{Text: Mark(keeps(r, c), c.String()), CallbackData: viewSettings + ":" + optDigest + ":" + digestArg(c)})
		}
		kb.InlineKeyboard = append(kb.InlineKeyboard, row)
	}
	if !b.quiet.IsZero() {
		arg := "1"
		if r.Quiet() {
			arg = "0"
		}
		kb.InlineKeyboard = append(kb.InlineKeyboard, []KeyButton{{
			Text:         Mark(r.Quiet(), b.t(r.Lang, "bot_quiet_button", map[string]any{"Window": b.window()})),
			CallbackData: viewSettings + ":" + optQuiet + ":" + arg,
		}})
	}
	kb.InlineKeyboard = append(kb.InlineKeyboard, []KeyButton{
		{Text: b.t(r.Lang, "bot_settings_topics", nil), CallbackData: viewSettings + ":" + optTopics},
		{Text: b.t(r.Lang, "bot_settings_language", nil), CallbackData: viewSettings + ":" + optLanguage},
	})
	return kb
}
