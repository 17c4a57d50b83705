// Package desk is the editors' desk in Telegram, for ADMIN_IDS only: /publish (a preview
// exactly as readers get it, then Confirm, Cancel or Breaking), /stats and /audit. Its
// commands and buttons plug into the bot's routers (*Desk is a bot.Extension), which check
// ADMIN_IDS before any of them runs. A /publish waiting for its buttons is a request in
// Redis (requests.go), moved on by one Lua script so that two presses, or two editors,
// push once; what was pushed is kept in the audit trail (package audit).
package desk

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/redis/go-redis/v9"

	"newsbot/internal/article"
	"newsbot/internal/audit"
	"newsbot/internal/bot"
	"newsbot/internal/delivery"
	"newsbot/internal/post"
	"newsbot/internal/subscriber"
)

// API is the part of the Telegram client the desk calls itself (the preview, the control
// message whose id it keeps); everything else goes through bot.Call and bot.Press.
type API interface {
	Call(ctx context.Context, method string, params map[string]any) (json.RawMessage, error)
}

// Texts is the translations the desk speaks; *locale.Bundle satisfies it (and so bot.Texts,
// whose helpers name topics and languages).
type Texts interface {
	T(lang, id string, data map[string]any) string
	Plural(lang, id string, n int, data map[string]any) string
	Date(lang string, t time.Time) string
}

// Publisher pushes a story on an editor's word and tells what delivery did;
// *delivery.Engine satisfies it.
type Publisher interface {
	Push(ctx context.Context, a article.Article, opt delivery.PushOptions) (delivery.JobID, error)
	// Stats is delivery's counters and running jobs, for /stats.
	Stats(ctx context.Context) (delivery.Stats, error)
	// Delivered reports whether a story already went out (its channel post or a fan-out
	// job), whoever sent it, so /publish asks before pushing it again.
	Delivered(ctx context.Context, articleID string) (bool, error)
	// Job is the status of a job, running or finished, so /audit shows how a push ended.
	Job(ctx context.Context, id delivery.JobID) (delivery.JobStatus, bool, error)
}

// Renderer renders a story as readers get it; *post.Renderer satisfies it. It must be the one
// delivery renders with, or the preview would lie.
type Renderer interface {
	Render(a article.Article, lang string, chatID any) (post.Post, error)
}

// Stories finds a story the watcher has seen; *source.Store satisfies it.
type Stories interface {
	Get(ctx context.Context, id string) (article.Article, bool, error)
	FindByURL(ctx context.Context, url string) (article.Article, bool, error)
}

// Audience sizes a story's audience and counts readers; *subscriber.Store satisfies it.
type Audience interface {
	AudiencePage(ctx context.Context, lang string, topics []string, breaking bool, after int64, n int) ([]int64, error)
	Counts(ctx context.Context) (subscriber.Counts, error)
}

// Options are the desk's dependencies and settings. All but Prefix, Topics, Location,
// AuditCap and Log are required.
type Options struct {
	API       API
	Texts     Texts
	Stories   Stories
	Audience  Audience
	Publisher Publisher
	Renderer  Renderer
	// Redis and Prefix hold the pending publish requests and the audit trail.
	Redis  redis.UniversalClient
	Prefix string

	Languages []string       // LANGUAGES, the order /stats lists them in
	Topics    []string       // TOPICS, the order /stats lists them in
	Location  *time.Location // for the dates editors see; nil: UTC
	// AuditCap is how many pushes the audit trail keeps; zero: audit.DefaultCap.
	AuditCap int
	// Log takes the desk's lines (every editor's command and push); nil: discarded.
	Log *slog.Logger
}

// Desk answers the editors' commands and buttons.
type Desk struct {
	api      API
	texts    Texts
	stories  Stories
	audience Audience
	pub      Publisher
	render   Renderer
	requests *requests
	audit    *audit.Store
	langs    []string
	topics   []string
	loc      *time.Location
	log      *slog.Logger
	now      func() time.Time
}

