package bot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"newsbot/internal/rates"
	"newsbot/internal/subscriber"
	"newsbot/internal/telegram"
)

// Command is one entry of the command router. Admin commands (ADMIN_IDS) slot into the same
// table with Admin set: to everyone else they do not exist.
type Command struct {
	Name string // without the slash, lower case
	// Admin: only ADMIN_IDS may run it; others get the unknown-command answer, so the
	// command's existence is not advertised, and the attempt is logged with their user_id.
	Admin bool
	// Changes: it changes the chat's subscription, so in a group only the group's own
	// admins may run it.
	Changes bool
	// Menu: listed in the command menu registered with setMyCommands, and in /help. Admin
	// commands are listed for admins only (RegisterAdminCommands, /help).
	Menu bool
	Run  func(ctx context.Context, c *Call) error
}

// Call is one command being answered.
type Call struct {
	ChatID int64
	UserID int64 // 0 when an anonymous group admin sent it
	Group  bool
	Args   string // what follows the command, trimmed
	Lang   string // the language to answer in

	b      *Bot
	msg    *telegram.Message
	reader subscriber.Reader
	known  bool // reader holds the stored record
}

// Send sends an HTML message (its text escaped by the caller) to the call's chat.
func (c *Call) Send(ctx context.Context, text string, markup any) error {
	return c.b.send(ctx, c.ChatID, text, markup)
}

// Reply sends the translation of message id, in the call's language.
func (c *Call) Reply(ctx context.Context, id string) error {
	return c.Send(ctx, Escape(c.b.texts.T(c.Lang, id, nil)), nil)
}

// active reports whether the chat is a subscribed reader; /topics and /language need one.
func (c *Call) active() bool { return c.known && c.reader.Status == subscriber.Active }

// readerCommands is the readers' command table, in menu order.
func (b *Bot) readerCommands() []Command {
	return []Command{
		{Name: "start", Changes: true, Menu: true, Run: b.cmdStart},
		{Name: "topics", Changes: true, Menu: true, Run: b.cmdTopics},
		{Name: "language", Changes: true, Menu: true, Run: b.cmdLanguage},
		{Name: "settings", Changes: true, Menu: true, Run: b.cmdSettings},
		{Name: "latest", Menu: true, Run: b.cmdLatest},
		// Off (no Rates), it is not offered, yet still answered: readers may know it from
		// elsewhere, or from a menu Telegram still shows from before.
		{Name: "rates", Menu: b.rates != nil, Run: b.cmdRates},
		{Name: "stop", Changes: true, Menu: true, Run: b.cmdStop},
		{Name: "help", Menu: true, Run: b.cmdHelp},
	}
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
	c := &Call{b: b, msg: m, ChatID: chat.ID, Group: group, Args: args}
	if m.From != nil && m.From.ID != telegramGroupAnonymousBot {
		c.UserID = m.From.ID
	}

	if !b.allow(ctx, chat.ID, func() { b.notifyFlood(ctx, c) }) {
		return nil
	}
	if err := b.loadReader(ctx, c); err != nil {
		// Still answer: the reader must not be left talking to silence.
		_ = c.Reply(ctx, "bot_error")
		return err
	}
	if !isCmd {
		return c.Reply(ctx, "bot_plain_text")
	}
	cmd := b.command(name)
	if cmd != nil && cmd.Admin && !b.isAdmin(c.UserID) {
		// Answered as unknown below; the attempt is worth a line for whoever runs the bot.
		b.log.Warn("admin command from a non-admin", "command", name, "user_id", c.UserID, "chat_id", chat.ID)
	}
	if cmd == nil || (cmd.Admin && !b.isAdmin(c.UserID)) {
		if group && at == "" {
			return nil // probably another bot's command
		}
		return c.Reply(ctx, "bot_unknown_command")
	}
	if group && cmd.Changes {
		ok, err := b.mayChangeGroup(ctx, chat.ID, m, c.UserID)
		if err != nil {
			_ = c.Reply(ctx, "bot_error")
			return err
		}
		if !ok {
			return c.Reply(ctx, "bot_group_admin_only")
		}
	}
	if err := cmd.Run(ctx, c); err != nil {
		return fmt.Errorf("/%s in %d: %w", cmd.Name, c.ChatID, err)
	}
	return nil
}

// loadReader fills the reader and the language to answer in: the reader's own choice, else
// their Telegram language, else DEFAULT_LANGUAGE.
func (b *Bot) loadReader(ctx context.Context, c *Call) error {
	var code string
	if c.msg != nil && c.msg.From != nil {
		code = c.msg.From.LanguageCode
	}
	c.Lang = b.langOf(code)
	if c.Lang == "" {
		c.Lang = b.defLang
	}
	r, ok, err := b.readers.Get(ctx, c.ChatID)
	if errors.Is(err, subscriber.ErrCorrupt) {
		// Answered as a stranger, so /start can write a good record over it.
		b.log.Error("unreadable reader record; treating the chat as new", "chat_id", c.ChatID, "err", err)
		r, ok, err = subscriber.Reader{}, false, nil
	}
	if err != nil {
		return fmt.Errorf("load reader: %w", err)
	}
	c.reader, c.known = r, ok
	if ok && slices.Contains(b.langs, r.Lang) {
		c.Lang = r.Lang
	}
	return nil
}

func (b *Bot) cmdTopics(ctx context.Context, c *Call) error {
	if !c.active() {
		return c.Reply(ctx, "bot_not_subscribed")
	}
	// The text names no topics: a press edits only the keyboard, and the answer to the press
	// says what changed.
	return c.Send(ctx, Escape(b.t(c.Lang, "bot_topics_title", nil)), b.topicsKeyboard(c.reader, viewTopics))
}

