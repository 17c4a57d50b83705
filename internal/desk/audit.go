package desk

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"newsbot/internal/bot"
	"newsbot/internal/delivery"
)

// auditShown is how many pushes /audit lists.
const auditShown = 10

// cmdAudit lists the newest pushes, with live progress for fan-outs still running.
func (d *Desk) cmdAudit(ctx context.Context, c *bot.Call) error {
	d.log.Info("admin command", "command", "audit", "user_id", c.UserID, "chat_id", c.ChatID)
	lang := c.Lang
	entries, err := d.audit.Recent(ctx, auditShown)
	if err != nil {
		_ = c.Reply(ctx, "bot_error")
		return fmt.Errorf("read audit trail: %w", err)
	}
	if len(entries) == 0 {
		return c.Reply(ctx, "admin_audit_empty")
	}
	lines := []string{"<b>" + d.line(lang, "admin_audit_title", nil) + "</b>"}
	for i, e := range entries {
		head := strconv.Itoa(i+1) + ". «" + bot.Escape(bot.Truncate(e.Title, 80)) + "» (" + bot.Escape(bot.LangsInText(d.texts, lang, []string{e.Lang})) + ")"
		if e.Breaking {
			head += " ⚡"
		}
		who := bot.Escape(e.ByName) + ", " + bot.Escape(d.date(lang, e.At))
		detail := "<code>" + bot.Escape(e.JobID) + "</code>"
		if e.Audience >= 0 {
			detail += " · " + bot.Escape(d.readersCount(lang, e.Audience))
		}
		lines = append(lines, "", head, who, detail)
		if e.JobID == "" {
			continue
		}
		// One round trip per entry, at most auditShown of them: fine for an editor's command.
		j, ok, err := d.pub.Job(ctx, delivery.JobID(e.JobID))
		if err != nil {
			d.log.Warn("/audit job status", "job_id", e.JobID, "err", err)
			continue
		}
		if ok {
			lines = append(lines, d.jobOutcome(lang, j))
		}
	}
	return sendLong(ctx, c, strings.Join(lines, "\n"))
}

// jobOutcome is how a pushed job is doing: its progress while it runs, the final counts once
// it is over.
func (d *Desk) jobOutcome(lang string, j delivery.JobStatus) string {
	switch j.State {
	case delivery.JobDone:
		// Handled is the audience the job walked: readers sent to, who had it, who failed.
		return d.line(lang, "admin_audit_finished", map[string]any{
			"Sent": j.Sent, "Readers": d.texts.Plural(lang, "admin_n_of_readers", int(j.Handled()), nil),
			"Skipped": j.Skipped, "Failed": j.Failed,
		})
	case delivery.JobRetracted:
		return d.line(lang, "admin_audit_retracted", map[string]any{
			"Messages": d.texts.Plural(lang, "admin_n_messages", int(j.Sent), nil),
		})
	case delivery.JobAbandoned:
		return d.line(lang, "admin_audit_abandoned", nil)
	}
	progress := d.line(lang, "admin_stats_job_progress", map[string]any{
		"Handled": j.Handled(), "Sent": j.Sent, "Skipped": j.Skipped, "Failed": j.Failed,
	})
	if j.Done {
		progress += " · " + d.line(lang, "admin_stats_job_finishing", nil)
	}
	return progress
}
