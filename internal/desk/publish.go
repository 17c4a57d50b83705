package desk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"newsbot/internal/article"
	"newsbot/internal/audit"
	"newsbot/internal/bot"
	"newsbot/internal/delivery"
	"newsbot/internal/telegram"
)

// /publish sends the post exactly as readers get it (same renderer, same method), then a
// control message with the buttons. The buttons do not sit on the preview itself: that would
// replace the post's own keyboard (Read / Share), and the preview would no longer be what
// readers see. The control message is the one edited to say who published it and when.
//
// A button carries only an opaque random token ("p1:<action>:<token>"); what it stands for is
// a request (requests.go). A token seen elsewhere still has to come from an admin (the bot's
// router checks), in the same chat, under the same message.

// viewPublish is the prefix of the /publish control buttons.
const viewPublish = "p1"

// Actions of the /publish buttons.
const (
	actConfirm  = "c" // push (asks again first when the story went out before)
	actAgain    = "a" // push although it went out before
	actBreaking = "b" // toggle "breaking: all readers"
	actCancel   = "x"
)

// audiencePage is how many chat ids one AudiencePage call returns while counting.
const audiencePage = 5000

// userName is how a user is shown in "Published by X": their name, else @username, else id.
func userName(u *telegram.User) string {
	if u == nil {
		return ""
	}
	name := strings.TrimSpace(strings.TrimSpace(u.FirstName) + " " + strings.TrimSpace(u.LastName))
	switch {
	case name != "":
		return bot.Truncate(name, 64)
	case u.UserName != "":
		return "@" + u.UserName
	}
	return strconv.FormatInt(u.ID, 10)
}

// findStory looks the argument up as an id, then as a URL: as written, then without utm_
// parameters and fragment, then with the other scheme (source already tries the trailing
// slash both ways).
func (d *Desk) findStory(ctx context.Context, arg string) (article.Article, bool, error) {
	a, ok, err := d.stories.Get(ctx, arg)
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
		a, ok, err := d.stories.FindByURL(ctx, c)
		if err != nil || ok {
			return a, ok, err
		}
	}
	return article.Article{}, false, nil
}

func (d *Desk) cmdPublish(ctx context.Context, c *bot.Call) error {
	d.log.Info("admin command", "command", "publish", "user_id", c.UserID, "chat_id", c.ChatID, "arg", bot.Truncate(c.Args, 200))
	arg := strings.TrimSpace(c.Args)
	if arg == "" || strings.ContainsAny(arg, " \n\t") || len(arg) > 2048 {
		return c.Reply(ctx, "admin_publish_usage")
	}
	a, ok, err := d.findStory(ctx, arg)
	if err != nil {
		_ = c.Reply(ctx, "bot_error")
		return fmt.Errorf("find story %q: %w", arg, err)
	}
	if !ok {
		return c.Send(ctx, d.line(c.Lang, "admin_not_found", map[string]any{"Arg": bot.Truncate(arg, 200)}), nil)
	}
	if a.Retracted {
		return c.Send(ctx, d.line(c.Lang, "admin_retracted", map[string]any{"Title": bot.Truncate(a.Title, 200)}), nil)
	}

	// The preview: the very post a reader with this editor's interface language gets.
	p, err := d.render.Render(a, c.Lang, c.ChatID)
	if err != nil {
		_ = c.Send(ctx, d.line(c.Lang, "admin_render_failed", map[string]any{"Reason": err.Error()}), nil)
		return fmt.Errorf("render preview of %s: %w", a.ID, err)
	}
	if _, err := d.api.Call(ctx, p.Method, p.Params); err != nil {
		// Readers would get the same refusal (a photo Telegram cannot fetch, say): worth
		// knowing before pushing.
		reason := err.Error()
		var te *telegram.Error
		if errors.As(err, &te) {
			reason = te.Description
		}
		_ = c.Send(ctx, d.line(c.Lang, "admin_preview_failed", map[string]any{"Reason": reason}), nil)
		return fmt.Errorf("send preview of %s: %w", a.ID, err)
	}

	token, err := newToken()
	if err != nil {
		_ = c.Reply(ctx, "bot_error")
		return err
	}
	req := request{token: token, articleID: a.ID, hash: a.Hash(), by: c.UserID, chat: c.ChatID, lang: c.Lang}
	if err := d.requests.open(ctx, req); err != nil {
		_ = c.Reply(ctx, "bot_error")
		return err
	}
	res, err := d.api.Call(ctx, "sendMessage", map[string]any{
		"chat_id": c.ChatID, "text": d.controlText(ctx, req, a, ""), "parse_mode": "HTML",
		"link_preview_options": map[string]any{"is_disabled": true},
		"reply_markup":         d.controlKeyboard(req),
	})
	if err != nil {
		return fmt.Errorf("send publish controls: %w", err)
	}
	msgID, err := messageID(res)
	if err != nil {
		return fmt.Errorf("send publish controls: %w", err)
	}
	// Only presses under this very message count.
	return d.requests.setMessage(ctx, token, msgID)
}

