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

// cmdStats shows readers, the last 24 hours of delivery, Telegram's message budget, running
// fan-outs and digests, and admin pushes.
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
		day = append(day, line("admin_stats_sent", map[string]any{"Messages": d.messages(lang, ds.Sent)}))
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
		parts = append(parts, d.budgetStats(lang, ds))
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
	out = append(out, line("admin_stats_modes", map[string]any{
		"Instant": cnt.ByMode[subscriber.Instant], "Digest": cnt.ByMode[subscriber.Digest], "Breaking": cnt.ByMode[subscriber.Breaking],
	}))
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

// budgetStats is Telegram's message budget in view: what waits and how long it takes at
// SEND_RATE, the last 24 hours' sends against the day's capacity, and a warning when the
// queue outlasts PUSH_MAX_AGE (instant pushes are then skipped as stale).
func (d *Desk) budgetStats(lang string, ds delivery.Stats) string {
	b := ds.Budget
	out := []string{"<b>" + d.line(lang, "admin_stats_budget", nil) + "</b>"}
	waiting := d.messages(lang, b.Waiting)
	switch {
	case b.Waiting <= 0:
		out = append(out, d.line(lang, "admin_stats_nothing_waiting", nil))
	case b.Capacity > 0:
		out = append(out, d.line(lang, "admin_stats_waiting", map[string]any{
			"Messages": waiting, "Time": d.duration(lang, b.WaitTime), "Rate": d.decimal(lang, float64(b.Capacity)/secondsPerDay),
		}))
	default: // no SEND_RATE: nothing to time it by
		out = append(out, d.line(lang, "admin_stats_waiting_unlimited", map[string]any{"Messages": waiting}))
	}
	if b.Capacity > 0 {
		out = append(out, d.line(lang, "admin_stats_capacity", map[string]any{
			"Sent": d.number(lang, ds.Sent), "Capacity": d.number(lang, b.Capacity),
			"Percent": d.decimal(lang, float64(ds.Sent)*100/float64(b.Capacity)),
		}))
	}
	if b.Overdue() {
		out = append(out, d.line(lang, "admin_stats_overdue", map[string]any{"MaxAge": envDuration(b.MaxAge)}))
	}
	return strings.Join(out, "\n")
}

// messages counts messages with the plural of n and the number written as lang writes it:
// "120,345 messages", «120 345 сообщений».
func (d *Desk) messages(lang string, n int64) string {
	return d.texts.Plural(lang, "admin_n_messages_num", int(n), map[string]any{"Number": d.number(lang, n)})
}

// secondsPerDay turns the day's capacity back into SEND_RATE.
const secondsPerDay = 86400

// envDuration writes a duration as .env does: "6h", "1h30m", "45m".
func envDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// duration is how long sending takes, in whole minutes rounded up ("41 min", "2 h 5 min"):
// editors plan by it, and "0 min" for a queue that is there would mislead.
func (d *Desk) duration(lang string, t time.Duration) string {
	m := max(1, int((t+time.Minute-1)/time.Minute))
	h, m := m/60, m%60
	switch {
	case h == 0:
		return d.t(lang, "admin_duration_m", map[string]any{"Minutes": m})
	case m == 0:
		return d.t(lang, "admin_duration_h", map[string]any{"Hours": d.number(lang, int64(h))})
	}
	return d.t(lang, "admin_duration_hm", map[string]any{"Hours": d.number(lang, int64(h)), "Minutes": m})
}

// separators are the thousands and decimal separators of lang, read from its sample number
// admin_num_format ("1,234.5"; "1 234,5" with a no-break space): a message cannot be a bare
// space, and the sample shows a translator what is meant.
func (d *Desk) separators(lang string) (group, dec string) {
	s := d.t(lang, "admin_num_format", nil)
	i := strings.Index(s, "234")
	if i < 1 || !strings.HasPrefix(s, "1") || !strings.HasSuffix(s, "5") || len(s) < i+4 {
		return ",", "."
	}
	return s[1:i], s[i+3 : len(s)-1]
}

// number writes n with lang's thousands separator: "2,592,000", «2 592 000».
func (d *Desk) number(lang string, n int64) string {
	group, _ := d.separators(lang)
	return groupDigits(strconv.FormatInt(n, 10), group)
}

// decimal writes x with one decimal, or none when it is whole: "4.6", «4,6», "30".
func (d *Desk) decimal(lang string, x float64) string {
	group, dec := d.separators(lang)
	s := strconv.FormatFloat(x, 'f', 1, 64)
	whole, frac, _ := strings.Cut(s, ".")
	out := groupDigits(whole, group)
	if frac != "0" {
		out += dec + frac
	}
	return out
}

// groupDigits puts sep between each three digits of a non-negative number, from the right.
func groupDigits(digits, sep string) string {
	if len(digits) <= 3 {
		return digits
	}
	var sb strings.Builder
	first := len(digits) % 3
	if first > 0 {
		sb.WriteString(digits[:first])
	}
	for i := first; i < len(digits); i += 3 {
		if sb.Len() > 0 {
			sb.WriteString(sep)
		}
		sb.WriteString(digits[i : i+3])
	}
	return sb.String()
}

// jobLine is one running fan-out (story, language, flags) or digest, and how far it got.
func (d *Desk) jobLine(lang string, j delivery.JobStatus) string {
	if !j.Digest.IsZero() {
		progress := d.line(lang, "admin_stats_digest_progress", map[string]any{
			"Handled": d.number(lang, j.Handled()), "Estimate": d.number(lang, max(j.Estimate, j.Handled())),
			"Sent": d.number(lang, j.Sent), "Skipped": d.number(lang, j.Skipped), "Failed": d.number(lang, j.Failed),
		})
		if j.Done {
			progress += " · " + d.line(lang, "admin_stats_job_finishing", nil)
		}
		return "• " + d.line(lang, "admin_stats_digest", map[string]any{"Time": j.Digest.In(d.loc).Format("15:04")}) + "\n  " + progress
	}
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
