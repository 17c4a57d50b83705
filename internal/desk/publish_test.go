package desk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"newsbot/internal/article"
	"newsbot/internal/delivery"
	"newsbot/internal/post"
	"newsbot/internal/source"
	"newsbot/internal/subscriber"
	"newsbot/internal/telegramtest"
)

func TestPublishPreviewAndConfirm(t *testing.T) {
	t.Parallel()
	for _, lang := range testLangs {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			d := newDesk(t)
			d.subscribe(9001, 9002, 9003)
			w := deskWords[lang]
			ed := admin(adminA, lang)
			preview, control := d.publish(ed.id, ed, d.story.ID)

			// The preview is the post a reader with this interface language gets.
			want, err := post.NewRenderer(d.texts, d.loc).Render(d.story, lang, ed.id)
			if err != nil {
				t.Fatal(err)
			}
			if preview.Method != want.Method || preview.Method != "sendPhoto" {
				t.Errorf("preview sent with %s, want %s", preview.Method, want.Method)
			}
			if preview.Text() != want.Params["caption"] {
				t.Errorf("preview caption\n%q\nwant\n%q", preview.Text(), want.Params["caption"])
			}
			if preview.Params["photo"] != d.story.ImageURL {
				t.Errorf("preview photo %v", preview.Params["photo"])
			}
			wantKB, _ := json.Marshal(want.Params["reply_markup"])
			gotKB, _ := json.Marshal(preview.Params["reply_markup"])
			if string(wantKB) != string(gotKB) {
				t.Errorf("preview keyboard %s, want the post's own %s", gotKB, wantKB)
			}

			mustContain(t, control.Text(), w.title, d.story.Title, d.story.ID, w.readers3)
			confirm := buttonData(t, control, w.confirm)
			buttonData(t, control, w.cancel)
			buttonData(t, control, w.breaking)
			if !strings.HasPrefix(confirm, "p1:c:") || len(confirm) > 64 {
				t.Errorf("confirm data %q", confirm)
			}
			if n := len(d.jobs()); n != 0 {
				t.Fatalf("%d jobs before Confirm", n)
			}

			ans := d.pressAs(ed.id, ed, control.MessageID, confirm)
			jobs := d.jobs()
			if len(jobs) != 1 || jobs[0].By != ed.id || jobs[0].Breaking || !jobs[0].Priority {
				t.Fatalf("jobs after Confirm: %+v, want one priority job by %d", jobs, ed.id)
			}
			if ans.Params["show_alert"] == true || answerText(ans) == "" {
				t.Errorf("answer to Confirm: %v", ans.Params)
			}
			edited := d.control(ed.id, control.MessageID)
			mustContain(t, edited.Text(), w.published, string(jobs[0].ID), w.readers3)
			if kb := buttons(t, edited); len(kb) != 0 {
				t.Errorf("buttons left after publishing: %v", kb)
			}
			// A second press of the same Confirm does nothing more.
			ans = d.pressAs(ed.id, ed, control.MessageID, confirm)
			mustContain(t, answerText(ans), w.already)
			if n := len(d.jobs()); n != 1 {
				t.Errorf("%d jobs after a second Confirm, want 1", n)
			}
			// The channel gets the story, as readers' stories go: one post.
			d.runEngine()
			d.waitJob(t, jobs[0].ID)
			waitFor(t, "the channel post", func() bool { return len(d.tg.Messages("@news_en")) >= 1 })
			time.Sleep(100 * time.Millisecond)
			if n := len(d.tg.Messages("@news_en")); n != 1 {
				t.Errorf("channel holds %d posts, want 1", n)
			}
		})
	}
}

func TestPublishByURL(t *testing.T) {
	t.Parallel()
	d := newDesk(t)
	base := d.story.URL
	for _, u := range []string{
		base,
		base + "/",
		strings.Replace(base, "https://", "http://", 1),
		base + "?utm_source=telegram&utm_medium=social",
		strings.Replace(base, "https://", "http://", 1) + "/?utm_campaign=x#comments",
	} {
		for _, lang := range testLangs {
			ed := admin(adminA, lang)
			_, control := d.publish(ed.id, ed, u)
			mustContain(t, control.Text(), deskWords[lang].title, d.story.ID)
		}
	}
}