// messageID reads message_id from a sendMessage result.
func messageID(raw []byte) (int, error) {
	var m struct {
		MessageID int `json:"message_id"`
	}
	if err := json.Unmarshal(raw, &m); err != nil || m.MessageID == 0 {
		return 0, fmt.Errorf("no message_id in %q", bot.Truncate(string(raw), 100))
	}
	return m.MessageID, nil
}

// pressPublish handles the /publish buttons. The bot's router has checked ADMIN_IDS before
// this runs; here the token must name a live request of this chat and message.
func (d *Desk) pressPublish(ctx context.Context, p *bot.Press) error {
	action, token, _ := strings.Cut(p.Arg, ":")
	if token == "" || len(token) > 32 || strings.ContainsAny(token, ":{}") {
		p.Answer(ctx, d.t(p.Lang, "bot_button_stale", nil))
		return nil
	}
	req, ok, err := d.requests.load(ctx, token)
	if err != nil {
		return err
	}
	if !ok {
		p.Answer(ctx, d.t(p.Lang, "admin_expired", nil))
		return nil
	}
	if req.chat != p.ChatID || (req.msg != 0 && req.msg != p.MessageID) {
		d.log.Warn("publish button under another message", "user_id", p.UserID, "chat_id", p.ChatID)
		p.Answer(ctx, d.t(p.Lang, "bot_button_stale", nil))
		return nil
	}
	name := userName(p.From)
	switch action {
	case actCancel:
		return d.cancelPublish(ctx, p, req, name)
	case actBreaking:
		return d.toggleBreaking(ctx, p, req)
	case actConfirm, actAgain:
		return d.confirmPublish(ctx, p, req, name, action == actAgain)
	}
	p.Answer(ctx, d.t(p.Lang, "bot_button_stale", nil))
	return nil
}

// notOpen answers a press on a request that is no longer open.
func (d *Desk) notOpen(ctx context.Context, p *bot.Press, before request) {
	lang := p.Lang
	data := map[string]any{"Name": before.doneBy, "Time": d.date(lang, before.doneAt)}
	switch before.state {
	case stateGone:
		p.Answer(ctx, d.t(lang, "admin_expired", nil))
	case statePushing:
		p.Answer(ctx, d.t(lang, "admin_pushing", data))
	case statePublished:
		p.Answer(ctx, d.t(lang, "admin_already_published", data))
	case stateCancelled:
		p.Answer(ctx, d.t(lang, "admin_was_cancelled", data))
	default:
		p.Answer(ctx, d.t(lang, "bot_button_stale", nil))
	}
}

func (d *Desk) cancelPublish(ctx context.Context, p *bot.Press, req request, name string) error {
	ok, before, err := d.requests.cancel(ctx, req.token, name, d.now())
	if err != nil {
		return err
	}
	if !ok {
		d.notOpen(ctx, p, before)
		return nil
	}
	d.log.Info("publish cancelled", "user_id", p.UserID, "story_id", req.articleID)
	p.Answer(ctx, d.t(p.Lang, "admin_cancelled_note", nil))
	return p.Edit(ctx, d.line(req.lang, "admin_cancelled", map[string]any{"Name": name, "Time": d.date(req.lang, d.now())}), nil)
}

