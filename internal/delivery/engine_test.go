package delivery

import (
	"context"
	"testing"
	"time"

	"newsbot/internal/subscriber"
	"newsbot/internal/telegramtest"
)

func TestPublishReachesChannelAndAudienceOnce(t *testing.T) {
	e := newEnv(t)
	politics := e.readers(1000, 450, "en", "politics")
	all := e.readers(5000, 100, "en")
	sport := e.readers(9000, 50, "en", "sport")
	russian := e.readers(20000, 50, "ru")
	groups := e.readers(-500, 20, "en", "politics")
	eng, _ := e.engine(Options{PageSize: 100, Batch: 32})
	run(t, eng)

	a := story("s1", "en", "politics")
	ctx := context.Background()
	if err := eng.Publish(ctx, a); err != nil {
		t.Fatal(err)
	}
	// A replay (restart, second copy) must not post or send again.
	if err := eng.Publish(ctx, a); err != nil {
		t.Fatal(err)
	}
	st := waitIdle(t, eng, 30*time.Second)

	if got := e.tg.Messages("@news_en"); len(got) != 1 {
		t.Errorf("channel holds %d posts, want 1", len(got))
	}
	want := append(append(append([]int64{}, politics...), all...), groups...)
	exactlyOne(t, e, want)
	for c, n := range e.copies(append(sport, russian...)) {
		if n != 0 {
			t.Errorf("chat %d outside the audience got %d copies", c, n)
		}
	}
	if st.Sent != int64(len(want)) {
		t.Errorf("Stats.Sent = %d, want %d", st.Sent, len(want))
	}
	// The copy a reader gets is the channel post addressed to them.
	r := e.tg.Messages(politics[0])[0]
	ch := e.tg.Messages("@news_en")[0]
	if r.Method != ch.Method || r.Text() != ch.Text() {
		t.Errorf("reader copy %s %q differs from channel post %s %q", r.Method, r.Text(), ch.Method, ch.Text())
	}
}

func TestBreakingReachesEveryReaderOfTheLanguage(t *testing.T) {
	e := newEnv(t)
	sport := e.readers(9000, 30, "en", "sport")
	politics := e.readers(1000, 30, "en", "politics")
	russian := e.readers(20000, 10, "ru")
	eng, _ := e.engine(Options{})
	run(t, eng)
	a := story("b1", "en", "politics")
	a.Breaking = true
	if err := eng.Publish(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, eng, 30*time.Second)
	exactlyOne(t, e, append(sport, politics...))
	for c, n := range e.copies(russian) {
		if n != 0 {
			t.Errorf("chat %d of another language got %d copies", c, n)
		}
	}
}

func TestTelegramErrors(t *testing.T) {
	e := newEnv(t)
	ok := e.readers(100, 20, "en")
	blocked, deactivated, gone, flaky, dead, bad, limited := int64(200), int64(201), int64(202), int64(203), int64(204), int64(205), int64(206)
	e.readers(200, 7, "en")
	group := int64(-300)
	e.readers(group, 1, "en")
	const newGroup = int64(-1009999)

	e.tg.FailNext("sendMessage", blocked, telegramtest.Blocked())
	e.tg.FailNext("sendMessage", deactivated, telegramtest.Deactivated())
	e.tg.FailNext("sendMessage", gone, telegramtest.ChatNotFound())
	e.tg.FailNext("sendMessage", flaky, telegramtest.ServerError())
	e.tg.FailNext("sendMessage", flaky, telegramtest.ServerError())
	for range 4 { // more than Retries
		e.tg.FailNext("sendMessage", dead, telegramtest.ServerError())
	}
	e.tg.FailNext("sendMessage", bad, telegramtest.BadRequest("Bad Request: message text is empty"))
	e.tg.FailNext("sendMessage", limited, telegramtest.RetryAfter(1))
	e.tg.FailNext("sendMessage", group, telegramtest.Migrated(newGroup))

	eng, _ := e.engine(Options{Retries: 3})
	run(t, eng)
	ctx := context.Background()
	if err := eng.Publish(ctx, story("e1", "en")); err != nil {
		t.Fatal(err)
	}
	st := waitIdle(t, eng, 30*time.Second)

	exactlyOne(t, e, append(ok, flaky, limited, newGroup))
	for _, c := range []int64{blocked, deactivated, gone, dead, bad, group} {
		if n := len(e.tg.Messages(c)); n != 0 {
			t.Errorf("chat %d holds %d copies, want 0", c, n)
		}
	}
	for _, c := range []int64{blocked, deactivated} {
		r, found, err := e.store.Get(ctx, c)
		if err != nil || !found || r.Status != subscriber.Blocked {
			t.Errorf("reader %d after 403: %+v found=%v err=%v, want blocked", c, r, found, err)
		}
	}
	if _, found, _ := e.store.Get(ctx, gone); found {
		t.Errorf("reader %d still stored after chat not found", gone)
	}
	if _, found, _ := e.store.Get(ctx, newGroup); !found {
		t.Errorf("migrated group not stored under its new id %d", newGroup)
	}
	if _, found, _ := e.store.Get(ctx, group); found {
		t.Errorf("migrated group still stored under its old id %d", group)
	}
	wantFailed := map[string]int64{"blocked": 2, "chat_not_found": 1, "transient": 1, "bad_request": 1}
	for k, v := range wantFailed {
		if st.Failed[k] != v {
			t.Errorf("Stats.Failed[%s] = %d, want %d (all: %v)", k, st.Failed[k], v, st.Failed)
		}
	}
	if st.RateLimited != 1 {
		t.Errorf("Stats.RateLimited = %d, want 1", st.RateLimited)
	}
	if want := int64(len(ok) + 3); st.Sent != want {
		t.Errorf("Stats.Sent = %d, want %d", st.Sent, want)
	}

	// Blocked and removed readers are left out of the next story.
	if err := eng.Publish(ctx, story("e2", "en")); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, eng, 30*time.Second)
	for _, c := range []int64{blocked, deactivated, gone} {
		if n := len(e.tg.Messages(c)); n != 0 {
			t.Errorf("chat %d got the next story (%d copies)", c, n)
		}
	}
	if n := len(e.tg.Messages(newGroup)); n != 2 {
		t.Errorf("migrated group holds %d stories, want 2", n)
	}
}