func TestPublishUnknownStory(t *testing.T) {
	t.Parallel()
	for _, lang := range testLangs {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			d := newDesk(t)
			ed := admin(adminA, lang)
			for _, arg := range []string{"no-such-story", "https://news.example.kz/en/news/missing", "<b>x</b>"} {
				d.say(ed, "/publish "+arg)
				msg := d.last(ed.id)
				mustContain(t, msg.Text(), deskWords[lang].notFound)
				if strings.Contains(msg.Text(), "<b>x</b>") {
					t.Errorf("the argument was not escaped: %q", msg.Text())
				}
			}
			d.say(ed, "/publish")
			mustContain(t, d.last(ed.id).Text(), deskWords[lang].usage)
			if n := len(d.jobs()); n != 0 {
				t.Errorf("%d jobs", n)
			}
		})
	}
}

func TestPublishCancel(t *testing.T) {
	t.Parallel()
	for _, lang := range testLangs {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			d := newDesk(t)
			w := deskWords[lang]
			ed := admin(adminA, lang)
			_, control := d.publish(ed.id, ed, d.story.ID)
			confirm := buttonData(t, control, w.confirm)
			d.pressAs(ed.id, ed, control.MessageID, buttonData(t, control, w.cancel))
			edited := d.control(ed.id, control.MessageID)
			mustContain(t, edited.Text(), w.cancelled)
			if len(buttons(t, edited)) != 0 {
				t.Error("buttons left after Cancel")
			}
			// The token is dead: a Confirm pressed later (from a stale client) pushes nothing.
			ans := d.pressAs(ed.id, ed, control.MessageID, confirm)
			mustContain(t, answerText(ans), w.wasCancelled)
			if n := len(d.jobs()); n != 0 {
				t.Errorf("%d jobs after Cancel", n)
			}
			if n := len(d.tg.Messages("@news_en")); n != 0 {
				t.Errorf("the channel got %d posts after Cancel", n)
			}
		})
	}
}

// TestPublishSecondAdmin: in the editors' group, two admins press Confirm on one preview —
// one after the other, and at the same moment: the story is pushed once.
func TestPublishSecondAdmin(t *testing.T) {
	t.Parallel()
	const room = -100500
	for _, lang := range testLangs {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			d := newDesk(t)
			w := deskWords[lang]
			a, b := admin(adminA, lang), admin(adminB, lang)
			_, control := d.publish(room, a, d.story.ID)
			confirm := buttonData(t, control, w.confirm)
			d.pressAs(room, a, control.MessageID, confirm)
			ans := d.pressAs(room, b, control.MessageID, confirm)
			mustContain(t, answerText(ans), w.already)
			if n := len(d.jobs()); n != 1 {
				t.Fatalf("%d jobs, want 1", n)
			}
			mustContain(t, d.control(room, control.MessageID).Text(), w.published)

			// Both at once, on a fresh preview (of a story pushed before: "push again").
			_, control = d.publish(room, a, d.story.ID)
			d.pressAs(room, a, control.MessageID, buttonData(t, control, w.confirm))
			again := buttonData(t, d.control(room, control.MessageID), w.again)
			var wg sync.WaitGroup
			for _, u := range []who{a, b, a, b} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					d.pressAs(room, u, control.MessageID, again)
				}()
			}
			wg.Wait()
			if n := len(d.jobs()); n != 2 {
				t.Errorf("%d jobs after four simultaneous presses, want 2 (one per preview)", n)
			}
		})
	}
}

func TestPublishAlreadyPushedAsksAgain(t *testing.T) {
	t.Parallel()
	for _, lang := range testLangs {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			d := newDesk(t)
			w := deskWords[lang]
			ed := admin(adminA, lang)
			_, first := d.publish(ed.id, ed, d.story.ID)
			d.pressAs(ed.id, ed, first.MessageID, buttonData(t, first, w.confirm))

			_, control := d.publish(ed.id, ed, d.story.ID)
			d.pressAs(ed.id, ed, control.MessageID, buttonData(t, control, w.confirm))
			asked := d.control(ed.id, control.MessageID)
			mustContain(t, asked.Text(), w.pushedBefore, w.date)
			if n := len(d.jobs()); n != 1 {
				t.Fatalf("%d jobs after the first Confirm of a pushed story, want still 1", n)
			}
			d.pressAs(ed.id, ed, control.MessageID, buttonData(t, asked, w.again))
			if n := len(d.jobs()); n != 2 {
				t.Fatalf("%d jobs after Push again, want 2", n)
			}
			mustContain(t, d.control(ed.id, control.MessageID).Text(), w.published)
		})
	}
}

