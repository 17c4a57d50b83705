package desk

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"newsbot/internal/bot"
	"newsbot/internal/delivery"
	"newsbot/internal/subscriber"
)

// statsJobsShown bounds the fan-outs /stats lists, to stay one short phone screen.
const statsJobsShown = 5

// cmdStats shows readers, the last 24 hours of delivery, running fan-outs and admin pushes.
// Each part that fails is left out with a note, so one broken part does not hide the rest.
func (d *Desk) cmdStats(ctx context.Context, c *bot.Call) error {
	d.log.Info("admin command", "command", "stats", "user_id", c.UserID, "chat_id", c.ChatID)
	lang := c.Lang
	var parts []string
	h := func(id string) string { return "<b>" + d.line(lang, id, nil) + "</b>" }
	line := func(id string, data map[string]any) string { return d.line(lang, id, data) }

	if cnt, err := d.audience.Counts(ctx); err != nil {
		d.log.Warn("/stats reader counts", "err", err)
		parts = append(parts, h("admin_stats_readers")+"\n"+line("admin_stats_unavailable", nil))
	} else {
		parts = append(parts, d.readerStats(lang, cnt))
	}

	since := d.now().Add(-24 * time.Hour)
	day := []string{h("admin_stats_day")}
	ds, err := d.pub.Stats(ctx)
	haveDelivery := err == nil
	if err != nil {
		d.log.Warn("/stats delivery", "err", err)
		day = append(day, line("admin_stats_unavailable", nil))
	} else {
		// Stories delivery sent out (published or pushed), each once: what went out, not
		// what the newsroom wrote.
		day = append(day, line("admin_stats_stories", map[string]any{"Stories": d.texts.Plural(lang, "admin_n_stories", int(ds.Stories), nil)}))
		day = append(day, line("admin_stats_sent", map[string]any{"Messages": d.texts.Plural(lang, "admin_n_messages", int(ds.Sent), nil)}))
		day = append(day, d.failureLines(lang, ds.Failed)...)
		day = append(day, line("admin_stats_429", map[string]any{"Count": ds.RateLimited}))
	}
	if pushes, err := d.audit.Since(ctx, since); err != nil {
		d.log.Warn("/stats audit", "err", err)
	} else {
		day = append(day, line("admin_stats_pushes", map[string]any{"Pushes": d.texts.Plural(lang, "admin_n_pushes", len(pushes), nil)}))
		if len(pushes) > 0 {
			e := pushes[0]
			day = append(day, line("admin_stats_last_push", map[string]any{"Title": bot.Truncate(e.Title, 50)}),
				"  "+bot.Escape(e.ByName)+", "+bot.Escape(d.date(lang, e.At)))
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
			jobs = append(jobs, d.jobLine(lang, j))
		}
		parts = append(parts, strings.Join(jobs, "\n"))
	}
	return sendLong(ctx, c, strings.Join(parts, "\n\n"))
}

// readerStats: totals by status, then each story language with its topics.
func (d *Desk) readerStats(lang string, cnt subscriber.Counts) string {
	line := func(id string, data map[string]any) string { return d.line(lang, id, data) }
	out := []string{
		"<b>" + d.line(lang, "admin_stats_readers", nil) + "</b>",
		line("admin_stats_active", map[string]any{"Readers": d.readersCount(lang, cnt.ByStatus[subscriber.Active])}),
		line("admin_stats_stopped_blocked", map[string]any{
			"Stopped": cnt.ByStatus[subscriber.Stopped], "Blocked": cnt.ByStatus[subscriber.Blocked],
		}),
	}
	if g := cnt.Groups[subscriber.Active]; g > 0 {
		out = append(out, line("admin_stats_groups", map[string]any{"Groups": d.texts.Plural(lang, "admin_n_groups", int(g), nil)}))
	}
	for _, l := range d.langs {
		out = append(out, "", "<b>"+bot.Escape(bot.LangNames(d.texts, lang, []string{l}))+"</b> — "+bot.Escape(d.readersCount(lang, cnt.ByLang[l])))
		if cnt.ByLang[l] == 0 {
			continue // nothing to break down; keeps the message one screen
		}
		out = append(out, line("admin_stats_all_topics", map[string]any{"Count": cnt.AllTopics[l]}))
		var topics []string
		for _, t := range d.topics {
			if n := cnt.ByTopic[l][t]; n > 0 {
				topics = append(topics, bot.Escape(bot.TopicName(d.texts, lang, t))+" "+strconv.FormatInt(n, 10))
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
func (d *Desk) failureLines(lang string, failed map[string]int64) []string {
	reasons := make([]string, 0, len(failed))
	for r, n := range failed {
		if n > 0 {
			reasons = append(reasons, r)
		}
	}
	if len(reasons) == 0 {
		return []string{d.line(lang, "admin_stats_no_failures", nil)}
	}
	slices.SortFunc(reasons, func(x, y string) int {
		if failed[x] != failed[y] {
			return int(failed[y] - failed[x])
		}
		return strings.Compare(x, y)
	})
	out := []string{d.line(lang, "admin_stats_failed", nil)}
	for _, r := range reasons {
		out = append(out, "  "+bot.Escape(d.reasonName(lang, r))+": "+strconv.FormatInt(failed[r], 10))
	}
	return out
}

// reasonName translates delivery's failure reasons; a reason nobody translated shows as is.
func (d *Desk) reasonName(lang, reason string) string {
	id := "admin_reason_" + reason
	if s := d.texts.T(lang, id, nil); s != "" && s != id {
		return s
	}
	return reason
}

// jobLine is one running fan-out: story, language, flags and how far it got.
func (d *Desk) jobLine(lang string, j delivery.JobStatus) string {
	title := j.Title
	if title == "" {
		title = j.ArticleID
	}
	head := "• «" + bot.Escape(bot.Truncate(title, 50)) + "» (" + bot.Escape(bot.LangsInText(d.texts, lang, []string{j.Lang})) + ")"
	if j.Breaking {
		head += " ⚡"
	}
	if j.By != 0 {
		head += " 👤"
	}
	return head + "\n  " + d.jobOutcome(lang, j)
}