// New returns the desk; it does no I/O. Hand it to bot.Options.Desk.
func New(o Options) (*Desk, error) {
	var missing []string
	for _, dep := range []struct {
		name string
		nil  bool
	}{
		{"API", o.API == nil}, {"Texts", o.Texts == nil}, {"Stories", o.Stories == nil},
		{"Audience", o.Audience == nil}, {"Publisher", o.Publisher == nil},
		{"Renderer", o.Renderer == nil}, {"Redis", o.Redis == nil}, {"Languages", len(o.Languages) == 0},
	} {
		if dep.nil {
			missing = append(missing, dep.name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("new desk: missing %s", strings.Join(missing, ", "))
	}
	loc := o.Location
	if loc == nil {
		loc = time.UTC
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Desk{
		api:      o.API,
		texts:    o.Texts,
		stories:  o.Stories,
		audience: o.Audience,
		pub:      o.Publisher,
		render:   o.Renderer,
		requests: newRequests(o.Redis, o.Prefix),
		audit:    audit.NewStore(o.Redis, o.Prefix, o.AuditCap),
		langs:    slices.Clone(o.Languages),
		topics:   slices.Clone(o.Topics),
		loc:      loc,
		log:      log,
		now:      time.Now,
	}, nil
}

// Commands are the desk's commands, for ADMIN_IDS only; part of bot.Extension.
func (d *Desk) Commands() []bot.Command {
	return []bot.Command{
		{Name: "publish", Admin: true, Run: d.cmdPublish},
		{Name: "stats", Admin: true, Run: d.cmdStats},
		{Name: "audit", Admin: true, Run: d.cmdAudit},
	}
}

// Buttons are the /publish control buttons, for ADMIN_IDS only; part of bot.Extension.
func (d *Desk) Buttons() []bot.Button {
	return []bot.Button{{Prefix: viewPublish, Admin: true, Run: d.pressPublish}}
}

// t is the message id in lang.
func (d *Desk) t(lang, id string, data map[string]any) string { return d.texts.T(lang, id, data) }

// line is the message id in lang, escaped for HTML.
func (d *Desk) line(lang, id string, data map[string]any) string {
	return bot.Escape(d.texts.T(lang, id, data))
}

// date is t in the desk's time zone, as editors read dates in lang.
func (d *Desk) date(lang string, t time.Time) string { return d.texts.Date(lang, t.In(d.loc)) }

func (d *Desk) readersCount(lang string, n int64) string {
	return d.texts.Plural(lang, "admin_n_readers", int(n), nil)
}

// maxMessage is how much raw HTML one message carries, in UTF-16 units. Telegram allows 4096
// characters after parsing, which is never more than the raw text.
const maxMessage = 4000

// sendLong sends a text that may be longer than one message (/stats with many topics) as
// several, cut between lines: every line the desk builds closes its own tags.
func sendLong(ctx context.Context, c *bot.Call, text string) error {
	for _, chunk := range splitMessage(text, maxMessage) {
		if err := c.Send(ctx, chunk, nil); err != nil {
			return err
		}
	}
	return nil
}

// splitMessage cuts text between lines into chunks of at most n UTF-16 units (a line longer
// than n stays whole). Blank chunks are dropped: Telegram refuses an empty message.
func splitMessage(text string, n int) []string {
	var (
		out  []string
		cur  []string
		size int
	)
	flush := func() {
		if chunk := strings.Join(cur, "\n"); strings.TrimSpace(chunk) != "" {
			out = append(out, strings.Trim(chunk, "\n"))
		}
		cur, size = nil, 0
	}
	for _, line := range strings.Split(text, "\n") {
		l := 1 // the line break
		for _, r := range line {
			l += utf16.RuneLen(r)
		}
		if size > 0 && size+l > n {
			flush()
		}
		cur = append(cur, line)
		size += l
	}
	flush()
	return out
}