// TestPublishDeliveredByWatcherAsksAgain: the watcher published the story (channel post and
// fan-out, through the real engine) before any editor touched it; /publish says so and pushes
// only on "Push again".
func TestPublishDeliveredByWatcherAsksAgain(t *testing.T) {
	t.Parallel()
	for _, lang := range testLangs {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			d := newDesk(t)
			w := deskWords[lang]
			if err := d.engine.Publish(context.Background(), d.story); err != nil {
				t.Fatal(err)
			}
			if n := len(d.jobs()); n != 1 {
				t.Fatalf("%d jobs after the watcher published the story, want its own 1", n)
			}
			ed := admin(adminA, lang)
			_, control := d.publish(ed.id, ed, d.story.ID)
			d.pressAs(ed.id, ed, control.MessageID, buttonData(t, control, w.confirm))
			asked := d.control(ed.id, control.MessageID)
			mustContain(t, asked.Text(), w.deliveredBefore)
			if n := len(d.jobs()); n != 1 {
				t.Fatalf("%d jobs before Push again, want still 1", n)
			}
			d.pressAs(ed.id, ed, control.MessageID, buttonData(t, asked, w.again))
			if n := len(d.jobs()); n != 2 {
				t.Fatalf("%d jobs after Push again, want 2", n)
			}
			mustContain(t, d.control(ed.id, control.MessageID).Text(), w.published)
			d.runEngine()
			d.waitJob(t, delivery.JobID(d.story.ID+"#1"))
			waitFor(t, "the channel post", func() bool { return len(d.tg.Messages("@news_en")) >= 1 })
			time.Sleep(100 * time.Millisecond)
			if n := len(d.tg.Messages("@news_en")); n != 1 {
				t.Errorf("the channel holds %d posts of the story, want 1", n)
			}
		})
	}
}

func TestPublishBreaking(t *testing.T) {
	t.Parallel()
	for _, lang := range testLangs {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			d := newDesk(t)
			w := deskWords[lang]
			d.subscribe(9001)
			// A reader of English stories who follows only sport: reached by breaking news only.
			if err := d.readers.Save(context.Background(), subscriber.Reader{
				ChatID: 9002, Lang: "ru", Langs: []string{"en"}, Topics: []string{"sport"}, Status: subscriber.Active,
			}); err != nil {
				t.Fatal(err)
			}
			ed := admin(adminA, lang)
			_, control := d.publish(ed.id, ed, d.story.ID)
			mustContain(t, control.Text(), w.readers1)
			d.pressAs(ed.id, ed, control.MessageID, buttonData(t, control, w.breaking))
			toggled := d.control(ed.id, control.MessageID)
			mustContain(t, toggled.Text(), w.mode, w.readers2())
			if b := buttonData(t, toggled, w.breaking); b == "" || !strings.HasPrefix(findText(t, toggled, w.breaking), "✓ ") {
				t.Errorf("breaking button not checked: %q", findText(t, toggled, w.breaking))
			}
			d.pressAs(ed.id, ed, control.MessageID, buttonData(t, toggled, w.confirm))
			jobs := d.jobs()
			if len(jobs) != 1 || !jobs[0].Breaking {
				t.Fatalf("jobs %+v, want one breaking job", jobs)
			}
			entries, err := d.desk.audit.Recent(context.Background(), 1)
			if err != nil || len(entries) != 1 || !entries[0].Breaking || entries[0].Audience != 2 {
				t.Errorf("audit %+v, %v: want a breaking push to 2 readers", entries, err)
			}
		})
	}
}