func (d *Desk) toggleBreaking(ctx context.Context, p *bot.Press, req request) error {
	ok, before, err := d.requests.toggleBreaking(ctx, req.token)
	if err != nil {
		return err
	}
	if !ok {
		d.notOpen(ctx, p, before)
		return nil
	}
	req.breaking = !req.breaking
	a, found, err := d.stories.Get(ctx, req.articleID)
	if err != nil {
		return fmt.Errorf("load story %s: %w", req.articleID, err)
	}
	if !found {
		p.Answer(ctx, d.t(p.Lang, "admin_story_gone", nil))
		return nil
	}
	note := "admin_breaking_off"
	if req.breaking {
		note = "admin_breaking_on"
	}
	p.Answer(ctx, d.t(p.Lang, note, nil))
	return p.Edit(ctx, d.controlText(ctx, req, a, ""), d.controlKeyboard(req))
}

// confirmPublish pushes the story, once. A story that went out before is pushed only after a
// second, explicit "push again".
func (d *Desk) confirmPublish(ctx context.Context, p *bot.Press, req request, name string, again bool) error {
	lang := p.Lang
	if req.state != stateOpen {
		d.notOpen(ctx, p, req)
		return nil
	}
	a, found, err := d.stories.Get(ctx, req.articleID)
	if err != nil {
		return fmt.Errorf("load story %s: %w", req.articleID, err)
	}
	if !found || a.Retracted {
		p.Answer(ctx, d.t(lang, "admin_story_gone", nil))
		return nil
	}
	if a.Hash() != req.hash {
		p.Answer(ctx, d.t(lang, "admin_story_changed", nil))
		return nil
	}
	if !again {
		warning, err := d.pushedBefore(ctx, req.lang, a)
		if err != nil {
			return err
		}
		if warning != "" {
			// Ask again, on the control message itself: the first Confirm only led here.
			p.Answer(ctx, "")
			return p.Edit(ctx, d.controlText(ctx, req, a, warning), d.againKeyboard(req))
		}
	}

	ok, before, err := d.requests.claim(ctx, req.token, name, d.now())
	if err != nil {
		return err
	}
	if !ok {
		d.notOpen(ctx, p, before)
		return nil
	}
	audience := d.audienceSize(ctx, a, req.breaking)
	job, err := d.pub.Push(ctx, a, delivery.PushOptions{Breaking: req.breaking, By: p.UserID})
	if err != nil {
		// Nothing went out for sure: let the editor try again.
		if rerr := d.requests.release(context.WithoutCancel(ctx), req.token); rerr != nil {
			d.log.Warn("release publish request", "story_id", a.ID, "err", rerr)
		}
		p.Answer(ctx, d.t(lang, "admin_push_failed", nil))
		return fmt.Errorf("push %s: %w", a.ID, err)
	}
	// From here the push happened: bookkeeping failures are logged, never undone.
	wctx := context.WithoutCancel(ctx)
	if err := d.requests.done(wctx, req.token, string(job), audience); err != nil {
		d.log.Warn("mark publish request done", "story_id", a.ID, "job_id", string(job), "err", err)
	}
	entry := audit.Entry{ArticleID: a.ID, Title: a.Title, Lang: a.Lang, By: p.UserID, ByName: name, At: d.now(),
		Breaking: req.breaking || a.Breaking, JobID: string(job), Audience: audience}
	if err := d.audit.Record(wctx, entry); err != nil {
		d.log.Error("record push in the audit trail", "story_id", a.ID, "err", err)
	}
	d.log.Info("story pushed by an admin", "user_id", p.UserID, "story_id", a.ID, "lang", a.Lang,
		"breaking", entry.Breaking, "job_id", string(job), "audience", audience)
	p.Answer(ctx, d.t(lang, "admin_published_note", nil))
	return p.Edit(wctx, d.publishedText(req.lang, entry), nil)
}

