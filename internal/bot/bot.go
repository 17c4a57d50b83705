// Package bot is the reader conversation in Telegram: the commands (/start, /topics,
// /language, /settings, /latest, /rates, /stop, /help), the inline buttons they show, group-admin checks and a
// per-chat flood limit. Commands and buttons of the editors' desk (package desk) plug into
// the same routers through an Extension. Updates reach the bot through package intake.
package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"newsbot/internal/article"
	"newsbot/internal/rates"
	"newsbot/internal/schedule"
	"newsbot/internal/subscriber"
	"newsbot/internal/telegram"
)

// API is the part of the Telegram client the bot uses. The bot calls it once per reply and
// leaves pacing and retrying (429, requests that never left) to it; the service wires one
// that takes rate-limit slots ahead of fan-out. *telegram.Client satisfies it too.
type API interface {
	Call(ctx context.Context, method string, params map[string]any) (json.RawMessage, error)
	AnswerCallbackQuery(ctx context.Context, id, text string, showAlert bool) error
	GetChatMember(ctx context.Context, chatID, userID int64) (telegram.ChatMember, error)
	SetMyCommands(ctx context.Context, commands []telegram.BotCommand, languageCode string) error
}

// Readers is the subscriber store as the bot uses it; *subscriber.Store satisfies it. The
// single-field changes are atomic in the store, so two quick presses never undo each other.
type Readers interface {
	Get(ctx context.Context, chatID int64) (subscriber.Reader, bool, error)
	Save(ctx context.Context, r subscriber.Reader) error
	SetStatus(ctx context.Context, chatID int64, st subscriber.Status) error
	ToggleTopic(ctx context.Context, chatID int64, topic string) (subscriber.Reader, error)
	SetAllTopics(ctx context.Context, chatID int64, all bool) (subscriber.Reader, error)
	SetLanguages(ctx context.Context, chatID int64, langs []string) (subscriber.Reader, error)
	SetInterfaceLanguage(ctx context.Context, chatID int64, lang string) (subscriber.Reader, error)
	ToggleDigestTime(ctx context.Context, chatID int64, clock string) (subscriber.Reader, error)
	SetQuiet(ctx context.Context, chatID int64, on bool) (subscriber.Reader, error)
	Migrate(ctx context.Context, from, to int64) error
	Update(ctx context.Context, chatID int64, fn func(r *subscriber.Reader, exists bool) error) (subscriber.Reader, error)
}

// Stories gives /latest the newest stories the watcher has seen; *source.Store satisfies it.
type Stories interface {
	Latest(ctx context.Context, langs []string, n int) ([]article.Article, error)
}

// Rates gives /rates the exchange rates; *rates.Service satisfies it. ok is false while no
// fetch has succeeded yet.
type Rates interface {
	Latest(ctx context.Context) (snap rates.Snapshot, ok bool, err error)
}

// Digests is the digest side of delivery as /settings needs it; cmd wires the engine's
// catch-up, over the reply path.
type Digests interface {
	// CatchUp sends a reader who leaves digests for instant reading the stories since their
	// last digest, in one message; before is the reader as they were before the switch.
	// sent is false when there was nothing new.
	CatchUp(ctx context.Context, before subscriber.Reader) (sent bool, err error)
}

// Texts is the translations the bot speaks; *locale.Bundle satisfies it.
type Texts interface {
	T(lang, id string, data map[string]any) string
	Plural(lang, id string, n int, data map[string]any) string
	Date(lang string, t time.Time) string
}

// Extension brings more commands and buttons into the bot's routers; the editors' desk
// (*desk.Desk) is the one the service wires. They pass the same checks as the readers' own:
// ADMIN_IDS for Admin ones, a group's admins for Changes ones, the flood limit.
type Extension interface {
	Commands() []Command
	Buttons() []Button
}