// TestAdminCommandsForNonAdmins: to a reader, /publish, /stats and /audit do not exist; the
// attempt is logged with the user's id.
func TestAdminCommandsForNonAdmins(t *testing.T) {
	t.Parallel()
	d := newDesk(t)
	for i, lang := range testLangs {
		reader := who{id: int64(7001 + i), lang: lang}
		for _, cmd := range []string{"/publish " + d.story.ID, "/stats", "/audit", "/publish"} {
			d.say(reader, cmd)
			got := d.last(reader.id).Text()
			d.say(reader, "/nosuchcommand")
			if want := d.last(reader.id).Text(); got != want {
				t.Errorf("%s to a reader in %s: %q, want the unknown-command answer %q", cmd, lang, got, want)
			}
		}
		if !strings.Contains(d.logs.String(), fmt.Sprintf("user_id=%d", reader.id)) {
			t.Errorf("attempts of user %d not logged:\n%s", reader.id, d.logs.String())
		}
	}
	if n := len(d.jobs()); n != 0 {
		t.Errorf("%d jobs", n)
	}
	for _, m := range d.tg.Requests("sendPhoto") {
		t.Errorf("a reader got a preview: %v", m.Params["chat_id"])
	}
	// In a group, an admin command from a non-admin gets the silence any unknown command gets.
	d.sayIn(-4242, who{id: 7100, lang: "en"}, "/stats")
	if n := len(d.tg.Messages(int64(-4242))); n != 0 {
		t.Errorf("group got %d messages", n)
	}
}

// TestForgedPublishButtons: a non-admin pressing a real (forwarded) Confirm, or anyone
// pressing made-up data, gets the answer of an unknown button, and nothing is pushed.
func TestForgedPublishButtons(t *testing.T) {
	t.Parallel()
	for _, lang := range testLangs {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			d := newDesk(t)
			w := deskWords[lang]
			ed := admin(adminA, lang)
			_, control := d.publish(ed.id, ed, d.story.ID)
			confirm := buttonData(t, control, w.confirm)
			stale := deskWords[lang].stale

			intruder := who{id: 6666, lang: lang}
			for _, data := range []string{confirm, "p1:b:" + strings.TrimPrefix(confirm, "p1:c:"), "p1:c:AAAAAAAAAAAAAAAA"} {
				// In the admin's own chat and in the intruder's.
				for _, chat := range []int64{ed.id, intruder.id} {
					ans := d.pressAs(chat, intruder, control.MessageID, data)
					mustContain(t, answerText(ans), stale)
				}
			}
			if !strings.Contains(d.logs.String(), "user_id=6666") {
				t.Errorf("forged presses not logged with the user id:\n%s", d.logs.String())
			}
			// An admin pressing a real token under another message or in another chat, or a
			// token nobody issued, gets nothing pushed either.
			mustContain(t, answerText(d.pressAs(ed.id, ed, control.MessageID+5, confirm)), stale)
			mustContain(t, answerText(d.pressAs(adminB.id, admin(adminB, lang), control.MessageID, confirm)), stale)
			if ans := answerText(d.pressAs(ed.id, ed, control.MessageID, "p1:c:AAAAAAAAAAAAAAAA")); ans == "" {
				t.Error("a made-up token got no answer")
			}
			if n := len(d.jobs()); n != 0 {
				t.Fatalf("%d jobs after forged presses", n)
			}
			// The real press still works.
			d.pressAs(ed.id, ed, control.MessageID, confirm)
			if n := len(d.jobs()); n != 1 {
				t.Errorf("%d jobs after the admin's Confirm", n)
			}
		})
	}
}

// failingPublisher refuses the first push, as delivery does when Redis is briefly away.
type failingPublisher struct {
	*delivery.Engine
	mu    sync.Mutex
	fails int
}

func (f *failingPublisher) Push(ctx context.Context, a article.Article, opt delivery.PushOptions) (delivery.JobID, error) {
	f.mu.Lock()
	fail := f.fails > 0
	f.fails--
	f.mu.Unlock()
	if fail {
		return "", errors.New("redis: connection refused")
	}
	return f.Engine.Push(ctx, a, opt)
}

