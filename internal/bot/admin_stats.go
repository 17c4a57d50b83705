package bot

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"newsbot/internal/delivery"
	"newsbot/internal/subscriber"
)

// statsJobsShown bounds the fan-outs /stats lists, to stay one short phone screen.
const statsJobsShown = 5

// cmdStats shows readers, the last 24 hours of delivery, running fan-outs and admin pushes.
// Each part that fails is left out with a note, so one broken part does not hide the rest.
func (b *Bot) cmdStats(ctx context.Context, c *call) error {
	b.log.Info("bot: admin command", "command", "stats", "user_id", c.userID, "chat_id", c.chatID)
	lang := c.lang
	var parts []string
	h := func(id string) string { return "<b>" + esc(b.t(lang, id, nil)) + "</b>" }
	line := func(id string, data map[string]any) string { return esc(b.t(lang, id, data)) }

	if b.audience != nil {
		if cnt, err := b.audience.Counts(ctx); err != nil {
			b.log.Warn("bot: /stats reader counts", "err", err)
			parts = append(parts, h("admin_stats_readers")+"\n"+line("admin_stats_unavailable", nil))
		} else {
			parts = append(parts, b.readerStats(lang, cnt))
		}
	}

	since := b.now().Add(-24 * time.Hour)
	day := []string{h("admin_stats_day")}
	var ds delivery.Stats
	haveDelivery := false
	if b.pub != nil {
		var err error
		if ds, err = b.pub.Stats(ctx); err != nil {
			b.log.Warn("bot: /stats delivery", "err", err)
			day = append(day, line("admin_stats_unavailable", nil))
		} else {
			haveDelivery = true
			// Stories delivery sent out (published or pushed), each once: what went out, not
			// what the newsroom wrote.
			day = append(day, line("admin_stats_stories", map[string]any{"Stories": b.texts.Plural(lang, "admin_n_stories", int(ds.Stories), nil)}))
			day = append(day, line("admin_stats_sent", map[string]any{"Messages": b.texts.Plural(lang, "admin_n_messages", int(ds.Sent), nil)}))
			day = append(day, b.failureLines(lang, ds.Failed)...)
			day = append(day, line("admin_stats_429", map[string]any{"Count": ds.RateLimited}))
		}
	}
	if pushes, err := b.audit.Since(ctx, since); err != nil {
		b.log.Warn("bot: /stats audit", "err", err)
	} else {
		day = append(day, line("admin_stats_pushes", map[string]any{"Pushes": b.texts.Plural(lang, "admin_n_pushes", len(pushes), nil)}))
		if len(pushes) > 0 {
			e := pushes[0]
			day = append(day, line("admin_stats_last_push", map[string]any{"Title": truncate(e.Title, 50)}),
				"  "+esc(e.ByName)+", "+esc(b.texts.Date(lang, e.At.In(b.loc))))
		}
	}
	parts = append(parts, strings.Join(day, "\n"))

	if haveDelivery {
		jobs := []string{h("admin_stats_jobs")}
		if len(ds.Jobs) == 0 {
			jobs = append(jobs, line("admin_stats_no_jobs", nil))
		}
		for i, j := range ds.Jobs {
			if i == statsJobsShown {
				jobs = append(jobs, line("admin_stats_more_jobs", map[string]any{"Count": len(ds.Jobs) - statsJobsShown}))
				break
			}
			jobs = append(jobs, b.jobLine(lang, j))
		}
		parts = append(parts, strings.Join(jobs, "\n"))
	}
	return b.sendLong(ctx, c.chatID, strings.Join(parts, "\n\n"))
}

// readerStats: totals by status, then each story language with its topics.
func (b *Bot) readerStats(lang string, cnt subscriber.Counts) string {
	line := func(id string, data map[string]any) string { return esc(b.t(lang, id, data)) }
	out := []string{
		"<b>" + esc(b.t(lang, "admin_stats_readers", nil)) + "</b>",
		line("admin_stats_active", map[string]any{"Readers": b.readersCount(lang, cnt.ByStatus[subscriber.Active])}),
		line("admin_stats_stopped_blocked", map[string]any{
			"Stopped": cnt.ByStatus[subscriber.Stopped], "Blocked": cnt.ByStatus[subscriber.Blocked],
		}),
	}
	if g := cnt.Groups[subscriber.Active]; g > 0 {
		out = append(out, line("admin_stats_groups", map[string]any{"Groups": b.texts.Plural(lang, "admin_n_groups", int(g), nil)}))
	}
	for _, l := range b.langs {
		out = append(out, "", "<b>"+esc(b.langNames(lang, []string{l}))+"</b> — "+esc(b.readersCount(lang, cnt.ByLang[l])))
		if cnt.ByLang[l] == 0 {
			continue // nothing to break down; keeps the message one screen
		}
		out = append(out, line("admin_stats_all_topics", map[string]any{"Count": cnt.AllTopics[l]}))
		var topics []string
		for _, t := range b.topics {
			if n := cnt.ByTopic[l][t]; n > 0 {
				topics = append(topics, esc(b.topicName(lang, t))+" "+strconv.FormatInt(n, 10))
			}
		}
		if len(topics) > 0 {
			// Two topics a line keeps it narrow enough for a phone.
			for i := 0; i < len(topics); i += 2 {
				out = append(out, strings.Join(topics[i:min(i+2, len(topics))], " · "))
			}
		}
	}
	return strings.Join(out, "\n")
}