// Options are the bot's dependencies and settings. API, Readers, Stories, Texts, Redis and
// Languages are required.
type Options struct {
	API     API
	Readers Readers
	Stories Stories
	Texts   Texts
	// Redis and Prefix hold the flood limiter and the group-admin cache, shared by every
	// running copy so that a reader is slowed the same whichever copy gets the update.
	Redis  redis.UniversalClient
	Prefix string

	Languages       []string // LANGUAGES; the first languages of stories and of the interface
	DefaultLanguage string   // DEFAULT_LANGUAGE; zero (or not in Languages): the first of Languages
	Topics          []string // TOPICS, in the order the keyboard shows them
	// DefaultMode is DEFAULT_MODE, the reading mode of a new reader; zero (or not a mode):
	// instant.
	DefaultMode subscriber.Mode
	// DigestTimes are DIGEST_TIMES, the toggles /settings offers a digest reader. The store
	// (Readers) must know the same times.
	DigestTimes []schedule.Clock
	// QuietHours is QUIET_HOURS, shown in /settings with its on/off button; zero: no quiet
	// hours, and no button.
	QuietHours schedule.Window
	// Username is the bot's username (getMe), to tell /start@ThisBot from /start@OtherBot;
	// zero: every command addressed as /cmd@name is taken as another bot's.
	Username string
	Location *time.Location // for dates shown to readers; nil: UTC
	Admins   []int64        // ADMIN_IDS: the only users who may run Admin commands; nil: nobody

	// Desk adds the editors' commands and buttons; nil: readers' commands only.
	Desk Extension
	// Rates answers /rates (RATES_URL). Nil: rates are off; /rates is then left out of the
	// menus and /help, and answers in one line that this bot has none.
	Rates Rates
	// Digests sends the catch-up of a reader who leaves digests for instant reading; nil:
	// none is sent (the switch still holds).
	Digests Digests

	// Flood is the per-chat limit; zero values take DefaultFlood.
	Flood FloodLimit
	// AdminCacheTTL is how long a group member's admin status is trusted; zero: 1 minute.
	AdminCacheTTL time.Duration
	// Log takes the bot's lines; nil: discarded.
	Log *slog.Logger
}

// Bot handles Telegram updates. It is safe for concurrent use; the intake keeps the updates
// of one chat in order.
type Bot struct {
	api      API
	readers  Readers
	stories  Stories
	rates    Rates
	digests  Digests
	texts    Texts
	rdb      redis.UniversalClient
	prefix   string
	langs    []string
	defLang  string
	topics   []string
	defMode  subscriber.Mode
	dtimes   []schedule.Clock
	quiet    schedule.Window
	username string
	loc      *time.Location
	admins   []int64
	flood    FloodLimit
	adminTTL time.Duration
	log      *slog.Logger

	floodScript *redis.Script
	commands    []Command
	buttons     []Button
}