func TestPublishFailedPushCanBeRetried(t *testing.T) {
	t.Parallel()
	d := newDesk(t, func(s *setup) {
		s.publisher = func(e *delivery.Engine) Publisher { return &failingPublisher{Engine: e, fails: 1} }
	})
	ed := admin(adminA, "en")
	_, control := d.publish(ed.id, ed, d.story.ID)
	confirm := buttonData(t, control, "Confirm")
	mustContain(t, answerText(d.pressAs(ed.id, ed, control.MessageID, confirm)), "Publishing failed")
	if n := len(d.jobs()); n != 0 {
		t.Fatalf("%d jobs after a failed push", n)
	}
	d.pressAs(ed.id, ed, control.MessageID, confirm)
	if n := len(d.jobs()); n != 1 {
		t.Fatalf("%d jobs after the retry, want 1", n)
	}
	mustContain(t, d.control(ed.id, control.MessageID).Text(), "Published by Aigerim Sadykova")
}

func TestPublishCorrectedSincePreview(t *testing.T) {
	t.Parallel()
	d := newDesk(t)
	ed := admin(adminA, "en")
	_, control := d.publish(ed.id, ed, d.story.ID)
	d.stories.mu.Lock()
	d.stories.all[0].Title = "Corrected title"
	d.stories.mu.Unlock()
	ans := d.pressAs(ed.id, ed, control.MessageID, buttonData(t, control, "Confirm"))
	mustContain(t, answerText(ans), "corrected after this preview")
	if n := len(d.jobs()); n != 0 {
		t.Errorf("%d jobs: a story changed since its preview was pushed", n)
	}
}

// TestPublishPreviewTextStory: a story without a photo is previewed with sendMessage and the
// link preview of the story, as readers get it; a retracted story is refused.
func TestPublishPreviewTextStory(t *testing.T) {
	t.Parallel()
	retracted := map[string]string{"kk": "алынып тасталған", "ru": "отозван", "en": "was retracted"}
	for _, lang := range testLangs {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			d := newDesk(t)
			text := d.story
			text.ID, text.URL, text.ImageURL, text.ImageCredit, text.Lang = "text-only", d.story.URL+"-text", "", "", "ru"
			gone := d.story
			gone.ID, gone.URL, gone.Retracted = "gone", d.story.URL+"-gone", true
			d.stories.add(text, gone)

			ed := admin(adminA, lang)
			preview, _ := d.publish(ed.id, ed, text.ID)
			want, err := post.NewRenderer(d.texts, d.loc).Render(text, lang, ed.id)
			if err != nil {
				t.Fatal(err)
			}
			if preview.Method != "sendMessage" || want.Method != "sendMessage" {
				t.Fatalf("preview by %s, readers by %s; want sendMessage", preview.Method, want.Method)
			}
			wantParams, _ := json.Marshal(withoutChat(want.Params))
			gotParams, _ := json.Marshal(withoutChat(preview.Params))
			if string(wantParams) != string(gotParams) {
				t.Errorf("preview\n%s\nreaders get\n%s", gotParams, wantParams)
			}

			d.say(ed, "/publish gone")
			mustContain(t, d.last(ed.id).Text(), retracted[lang])
			if n := len(d.tg.Messages(ed.id)); n != 3 {
				t.Errorf("%d messages: a retracted story got a preview", n)
			}
		})
	}
}

