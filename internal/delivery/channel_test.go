package delivery

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// channelPosts returns what @news_en holds of the story whose title contains title.
func (e *env) channelPosts(title string) []string {
	var out []string
	for _, m := range e.tg.Messages("@news_en") {
		if strings.Contains(m.Text(), title) {
			out = append(out, m.Method+": "+m.Text())
		}
	}
	return out
}

func TestCorrectionsEditChannelPostsAndRetractionsDeleteThem(t *testing.T) {
	e := newEnv(t)
	reader := e.readers(100, 1, "en")[0]
	eng, _ := e.engine(Options{})
	run(t, eng)
	ctx := context.Background()

	text := story("t1", "en")
	photo := story("p1", "en")
	photo.ImageURL = "https://example.kz/p1.jpg"
	photo.ImageCredit = "Akorda"
	if err := eng.Publish(ctx, text); err != nil {
		t.Fatal(err)
	}
	if err := eng.Publish(ctx, photo); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, eng, 10*time.Second)

	// Text post: its text is edited in place.
	text.Title = "Story t1, corrected"
	if err := eng.Correct(ctx, text); err != nil {
		t.Fatal(err)
	}
	if got := e.tg.Count("editMessageText"); got != 1 {
		t.Errorf("editMessageText calls = %d, want 1", got)
	}
	if got := e.channelPosts("Story t1"); len(got) != 1 || !strings.Contains(got[0], "corrected") {
		t.Errorf("channel holds %q, want the one corrected post", got)
	}

	// Photo post: the caption is edited; a new photo replaces the media.
	photo.Title = "Story p1, corrected"
	if err := eng.Correct(ctx, photo); err != nil {
		t.Fatal(err)
	}
	if got := e.tg.Count("editMessageCaption"); got != 1 {
		t.Errorf("editMessageCaption calls = %d, want 1", got)
	}
	photo.ImageURL = "https://example.kz/p1-new.jpg"
	if err := eng.Correct(ctx, photo); err != nil {
		t.Fatal(err)
	}
	if got := e.tg.Count("editMessageMedia"); got != 1 {
		t.Errorf("editMessageMedia calls = %d, want 1", got)
	}

	// A photo added to a text story: Telegram cannot edit one into the other, so the post
	// is replaced — the channel still holds one copy.
	text.ImageURL = "https://example.kz/t1.jpg"
	if err := eng.Correct(ctx, text); err != nil {
		t.Fatal(err)
	}
	if got := e.channelPosts("Story t1"); len(got) != 1 || !strings.HasPrefix(got[0], "sendPhoto") {
		t.Errorf("after adding a photo the channel holds %q, want one sendPhoto post", got)
	}

	// Readers' copies are never touched.
	if got := e.tg.Messages(reader); len(got) != 2 || strings.Contains(got[0].Text()+got[1].Text(), "corrected") {
		t.Errorf("reader's copies changed: %d messages", len(got))
	}

	// Retraction deletes the channel post and a replay does not bring it back.
	if err := eng.Retract(ctx, text); err != nil {
		t.Fatal(err)
	}
	if got := e.channelPosts("Story t1"); len(got) != 0 {
		t.Errorf("after retraction the channel holds %q", got)
	}
	if err := eng.Publish(ctx, text); err != nil {
		t.Fatal(err)
	}
	if got := e.channelPosts("Story t1"); len(got) != 0 {
		t.Errorf("a replay after retraction posted again: %q", got)
	}
	if got := len(e.tg.Messages(reader)); got != 2 {
		t.Errorf("reader holds %d messages after retraction, want 2 (copies are left as they are)", got)
	}
}

// A retraction stops a fan-out that is still running.
func TestRetractionStopsFanOut(t *testing.T) {
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
	if err := eng.Publish(ctx, a); err != nil {
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
