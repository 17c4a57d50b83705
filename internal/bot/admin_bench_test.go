package bot

import (
	"context"
	"strconv"
	"testing"

	"newsbot/internal/subscriber"
)

// BenchmarkAudienceSize measures counting a story's audience, which /publish does for the
// control message and again on Confirm (for the audit trail): AudiencePage walked in pages of
// audiencePage ids.
func BenchmarkAudienceSize(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			d := newDesk(b, nil)
			seedReaders(b, d, n)
			ctx := context.Background()
			if got := d.bot.audienceSize(ctx, d.story, false); got != int64(n) {
				b.Fatalf("audience %d, want %d", got, n)
			}
			b.ResetTimer()
			for b.Loop() {
				d.bot.audienceSize(ctx, d.story, false)
			}
		})
	}
}

// BenchmarkPublishPreview measures /publish end to end with 100,000 readers in the audience:
// story lookup, rendering, the preview and the control message over HTTP to the fake Bot API,
// the request saved in Redis, and the audience counted.
func BenchmarkPublishPreview(b *testing.B) {
	d := newDesk(b, nil)
	seedReaders(b, d, 100_000)
	d.tg.SetRecord(false)
	ed := admin(adminA, "ru")
	b.ResetTimer()
	for b.Loop() {
		d.say(ed, "/publish "+d.story.ID)
	}
}

// BenchmarkStats measures /stats with 100,000 readers.
func BenchmarkStats(b *testing.B) {
	d := newDesk(b, nil)
	seedReaders(b, d, 100_000)
	d.tg.SetRecord(false)
	ed := admin(adminA, "ru")
	b.ResetTimer()
	for b.Loop() {
		d.say(ed, "/stats")
	}
}

func seedReaders(b *testing.B, d *desk, n int) {
	b.Helper()
	rs := make([]subscriber.Reader, 0, 5000)
	for i := range n {
		rs = append(rs, subscriber.Reader{ChatID: int64(1_000_000 + i), Lang: "en", Langs: []string{"en"}, AllTopics: i%2 == 0,
			Topics: []string{"politics"}, Status: subscriber.Active})
		if len(rs) == cap(rs) || i == n-1 {
			if err := d.readers.SaveMany(context.Background(), rs); err != nil {
				b.Fatal(err)
			}
			rs = rs[:0]
		}
	}
}
