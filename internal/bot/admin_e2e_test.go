package bot

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"time"

	"newsbot/internal/article"
	"newsbot/internal/delivery"
	"newsbot/internal/post"
	"newsbot/internal/source"
	"newsbot/internal/subscriber"
	"newsbot/internal/telegramtest"
)

// TestPublishEndToEnd runs the desk on the real parts: the articles directory watched by
// source (whose first start records the sample story as seen without sending it — the story
// an editor then pushes by hand), the running delivery engine, the subscriber store, the
// renderer, and the fake Bot API. Readers of each interface language get exactly the post
// their editor previewed, once, however often Confirm is pressed.
func TestPublishEndToEnd(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Admins = []int64{adminA.id, adminB.id} })
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

	render := post.NewRenderer(h.texts, h.opts.Location)
	eng, err := delivery.New(h.rdb, h.api, h.readers, render, delivery.Options{
		Prefix:   h.prefix,
		Channels: map[string]string{"en": "@news_en"},
		IdlePoll: 10 * time.Millisecond,
		Log:      slog.New(slog.NewTextHandler(testWriter{t}, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	stories := source.NewStore(h.rdb, h.prefix, source.StoreOptions{})
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

	// The desk as serve.go wires it: Stories is source.Store (the desk's Lookup), Readers the
	// subscriber store (its Audience).
	h.opts.Stories, h.opts.Publisher, h.opts.Renderer = stories, eng, render
	if h.bot, err = NewBot(h.opts); err != nil {
		t.Fatal(err)
	}
	d := &desk{harness: h, engine: eng, logs: &syncBuffer{}, story: story}

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

// waitFor polls cond until it holds; the deadline only guards against a hang.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
