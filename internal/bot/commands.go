package bot

import (
	"context"
	"errors"
	"fmt"
	"html"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"newsbot/internal/subscriber"
	"newsbot/internal/telegram"
)

// Command is one entry of the command router. Admin commands (ADMIN_IDS) slot into the same
// table with Admin set: to everyone else they do not exist.
type Command struct {
	Name string // without the slash, lower case
	// Admin: only ADMIN_IDS may run it; others get the unknown-command answer, so the
	// command's existence is not advertised.
	Admin bool
	// Changes: it changes the chat's subscription, so in a group only the group's own
	// admins may run it.
	Changes bool
	// Menu: listed in the command menu registered with setMyCommands, and in /help.
	Menu bool
	Run  func(b *Bot, ctx context.Context, c *call) error
}

// readerCommands is the readers' command table, in menu order.
func readerCommands() []Command {
	return []Command{
		{Name: "start", Changes: true, Menu: true, Run: (*Bot).cmdStart},
		{Name: "topics", Changes: true, Menu: true, Run: (*Bot).cmdTopics},
		{Name: "language", Changes: true, Menu: true, Run: (*Bot).cmdLanguage},
		{Name: "latest", Menu: true, Run: (*Bot).cmdLatest},
		{Name: "stop", Changes: true, Menu: true, Run: (*Bot).cmdStop},
		{Name: "help", Menu: true, Run: (*Bot).cmdHelp},
	}
}

// call is one command being answered.
type call struct {
	msg    *telegram.Message
	chatID int64
	userID int64 // 0 when an anonymous group admin sent it
	group  bool
	args   string
	lang   string // the language to answer in
	reader subscriber.Reader
	known  bool // reader holds the stored record
}

// telegramGroupAnonymousBot is the user Telegram shows as the sender of messages that a
// group's anonymous admins send; the group itself is then the sender_chat.
const telegramGroupAnonymousBot = 1087968824

// maxCommandName bounds a command name: Telegram allows 32 characters.
const maxCommandName = 32

// parseCommand splits "/name@bot args" without trusting message entities (a forged update
// may carry entity offsets beyond the text). ok is false for text that is not a command.
func parseCommand(text string) (name, at, args string, ok bool) {
	if !strings.HasPrefix(text, "/") {
		return "", "", "", false
	}
	token, rest := text, ""
	if i := strings.IndexFunc(text, unicode.IsSpace); i >= 0 {
		token, rest = text[:i], text[i:]
	}
	token = token[1:]
	name, at, _ = strings.Cut(token, "@")
	if name == "" || len(name) > maxCommandName {
		return "", "", "", false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return "", "", "", false
		}
	}
	return strings.ToLower(name), at, strings.TrimSpace(rest), true
}

func (b *Bot) command(name string) *Command {
	for i := range b.commands {
		if b.commands[i].Name == name {
			return &b.commands[i]
		}
	}
	return nil
}