func TestRetryAfterPausesEveryone(t *testing.T) {
	e := newEnv(t)
	chats := e.readers(100, 200, "en")
	e.tg.FailNext("sendMessage", chats[20], telegramtest.RetryAfter(2))
	eng, _ := e.engine(Options{SendRate: 100, Workers: 2})
	run(t, eng)
	if err := eng.Publish(context.Background(), story("p1", "en")); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, eng, 30*time.Second)
	exactlyOne(t, e, chats)
	reqs := e.tg.Requests("sendMessage")
	var at time.Time
	for _, r := range reqs {
		if r.ChatID() == chats[20] {
			at = r.Time
			break
		}
	}
	// After the 429, only sends already on their way may arrive before the pause ends.
	n := 0
	for _, r := range reqs {
		if r.Time.After(at.Add(200*time.Millisecond)) && r.Time.Before(at.Add(1900*time.Millisecond)) {
			n++
		}
	}
	if n > 0 {
		t.Errorf("%d messages sent during the 2s pause after a 429", n)
	}
}

// A reader's copy carries labels in the reader's interface language, whatever the story's.
func TestReaderCopiesAreLabelledInTheReadersLanguage(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	rs := []subscriber.Reader{
		{ChatID: 1, Lang: "en", Langs: []string{"en"}, AllTopics: true, Status: subscriber.Active},
		{ChatID: 2, Lang: "ru", Langs: []string{"en"}, AllTopics: true, Status: subscriber.Active},
		{ChatID: 3, Lang: "kk", Langs: []string{"en"}, AllTopics: true, Status: subscriber.Active},
	}
	if err := e.store.SaveMany(ctx, rs); err != nil {
		t.Fatal(err)
	}
	eng, _ := e.engine(Options{})
	run(t, eng)
	a := story("l1", "en", "politics")
	a.ImageURL, a.ImageCredit = "https://example.kz/l1.jpg", "Akorda"
	if err := eng.Publish(ctx, a); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, eng, 10*time.Second)
	texts := map[string]bool{}
	for _, r := range rs {
		want, err := e.render.Render(a, r.Lang, r.ChatID)
		if err != nil {
			t.Fatal(err)
		}
		got := e.tg.Messages(r.ChatID)
		if len(got) != 1 {
			t.Fatalf("chat %d holds %d copies", r.ChatID, len(got))
		}
		if got[0].Text() != want.Text() {
			t.Errorf("chat %d (interface %s) got %q, want %q", r.ChatID, r.Lang, got[0].Text(), want.Text())
		}
		texts[got[0].Text()] = true
	}
	if len(texts) != 3 {
		t.Errorf("copies in 3 languages have %d distinct texts: labels are not per reader", len(texts))
	}
}

// A story that cannot have an audience (a language no longer configured) is given up with a
// log line; it holds up no other story. A story that cannot be rendered is refused at once.
func TestBadStoriesCostNothingElse(t *testing.T) {
	e := newEnv(t)
	chats := e.readers(100, 10, "en")
	eng, _ := e.engine(Options{})
	run(t, eng)
	ctx := context.Background()
	if err := eng.Publish(ctx, story("de1", "de")); err != nil {
		t.Fatal(err)
	}
	untitled := story("u1", "en")
	untitled.Title = ""
	if err := eng.Publish(ctx, untitled); err == nil {
		t.Error("publishing a story that cannot be rendered gave no error")
	}
	if err := eng.Publish(ctx, story("ok1", "en")); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, eng, 10*time.Second)
	exactlyOne(t, e, chats)
}