// pushedBefore returns a warning when the story went out before: pushed by an editor (the
// audit trail), or sent when it was published (delivery).
func (d *Desk) pushedBefore(ctx context.Context, lang string, a article.Article) (string, error) {
	last, ok, err := d.audit.Last(ctx, a.ID)
	if err != nil {
		return "", err
	}
	if ok {
		return d.t(lang, "admin_pushed_before", map[string]any{"Name": last.ByName, "Time": d.date(lang, last.At)}), nil
	}
	sent, err := d.pub.Delivered(ctx, a.ID)
	if err != nil {
		return "", fmt.Errorf("delivery history of %s: %w", a.ID, err)
	}
	if sent {
		return d.t(lang, "admin_delivered_before", nil), nil
	}
	return "", nil
}

// audienceSize counts the readers a push reaches now (-1 when unknown). Readers who already
// got the story are among them; delivery skips those.
func (d *Desk) audienceSize(ctx context.Context, a article.Article, breaking bool) int64 {
	var n int64
	after := int64(-1 << 63)
	for {
		ids, err := d.audience.AudiencePage(ctx, a.Lang, a.Topics, breaking || a.Breaking, after, audiencePage)
		if err != nil {
			d.log.Warn("count audience", "story_id", a.ID, "err", err)
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
func (d *Desk) controlText(ctx context.Context, req request, a article.Article, warning string) string {
	lang := req.lang
	lines := []string{
		"<b>" + d.line(lang, "admin_publish_title", nil) + "</b>",
		"«" + bot.Escape(bot.Truncate(a.Title, 200)) + "»",
		d.line(lang, "admin_story_id", nil) + " <code>" + bot.Escape(bot.Truncate(a.ID, 100)) + "</code> · " +
			bot.Escape(bot.LangNames(d.texts, lang, []string{a.Lang})),
	}
	if n := d.audienceSize(ctx, a, req.breaking); n >= 0 {
		lines = append(lines, d.line(lang, "admin_goes_to", map[string]any{"Readers": d.readersCount(lang, n)}))
	}
	mode := "admin_mode_topics"
	if req.breaking || a.Breaking {
		mode = "admin_mode_breaking"
	}
	lines = append(lines, d.line(lang, mode, nil), d.line(lang, "admin_channel_note", nil))
	if warning != "" {
		lines = append(lines, "", "⚠️ "+bot.Escape(warning))
	}
	return strings.Join(lines, "\n")
}

func (d *Desk) controlKeyboard(req request) bot.Keyboard {
	lang := req.lang
	return bot.Keyboard{InlineKeyboard: [][]bot.KeyButton{
		{
			{Text: "✅ " + d.t(lang, "admin_button_confirm", nil), CallbackData: publishData(actConfirm, req.token)},
			{Text: "✖ " + d.t(lang, "admin_button_cancel", nil), CallbackData: publishData(actCancel, req.token)},
		},
		{{Text: bot.Mark(req.breaking, "⚡ "+d.t(lang, "admin_button_breaking", nil)), CallbackData: publishData(actBreaking, req.token)}},
	}}
}

func (d *Desk) againKeyboard(req request) bot.Keyboard {
	lang := req.lang
	return bot.Keyboard{InlineKeyboard: [][]bot.KeyButton{{
		{Text: "✅ " + d.t(lang, "admin_button_again", nil), CallbackData: publishData(actAgain, req.token)},
		{Text: "✖ " + d.t(lang, "admin_button_cancel", nil), CallbackData: publishData(actCancel, req.token)},
	}}}
}

func publishData(action, token string) string { return viewPublish + ":" + action + ":" + token }

// publishedText replaces the control message once the story is pushed.
func (d *Desk) publishedText(lang string, e audit.Entry) string {
	lines := []string{
		"✅ " + d.line(lang, "admin_published", map[string]any{"Name": e.ByName, "Time": d.date(lang, e.At)}),
		"«" + bot.Escape(bot.Truncate(e.Title, 200)) + "»",
	}
	details := d.line(lang, "admin_job", nil) + " <code>" + bot.Escape(e.JobID) + "</code>"
	if e.Audience >= 0 {
		details += " · " + bot.Escape(d.readersCount(lang, e.Audience))
	}
	if e.Breaking {
		details += " · ⚡"
	}
	return strings.Join(append(lines, details), "\n")
}
