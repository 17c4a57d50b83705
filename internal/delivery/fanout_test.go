package delivery

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"newsbot/internal/subscriber"
	"newsbot/internal/telegramtest"
)

func TestPublishReachesChannelAndAudienceOnce(t *testing.T) {
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
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

// A retraction stops a fan-out that is still running.
func TestRetractionStopsFanOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	chats := e.readers(1000, 300, "en")
	eng, _ := e.engine(Options{SendRate: 100, PageSize: 20})
	run(t, eng)
	ctx := context.Background()
	a := story("r1", "en")
	if err := eng.Publish(ctx, a); err != nil {
		t.Fatal(err)
	}
	e.tg.WaitFor(t, "sendMessage", 50, 10*time.Second)
	a.Retracted = true
	if err := eng.Retract(ctx, a); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, eng, 10*time.Second)
	if n := e.tg.Count("sendMessage"); n > 150 {
		t.Errorf("%d of %d messages sent after the story was retracted early", n, len(chats))
	}
	if e.tg.Count("deleteMessage") != 1 {
		t.Errorf("channel post not deleted")
	}
}

// Breaking stories and admin pushes overtake a running ordinary fan-out between two pages.
func TestPushJumpsTheQueue(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ordinary := e.readers(1000, 400, "en", "sport")
	urgent := e.readers(5000, 60, "en", "politics")
	eng, _ := e.engine(Options{SendRate: 100, PageSize: 10, Workers: 2})
	run(t, eng)
	ctx := context.Background()
	if err := eng.Publish(ctx, story("slow", "en", "sport")); err != nil {
		t.Fatal(err)
	}
	e.tg.WaitFor(t, "sendMessage", 50, 10*time.Second)
	id, err := eng.Push(ctx, story("urgent", "en", "politics"), PushOptions{By: 42})
	if err != nil {
		t.Fatal(err)
	}
	if id == "" {
		t.Fatal("Push returned no job id")
	}
	st, err := eng.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.High != 1 || len(st.Jobs) != 2 || !st.Jobs[0].Priority || st.Jobs[0].By != 42 {
		t.Errorf("Stats after push: %+v", st)
	}
	waitIdle(t, eng, 30*time.Second)
	exactlyOne(t, e, append(ordinary, urgent...))

	isUrgent := map[int64]bool{}
	for _, c := range urgent {
		isUrgent[c] = true
	}
	var lastUrgent, lastOrdinary int
	for i, r := range e.tg.Requests("sendMessage") {
		c, _ := r.ChatID().(int64)
		if isUrgent[c] {
			lastUrgent = i
		} else {
			lastOrdinary = i
		}
	}
	if lastUrgent > lastOrdinary {
		t.Errorf("the pushed story finished after the ordinary one (message %d vs %d)", lastUrgent, lastOrdinary)
	}
	// Both stories are in order: after the push, at most the pages already in hand of the
	// ordinary story go out before the urgent ones are all sent — per worker the page it is
	// sending and one it may have claimed in the instant before the push was queued
	// (2 workers × 2 pages × 10). Without priority the whole ordinary story (400) would.
	reqs := e.tg.Requests("sendMessage")
	firstUrgent := -1
	for i, r := range reqs {
		if c, _ := r.ChatID().(int64); isUrgent[c] {
			firstUrgent = i
			break
		}
	}
	between := 0
	for _, r := range reqs[firstUrgent : lastUrgent+1] {
		if c, _ := r.ChatID().(int64); !isUrgent[c] {
			between++
		}
	}
	if between > 40 {
		t.Errorf("%d ordinary messages went out while the pushed story was being sent", between)
	}
}

func TestPushOfRetractedStoryIsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	eng, _ := e.engine(Options{})
	ctx := context.Background()
	a := story("gone", "en")
	if err := eng.Retract(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Push(ctx, a, PushOptions{By: 1}); !errors.Is(err, ErrRetracted) {
		t.Errorf("Push of a retracted story: %v, want ErrRetracted", err)
	}
	if n := e.tg.Count(""); n != 0 {
		t.Errorf("%d requests to Telegram for a retracted story", n)
	}
}

// A correction while the story is still being fanned out: readers who have not been sent
// the story yet get the corrected text; nobody gets two copies.
func TestCorrectionDuringFanOutReachesReadersNotYetSent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	chats := e.readers(1000, 40, "en")
	eng, _ := e.engine(Options{SendRate: 20, PageSize: 5, Workers: 1})
	run(t, eng)
	ctx := context.Background()
	s := story("fix1", "en")
	s.Title = "Minister resigns"
	if err := eng.Publish(ctx, s); err != nil {
		t.Fatal(err)
	}
	e.tg.WaitFor(t, "sendMessage", 6, 10*time.Second) // the channel post and some readers
	s.Title = "Minister stays"
	if err := eng.Correct(ctx, s); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, eng, 20*time.Second)
	exactlyOne(t, e, chats)
	last := e.tg.Messages(chats[len(chats)-1])
	if len(last) != 1 || !strings.Contains(last[0].Text(), "Minister stays") {
		t.Errorf("the last reader, sent long after the correction, holds %q; want the corrected story", last[0].Text())
	}
}

// A retraction stops the fan-out at once, also in the middle of a page: readers not sent the
// story yet never get it.
func TestRetractionStopsAPageMidway(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	chats := e.readers(100, 40, "en")
	eng, _ := e.engine(Options{SendRate: 10, PageSize: 40, Workers: 1})
	run(t, eng)
	ctx := context.Background()
	a := story("r1", "en")
	if err := eng.Publish(ctx, a); err != nil {
		t.Fatal(err)
	}
	e.tg.WaitFor(t, "sendMessage", 5, 10*time.Second) // the channel post and 4 readers
	if err := eng.Retract(ctx, a); err != nil {
		t.Fatal(err)
	}
	st := waitIdle(t, eng, 20*time.Second)
	got := 0
	for _, n := range e.copies(chats) {
		got += n
	}
	// At 10/s a few slots may already be handed out when the retraction lands.
	if got > 10 {
		t.Errorf("%d of %d readers got the story after all, want the fan-out stopped (%+v)", got, len(chats), st)
	}
	j, ok, err := eng.Job(ctx, newJobID(a.ID, 0))
	if err != nil || !ok || j.State != JobRetracted {
		t.Errorf("job %+v (found %v, %v), want retracted", j, ok, err)
	}
}
