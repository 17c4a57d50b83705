package desk

import (
	"context"
	"strings"
	"testing"
	"time"

	"newsbot/internal/article"
	"newsbot/internal/delivery"
)

func TestAudit(t *testing.T) {
	t.Parallel()
	for _, lang := range testLangs {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			d := newDesk(t)
			w := deskWords[lang]
			d.subscribe(9001)
			ed := admin(adminA, lang)
			d.say(ed, "/audit")
			mustContain(t, d.last(ed.id).Text(), w.auditEmpty)

			second := d.story
			second.ID, second.Title, second.URL = "second-story", "Second <story> & more", d.story.URL+"-2"
			d.stories.add(second)
			_, c1 := d.publish(ed.id, ed, d.story.ID)
			d.pressAs(ed.id, ed, c1.MessageID, buttonData(t, c1, w.confirm))
			d.desk.now = func() time.Time { return deskNow.Add(time.Minute) }
			_, c2 := d.publish(ed.id, ed, second.ID)
			d.pressAs(ed.id, ed, c2.MessageID, buttonData(t, c2, w.breaking))
			d.pressAs(ed.id, ed, c2.MessageID, buttonData(t, d.control(ed.id, c2.MessageID), w.confirm))

			d.say(ed, "/audit")
			text := d.last(ed.id).Text()
			mustContain(t, text, w.auditTitle, "Second &lt;story&gt; &amp; more", "Chinese leader", "Aigerim Sadykova", w.date,
				"second-story#1", d.story.ID+"#1", w.readers1, "⚡")
			if strings.Index(text, "Second") > strings.Index(text, "Chinese") {
				t.Error("/audit is not newest first")
			}
		})
	}
}

// waitJob waits until job id is over and returns its status.
func (d *harness) waitJob(t *testing.T, id delivery.JobID) delivery.JobStatus {
	t.Helper()
	var j delivery.JobStatus
	waitFor(t, "job "+string(id)+" to finish", func() bool {
		var ok bool
		var err error
		j, ok, err = d.engine.Job(context.Background(), id)
		return err == nil && ok && j.State != delivery.JobRunning
	})
	return j
}

// TestAuditShowsHowAPushEnded: once a pushed fan-out is over, /audit shows what it achieved —
// how many of the readers it walked got the story, had it already, or failed — not just the
// audience counted at push time.
func TestAuditShowsHowAPushEnded(t *testing.T) {
	t.Parallel()
	want := map[string]string{
		"kk": "Аяқталды: жеткізілгені 3, барлығы 5 оқырман · бұрын алғаны 2 · жеткізілмегені 0",
		"ru": "Завершено: доставлено 3 из 5 подписчиков · уже получили 2 · не доставлено 0",
		"en": "Finished: 3 of 5 readers got it · 2 had it already · 0 failed",
	}
	for _, lang := range testLangs {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			d := newDesk(t)
			w := deskWords[lang]
			// A story of now: the 2022 sample would be skipped as stale (PUSH_MAX_AGE) when
			// the watcher publishes it, and nobody would have it before the push.
			d.story.PublishedAt = time.Now()
			d.stories.mu.Lock()
			d.stories.all = []article.Article{d.story}
			d.stories.mu.Unlock()
			d.runEngine()
			// Two readers get the story when the watcher publishes it; three join later.
			d.subscribe(9001, 9002)
			if err := d.engine.Publish(context.Background(), d.story); err != nil {
				t.Fatal(err)
			}
			d.waitJob(t, delivery.JobID(d.story.ID+"#0"))
			d.subscribe(9003, 9004, 9005)

			ed := admin(adminA, lang)
			_, control := d.publish(ed.id, ed, d.story.ID)
			d.pressAs(ed.id, ed, control.MessageID, buttonData(t, control, w.confirm))
			asked := d.control(ed.id, control.MessageID)
			mustContain(t, asked.Text(), w.deliveredBefore)
			d.pressAs(ed.id, ed, control.MessageID, buttonData(t, asked, w.again))
			j := d.waitJob(t, delivery.JobID(d.story.ID+"#1"))
			if j.Sent != 3 || j.Skipped != 2 || j.By != adminA.id {
				t.Fatalf("pushed job %+v: want 3 sent, 2 skipped, by %d", j, adminA.id)
			}
			for _, id := range []int64{9001, 9002, 9003, 9004, 9005} {
				if n := len(d.tg.Messages(id)); n != 1 {
					t.Errorf("reader %d holds %d copies, want 1", id, n)
				}
			}

			d.say(ed, "/audit")
			mustContain(t, d.last(ed.id).Text(), w.auditTitle, d.story.ID+"#1", want[lang])
		})
	}
}

// TestAuditShowsARetractedPush: a push stopped by a retraction says so.
func TestAuditShowsARetractedPush(t *testing.T) {
	t.Parallel()
	d := newDesk(t)
	d.subscribe(9001)
	ed := admin(adminA, "en")
	_, control := d.publish(ed.id, ed, d.story.ID)
	d.pressAs(ed.id, ed, control.MessageID, buttonData(t, control, "Confirm"))
	// Withdrawn before the (not yet running) engine sent anything.
	gone := d.story
	gone.Retracted = true
	if err := d.engine.Retract(context.Background(), gone); err != nil {
		t.Fatal(err)
	}
	d.runEngine()
	d.waitJob(t, delivery.JobID(d.story.ID+"#1"))
	d.say(ed, "/audit")
	mustContain(t, d.last(ed.id).Text(), "Stopped: the story was retracted (0 messages sent before that)")
	if n := len(d.tg.Messages(int64(9001))); n != 0 {
		t.Errorf("the reader got %d copies of a retracted story", n)
	}
}

// TestAuditFinishedPlurals: "of N readers" takes the form each language needs after "of".
func TestAuditFinishedPlurals(t *testing.T) {
	t.Parallel()
	cases := []struct {
		lang          string
		handled, sent int64
		want          string
	}{
		{"ru", 1, 1, "доставлено 1 из 1 подписчика"},
		{"ru", 3, 2, "доставлено 2 из 3 подписчиков"},
		{"ru", 5, 5, "доставлено 5 из 5 подписчиков"},
		{"ru", 21, 20, "доставлено 20 из 21 подписчика"},
		{"en", 1, 1, "1 of 1 reader got it"},
		{"en", 2, 1, "1 of 2 readers got it"},
		{"kk", 21, 20, "жеткізілгені 20, барлығы 21 оқырман"},
	}
	d := newDesk(t)
	for _, tc := range cases {
		j := delivery.JobStatus{State: delivery.JobDone, Sent: tc.sent, Skipped: tc.handled - tc.sent}
		mustContain(t, d.desk.jobOutcome(tc.lang, j), tc.want)
	}
}