func (b *Bot) onMessage(ctx context.Context, m *telegram.Message) error {
	if m.Chat == nil {
		return nil
	}
	chat := m.Chat
	if m.MigrateToChatID != 0 {
		// The group became a supergroup: its subscription moves with it.
		err := b.readers.Migrate(ctx, chat.ID, m.MigrateToChatID)
		if err != nil && !errors.Is(err, subscriber.ErrNotFound) {
			return fmt.Errorf("migrate group %d: %w", chat.ID, err)
		}
		return nil
	}
	group := chat.Type == "group" || chat.Type == "supergroup"
	if !group && chat.Type != "private" {
		return nil // channel posts
	}
	name, at, args, isCmd := parseCommand(m.Text)
	if isCmd && at != "" && !strings.EqualFold(at, b.username) {
		return nil // addressed to another bot in the group
	}
	if !isCmd && group {
		return nil // the group's conversation is none of the bot's business
	}
	if m.From != nil && m.From.IsBot && m.From.ID != telegramGroupAnonymousBot {
		return nil // other bots' messages in groups; never a conversation partner
	}
	c := &call{msg: m, chatID: chat.ID, group: group, args: args}
	if m.From != nil && m.From.ID != telegramGroupAnonymousBot {
		c.userID = m.From.ID
	}

	if !b.allow(ctx, chat.ID, func() { b.notifyFlood(ctx, c) }) {
		return nil
	}
	if err := b.loadReader(ctx, c); err != nil {
		// Still answer: the reader must not be left talking to silence.
		_ = b.reply(ctx, c, "bot_error")
		return err
	}
	if !isCmd {
		return b.reply(ctx, c, "bot_plain_text")
	}
	cmd := b.command(name)
	if cmd != nil && cmd.Admin && !b.isAdmin(c.userID) {
		// Answered as unknown below; the attempt is worth a line for whoever runs the bot.
		b.log.Warn("bot: admin command from a non-admin", "command", name, "user_id", c.userID, "chat_id", chat.ID)
	}
	if cmd == nil || (cmd.Admin && !b.isAdmin(c.userID)) {
		if group && at == "" {
			return nil // probably another bot's command
		}
		return b.reply(ctx, c, "bot_unknown_command")
	}
	if group && cmd.Changes {
		ok, err := b.mayChangeGroup(ctx, chat.ID, m, c.userID)
		if err != nil {
			_ = b.reply(ctx, c, "bot_error")
			return err
		}
		if !ok {
			return b.reply(ctx, c, "bot_group_admin_only")
		}
	}
	if err := cmd.Run(b, ctx, c); err != nil {
		return fmt.Errorf("/%s in %d: %w", cmd.Name, c.chatID, err)
	}
	return nil
}

// reply sends the message id in the language of the call.
func (b *Bot) reply(ctx context.Context, c *call, id string) error {
	return b.send(ctx, c.chatID, esc(b.t(c.lang, id, nil)), nil)
}

// loadReader fills the reader and the language to answer in: the reader's own choice, else
// their Telegram language, else DEFAULT_LANGUAGE.
func (b *Bot) loadReader(ctx context.Context, c *call) error {
	var code string
	if c.msg != nil && c.msg.From != nil {
		code = c.msg.From.LanguageCode
	}
	c.lang = b.langOf(code)
	if c.lang == "" {
		c.lang = b.defLang
	}
	r, ok, err := b.readers.Get(ctx, c.chatID)
	if errors.Is(err, subscriber.ErrCorrupt) {
		// Answered as a stranger, so /start can write a good record over it.
		b.log.Error("bot: unreadable reader record; treating the chat as new", "chat_id", c.chatID, "err", err)
		r, ok, err = subscriber.Reader{}, false, nil
	}
	if err != nil {
		return fmt.Errorf("load reader: %w", err)
	}
	c.reader, c.known = r, ok
	if ok && slices.Contains(b.langs, r.Lang) {
		c.lang = r.Lang
	}
	return nil
}