// New returns a bot; it does no network I/O.
func New(o Options) (*Bot, error) {
	var missing []string
	if o.API == nil {
		missing = append(missing, "API")
	}
	if o.Readers == nil {
		missing = append(missing, "Readers")
	}
	if o.Stories == nil {
		missing = append(missing, "Stories")
	}
	if o.Texts == nil {
		missing = append(missing, "Texts")
	}
	if o.Redis == nil {
		missing = append(missing, "Redis")
	}
	if len(o.Languages) == 0 {
		missing = append(missing, "Languages")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("new bot: missing %s", strings.Join(missing, ", "))
	}
	def := o.DefaultLanguage
	if !slices.Contains(o.Languages, def) {
		def = o.Languages[0]
	}
	loc := o.Location
	if loc == nil {
		loc = time.UTC
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mode := o.DefaultMode
	if !mode.Valid() {
		mode = subscriber.Instant
	}
	ttl := o.AdminCacheTTL
	if ttl <= 0 {
		ttl = time.Minute
	}
	b := &Bot{
		api:         o.API,
		readers:     o.Readers,
		stories:     o.Stories,
		rates:       o.Rates,
		digests:     o.Digests,
		texts:       o.Texts,
		rdb:         o.Redis,
		prefix:      o.Prefix,
		langs:       slices.Clone(o.Languages),
		defLang:     def,
		topics:      slices.Clone(o.Topics),
		defMode:     mode,
		dtimes:      slices.Clone(o.DigestTimes),
		quiet:       o.QuietHours,
		username:    strings.TrimPrefix(o.Username, "@"),
		loc:         loc,
		admins:      slices.Clone(o.Admins),
		flood:       o.Flood.withDefaults(),
		adminTTL:    ttl,
		log:         log,
		floodScript: newFloodScript(),
	}
	b.commands = b.readerCommands()
	b.buttons = b.readerButtons()
	if o.Desk != nil {
		b.commands = append(b.commands, o.Desk.Commands()...)
		b.buttons = append(b.buttons, o.Desk.Buttons()...)
	}
	if err := b.checkRoutes(); err != nil {
		return nil, fmt.Errorf("new bot: %w", err)
	}
	if b.username == "" {
		// Without it every "/cmd@name" is taken as meant for another bot: groups that
		// address the bot explicitly would get no answer.
		log.Warn("no username given (getMe); commands addressed as /cmd@bot will be ignored")
	}
	return b, nil
}

// checkRoutes refuses a command or button prefix defined twice: the second would never run.
func (b *Bot) checkRoutes() error {
	names := map[string]bool{}
	for _, c := range b.commands {
		if c.Name == "" || c.Run == nil || names[c.Name] {
			return fmt.Errorf("command %q is empty or defined twice", c.Name)
		}
		names[c.Name] = true
	}
	prefixes := map[string]bool{}
	for _, btn := range b.buttons {
		if btn.Prefix == "" || btn.Run == nil || prefixes[btn.Prefix] {
			return fmt.Errorf("button prefix %q is empty or defined twice", btn.Prefix)
		}
		prefixes[btn.Prefix] = true
	}
	return nil
}

// HandleUpdate answers one update. Errors are logged here, once: an update is never retried
// (Telegram would only send the same press again), and one bad update must not stop the
// others. A panic is not recovered here: the intake's Dispatcher recovers, counts and logs
// every handler's panic in one place.
func (b *Bot) HandleUpdate(ctx context.Context, u telegram.Update) {
	var err error
	switch {
	case u.Message != nil:
		err = b.onMessage(ctx, u.Message)
	case u.CallbackQuery != nil:
		err = b.onCallback(ctx, u.CallbackQuery)
	case u.MyChatMember != nil:
		err = b.onMyChatMember(ctx, u.MyChatMember)
	default:
		// Edited messages, channel posts, inline queries...: nothing a reader expects an
		// answer to.
		return
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		b.log.Warn("handle update", "update_id", u.UpdateID, "err", err)
	}
}

// isAdmin reports whether userID is one of ADMIN_IDS.
func (b *Bot) isAdmin(userID int64) bool { return userID != 0 && slices.Contains(b.admins, userID) }

// langOf maps a Telegram language_code ("ru", "ru-RU", "en_US") to one of LANGUAGES, or "".
func (b *Bot) langOf(code string) string {
	code = strings.ToLower(strings.TrimSpace(code))
	if i := strings.IndexAny(code, "-_"); i >= 0 {
		code = code[:i]
	}
	if code != "" && slices.Contains(b.langs, code) {
		return code
	}
	return ""
}

// send posts an HTML message to a chat, once: pacing and retries are the API's. A chat that
// blocked the bot is marked so, and never written to again until it comes back with /start.
func (b *Bot) send(ctx context.Context, chatID int64, text string, markup any) error {
	p := map[string]any{
		"chat_id":              chatID,
		"text":                 text,
		"parse_mode":           "HTML",
		"link_preview_options": map[string]any{"is_disabled": true},
	}
	if markup != nil {
		p["reply_markup"] = markup
	}
	if _, err := b.api.Call(ctx, "sendMessage", p); err != nil {
		b.gone(ctx, chatID, err)
		return fmt.Errorf("send message to %d: %w", chatID, err)
	}
	return nil
}

// gone marks a reader blocked when Telegram says the chat cannot be written to.
func (b *Bot) gone(ctx context.Context, chatID int64, err error) {
	if o := telegram.OutcomeOf(err); o != telegram.Blocked && o != telegram.ChatGone {
		return
	}
	if _, ok, gerr := b.readers.Get(ctx, chatID); gerr != nil || !ok {
		return
	}
	if serr := b.readers.SetStatus(ctx, chatID, subscriber.Blocked); serr != nil {
		b.log.Warn("mark reader blocked", "chat_id", chatID, "err", serr)
	}
}

// edit replaces a message's text and keyboard (text "" keeps the text, editing only the
// keyboard). Telegram refuses an edit that changes nothing; that is not a failure here.
func (b *Bot) edit(ctx context.Context, chatID int64, messageID int, text string, markup any) error {
	p := map[string]any{"chat_id": chatID, "message_id": messageID, "reply_markup": markup}
	method := "editMessageReplyMarkup"
	if text != "" {
		method = "editMessageText"
		p["text"] = text
		p["parse_mode"] = "HTML"
		p["link_preview_options"] = map[string]any{"is_disabled": true}
	}
	if _, err := b.api.Call(ctx, method, p); err != nil {
		if telegram.OutcomeOf(err) == telegram.NotModified {
			return nil
		}
		return fmt.Errorf("%s in %d: %w", method, chatID, err)
	}
	return nil
}
