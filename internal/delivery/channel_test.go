package delivery

import (
	"context"
	"strings"
	"testing"
	"time"

	"newsbot/internal/telegramtest"
	"newsbot/internal/testkit"
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
	t.Parallel()
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
	waitIdle(t, eng, 20*time.Second)
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
	waitIdle(t, eng, 20*time.Second)
	if got := e.tg.Count("editMessageCaption"); got != 1 {
		t.Errorf("editMessageCaption calls = %d, want 1", got)
	}
	photo.ImageURL = "https://example.kz/p1-new.jpg"
	if err := eng.Correct(ctx, photo); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, eng, 20*time.Second)
	if got := e.tg.Count("editMessageMedia"); got != 1 {
		t.Errorf("editMessageMedia calls = %d, want 1", got)
	}

	// A photo added to a text story: Telegram cannot edit one into the other, so the post
	// is replaced — the channel still holds one copy.
	text.ImageURL = "https://example.kz/t1.jpg"
	if err := eng.Correct(ctx, text); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, eng, 20*time.Second)
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
	waitIdle(t, eng, 20*time.Second)
	if got := e.channelPosts("Story t1"); len(got) != 0 {
		t.Errorf("after retraction the channel holds %q", got)
	}
	if err := eng.Publish(ctx, text); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, eng, 20*time.Second)
	if got := e.channelPosts("Story t1"); len(got) != 0 {
		t.Errorf("a replay after retraction posted again: %q", got)
	}
	if got := len(e.tg.Messages(reader)); got != 2 {
		t.Errorf("reader holds %d messages after retraction, want 2 (copies are left as they are)", got)
	}
}

// A channel the bot was removed from (or whose name changed) answers every post with a
// refusal. Readers must still get the story: a broken channel must not stop the fan-out.
func TestChannelRefusingThePostDoesNotStopTheFanOut(t *testing.T) {
	t.Parallel()
	for name, f := range map[string]telegramtest.Failure{
		"kicked":      {Code: 403, Description: "Forbidden: bot is not a member of the channel chat"},
		"not found":   telegramtest.ChatNotFound(),
		"bad request": telegramtest.BadRequest("can't parse entities"),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			chats := e.readers(100, 3, "en")
			eng, _ := e.engine(Options{})
			run(t, eng)
			e.tg.FailNext("sendMessage", "@news_en", f)
			if err := eng.Publish(context.Background(), story("c1", "en")); err != nil {
				t.Fatal(err)
			}
			waitIdle(t, eng, 10*time.Second)
			exactlyOne(t, e, chats)
			// Nothing was posted, so a later push of the story tries the channel again.
			if _, err := eng.Push(context.Background(), story("c1", "en"), PushOptions{By: 1}); err != nil {
				t.Fatal(err)
			}
			waitIdle(t, eng, 10*time.Second)
			if got := e.channelPosts("Story c1"); len(got) != 1 {
				t.Errorf("after a push the channel holds %q, want the story once", got)
			}
			exactlyOne(t, e, chats)
		})
	}
}

// Handing a story on never waits on Telegram: while the channel answers 429 (retry after
// 30 s in the field; 2 s here) Publish returns at once for story after story, and when the
// pause is over every story reaches the channel and its readers, once.
func TestChannelRateLimitDoesNotHoldUpHandingOn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	chats := e.readers(100, 5, "en")
	e.tg.FailNext("sendMessage", "@news_en", telegramtest.RetryAfter(2))
	eng, _ := e.engine(Options{GroupGap: 10 * time.Millisecond, PrivateGap: 10 * time.Millisecond})
	run(t, eng)
	ctx := context.Background()
	if err := eng.Publish(ctx, story("first", "en")); err != nil {
		t.Fatal(err)
	}
	e.tg.WaitFor(t, "sendMessage", 1, 5*time.Second) // the 429
	start := time.Now()
	for i := range 50 {
		if err := eng.Publish(ctx, story("n"+itoa(int64(i)), "en")); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("handing on 50 stories took %v while the channel was paused", d)
	}
	waitIdle(t, eng, 30*time.Second)
	if got := len(e.tg.Messages("@news_en")); got != 51 {
		t.Errorf("channel holds %d posts, want 51", got)
	}
	for _, c := range chats {
		if got := len(e.tg.Messages(c)); got != 51 {
			t.Errorf("reader %d holds %d stories, want 51", c, got)
		}
	}
}

