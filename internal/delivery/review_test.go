package delivery

import (
	"context"
	"strings"
	"testing"
	"time"

	"newsbot/internal/telegramtest"
)

// A channel the bot was removed from (or whose name changed) answers every post with a
// refusal. Readers must still get the story: a broken channel must not stop the fan-out.
func TestChannelRefusingThePostDoesNotStopTheFanOut(t *testing.T) {
	for name, f := range map[string]telegramtest.Failure{
		"kicked":      {Code: 403, Description: "Forbidden: bot is not a member of the channel chat"},
		"not found":   telegramtest.ChatNotFound(),
		"bad request": telegramtest.BadRequest("wrong file identifier/HTTP URL specified"),
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			chats := e.readers(100, 3, "en")
			eng, _ := e.engine(Options{})
			run(t, eng)
			e.tg.FailNext("sendMessage", "@news_en", f)
			if err := eng.Publish(context.Background(), story("c1", "en")); err != nil {
				t.Logf("Publish: %v", err)
			}
			waitIdle(t, eng, 10*time.Second)
			exactlyOne(t, e, chats)
		})
	}
}

// A shutdown while the channel post waits for its slot (a 429 pause in force) sends
// nothing; the story must still reach the channel when the story is handed on again.
func TestChannelPostCutOffBeforeSendingIsPostedLater(t *testing.T) {
	e := newEnv(t)
	eng, _ := e.engine(Options{})
	if err := eng.lim.pause(context.Background(), 2*time.Second); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := eng.Publish(ctx, story("c2", "en")); err == nil {
		t.Fatal("Publish cut off by its ctx returned nil")
	}
	if n := e.tg.Count("sendMessage"); n != 0 {
		t.Fatalf("%d sends during the pause", n)
	}
	time.Sleep(2 * time.Second) // the pause ends
	if err := eng.Publish(context.Background(), story("c2", "en")); err != nil {
		t.Fatal(err)
	}
	if got := e.channelPosts("Story c2"); len(got) != 1 {
		t.Errorf("channel holds %q, want the story once", got)
	}
}

// A correction that adds a photo deletes the text post and posts anew; when the new post
// fails, the correction is retried (the source offers it again) and must bring the story
// back to the channel rather than leave it with none.
func TestFailedRepostIsRetried(t *testing.T) {
	e := newEnv(t)
	eng, _ := e.engine(Options{Retries: 1})
	ctx := context.Background()
	s := story("c3", "en")
	if err := eng.Publish(ctx, s); err != nil {
		t.Fatal(err)
	}
	s.ImageURL = "https://example.kz/c3.jpg"
	e.tg.FailNext("sendPhoto", "@news_en", telegramtest.ServerError())
	e.tg.FailNext("sendPhoto", "@news_en", telegramtest.ServerError())
	if err := eng.Correct(ctx, s); err == nil {
		t.Fatal("Correct with a failing repost returned nil")
	}
	if err := eng.Correct(ctx, s); err != nil {
		t.Fatal(err)
	}
	if got := e.channelPosts("Story c3"); len(got) != 1 || !strings.HasPrefix(got[0], "sendPhoto") {
		t.Errorf("channel holds %q, want one photo post", got)
	}
}
