package bot

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"newsbot/internal/article"
	"newsbot/internal/audit"
	"newsbot/internal/delivery"
	"newsbot/internal/post"
	"newsbot/internal/subscriber"
	"newsbot/internal/telegram"
)

// The editors' desk: /publish (preview, then confirm), /stats and /audit, for ADMIN_IDS only.
//
// /publish sends the post exactly as readers get it (same renderer, same method), then a
// control message with the buttons. The buttons do not sit on the preview itself: that would
// replace the post's own keyboard (Read / Share), and the preview would no longer be what
// readers see. The control message is the one edited to say who published it and when.
//
// A button carries only an opaque random token ("p1:<action>:<token>"); what it stands for —
// story, asking admin, chat, message, breaking flag, state — lives in Redis for
// publishRequestTTL. Forged data names no request; a token seen elsewhere still has to come
// from an admin, in the same chat, under the same message. The state moves open → pushing →
// published (or open → cancelled) in one Lua script, so two presses, or two admins, push once.

// Publisher pushes a story on an admin's word and reports delivery's counters;
// *delivery.Engine satisfies it.
type Publisher interface {
	Push(ctx context.Context, a article.Article, opt delivery.PushOptions) (delivery.JobID, error)
	Stats(ctx context.Context) (delivery.Stats, error)
}

// DeliveryHistory is optionally implemented by the Publisher: whether a story already went
// out (its channel post or a fan-out job), whoever sent it. Without it, /publish knows only
// the pushes in the audit trail.
type DeliveryHistory interface {
	Delivered(ctx context.Context, articleID string) (bool, error)
}

// JobHistory is optionally implemented by the Publisher: the status of a job, running or
// finished, so /audit shows how a push ended. Without it, /audit shows only the audience
// at push time.
type JobHistory interface {
	Job(ctx context.Context, id delivery.JobID) (delivery.JobStatus, bool, error)
}

// Renderer renders a story as readers get it; *post.Renderer satisfies it. It must be the one
// delivery renders with, or the preview would lie.
type Renderer interface {
	Render(a article.Article, lang string, chatID any) (post.Post, error)
}

// Lookup finds a story the watcher has seen; *source.Store satisfies it.
type Lookup interface {
	Get(ctx context.Context, id string) (article.Article, bool, error)
	FindByURL(ctx context.Context, url string) (article.Article, bool, error)
}

// Audience sizes a story's audience and counts readers; *subscriber.Store satisfies it.
type Audience interface {
	AudiencePage(ctx context.Context, lang string, topics []string, breaking bool, after int64, n int) ([]int64, error)
	Counts(ctx context.Context) (subscriber.Counts, error)
}

// viewPublish is the prefix of the /publish control buttons.
const viewPublish = "p1"

// Actions of the /publish buttons.
const (
	actConfirm  = "c" // push (asks again first when the story went out before)
	actAgain    = "a" // push although it went out before
	actBreaking = "b" // toggle "breaking: all readers"
	actCancel   = "x"
)

// publishRequestTTL is how long a preview's buttons work.
const publishRequestTTL = time.Hour

// auditShown is how many pushes /audit lists.
const auditShown = 10

// audiencePage is how many chat ids one AudiencePage call returns while counting.
const audiencePage = 5000

// Request states.
const (
	stOpen      = "open"
	stPushing   = "pushing"
	stPublished = "published"
	stCancelled = "cancelled"
)

func adminCommands() []Command {
	return []Command{
		{Name: "publish", Admin: true, Run: (*Bot).cmdPublish},
		{Name: "stats", Admin: true, Run: (*Bot).cmdStats},
		{Name: "audit", Admin: true, Run: (*Bot).cmdAudit},
	}
}

func adminButtons() []Button {
	return []Button{{Prefix: viewPublish, Admin: true, Run: (*Bot).pressPublish}}
}

// userName is how a user is shown in "Published by X": their name, else @username, else id.
func userName(u *telegram.User) string {
	if u == nil {
		return ""
	}
	name := strings.TrimSpace(strings.TrimSpace(u.FirstName) + " " + strings.TrimSpace(u.LastName))
	switch {
	case name != "":
		return truncate(name, 64)
	case u.UserName != "":
		return "@" + u.UserName
	}
	return strconv.FormatInt(u.ID, 10)
}