func (b *Bot) cmdLanguage(ctx context.Context, c *Call) error {
	if !c.active() {
		return c.Reply(ctx, "bot_not_subscribed")
	}
	return c.Send(ctx, b.languageText(c.reader), b.languageKeyboard(c.reader, viewLanguage))
}

// languageText explains the two rows of the /language keyboard.
func (b *Bot) languageText(r subscriber.Reader) string {
	return strings.Join([]string{
		Escape(b.t(r.Lang, "bot_language_current", map[string]any{"Lang": b.langsInText(r.Lang, []string{r.Lang})})),
		Escape(b.t(r.Lang, "bot_status_langs", map[string]any{"Langs": b.langsInText(r.Lang, r.Langs)})),
		"",
		Escape(b.t(r.Lang, "bot_language_hint", nil)),
	}, "\n")
}

// latestCount is how many stories /latest lists.
const latestCount = 5

// maxListedTitle keeps five long titles well inside one 4096-character message.
const maxListedTitle = 300

func (b *Bot) cmdLatest(ctx context.Context, c *Call) error {
	langs := []string{c.Lang}
	if c.known && len(c.reader.Langs) > 0 {
		langs = c.reader.Langs
	}
	stories, err := b.stories.Latest(ctx, langs, latestCount)
	if err != nil {
		_ = c.Reply(ctx, "bot_latest_error")
		return fmt.Errorf("latest stories: %w", err)
	}
	if len(stories) == 0 {
		return c.Reply(ctx, "bot_latest_empty")
	}
	var sb strings.Builder
	sb.WriteString("<b>" + Escape(b.t(c.Lang, "bot_latest_title", nil)) + "</b>")
	for i, a := range stories {
		if i == latestCount {
			break
		}
		fmt.Fprintf(&sb, "\n\n%d. <a href=\"%s\">%s</a>\n<i>%s</i>", i+1, Escape(a.URL),
			Escape(Truncate(a.Title, maxListedTitle)), Escape(b.texts.Date(c.Lang, a.PublishedAt.In(b.loc))))
	}
	return c.Send(ctx, sb.String(), nil)
}

// cmdRates shows the bank's rates of the day, dates in TIMEZONE.
func (b *Bot) cmdRates(ctx context.Context, c *Call) error {
	if b.rates == nil {
		return c.Reply(ctx, "bot_rates_off")
	}
	snap, ok, err := b.rates.Latest(ctx)
	if err != nil {
		_ = c.Reply(ctx, "bot_error")
		return fmt.Errorf("latest rates: %w", err)
	}
	if !ok {
		snap = rates.Snapshot{} // Format answers "not available yet"
	}
	return c.Send(ctx, rates.Format(b.texts, c.Lang, snap, b.loc), nil)
}

func (b *Bot) cmdStop(ctx context.Context, c *Call) error {
	if !c.active() {
		return c.Reply(ctx, "bot_stop_not_subscribed")
	}
	if err := b.readers.SetStatus(ctx, c.ChatID, subscriber.Stopped); err != nil {
		_ = c.Reply(ctx, "bot_error")
		return fmt.Errorf("stop reader: %w", err)
	}
	return c.Reply(ctx, "bot_stop_done")
}

func (b *Bot) cmdHelp(ctx context.Context, c *Call) error {
	return c.Send(ctx, b.helpText(c.Lang, b.isAdmin(c.UserID)), nil)
}

// helpText lists the commands a user may run, with the same descriptions as the menu.
func (b *Bot) helpText(lang string, admin bool) string {
	lines := []string{Escape(b.t(lang, "bot_help_title", nil))}
	for _, cmd := range b.commands {
		if cmd.Admin && !admin || !cmd.Admin && !cmd.Menu {
			continue
		}
		lines = append(lines, "/"+cmd.Name+" — "+Escape(b.t(lang, "bot_cmd_"+cmd.Name, nil)))
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
		out = append(out, telegram.BotCommand{Command: cmd.Name, Description: Truncate(b.t(lang, "bot_cmd_"+cmd.Name, nil), 256)})
	}
	return out
}

// RegisterAdminCommands gives each admin's private chat a command menu that adds the Admin
// commands (the desk's /publish, /stats, /audit) to the readers' commands (scope "chat"), so
// editors find them while the public menu never shows them. Run at start-up after
// RegisterCommands. An admin who never opened the bot has no chat yet (Telegram answers
// "chat not found"): they get the public menu, and the commands still work.
func (b *Bot) RegisterAdminCommands(ctx context.Context) error {
	var errs []error
	for _, id := range b.admins {
		scope := map[string]any{"type": "chat", "chat_id": id}
		for _, lang := range append(slices.Clone(b.langs), "") {
			menuLang := lang
			if menuLang == "" {
				menuLang = b.defLang
			}
			p := map[string]any{"commands": b.adminMenu(menuLang), "scope": scope}
			if lang != "" {
				p["language_code"] = lang
			}
			if _, err := b.api.Call(ctx, "setMyCommands", p); err != nil {
				errs = append(errs, fmt.Errorf("set admin commands of %d (%q): %w", id, lang, err))
				break // the same chat would fail the same way in every language
			}
		}
	}
	return errors.Join(errs...)
}

func (b *Bot) adminMenu(lang string) []telegram.BotCommand {
	out := b.menu(lang)
	for _, cmd := range b.commands {
		if cmd.Admin {
			out = append(out, telegram.BotCommand{Command: cmd.Name, Description: Truncate(b.t(lang, "bot_cmd_"+cmd.Name, nil), 256)})
		}
	}
	return out
}
