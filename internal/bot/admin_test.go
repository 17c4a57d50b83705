package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
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
	"newsbot/internal/testkit"
)

// The real parts satisfy the desk's interfaces.
var (
	_ Publisher       = (*delivery.Engine)(nil)
	_ DeliveryHistory = (*delivery.Engine)(nil)
	_ JobHistory      = (*delivery.Engine)(nil)
	_ Renderer        = (*post.Renderer)(nil)
	_ Lookup          = (*source.Store)(nil)
	_ Audience        = (*subscriber.Store)(nil)
)

// Get and FindByURL make the test story list a Lookup too, as source.Store is.
func (s *storyList) Get(_ context.Context, id string) (article.Article, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.all {
		if a.ID == id {
			return a, true, nil
		}
	}
	return article.Article{}, false, nil
}

func (s *storyList) FindByURL(_ context.Context, u string) (article.Article, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.all {
		// source.Store also matches with or without the trailing slash.
		if a.URL == u || a.URL == strings.TrimSuffix(u, "/") || a.URL+"/" == u {
			return a, true, nil
		}
	}
	return article.Article{}, false, nil
}

// Editors in the tests, and what each language must show them (kept here, not read from
// the locale files, so that a wrong translation fails).
var (
	adminA = who{id: 501, lang: "en"}
	adminB = who{id: 502, lang: "en"}
)

// deskText is what an editor must see in one language.
type deskText struct {
	title, confirm, cancel, breaking, again, notFound, published, already, cancelled string
	wasCancelled, pushedBefore, deliveredBefore, date, readers1, readers3, mode      string
	auditTitle, auditEmpty, usage                                                    string
}

var deskWords = map[string]deskText{
	"kk": {
		title: "Бұл материалды жариялау керек пе?", confirm: "Растау", cancel: "Бас тарту",
		breaking: "Шұғыл: барлық оқырманға", again: "Қайта жіберу", notFound: "материалы табылмады",
		published: "Жариялаған: Aigerim Sadykova, 27 қараша 2026, 10:15", already: "Жарияланып қойған. Жариялаған: Aigerim Sadykova, 27 қараша 2026, 10:15",
		cancelled: "Бас тартқан: Aigerim Sadykova, 27 қараша 2026, 10:15", wasCancelled: "Бұл сұраудан бас тартылған",
		pushedBefore: "Бұл материал бұрын жіберілген. Жариялаған: Aigerim Sadykova", deliveredBefore: "оқырмандарға бұрын жіберілген",
		date: "27 қараша 2026, 10:15", readers1: "1 оқырман", readers3: "3 оқырман", mode: "Шұғыл хабар: осы тілдің барлық оқырманы алады",
		auditTitle: "Редакторлар жібергені", auditEmpty: "Редакторлар әлі ештеңе жібермеген", usage: "/publish командасын",
	},
	"ru": {
		title: "Опубликовать этот материал?", confirm: "Подтвердить", cancel: "Отмена",
		breaking: "Срочно: всем подписчикам", again: "Отправить ещё раз", notFound: "не найден",
		published: "Опубликовано: Aigerim Sadykova, 27 ноября 2026, 10:15", already: "Уже опубликовано: Aigerim Sadykova, 27 ноября 2026, 10:15",
		cancelled: "Отменено: Aigerim Sadykova, 27 ноября 2026, 10:15", wasCancelled: "Этот запрос отменён",
		pushedBefore: "Этот материал уже отправлен. Опубликовано: Aigerim Sadykova", deliveredBefore: "уже разослан подписчикам",
		date: "27 ноября 2026, 10:15", readers1: "1 подписчик", readers3: "3 подписчика", mode: "Срочно: получат все подписчики этого языка",
		auditTitle: "Отправлено редакторами", auditEmpty: "Редакторы пока ничего не отправляли", usage: "Отправьте /publish",
	},
	"en": {
		title: "Publish this story?", confirm: "Confirm", cancel: "Cancel",
		breaking: "Breaking: all readers", again: "Push again", notFound: "No story found",
		published: "Published by Aigerim Sadykova, 27 November 2026, 10:15", already: "Already published by Aigerim Sadykova, 27 November 2026, 10:15",
		cancelled: "Cancelled by Aigerim Sadykova, 27 November 2026, 10:15", wasCancelled: "This request was cancelled",
		pushedBefore: "This story was already pushed by Aigerim Sadykova", deliveredBefore: "already sent to readers",
		date: "27 November 2026, 10:15", readers1: "1 reader", readers3: "3 readers", mode: "Breaking: every reader of this language gets it",
		auditTitle: "Pushed by editors", auditEmpty: "No story has been pushed by an editor yet", usage: "Send /publish",
	},
}

