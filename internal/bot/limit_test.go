package bot

import (
	"strings"
	"testing"
	"time"

	"newsbot/internal/redistest"
)

func TestFloodIsSlowedOncePolitely(t *testing.T) {
	t.Parallel()
	for _, lang := range testLangs {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, func(o *Options) { o.Flood = FloodLimit{Events: 3, Window: time.Minute} })
			flooder := who{id: 61, lang: lang}
			calm := who{id: 62, lang: lang}
			for range 10 {
				h.say(flooder, "/help")
			}
			var helps, notes int
			for _, r := range h.tg.Requests("sendMessage") {
				if r.ChatID() != flooder.id {
					continue
				}
				switch {
				case strings.Contains(r.Text(), words[lang].help):
					helps++
				case strings.Contains(r.Text(), words[lang].flood):
					notes++
				default:
					t.Errorf("unexpected message %q", r.Text())
				}
			}
			if helps != 3 || notes != 1 {
				t.Errorf("flooder got %d answers and %d notes, want 3 and exactly 1", helps, notes)
			}
			// Another chat is not slowed.
			h.say(calm, "/help")
			mustContain(t, h.last(calm.id).Text(), words[lang].help)

			// A slowed chat's presses are still answered, with the note, and change nothing.
			ans := h.press(flooder.id, flooder, 1, "t1:t:sport")
			mustContain(t, ans.Params["text"].(string), words[lang].flood)
		})
	}
}

func TestFloodWindowEnds(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *Options) { o.Flood = FloodLimit{Events: 2, Window: 300 * time.Millisecond} })
	reader := who{id: 63, lang: "en"}
	for range 4 {
		h.say(reader, "/help")
	}
	if n := h.sent(reader.id); n != 3 {
		t.Fatalf("%d messages in the first window, want 2 answers and 1 note", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		h.say(reader, "/help")
		if strings.Contains(h.last(reader.id).Text(), words["en"].help) && h.sent(reader.id) > 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("still slowed long after the window ended")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestFloodLimiterOutageDoesNotSilenceTheBot(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	h := newHarness(t, func(o *Options) {
		o.Redis = rdb
		o.Flood = FloodLimit{Events: 1, Window: time.Minute}
	})
	srv.Stop()
	// Readers live on the shared server, which is up: only the limiter's Redis is down.
	reader := who{id: 64, lang: "en"}
	h.say(reader, "/help")
	h.say(reader, "/help")
	if n := h.sent(reader.id); n != 2 {
		t.Errorf("%d answers with the limiter down, want 2", n)
	}
}