// failureLines lists failures by reason, largest first; nothing when there were none.
func (b *Bot) failureLines(lang string, failed map[string]int64) []string {
	reasons := make([]string, 0, len(failed))
	for r, n := range failed {
		if n > 0 {
			reasons = append(reasons, r)
		}
	}
	if len(reasons) == 0 {
		return []string{esc(b.t(lang, "admin_stats_no_failures", nil))}
	}
	slices.SortFunc(reasons, func(x, y string) int {
		if failed[x] != failed[y] {
			return int(failed[y] - failed[x])
		}
		return strings.Compare(x, y)
	})
	out := []string{esc(b.t(lang, "admin_stats_failed", nil))}
	for _, r := range reasons {
		out = append(out, "  "+esc(b.reasonName(lang, r))+": "+strconv.FormatInt(failed[r], 10))
	}
	return out
}

// reasonName translates delivery's failure reasons; a reason nobody translated shows as is.
func (b *Bot) reasonName(lang, reason string) string {
	id := "admin_reason_" + reason
	if s := b.texts.T(lang, id, nil); s != "" && s != id {
		return s
	}
	return reason
}

// jobLine is one running fan-out: story, language, flags and how far it got.
func (b *Bot) jobLine(lang string, j delivery.JobStatus) string {
	title := j.Title
	if title == "" {
		title = j.ArticleID
	}
	head := "• «" + esc(truncate(title, 50)) + "» (" + esc(b.langsInText(lang, []string{j.Lang})) + ")"
	if j.Breaking {
		head += " ⚡"
	}
	if j.By != 0 {
		head += " 👤"
	}
	return head + "\n  " + b.jobOutcome(lang, j)
}

// cmdAudit lists the newest pushes, with live progress for fan-outs still running.
func (b *Bot) cmdAudit(ctx context.Context, c *call) error {
	b.log.Info("bot: admin command", "command", "audit", "user_id", c.userID, "chat_id", c.chatID)
	lang := c.lang
	entries, err := b.audit.Recent(ctx, auditShown)
	if err != nil {
		_ = b.reply(ctx, c, "bot_error")
		return fmt.Errorf("read audit trail: %w", err)
	}
	if len(entries) == 0 {
		return b.reply(ctx, c, "admin_audit_empty")
	}
	jobs, _ := b.pub.(JobHistory)
	lines := []string{"<b>" + esc(b.t(lang, "admin_audit_title", nil)) + "</b>"}
	for i, e := range entries {
		head := strconv.Itoa(i+1) + ". «" + esc(truncate(e.Title, 80)) + "» (" + esc(b.langsInText(lang, []string{e.Lang})) + ")"
		if e.Breaking {
			head += " ⚡"
		}
		who := esc(e.ByName) + ", " + esc(b.texts.Date(lang, e.At.In(b.loc)))
		detail := "<code>" + esc(e.JobID) + "</code>"
		if e.Audience >= 0 {
			detail += " · " + esc(b.readersCount(lang, e.Audience))
		}
		lines = append(lines, "", head, who, detail)
		if jobs == nil || e.JobID == "" {
			continue
		}
		// One round trip per entry, at most auditShown of them: fine for an editor's command.
		j, ok, err := jobs.Job(ctx, delivery.JobID(e.JobID))
		if err != nil {
			b.log.Warn("bot: /audit job status", "job", e.JobID, "err", err)
			continue
		}
		if ok {
			lines = append(lines, b.jobOutcome(lang, j))
		}
	}
	return b.sendLong(ctx, c.chatID, strings.Join(lines, "\n"))
}

// jobOutcome is how a pushed job is doing: its progress while it runs, the final counts once
// it is over.
func (b *Bot) jobOutcome(lang string, j delivery.JobStatus) string {
	switch j.State {
	case delivery.JobDone:
		// Handled is the audience the job walked: readers sent to, who had it, who failed.
		return esc(b.t(lang, "admin_audit_finished", map[string]any{
			"Sent": j.Sent, "Readers": b.texts.Plural(lang, "admin_n_of_readers", int(j.Handled()), nil),
			"Skipped": j.Skipped, "Failed": j.Failed,
		}))
	case delivery.JobRetracted:
		return esc(b.t(lang, "admin_audit_retracted", map[string]any{
			"Messages": b.texts.Plural(lang, "admin_n_messages", int(j.Sent), nil),
		}))
	case delivery.JobAbandoned:
		return esc(b.t(lang, "admin_audit_abandoned", nil))
	}
	progress := esc(b.t(lang, "admin_stats_job_progress", map[string]any{
		"Handled": j.Handled(), "Sent": j.Sent, "Skipped": j.Skipped, "Failed": j.Failed,
	}))
	if j.Done {
		progress += " · " + esc(b.t(lang, "admin_stats_job_finishing", nil))
	}
	return progress
}