// A photo Telegram cannot fetch (an expired image, a CDN hiccup) does not lose the story: the
// channel and every reader get its text form with the link preview, and it is logged once.
func TestUnfetchablePhotoFallsBackToText(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	chats := e.readers(100, 5, "en")
	e.tg.SetHandler(func(r telegramtest.Request) *telegramtest.Response {
		if r.Method == "sendPhoto" {
			return &telegramtest.Response{Failure: &telegramtest.Failure{Code: 400, Description: "Bad Request: wrong file identifier/HTTP URL specified"}}
		}
		return nil
	})
	var logs testkit.Log
	eng, _ := e.engine(Options{Log: logs.Logger()})
	run(t, eng)
	a := story("ph1", "en")
	a.ImageURL, a.ImageCredit = "https://example.kz/expired.jpg", "Akorda"
	if err := eng.Publish(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	st := waitIdle(t, eng, 20*time.Second)
	for _, c := range append([]any{"@news_en"}, chatArgs(chats)...) {
		got := e.tg.Messages(c)
		if len(got) != 1 || got[0].Method != "sendMessage" || !strings.Contains(got[0].Text(), "Story ph1") {
			t.Errorf("%v holds %d messages %v, want the text form once", c, len(got), got)
		}
	}
	if st.Sent != int64(len(chats)) || len(st.Failed) != 0 {
		t.Errorf("Stats: sent %d, failed %v; want %d sent, none failed", st.Sent, st.Failed, len(chats))
	}
	if n := logs.Count("could not fetch the story's photo"); n != 1 {
		t.Errorf("fallback logged %d times, want once:\n%s", n, logs.String())
	}
}

// A correction that adds a photo deletes the text post and posts anew; when the new post
// cannot be made yet (Telegram down), the channel task tries again and the story comes back
// to the channel rather than leaving it with none.
func TestFailedRepostIsRetried(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	eng, _ := e.engine(Options{GroupGap: 10 * time.Millisecond})
	run(t, eng)
	ctx := context.Background()
	s := story("c3", "en")
	if err := eng.Publish(ctx, s); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, eng, 10*time.Second)
	s.ImageURL = "https://example.kz/c3.jpg"
	for range 3 {
		e.tg.FailNext("sendPhoto", "@news_en", telegramtest.ServerError())
	}
	if err := eng.Correct(ctx, s); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, eng, 20*time.Second)
	if got := e.channelPosts("Story c3"); len(got) != 1 || !strings.HasPrefix(got[0], "sendPhoto") {
		t.Errorf("channel holds %q, want one photo post", got)
	}
}