// adminNames are the editors' Telegram names.
var adminNames = map[int64]string{adminA.id: "Aigerim Sadykova", adminB.id: "Bolat Nurlanov"}

// deskNow is the clock of the desk tests: 10:15 in Almaty.
var deskNow = time.Date(2026, 11, 27, 5, 15, 0, 0, time.UTC)

// desk is a bot with the editors' desk: the real delivery engine (not running, so a push
// stays a queued job the test can count), the real renderer, the stories in storyList.
type desk struct {
	*harness
	engine *delivery.Engine
	logs   *testkit.Log
	story  article.Article
}

// sampleStory is the sample article of the repository (an English story with a photo, topic
// politics).
func sampleStory(t testing.TB) article.Article {
	t.Helper()
	raw, err := os.ReadFile("../../testdata/seed-xi-jinping-visit.en.json")
	if err != nil {
		t.Fatal(err)
	}
	a, err := article.Parse(raw, article.Rules{Languages: testLangs, Topics: testTopics})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func newDesk(t testing.TB, publisher func(*delivery.Engine) Publisher) *desk {
	t.Helper()
	logs := &testkit.Log{}
	h := newHarness(t, func(o *Options) {
		o.Admins = []int64{adminA.id, adminB.id}
		o.Log = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	render := post.NewRenderer(h.texts, h.opts.Location)
	eng, err := delivery.New(h.rdb, h.api, h.readers, render, delivery.Options{
		Prefix:   h.prefix,
		Channels: map[string]string{"en": "@news_en", "ru": "@news_ru", "kk": "@news_kk"},
	})
	if err != nil {
		t.Fatal(err)
	}
	d := &desk{harness: h, engine: eng, logs: logs, story: sampleStory(t)}
	h.stories.all = append(h.stories.all, d.story)
	h.opts.Renderer = render
	h.opts.Publisher = eng
	if publisher != nil {
		h.opts.Publisher = publisher(eng)
	}
	if h.bot, err = NewBot(h.opts); err != nil {
		t.Fatal(err)
	}
	h.bot.now = func() time.Time { return deskNow }
	return d
}

// subscribe saves active readers of English stories (all topics) with these chat ids.
func (d *desk) subscribe(ids ...int64) {
	d.t.Helper()
	for _, id := range ids {
		err := d.readers.Save(context.Background(), subscriber.Reader{
			ChatID: id, Lang: "en", Langs: []string{"en"}, AllTopics: true, Status: subscriber.Active,
		})
		if err != nil {
			d.t.Fatal(err)
		}
	}
}

// admin is an editor speaking lang.
func admin(u who, lang string) who { return who{id: u.id, lang: lang} }

// pressAs presses a button as a named user and returns the answer to the press.
func (d *desk) pressAs(chat int64, from who, msgID int, data string) telegramtest.Request {
	d.t.Helper()
	id := fmt.Sprintf("cb%d", d.nextID())
	user := userObj(from)
	if name, ok := adminNames[from.id]; ok {
		first, last, _ := strings.Cut(name, " ")
		user["first_name"], user["last_name"] = first, last
	}
	d.handle(map[string]any{"callback_query": map[string]any{
		"id": id, "from": user, "chat_instance": "ci", "data": data,
		"message": map[string]any{"message_id": msgID, "date": 1700000000, "chat": chatObj(chat), "text": "..."},
	}})
	for _, r := range d.tg.Requests("answerCallbackQuery") {
		if r.Params["callback_query_id"] == id {
			return r
		}
	}
	d.t.Fatalf("press %q: no answer", data)
	return telegramtest.Request{}
}

func answerText(r telegramtest.Request) string { s, _ := r.Params["text"].(string); return s }

// publish sends /publish arg as from in chat and returns the preview and the control message.
func (d *desk) publish(chat int64, from who, arg string) (preview, control telegramtest.Request) {
	d.t.Helper()
	before := len(d.tg.Messages(chat))
	d.sayIn(chat, from, "/publish "+arg)
	ms := d.tg.Messages(chat)
	if len(ms) != before+2 {
		for _, m := range ms[before:] {
			d.t.Logf("sent: %s %q", m.Method, m.Text())
		}
		d.t.Fatalf("/publish %s: %d new messages, want the preview and the controls", arg, len(ms)-before)
	}
	return ms[before], ms[before+1]
}

// control returns the current state of a control message (edits applied).
func (d *desk) control(chat int64, msgID int) telegramtest.Request {
	d.t.Helper()
	for _, m := range d.tg.Messages(chat) {
		if m.MessageID == msgID {
			return m
		}
	}
	d.t.Fatalf("no message %d in chat %d", msgID, chat)
	return telegramtest.Request{}
}

// buttonData finds the control button whose text contains label.
func buttonData(t *testing.T, msg telegramtest.Request, label string) string {
	t.Helper()
	for _, row := range buttons(t, msg) {
		for _, b := range row {
			if strings.Contains(b.Text, label) {
				return b.Data
			}
		}
	}
	t.Fatalf("no button %q in %v", label, buttons(t, msg))
	return ""
}

// jobs returns the fan-out jobs delivery holds for the story.
func (d *desk) jobs() []delivery.JobStatus {
	d.t.Helper()
	st, err := d.engine.Stats(context.Background())
	if err != nil {
		d.t.Fatal(err)
	}
	var out []delivery.JobStatus
	for _, j := range st.Jobs {
		if j.ArticleID == d.story.ID {
			out = append(out, j)
		}
	}
	return out
}

func TestPublishPreviewAndConfirm(t *testing.T) {
	for _, lang := range testLangs {
		t.Run(lang, func(t *testing.T) {
			d := newDesk(t, nil)
			d.subscribe(9001, 9002, 9003)
			w := deskWords[lang]
			ed := admin(adminA, lang)
			preview, control := d.publish(ed.id, ed, d.story.ID)

			// The preview is the post a reader with this interface language gets.
			want, err := post.NewRenderer(d.texts, d.opts.Location).Render(d.story, lang, ed.id)
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
			// The channel got the story, as readers' stories go: one post.
			if n := len(d.tg.Messages("@news_en")); n != 1 {
				t.Errorf("channel holds %d posts, want 1", n)
			}

			// A second press of the same Confirm does nothing more.
			ans = d.pressAs(ed.id, ed, control.MessageID, confirm)
			mustContain(t, answerText(ans), w.already)
			if n := len(d.jobs()); n != 1 {
				t.Errorf("%d jobs after a second Confirm, want 1", n)
			}
			if n := len(d.tg.Messages("@news_en")); n != 1 {
				t.Errorf("channel holds %d posts after a second Confirm", n)
			}
		})
	}
}

func TestPublishByURL(t *testing.T) {
	d := newDesk(t, nil)
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
	for _, lang := range testLangs {
		t.Run(lang, func(t *testing.T) {
			d := newDesk(t, nil)
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
	for _, lang := range testLangs {
		t.Run(lang, func(t *testing.T) {
			d := newDesk(t, nil)
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
	const room = -100500
	for _, lang := range testLangs {
		t.Run(lang, func(t *testing.T) {
			d := newDesk(t, nil)
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
	for _, lang := range testLangs {
		t.Run(lang, func(t *testing.T) {
			d := newDesk(t, nil)
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
	for _, lang := range testLangs {
		t.Run(lang, func(t *testing.T) {
			d := newDesk(t, nil)
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
			if n := len(d.tg.Messages("@news_en")); n != 1 {
				t.Errorf("the channel holds %d posts of the story, want 1", n)
			}
		})
	}
}

func TestPublishBreaking(t *testing.T) {
	for _, lang := range testLangs {
		t.Run(lang, func(t *testing.T) {
			d := newDesk(t, nil)
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
			if b := buttonData(t, toggled, w.breaking); b == "" || !strings.HasPrefix(findText(t, toggled, w.breaking), checkMark) {
				t.Errorf("breaking button not checked: %q", findText(t, toggled, w.breaking))
			}
			d.pressAs(ed.id, ed, control.MessageID, buttonData(t, toggled, w.confirm))
			jobs := d.jobs()
			if len(jobs) != 1 || !jobs[0].Breaking {
				t.Fatalf("jobs %+v, want one breaking job", jobs)
			}
			entries, err := d.bot.audit.Recent(context.Background(), 1)
			if err != nil || len(entries) != 1 || !entries[0].Breaking || entries[0].Audience != 2 {
				t.Errorf("audit %+v, %v: want a breaking push to 2 readers", entries, err)
			}
		})
	}
}

// readers2 is "2 readers" in the language of w.
func (w deskText) readers2() string { return strings.Replace(w.readers3, "3", "2", 1) }

func findText(t *testing.T, msg telegramtest.Request, label string) string {
	t.Helper()
	for _, row := range buttons(t, msg) {
		for _, b := range row {
			if strings.Contains(b.Text, label) {
				return b.Text
			}
		}
	}
	return ""
}

// TestAdminCommandsForNonAdmins: to a reader, /publish, /stats and /audit do not exist; the
// attempt is logged with the user's id.
func TestAdminCommandsForNonAdmins(t *testing.T) {
	d := newDesk(t, nil)
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
	for _, lang := range testLangs {
		t.Run(lang, func(t *testing.T) {
			d := newDesk(t, nil)
			w := deskWords[lang]
			ed := admin(adminA, lang)
			_, control := d.publish(ed.id, ed, d.story.ID)
			confirm := buttonData(t, control, w.confirm)
			stale := words[lang].stale

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

func TestStatsPlurals(t *testing.T) {
	cases := []struct {
		lang  string
		n     int
		wants []string
	}{
		{"ru", 1, []string{"Активны: 1 подписчик\n"}},
		{"ru", 3, []string{"Активны: 3 подписчика\n"}},
		{"ru", 5, []string{"Активны: 5 подписчиков\n"}},
		{"ru", 21, []string{"Активны: 21 подписчик\n"}},
		{"ru", 12, []string{"Активны: 12 подписчиков\n"}},
		{"kk", 1, []string{"Белсенді: 1 оқырман\n"}},
		{"kk", 5, []string{"Белсенді: 5 оқырман\n"}},
		{"en", 1, []string{"Active: 1 reader\n"}},
		{"en", 3, []string{"Active: 3 readers\n"}},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s-%d", tc.lang, tc.n), func(t *testing.T) {
			d := newDesk(t, nil)
			ids := make([]int64, tc.n)
			for i := range ids {
				ids[i] = int64(10000 + i)
			}
			d.subscribe(ids...)
			ed := admin(adminA, tc.lang)
			d.say(ed, "/stats")
			mustContain(t, d.last(ed.id).Text(), tc.wants...)
		})
	}
}

func TestStatsContent(t *testing.T) {
	want := map[string][]string{
		"kk": {"<b>Оқырмандар</b>", "Жазылудан бас тартқан: 1 · ботты бұғаттаған: 1", "<b>Ағылшын тілі</b> — 3 оқырман", "Саясат 1",
			"<b>Соңғы 24 сағат</b>", "Жіберілгені: 0 хабарлама", "Таратылғаны: 1 материал", "Жеткізілмегені: жоқ", "(429): 0", "Редакторлар жібергені: 1 материал",
			"<b>Қазір таратылуда</b>", "Chinese leader", "Өңделгені 0"},
		"ru": {"<b>Подписчики</b>", "Отписались: 1 · заблокировали бота: 1", "— 3 подписчика", "Политика 1",
			"<b>За 24 часа</b>", "Отправлено: 0 сообщений", "Разослано: 1 материал", "Не доставлено: нет", "(429): 0", "Отправлено редакторами: 1 материал",
			"<b>Идёт рассылка</b>", "Chinese leader", "Обработано 0"},
		"en": {"<b>Readers</b>", "Stopped: 1 · blocked the bot: 1", "— 3 readers", "Politics 1",
			"<b>Last 24 hours</b>", "Sent: 0 messages", "Delivered: 1 story", "Not delivered: none", "(429): 0", "Pushed by editors: 1 story",
			"<b>Sending now</b>", "Chinese leader", "0 done"},
	}
	for _, lang := range testLangs {
		t.Run(lang, func(t *testing.T) {
			d := newDesk(t, nil)
			d.subscribe(9001, 9002, 9003, 9004, 9005)
			ctx := context.Background()
			if err := d.readers.SetStatus(ctx, 9004, subscriber.Stopped); err != nil {
				t.Fatal(err)
			}
			if err := d.readers.SetStatus(ctx, 9005, subscriber.Blocked); err != nil {
				t.Fatal(err)
			}
			if err := d.readers.Save(ctx, subscriber.Reader{ChatID: 9006, Lang: "kk", Langs: []string{"kk"}, Topics: []string{"politics"}, Status: subscriber.Active}); err != nil {
				t.Fatal(err)
			}
			ed := admin(adminA, lang)
			_, control := d.publish(ed.id, ed, d.story.ID)
			d.pressAs(ed.id, ed, control.MessageID, buttonData(t, control, deskWords[lang].confirm))
			d.say(ed, "/stats")
			text := d.last(ed.id).Text()
			mustContain(t, text, want[lang]...)
			for _, line := range strings.Split(text, "\n") {
				if n := len([]rune(line)); n > 90 {
					t.Errorf("line of %d characters, too wide for a phone: %q", n, line)
				}
			}
		})
	}
}

func TestAudit(t *testing.T) {
	for _, lang := range testLangs {
		t.Run(lang, func(t *testing.T) {
			d := newDesk(t, nil)
			w := deskWords[lang]
			d.subscribe(9001)
			ed := admin(adminA, lang)
			d.say(ed, "/audit")
			mustContain(t, d.last(ed.id).Text(), w.auditEmpty)

			second := d.story
			second.ID, second.Title, second.URL = "second-story", "Second <story> & more", d.story.URL+"-2"
			d.stories.all = append(d.stories.all, second)
			_, c1 := d.publish(ed.id, ed, d.story.ID)
			d.pressAs(ed.id, ed, c1.MessageID, buttonData(t, c1, w.confirm))
			d.bot.now = func() time.Time { return deskNow.Add(time.Minute) }
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
	d := newDesk(t, func(e *delivery.Engine) Publisher { return &failingPublisher{Engine: e, fails: 1} })
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
	d := newDesk(t, nil)
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

// TestEveryAdminMessageIDIsTranslated catches an admin_ id used in the code but missing from
// locales/admin.*.toml.
func TestEveryAdminMessageIDIsTranslated(t *testing.T) {
	d := newDesk(t, nil)
	ids := map[string]bool{}
	for _, f := range []string{"admin.go", "admin_stats.go"} {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, part := range strings.Split(string(src), `"`) {
			if strings.HasPrefix(part, "admin_") && !strings.HasSuffix(part, "_") && !strings.ContainsAny(part, " .") {
				ids[part] = true
			}
		}
	}
	for _, cmd := range adminCommands() {
		ids["bot_cmd_"+cmd.Name] = true
	}
	for _, r := range []string{"blocked", "chat_not_found", "bad_request", "transient", "rate_limited", "unauthorized", "render", "in_doubt"} {
		ids["admin_reason_"+r] = true
	}
	if len(ids) < 50 {
		t.Fatalf("found only %d ids: the scan is broken", len(ids))
	}
	for id := range ids {
		for _, lang := range testLangs {
			if !d.texts.Has(lang, id) {
				t.Errorf("message %s is missing in %s", id, lang)
			}
		}
	}
}

func TestRegisterAdminCommands(t *testing.T) {
	d := newDesk(t, nil)
	// Admin B never opened the bot: Telegram knows no chat to scope a menu to.
	d.tg.SetHandler(func(r telegramtest.Request) *telegramtest.Response {
		if scope, ok := r.Params["scope"].(map[string]any); ok && fmt.Sprint(scope["chat_id"]) == fmt.Sprint(adminB.id) {
			f := telegramtest.ChatNotFound()
			return &telegramtest.Response{Failure: &f}
		}
		return nil
	})
	err := d.bot.RegisterAdminCommands(context.Background())
	if err == nil || !strings.Contains(err.Error(), fmt.Sprint(adminB.id)) {
		t.Errorf("error %v, want the admin whose chat is missing named", err)
	}
	langs := map[string]string{}
	for _, r := range d.tg.Requests("setMyCommands") {
		scope, _ := r.Params["scope"].(map[string]any)
		if scope["type"] != "chat" || fmt.Sprint(scope["chat_id"]) != fmt.Sprint(adminA.id) || r.Status != 200 {
			continue
		}
		b, _ := json.Marshal(r.Params["commands"])
		lang, _ := r.Params["language_code"].(string)
		langs[lang] = string(b)
	}
	if len(langs) != 4 {
		t.Fatalf("admin menus for %d languages, want kk, ru, en and the default", len(langs))
	}
	for lang, cmds := range langs {
		for _, c := range []string{`"publish"`, `"stats"`, `"audit"`, `"start"`, `"help"`} {
			if !strings.Contains(cmds, c) {
				t.Errorf("admin menu %q lacks %s: %s", lang, c, cmds)
			}
		}
	}
	if !strings.Contains(langs["ru"], "Опубликовать материал") || !strings.Contains(langs[""], "Материалды жариялау") {
		t.Errorf("admin menus not translated: %v", langs)
	}
}

// TestPublishPreviewTextStory: a story without a photo is previewed with sendMessage and the
// link preview of the story, as readers get it; a retracted story is refused.
func TestPublishPreviewTextStory(t *testing.T) {
	retracted := map[string]string{"kk": "кері қайтарылған", "ru": "отозван", "en": "was retracted"}
	for _, lang := range testLangs {
		t.Run(lang, func(t *testing.T) {
			d := newDesk(t, nil)
			text := d.story
			text.ID, text.URL, text.ImageURL, text.ImageCredit, text.Lang = "text-only", d.story.URL+"-text", "", "", "ru"
			gone := d.story
			gone.ID, gone.URL, gone.Retracted = "gone", d.story.URL+"-gone", true
			d.stories.all = append(d.stories.all, text, gone)

			ed := admin(adminA, lang)
			preview, _ := d.publish(ed.id, ed, text.ID)
			want, err := post.NewRenderer(d.texts, d.opts.Location).Render(text, lang, ed.id)
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
	d := newDesk(t, nil)
	d.subscribe(9001)
	hostile := d.story
	hostile.ID, hostile.Title = "hostile-1", `</b><script>alert("x")</script> &nbsp; <i>Tom & Jerry`
	hostile.URL = d.story.URL + "-hostile"
	d.stories.all = append(d.stories.all, hostile)
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

// TestDeskNamesStoryLanguagesInTheEditorsLanguage: /audit and /stats name a story's language
// in the editor's language («английский»), not by its code ("en").
func TestDeskNamesStoryLanguagesInTheEditorsLanguage(t *testing.T) {
	want := map[string]string{"kk": "(ағылшын тілі)", "ru": "(английский)", "en": "(English)"}
	for _, lang := range testLangs {
		t.Run(lang, func(t *testing.T) {
			d := newDesk(t, nil)
			d.subscribe(9001)
			ed := admin(adminA, lang)
			_, control := d.publish(ed.id, ed, d.story.ID)
			d.pressAs(ed.id, ed, control.MessageID, buttonData(t, control, deskWords[lang].confirm))
			for _, cmd := range []string{"/audit", "/stats"} {
				d.say(ed, cmd)
				text := d.last(ed.id).Text()
				mustContain(t, text, want[lang])
				if strings.Contains(text, "(en)") {
					t.Errorf("%s shows the language code: %q", cmd, text)
				}
			}
		})
	}
}

// TestStatsWithManyTopicsFitsTelegram: TOPICS may list dozens of sections; /stats must still
// reach the editor (in more than one message if need be) instead of Telegram refusing a text
// over 4096 characters.
func TestStatsWithManyTopicsFitsTelegram(t *testing.T) {
	var topics []string
	for i := range 80 {
		topics = append(topics, fmt.Sprintf("section-number-%02d-with-long-name", i))
	}
	var store *subscriber.Store
	h := newHarness(t, func(o *Options) {
		o.Admins = []int64{adminA.id}
		o.Topics = topics
		store = subscriber.NewStore(o.Redis, o.Prefix, testLangs, topics)
		o.Readers = store
	})
	ctx := context.Background()
	for i, l := range testLangs {
		if err := store.Save(ctx, subscriber.Reader{ChatID: int64(9100 + i), Lang: l, Langs: testLangs, Topics: topics, Status: subscriber.Active}); err != nil {
			t.Fatal(err)
		}
	}
	before := len(h.tg.Messages(adminA.id))
	h.say(adminA, "/stats")
	ms := h.tg.Messages(adminA.id)[before:]
	if len(ms) == 0 {
		t.Fatal("/stats sent nothing (Telegram refused the text?)")
	}
	var all strings.Builder
	for _, m := range ms {
		all.WriteString(m.Text())
	}
	mustContain(t, all.String(), "<b>Readers</b>", "section-number-79-with-long-name 3", "<b>Last 24 hours</b>")
}

func TestSplitMessage(t *testing.T) {
	for _, tt := range []struct {
		text string
		n    int
		want []string
	}{
		{"a\nb\nc", 100, []string{"a\nb\nc"}},
		{"aa\nbb\ncc", 6, []string{"aa\nbb", "cc"}},
		{"aa\n\n\nbb", 4, []string{"aa", "bb"}}, // blank lines at a cut go
		{"⚡⚡\nb", 5, []string{"⚡⚡\nb"}},         // ⚡ is one UTF-16 unit, 👤 two
		{"👤👤\nb", 5, []string{"👤👤", "b"}},
		{"toolongline\nx", 4, []string{"toolongline", "x"}},
		{"\n\n", 10, nil},
	} {
		if got := splitMessage(tt.text, tt.n); !slices.Equal(got, tt.want) {
			t.Errorf("splitMessage(%q, %d) = %q, want %q", tt.text, tt.n, got, tt.want)
		}
	}
}