// active reports whether the chat is a subscribed reader; /topics and /language need one.
func (c *call) active() bool { return c.known && c.reader.Status == subscriber.Active }

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
func (b *Bot) cmdStart(ctx context.Context, c *call) error {
	link, valid := b.parseDeepLink(c.args)
	greeting := "bot_welcome"
	// Read, change and write in one atomic step of the store: another running copy may be
	// applying this reader's button press right now, and saving the record read earlier
	// would undo it.
	r, err := b.readers.Update(ctx, c.chatID, func(r *subscriber.Reader, exists bool) error {
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
			lang := c.lang
			if link.lang != "" && c.msg.From != nil && b.langOf(c.msg.From.LanguageCode) == "" {
				// Telegram's language is none of ours: the link's language is the better guess.
				lang = link.lang
			}
			*r = subscriber.Reader{
				ChatID:    c.chatID,
				Lang:      lang,
				Langs:     []string{lang},
				AllTopics: link.topic == "",
				Status:    subscriber.Active,
				Group:     c.group,
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
		_ = b.reply(ctx, c, "bot_error")
		return fmt.Errorf("save reader: %w", err)
	}
	c.lang = r.Lang
	text := b.welcomeText(r, greeting)
	if !valid {
		text = esc(b.t(r.Lang, "bot_link_invalid", nil)) + "\n\n" + text
	}
	return b.send(ctx, c.chatID, text, b.startKeyboard(r))
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

// welcomeText is the /start message: greeting, what the reader gets, how to change it.
// It names no topics, so that a topic press edits only the keyboard under it.
func (b *Bot) welcomeText(r subscriber.Reader, greeting string) string {
	lines := []string{
		esc(b.t(r.Lang, greeting, nil)),
		esc(b.t(r.Lang, "bot_status_langs", map[string]any{"Langs": b.langsInText(r.Lang, r.Langs)})),
		"",
		esc(b.t(r.Lang, "bot_start_hint", nil)),
	}
	return strings.Join(lines, "\n")
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
		names = append(names, "«"+b.topicName(r.Lang, t)+"»")
	}
	return b.texts.Plural(r.Lang, "bot_status_topics", len(r.Topics), map[string]any{"Topics": strings.Join(names, ", ")})
}

func (b *Bot) cmdTopics(ctx context.Context, c *call) error {
	if !c.active() {
		return b.reply(ctx, c, "bot_not_subscribed")
	}
	// The text names no topics: a press edits only the keyboard, and the answer to the press
	// says what changed.
	return b.send(ctx, c.chatID, esc(b.t(c.lang, "bot_topics_title", nil)), b.topicsKeyboard(c.reader, viewTopics))
}

func (b *Bot) cmdLanguage(ctx context.Context, c *call) error {
	if !c.active() {
		return b.reply(ctx, c, "bot_not_subscribed")
	}
	return b.send(ctx, c.chatID, b.languageText(c.reader), b.languageKeyboard(c.reader))
}

// languageText explains the two rows of the /language keyboard.
func (b *Bot) languageText(r subscriber.Reader) string {
	return strings.Join([]string{
		esc(b.t(r.Lang, "bot_language_current", map[string]any{"Lang": b.langsInText(r.Lang, []string{r.Lang})})),
		esc(b.t(r.Lang, "bot_status_langs", map[string]any{"Langs": b.langsInText(r.Lang, r.Langs)})),
		"",
		esc(b.t(r.Lang, "bot_language_hint", nil)),
	}, "\n")
}

// latestCount is how many stories /latest lists.
const latestCount = 5

// maxListedTitle keeps five long titles well inside one 4096-character message.
const maxListedTitle = 300

func (b *Bot) cmdLatest(ctx context.Context, c *call) error {
	langs := []string{c.lang}
	if c.known && len(c.reader.Langs) > 0 {
		langs = c.reader.Langs
	}
	stories, err := b.stories.Latest(ctx, langs, latestCount)
	if err != nil {
		_ = b.reply(ctx, c, "bot_latest_error")
		return fmt.Errorf("latest stories: %w", err)
	}
	if len(stories) == 0 {
		return b.reply(ctx, c, "bot_latest_empty")
	}
	var sb strings.Builder
	sb.WriteString("<b>" + esc(b.t(c.lang, "bot_latest_title", nil)) + "</b>")
	for i, a := range stories {
		if i == latestCount {
			break
		}
		fmt.Fprintf(&sb, "\n\n%d. <a href=\"%s\">%s</a>\n<i>%s</i>", i+1, esc(a.URL),
			esc(truncate(a.Title, maxListedTitle)), esc(b.texts.Date(c.lang, a.PublishedAt.In(b.loc))))
	}
	return b.send(ctx, c.chatID, sb.String(), nil)
}

func (b *Bot) cmdStop(ctx context.Context, c *call) error {
	if !c.active() {
		return b.reply(ctx, c, "bot_stop_not_subscribed")
	}
	if err := b.readers.SetStatus(ctx, c.chatID, subscriber.Stopped); err != nil {
		_ = b.reply(ctx, c, "bot_error")
		return fmt.Errorf("stop reader: %w", err)
	}
	return b.reply(ctx, c, "bot_stop_done")
}

func (b *Bot) cmdHelp(ctx context.Context, c *call) error {
	return b.send(ctx, c.chatID, b.helpText(c.lang, b.isAdmin(c.userID)), nil)
}

// helpText lists the commands a user may run, with the same descriptions as the menu.
func (b *Bot) helpText(lang string, admin bool) string {
	lines := []string{esc(b.t(lang, "bot_help_title", nil))}
	for _, cmd := range b.commands {
		if cmd.Admin && !admin || !cmd.Admin && !cmd.Menu {
			continue
		}
		lines = append(lines, "/"+cmd.Name+" — "+esc(b.t(lang, "bot_cmd_"+cmd.Name, nil)))
	}
	return strings.Join(lines, "\n")
}

// RegisterCommands sets the command menu for every language (Telegram shows the one
// matching the user's app language) and a default one in DEFAULT_LANGUAGE. Run at start-up.
func (b *Bot) RegisterCommands(ctx context.Context) error {
	var errs []error
	for _, lang := range b.langs {
		if err := b.api.SetMyCommands(ctx, b.menu(lang), lang); err != nil {
			errs = append(errs, fmt.Errorf("set commands for %s: %w", lang, err))
		}
	}
	if err := b.api.SetMyCommands(ctx, b.menu(b.defLang), ""); err != nil {
		errs = append(errs, fmt.Errorf("set default commands: %w", err))
	}
	return errors.Join(errs...)
}

func (b *Bot) menu(lang string) []telegram.BotCommand {
	var out []telegram.BotCommand
	for _, cmd := range b.commands {
		if !cmd.Menu || cmd.Admin {
			continue
		}
		out = append(out, telegram.BotCommand{Command: cmd.Name, Description: truncate(b.t(lang, "bot_cmd_"+cmd.Name, nil), 256)})
	}
	return out
}

// t is the message id in lang (English when lang lacks it).
func (b *Bot) t(lang, id string, data map[string]any) string {
	return b.texts.T(lang, id, data)
}

// topicName is the topic's name in lang, or its slug for a topic nobody translated.
func (b *Bot) topicName(lang, slug string) string {
	id := "topic_" + slug
	if s := b.texts.T(lang, id, nil); s != id && s != "" {
		return s
	}
	return slug
}

// langNames lists languages by their names in lang: "Kazakh, Russian".
func (b *Bot) langNames(lang string, langs []string) string {
	names := make([]string, 0, len(langs))
	for _, l := range langs {
		id := "lang_" + l
		s := b.texts.T(lang, id, nil)
		if s == id || s == "" {
			s = l
		}
		names = append(names, s)
	}
	return strings.Join(names, ", ")
}

// langsInText lists languages as they stand inside a sentence in lang: «казахский, русский».
// Kazakh and Russian write language names in lower case there; the capitalised lang_* names
// are for headings (/stats) and buttons.
func (b *Bot) langsInText(lang string, langs []string) string {
	names := make([]string, 0, len(langs))
	for _, l := range langs {
		id := "bot_lang_" + l
		s := b.texts.T(lang, id, nil)
		if s == id || s == "" {
			s = b.langNames(lang, []string{l})
		}
		names = append(names, s)
	}
	return strings.Join(names, ", ")
}

// esc escapes text for Telegram's HTML parse mode. html.EscapeString writes ' and " as
// numeric entities, which Telegram accepts (it knows only four named ones).
func esc(s string) string { return html.EscapeString(s) }

// truncate cuts s to at most n runes, marking the cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimSpace(string(r[:n-1])) + "…"
}