// TestHostileNamesAndTitlesAreEscaped: an editor's Telegram name and a story's title are
// anyone's text. Every desk message that shows them must stay valid Telegram HTML (the fake
// refuses what Telegram would) and show them as written.
func TestHostileNamesAndTitlesAreEscaped(t *testing.T) {
	t.Parallel()
	d := newDesk(t)
	d.subscribe(9001)
	hostile := d.story
	hostile.ID, hostile.Title = "hostile-1", `</b><script>alert("x")</script> &nbsp; <i>Tom & Jerry`
	hostile.URL = d.story.URL + "-hostile"
	d.stories.add(hostile)
	ed := admin(adminA, "en")
	_, control := d.publish(ed.id, ed, hostile.ID)
	mustContain(t, control.Text(), "&lt;/b&gt;&lt;script&gt;", "&amp;nbsp;")

	// The confirming editor calls themselves something HTML-like.
	id := fmt.Sprintf("cb%d", d.nextID())
	user := userObj(ed)
	user["first_name"], user["last_name"] = "<b>Boss</b>", `& "Co"`
	d.handle(map[string]any{"callback_query": map[string]any{
		"id": id, "from": user, "chat_instance": "ci", "data": buttonData(t, control, deskWords["en"].confirm),
		"message": map[string]any{"message_id": control.MessageID, "date": 1700000000, "chat": chatObj(ed.id), "text": "..."},
	}})
	published := d.control(ed.id, control.MessageID).Text()
	mustContain(t, published, "&lt;b&gt;Boss&lt;/b&gt; &amp; &#34;Co&#34;", "&lt;script&gt;")

	for _, cmd := range []string{"/audit", "/stats"} {
		before := len(d.tg.Messages(ed.id))
		d.say(ed, cmd)
		if len(d.tg.Messages(ed.id)) != before+1 {
			t.Errorf("%s: no message (Telegram would refuse its HTML)", cmd)
			continue
		}
		mustContain(t, d.last(ed.id).Text(), "&lt;b&gt;Boss&lt;/b&gt;")
	}
}