// findStory looks the argument up as an id, then as a URL: as written, then without utm_
// parameters and fragment, then with the other scheme (source already tries the trailing
// slash both ways).
func (b *Bot) findStory(ctx context.Context, arg string) (article.Article, bool, error) {
	a, ok, err := b.lookup.Get(ctx, arg)
	if err != nil || ok {
		return a, ok, err
	}
	u, perr := url.Parse(arg)
	if perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return article.Article{}, false, nil
	}
	candidates := []string{arg}
	q := u.Query()
	for k := range q {
		if strings.HasPrefix(strings.ToLower(k), "utm_") {
			q.Del(k)
		}
	}
	u.RawQuery, u.Fragment, u.RawFragment = q.Encode(), "", ""
	candidates = append(candidates, u.String())
	if u.Scheme == "https" {
		u.Scheme = "http"
	} else {
		u.Scheme = "https"
	}
	candidates = append(candidates, u.String())
	seen := map[string]bool{}
	for _, c := range candidates {
		if seen[c] {
			continue
		}
		seen[c] = true
		a, ok, err := b.lookup.FindByURL(ctx, c)
		if err != nil || ok {
			return a, ok, err
		}
	}
	return article.Article{}, false, nil
}

// deskReady reports whether /publish has what it needs, telling the admin when not.
func (b *Bot) deskReady(ctx context.Context, c *call) (bool, error) {
	if b.pub == nil || b.render == nil || b.lookup == nil {
		return false, b.reply(ctx, c, "admin_desk_off")
	}
	return true, nil
}

func (b *Bot) cmdPublish(ctx context.Context, c *call) error {
	b.log.Info("bot: admin command", "command", "publish", "user_id", c.userID, "chat_id", c.chatID, "arg", truncate(c.args, 200))
	if ok, err := b.deskReady(ctx, c); !ok {
		return err
	}
	arg := strings.TrimSpace(c.args)
	if arg == "" || strings.ContainsAny(arg, " \n\t") || len(arg) > 2048 {
		return b.reply(ctx, c, "admin_publish_usage")
	}
	a, ok, err := b.findStory(ctx, arg)
	if err != nil {
		_ = b.reply(ctx, c, "bot_error")
		return fmt.Errorf("find story %q: %w", arg, err)
	}
	if !ok {
		return b.send(ctx, c.chatID, esc(b.t(c.lang, "admin_not_found", map[string]any{"Arg": truncate(arg, 200)})), nil)
	}
	if a.Retracted {
		return b.send(ctx, c.chatID, esc(b.t(c.lang, "admin_retracted", map[string]any{"Title": truncate(a.Title, 200)})), nil)
	}

	// The preview: the very post a reader with this admin's interface language gets.
	p, err := b.render.Render(a, c.lang, c.chatID)
	if err != nil {
		_ = b.send(ctx, c.chatID, esc(b.t(c.lang, "admin_render_failed", map[string]any{"Reason": err.Error()})), nil)
		return fmt.Errorf("render preview of %s: %w", a.ID, err)
	}
	if _, err := b.api.Call(ctx, p.Method, p.Params); err != nil {
		// Readers would get the same refusal (a photo Telegram cannot fetch, say): worth
		// knowing before pushing.
		reason := err.Error()
		var te *telegram.Error
		if errors.As(err, &te) {
			reason = te.Description
		}
		_ = b.send(ctx, c.chatID, esc(b.t(c.lang, "admin_preview_failed", map[string]any{"Reason": reason})), nil)
		return fmt.Errorf("send preview of %s: %w", a.ID, err)
	}

	token, err := newToken()
	if err != nil {
		_ = b.reply(ctx, c, "bot_error")
		return err
	}
	req := publishRequest{token: token, articleID: a.ID, hash: a.Hash(), by: c.userID, chat: c.chatID, lang: c.lang}
	key := keyPublishRequest(b.prefix, token)
	_, err = b.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, key, req.fields())
		p.Expire(ctx, key, publishRequestTTL)
		return nil
	})
	if err != nil {
		_ = b.reply(ctx, c, "bot_error")
		return fmt.Errorf("save publish request: %w", err)
	}
	text := b.controlText(ctx, req, a, "")
	res, err := b.api.Call(ctx, "sendMessage", map[string]any{
		"chat_id": c.chatID, "text": text, "parse_mode": "HTML",
		"link_preview_options": map[string]any{"is_disabled": true},
		"reply_markup":         b.controlKeyboard(req),
	})
	if err != nil {
		return fmt.Errorf("send publish controls: %w", err)
	}
	msgID, err := messageID(res)
	if err != nil {
		return fmt.Errorf("send publish controls: %w", err)
	}
	// Only presses under this very message count.
	if err := b.rdb.HSet(ctx, key, "msg", msgID).Err(); err != nil {
		return fmt.Errorf("save publish request: %w", err)
	}
	return nil
}