// A channel is paced like a group (Telegram allows about 20 posts a minute to one), however
// CHANNELS names it: "@name" or "-100…" id.
func TestChannelPostsArePacedLikeGroups(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	eng, _ := e.engine(Options{Channels: map[string]string{"en": "@news_en", "ru": "-1001234"}})
	run(t, eng)
	ctx := context.Background()
	for _, id := range []string{"g1", "g2"} {
		for _, lang := range []string{"en", "ru"} {
			if err := eng.Publish(ctx, story(id+lang, lang)); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitIdle(t, eng, 20*time.Second)
	for _, ch := range []any{"@news_en", int64(-1001234)} {
		var times []time.Time
		for _, r := range e.tg.Requests("sendMessage") {
			if r.ChatID() == ch {
				times = append(times, r.Time)
			}
		}
		if len(times) != 2 {
			t.Fatalf("%v: %d channel posts, want 2", ch, len(times))
		}
		// Allow for the request's own jitter on its way to the fake, as TestPerChatPacing does.
		if d := times[1].Sub(times[0]); d < 3*time.Second-200*time.Millisecond {
			t.Errorf("%v: two channel posts %v apart, want at least 3s (20 a minute)", ch, d)
		}
	}
}

// A shutdown while the channel post is on its way lets it finish (as fan-out sends do), so
// the post is recorded and later corrections can edit it, instead of a post that is in the
// channel but unknown to newsbot.
func TestShutdownDuringChannelPostRecordsIt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.tg.SetHandler(func(r telegramtest.Request) *telegramtest.Response {
		if r.Method == "sendMessage" && r.ChatID() == "@news_en" {
			time.Sleep(300 * time.Millisecond) // Telegram is slow to answer
		}
		return nil
	})
	a := story("sd1", "en")
	eng, _ := e.engine(Options{})
	stop := run(t, eng)
	if err := eng.Publish(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	e.tg.WaitFor(t, "sendMessage", 1, 5*time.Second)
	stop()
	e.tg.SetHandler(nil)
	eng2, _ := e.engine(Options{GroupGap: 10 * time.Millisecond})
	run(t, eng2)
	a.Title = "Story sd1, corrected"
	if err := eng2.Correct(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, eng2, 10*time.Second)
	if got := e.channelPosts("Story sd1"); len(got) != 1 || !strings.Contains(got[0], "corrected") {
		t.Errorf("channel holds %q, want the one post, corrected", got)
	}
}

// Handing a story on twice with different texts (a copy whose hand-on outlived its claim, and
// the copy that took it over), in either order: the channel ends with the newer text, in one
// post, and the same text again changes nothing.
func TestPublishOfANewerTextBringsTheChannelPostUpToDate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	eng, _ := e.engine(Options{GroupGap: 10 * time.Millisecond})
	run(t, eng)
	ctx := context.Background()
	a := story("up1", "en")
	if err := eng.Publish(ctx, a); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, eng, 10*time.Second)
	a.Title = "Story up1, corrected"
	if err := eng.Publish(ctx, a); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, eng, 10*time.Second)
	if got := e.channelPosts("Story up1"); len(got) != 1 || !strings.Contains(got[0], "corrected") {
		t.Errorf("channel holds %q, want the one post, corrected", got)
	}
	if err := eng.Publish(ctx, a); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, eng, 10*time.Second)
	if n := e.tg.Count("editMessageText"); n != 1 {
		t.Errorf("%d edits, want 1", n)
	}
}

// Telegram lets a bot delete a channel post only within 48 hours, and edit it only so long.
// A retraction or correction refused for good is logged for an editor and finishes, instead
// of failing on every retry forever; an edit that changes nothing or of a post deleted by
// hand is done as well.
func TestChannelAnswersThatEndATask(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var logs testkit.Log
	eng, _ := e.engine(Options{Log: logs.Logger(), GroupGap: 10 * time.Millisecond})
	run(t, eng)
	ctx := context.Background()
	stories := map[string]telegramtest.Failure{
		"old1": telegramtest.BadRequest("message can't be deleted"),
		"old2": telegramtest.BadRequest("message can't be edited"),
		"nm":   telegramtest.BadRequest("message is not modified: specified new message content and reply markup are exactly the same"),
		"gone": telegramtest.BadRequest("message to edit not found"),
	}
	for id := range stories {
		if err := eng.Publish(ctx, story(id, "en")); err != nil {
			t.Fatal(err)
		}
	}
	waitIdle(t, eng, 10*time.Second)
	e.tg.FailNext("deleteMessage", "@news_en", stories["old1"])
	if err := eng.Retract(ctx, story("old1", "en")); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"old2", "nm", "gone"} {
		e.tg.FailNext("editMessageText", "@news_en", stories[id])
		b := story(id, "en")
		b.Title += ", corrected"
		if err := eng.Correct(ctx, b); err != nil {
			t.Fatal(err)
		}
		waitIdle(t, eng, 10*time.Second)
	}
	waitIdle(t, eng, 10*time.Second)
	if n := logs.Count("delete it by hand"); n != 1 {
		t.Errorf("%d log lines asking an editor to delete the post, want 1:\n%s", n, logs.String())
	}
	if n := logs.Count("edit it by hand"); n != 1 {
		t.Errorf("%d log lines asking an editor to edit the post, want 1:\n%s", n, logs.String())
	}
	if n := logs.Count("channel post to correct is gone"); n != 1 {
		t.Errorf("%d log lines about the post deleted by hand, want 1", n)
	}
	// Each task ended after one try: one delete, three edits.
	if d, ed := e.tg.Count("deleteMessage"), e.tg.Count("editMessageText"); d != 1 || ed != 3 {
		t.Errorf("%d deletes and %d edits, want 1 and 3", d, ed)
	}
}