// TestPublishEndToEnd runs the desk on the real parts: the articles directory watched by
// source (whose first start records the sample story as seen without sending it — the story
// an editor then pushes by hand), the running delivery engine, the subscriber store, the
// renderer, and the fake Bot API. Readers of each interface language get exactly the post
// their editor previewed, once, however often Confirm is pressed.
func TestPublishEndToEnd(t *testing.T) {
	t.Parallel()
	var stories *source.Store
	h := newDesk(t, func(s *setup) {
		s.channels = map[string]string{"en": "@news_en"}
		s.idlePoll = 10 * time.Millisecond
		// The desk as serve.go wires it: Stories is source.Store, Audience the subscriber
		// store.
		s.stories = func(h *harness) Stories {
			stories = source.NewStore(h.rdb, h.prefix, source.StoreOptions{})
			return stories
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	dir := t.TempDir()
	raw, err := os.ReadFile("../../testdata/seed-xi-jinping-visit.en.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "xi.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	story := sampleStory(t)
	eng := h.engine
	watcher := source.NewDir(source.Deps{
		Store: stories,
		Sink:  eng,
		Rules: article.Rules{Languages: testLangs, Topics: testTopics},
		Owner: "test",
	}, dir, source.DirOptions{Rescan: 50 * time.Millisecond})
	done := make(chan struct{}, 2)
	go func() { _ = watcher.Run(ctx); done <- struct{}{} }()
	go func() { _ = eng.Run(ctx); done <- struct{}{} }()
	defer func() { cancel(); <-done; <-done }()
	waitFor(t, "the watcher to see the sample story", func() bool {
		_, ok, err := stories.Get(ctx, story.ID)
		return err == nil && ok
	})

	d := h

	// One reader of English stories per interface language; one who follows sport only.
	readerOf := map[string]int64{"kk": 9101, "ru": 9102, "en": 9103}
	for lang, id := range readerOf {
		if err := h.readers.Save(ctx, subscriber.Reader{ChatID: id, Lang: lang, Langs: []string{"en"}, AllTopics: true, Status: subscriber.Active}); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.readers.Save(ctx, subscriber.Reader{ChatID: 9104, Lang: "en", Langs: []string{"en"}, Topics: []string{"sport"}, Status: subscriber.Active}); err != nil {
		t.Fatal(err)
	}

	previews := map[string]telegramtest.Request{}
	var control telegramtest.Request
	for _, lang := range testLangs {
		ed := admin(adminA, lang)
		// By URL, as an editor pastes it from the site.
		previews[lang], control = d.publish(ed.id, ed, story.URL+"?utm_source=tg")
	}
	// The English editor confirms, twice; the second editor presses too.
	confirm := buttonData(t, control, "Confirm")
	d.pressAs(adminA.id, admin(adminA, "en"), control.MessageID, confirm)
	d.pressAs(adminA.id, admin(adminA, "en"), control.MessageID, confirm)

	waitFor(t, "the fan-out to finish", func() bool {
		st, err := eng.Stats(ctx)
		return err == nil && len(st.Jobs) == 0 && len(h.tg.Messages(readerOf["kk"])) > 0
	})
	for lang, id := range readerOf {
		got := h.tg.Messages(id)
		if len(got) != 1 {
			t.Errorf("reader %d (%s) holds %d messages, want the story once", id, lang, len(got))
			continue
		}
		if got[0].Method != previews[lang].Method {
			t.Errorf("%s: reader got %s, editor previewed %s", lang, got[0].Method, previews[lang].Method)
		}
		if a, b := withoutChat(got[0].Params), withoutChat(previews[lang].Params); !jsonEqual(a, b) {
			t.Errorf("%s: the reader's post differs from the preview:\nreader  %v\npreview %v", lang, a, b)
		}
	}
	if n := len(h.tg.Messages(int64(9104))); n != 0 {
		t.Errorf("the sport-only reader got %d messages of a politics story", n)
	}
	if n := len(h.tg.Messages("@news_en")); n != 1 {
		t.Errorf("the channel holds %d posts of the story, want 1", n)
	}
	mustContain(t, d.control(adminA.id, control.MessageID).Text(), "Published by Aigerim Sadykova", story.ID+"#1", "3 readers")

	// Pushed again as breaking news: only the reader who had not got it gets it now.
	_, control = d.publish(adminA.id, admin(adminA, "en"), story.ID)
	d.pressAs(adminA.id, admin(adminA, "en"), control.MessageID, buttonData(t, control, "Breaking"))
	d.pressAs(adminA.id, admin(adminA, "en"), control.MessageID, buttonData(t, d.control(adminA.id, control.MessageID), "Confirm"))
	asked := d.control(adminA.id, control.MessageID)
	mustContain(t, asked.Text(), "already pushed by Aigerim Sadykova")
	d.pressAs(adminA.id, admin(adminA, "en"), control.MessageID, buttonData(t, asked, "Push again"))
	waitFor(t, "the breaking push to reach the sport reader", func() bool {
		st, err := eng.Stats(ctx)
		return err == nil && len(st.Jobs) == 0 && len(h.tg.Messages(int64(9104))) == 1
	})
	for lang, id := range readerOf {
		if n := len(h.tg.Messages(id)); n != 1 {
			t.Errorf("reader %s holds %d copies after the breaking re-push, want 1", lang, n)
		}
	}

	// /stats reports what delivery counted.
	st, err := eng.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d.say(admin(adminA, "en"), "/stats")
	mustContain(t, h.last(adminA.id).Text(), fmt.Sprintf("Sent: %d messages", st.Sent), "Pushed by editors: 2 stories", "Nothing is being sent.")
	if st.Sent < 4 {
		t.Errorf("delivery counted %d sent messages, want at least the 4 readers' copies", st.Sent)
	}
}

func withoutChat(p map[string]any) map[string]any {
	out := maps.Clone(p)
	delete(out, "chat_id")
	return out
}

func jsonEqual(a, b map[string]any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// BenchmarkAudienceSize measures counting a story's audience, which /publish does for the
// control message and again on Confirm (for the audit trail): AudiencePage walked in pages of
// audiencePage ids.
func BenchmarkAudienceSize(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			d := newDesk(b)
			seedReaders(b, d, n)
			ctx := context.Background()
			if got := d.desk.audienceSize(ctx, d.story, false); got != int64(n) {
				b.Fatalf("audience %d, want %d", got, n)
			}
			b.ResetTimer()
			for b.Loop() {
				d.desk.audienceSize(ctx, d.story, false)
			}
		})
	}
}

// BenchmarkPublishPreview measures /publish end to end with 100,000 readers in the audience:
// story lookup, rendering, the preview and the control message over HTTP to the fake Bot API,
// the request saved in Redis, and the audience counted.
func BenchmarkPublishPreview(b *testing.B) {
	d := newDesk(b)
	seedReaders(b, d, 100_000)
	d.tg.SetRecord(false)
	ed := admin(adminA, "ru")
	b.ResetTimer()
	for b.Loop() {
		d.say(ed, "/publish "+d.story.ID)
	}
}