// messageID reads message_id from a sendMessage result.
func messageID(raw []byte) (int, error) {
	var m struct {
		MessageID int `json:"message_id"`
	}
	if err := json.Unmarshal(raw, &m); err != nil || m.MessageID == 0 {
		return 0, fmt.Errorf("no message_id in %q", truncate(string(raw), 100))
	}
	return m.MessageID, nil
}

func newToken() (string, error) {
	var buf [12]byte
	if _, err := rand.Read(buf[:]); err != nil {
		return "", fmt.Errorf("new publish token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(buf[:]), nil
}

// publishRequest is a pending /publish as stored under its token.
type publishRequest struct {
	token     string
	articleID string
	hash      string // the story as previewed; a correction since then needs a new preview
	by        int64  // the admin who asked
	chat      int64
	msg       int // the control message
	lang      string
	breaking  bool
	state     string
	doneBy    string // who published or cancelled it
	doneAt    time.Time
	job       string
	audience  int64
}

func (r publishRequest) fields() map[string]any {
	return map[string]any{
		"a": r.articleID, "h": r.hash, "by": r.by, "chat": r.chat, "lang": r.lang,
		"brk": flagOf(r.breaking), "st": stOpen,
	}
}

func flagOf(v bool) string {
	if v {
		return "1"
	}
	return "0"
}

func parseRequest(token string, m map[string]string) publishRequest {
	num := func(k string) int64 { n, _ := strconv.ParseInt(m[k], 10, 64); return n }
	r := publishRequest{
		token: token, articleID: m["a"], hash: m["h"], by: num("by"), chat: num("chat"), msg: int(num("msg")),
		lang: m["lang"], breaking: m["brk"] == "1", state: m["st"], doneBy: m["who"], job: m["job"], audience: num("n"),
	}
	if ms := num("at"); ms > 0 {
		r.doneAt = time.UnixMilli(ms)
	}
	return r
}

// transitionLua moves a request on. ARGV: action (claim|cancel|toggle|release|done),
// who, now (ms), and for done the job id and audience. Returns {state-before, who, at}
// when the action does not apply, {"ok", ...} when it did.
const transitionLua = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'gone', '', ''} end
local st = redis.call('HGET', KEYS[1], 'st')
local act = ARGV[1]
if act == 'release' then
  if st == 'pushing' then redis.call('HSET', KEYS[1], 'st', 'open') end
  return {'ok', '', ''}
end
if act == 'done' then
  redis.call('HSET', KEYS[1], 'st', 'published', 'job', ARGV[4], 'n', ARGV[5])
  return {'ok', '', ''}
end
if st ~= 'open' then
  return {st, redis.call('HGET', KEYS[1], 'who') or '', redis.call('HGET', KEYS[1], 'at') or ''}
end
if act == 'claim' then
  redis.call('HSET', KEYS[1], 'st', 'pushing', 'who', ARGV[2], 'at', ARGV[3])
elseif act == 'cancel' then
  redis.call('HSET', KEYS[1], 'st', 'cancelled', 'who', ARGV[2], 'at', ARGV[3])
elseif act == 'toggle' then
  local b = redis.call('HGET', KEYS[1], 'brk')
  if b == '1' then b = '0' else b = '1' end
  redis.call('HSET', KEYS[1], 'brk', b)
end
return {'ok', '', ''}
`

func newTransitionScript() *redis.Script { return redis.NewScript(transitionLua) }

// transition runs the state machine; ok is false when the request is gone or not open, and
// then before holds its state, who and when.
func (b *Bot) transition(ctx context.Context, token, action, who string, extra ...any) (ok bool, before publishRequest, err error) {
	args := append([]any{action, who, b.now().UnixMilli()}, extra...)
	res, err := b.transitionScript.Run(ctx, b.rdb, []string{keyPublishRequest(b.prefix, token)}, args...).StringSlice()
	if err != nil {
		return false, publishRequest{}, fmt.Errorf("publish request %s: %w", action, err)
	}
	if len(res) != 3 {
		return false, publishRequest{}, fmt.Errorf("publish request %s: unexpected answer %q", action, res)
	}
	if res[0] == "ok" {
		return true, publishRequest{}, nil
	}
	before = publishRequest{state: res[0], doneBy: res[1]}
	if ms, _ := strconv.ParseInt(res[2], 10, 64); ms > 0 {
		before.doneAt = time.UnixMilli(ms)
	}
	return false, before, nil
}

// pressPublish handles the /publish buttons. Every press re-checks ADMIN_IDS (the router does,
// before this runs) and that the token names a live request of this chat and message.
func (b *Bot) pressPublish(ctx context.Context, p *press) error {
	action, token, _ := strings.Cut(p.arg, ":")
	if token == "" || len(token) > 32 || strings.ContainsAny(token, ":{}") {
		b.answer(ctx, p, b.t(p.lang, "bot_button_stale", nil))
		return nil
	}
	lang := p.lang
	m, err := b.rdb.HGetAll(ctx, keyPublishRequest(b.prefix, token)).Result()
	if err != nil {
		return fmt.Errorf("load publish request: %w", err)
	}
	if len(m) == 0 {
		b.answer(ctx, p, b.t(lang, "admin_expired", nil))
		return nil
	}
	req := parseRequest(token, m)
	if req.chat != p.chatID || (req.msg != 0 && req.msg != p.messageID) {
		b.log.Warn("bot: publish button under another message", "user_id", p.userID, "chat_id", p.chatID)
		b.answer(ctx, p, b.t(lang, "bot_button_stale", nil))
		return nil
	}
	name := userName(p.q.From)
	switch action {
	case actCancel:
		return b.cancelPublish(ctx, p, req, lang, name)
	case actBreaking:
		return b.toggleBreaking(ctx, p, req, lang, name)
	case actConfirm, actAgain:
		return b.confirmPublish(ctx, p, req, lang, name, action == actAgain)
	}
	b.answer(ctx, p, b.t(lang, "bot_button_stale", nil))
	return nil
}

// notOpen answers a press on a request that is no longer open.
func (b *Bot) notOpen(ctx context.Context, p *press, lang string, before publishRequest) {
	data := map[string]any{"Name": before.doneBy, "Time": b.texts.Date(lang, before.doneAt.In(b.loc))}
	switch before.state {
	case "gone":
		b.answer(ctx, p, b.t(lang, "admin_expired", nil))
	case stPushing:
		b.answer(ctx, p, b.t(lang, "admin_pushing", data))
	case stPublished:
		b.answer(ctx, p, b.t(lang, "admin_already_published", data))
	case stCancelled:
		b.answer(ctx, p, b.t(lang, "admin_was_cancelled", data))
	default:
		b.answer(ctx, p, b.t(lang, "bot_button_stale", nil))
	}
}

func (b *Bot) cancelPublish(ctx context.Context, p *press, req publishRequest, lang, name string) error {
	ok, before, err := b.transition(ctx, req.token, "cancel", name)
	if err != nil {
		return err
	}
	if !ok {
		b.notOpen(ctx, p, lang, before)
		return nil
	}
	b.log.Info("bot: publish cancelled", "user_id", p.userID, "article_id", req.articleID)
	b.answer(ctx, p, b.t(lang, "admin_cancelled_note", nil))
	text := esc(b.t(req.lang, "admin_cancelled", map[string]any{"Name": name, "Time": b.texts.Date(req.lang, b.now().In(b.loc))}))
	return b.edit(ctx, p.chatID, p.messageID, text, nil)
}

func (b *Bot) toggleBreaking(ctx context.Context, p *press, req publishRequest, lang, name string) error {
	ok, before, err := b.transition(ctx, req.token, "toggle", name)
	if err != nil {
		return err
	}
	if !ok {
		b.notOpen(ctx, p, lang, before)
		return nil
	}
	req.breaking = !req.breaking
	a, found, err := b.lookup.Get(ctx, req.articleID)
	if err != nil {
		return fmt.Errorf("load story %s: %w", req.articleID, err)
	}
	if !found {
		b.answer(ctx, p, b.t(lang, "admin_story_gone", nil))
		return nil
	}
	note := "admin_breaking_off"
	if req.breaking {
		note = "admin_breaking_on"
	}
	b.answer(ctx, p, b.t(lang, note, nil))
	return b.edit(ctx, p.chatID, p.messageID, b.controlText(ctx, req, a, ""), b.controlKeyboard(req))
}

// confirmPublish pushes the story, once. A story that went out before is pushed only after a
// second, explicit "push again".
func (b *Bot) confirmPublish(ctx context.Context, p *press, req publishRequest, lang, name string, again bool) error {
	if req.state != stOpen {
		b.notOpen(ctx, p, lang, req)
		return nil
	}
	if b.pub == nil || b.lookup == nil {
		b.answer(ctx, p, b.t(lang, "admin_desk_off", nil))
		return nil
	}
	a, found, err := b.lookup.Get(ctx, req.articleID)
	if err != nil {
		return fmt.Errorf("load story %s: %w", req.articleID, err)
	}
	if !found || a.Retracted {
		b.answer(ctx, p, b.t(lang, "admin_story_gone", nil))
		return nil
	}
	if a.Hash() != req.hash {
		b.answer(ctx, p, b.t(lang, "admin_story_changed", nil))
		return nil
	}
	if !again {
		warning, err := b.pushedBefore(ctx, req.lang, a)
		if err != nil {
			return err
		}
		if warning != "" {
			// Ask again, on the control message itself: the first Confirm only led here.
			b.answer(ctx, p, "")
			return b.edit(ctx, p.chatID, p.messageID, b.controlText(ctx, req, a, warning), b.againKeyboard(req))
		}
	}

	ok, before, err := b.transition(ctx, req.token, "claim", name)
	if err != nil {
		return err
	}
	if !ok {
		b.notOpen(ctx, p, lang, before)
		return nil
	}
	audience := b.audienceSize(ctx, a, req.breaking)
	job, err := b.pub.Push(ctx, a, delivery.PushOptions{Breaking: req.breaking, By: p.userID})
	if err != nil {
		// Nothing went out for sure: let the admin try again.
		if _, _, rerr := b.transition(context.WithoutCancel(ctx), req.token, "release", name); rerr != nil {
			b.log.Warn("bot: release publish request", "err", rerr)
		}
		b.answer(ctx, p, b.t(lang, "admin_push_failed", nil))
		return fmt.Errorf("push %s: %w", a.ID, err)
	}
	// From here the push happened: bookkeeping failures are logged, never undone.
	wctx := context.WithoutCancel(ctx)
	now := b.now()
	if _, _, err := b.transition(wctx, req.token, "done", name, string(job), audience); err != nil {
		b.log.Warn("bot: mark publish request done", "err", err)
	}
	entry := audit.Entry{ArticleID: a.ID, Title: a.Title, Lang: a.Lang, By: p.userID, ByName: name, At: now,
		Breaking: req.breaking || a.Breaking, JobID: string(job), Audience: audience}
	if err := b.audit.Record(wctx, entry); err != nil {
		b.log.Error("bot: record push in the audit trail", "article_id", a.ID, "err", err)
	}
	b.log.Info("bot: story pushed by an admin", "user_id", p.userID, "article_id", a.ID, "lang", a.Lang,
		"breaking", entry.Breaking, "job", string(job), "audience", audience)
	b.answer(ctx, p, b.t(lang, "admin_published_note", nil))
	return b.edit(wctx, p.chatID, p.messageID, b.publishedText(req.lang, entry), nil)
}

// pushedBefore returns a warning when the story went out before: pushed by an admin (the
// audit trail), or sent when it was published (delivery, when it can tell).
func (b *Bot) pushedBefore(ctx context.Context, lang string, a article.Article) (string, error) {
	last, ok, err := b.audit.Last(ctx, a.ID)
	if err != nil {
		return "", err
	}
	if ok {
		return b.t(lang, "admin_pushed_before", map[string]any{
			"Name": last.ByName, "Time": b.texts.Date(lang, last.At.In(b.loc)),
		}), nil
	}
	if h, ok := b.pub.(DeliveryHistory); ok {
		sent, err := h.Delivered(ctx, a.ID)
		if err != nil {
			return "", fmt.Errorf("delivery history of %s: %w", a.ID, err)
		}
		if sent {
			return b.t(lang, "admin_delivered_before", nil), nil
		}
	}
	return "", nil
}

// audienceSize counts the readers a push reaches now (-1 when unknown). Readers who already
// got the story are among them; delivery skips those.
func (b *Bot) audienceSize(ctx context.Context, a article.Article, breaking bool) int64 {
	if b.audience == nil {
		return -1
	}
	var n int64
	after := int64(-1 << 63)
	for {
		ids, err := b.audience.AudiencePage(ctx, a.Lang, a.Topics, breaking || a.Breaking, after, audiencePage)
		if err != nil {
			b.log.Warn("bot: count audience", "article_id", a.ID, "err", err)
			return -1
		}
		n += int64(len(ids))
		if len(ids) < audiencePage {
			return n
		}
		after = ids[len(ids)-1]
	}
}

// controlText is the control message: what is about to happen, to how many readers.
func (b *Bot) controlText(ctx context.Context, req publishRequest, a article.Article, warning string) string {
	lang := req.lang
	lines := []string{
		"<b>" + esc(b.t(lang, "admin_publish_title", nil)) + "</b>",
		"«" + esc(truncate(a.Title, 200)) + "»",
		esc(b.t(lang, "admin_story_id", nil)) + " <code>" + esc(truncate(a.ID, 100)) + "</code> · " + esc(b.langNames(lang, []string{a.Lang})),
	}
	if n := b.audienceSize(ctx, a, req.breaking); n >= 0 {
		lines = append(lines, esc(b.t(lang, "admin_goes_to", map[string]any{"Readers": b.readersCount(lang, n)})))
	}
	mode := "admin_mode_topics"
	if req.breaking || a.Breaking {
		mode = "admin_mode_breaking"
	}
	lines = append(lines, esc(b.t(lang, mode, nil)), esc(b.t(lang, "admin_channel_note", nil)))
	if warning != "" {
		lines = append(lines, "", "⚠️ "+esc(warning))
	}
	return strings.Join(lines, "\n")
}

func (b *Bot) readersCount(lang string, n int64) string {
	return b.texts.Plural(lang, "admin_n_readers", int(n), nil)
}

func (b *Bot) controlKeyboard(req publishRequest) keyboard {
	lang := req.lang
	return keyboard{InlineKeyboard: [][]keyButton{
		{
			{Text: "✅ " + b.t(lang, "admin_button_confirm", nil), CallbackData: publishData(actConfirm, req.token)},
			{Text: "✖ " + b.t(lang, "admin_button_cancel", nil), CallbackData: publishData(actCancel, req.token)},
		},
		{{Text: mark(req.breaking, "⚡ "+b.t(lang, "admin_button_breaking", nil)), CallbackData: publishData(actBreaking, req.token)}},
	}}
}

func (b *Bot) againKeyboard(req publishRequest) keyboard {
	lang := req.lang
	return keyboard{InlineKeyboard: [][]keyButton{{
		{Text: "✅ " + b.t(lang, "admin_button_again", nil), CallbackData: publishData(actAgain, req.token)},
		{Text: "✖ " + b.t(lang, "admin_button_cancel", nil), CallbackData: publishData(actCancel, req.token)},
	}}}
}

func publishData(action, token string) string { return viewPublish + ":" + action + ":" + token }

// publishedText replaces the control message once the story is pushed.
func (b *Bot) publishedText(lang string, e audit.Entry) string {
	lines := []string{
		"✅ " + esc(b.t(lang, "admin_published", map[string]any{"Name": e.ByName, "Time": b.texts.Date(lang, e.At.In(b.loc))})),
		"«" + esc(truncate(e.Title, 200)) + "»",
	}
	details := esc(b.t(lang, "admin_job", nil)) + " <code>" + esc(e.JobID) + "</code>"
	if e.Audience >= 0 {
		details += " · " + esc(b.readersCount(lang, e.Audience))
	}
	if e.Breaking {
		details += " · ⚡"
	}
	return strings.Join(append(lines, details), "\n")
}

// RegisterAdminCommands gives each admin's private chat a command menu that adds /publish,
// /stats and /audit to the readers' commands (scope "chat"), so editors find them while the
// public menu never shows them. Run at start-up after RegisterCommands. An admin who never
// opened the bot has no chat yet (Telegram answers "chat not found"): they get the public
// menu, and the commands still work.
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
			out = append(out, telegram.BotCommand{Command: cmd.Name, Description: truncate(b.t(lang, "bot_cmd_"+cmd.Name, nil), 256)})
		}
	}
	return out
}
