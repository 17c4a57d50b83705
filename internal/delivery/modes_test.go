package delivery

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"newsbot/internal/article"
	"newsbot/internal/schedule"
	"newsbot/internal/subscriber"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fakeClock is the time tests move by hand: no test waits for 08:00.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

var almaty = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Almaty")
	if err != nil {
		panic(err)
	}
	return loc
}()

func clocks(t testing.TB, cs ...string) []schedule.Clock {
	var out []schedule.Clock
	for _, c := range cs {
		x, err := schedule.ParseClock(c)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, x)
	}
	return out
}

// modesEnv is an env with reading modes: digests at 08:00 and 19:00, quiet hours 23:00–07:00
// in Almaty, and one clock for the engine and the store.
func modesEnv(t *testing.T, start time.Time) (*env, *Engine, *fakeClock) {
	t.Helper()
	e := newEnv(t)
	clock := &fakeClock{t: start}
	e.store.SetClock(clock.Now)
	e.store.SetDigestTimes([]string{"08:00", "19:00"})
	quiet, _ := schedule.ParseWindow("23:00-07:00")
	eng, _ := e.engine(Options{Clock: clock.Now, Location: almaty, DigestTimes: clocks(t, "08:00", "19:00"),
		QuietHours: quiet, Channels: map[string]string{"kk": "@news_kk", "ru": "@news_ru", "en": "@news_en"},
		GroupGap: 10 * time.Millisecond, PrivateGap: 10 * time.Millisecond})
	return e, eng, clock
}

func (e *env) reader(t testing.TB, r subscriber.Reader) {
	t.Helper()
	if r.Status == "" {
		r.Status = subscriber.Active
	}
	if r.Lang == "" {
		r.Lang = r.Langs[0]
	}
	if err := e.store.Save(context.Background(), r); err != nil {
		t.Fatal(err)
	}
}

// publishAt publishes a story handed on at the clock's time, dated then.
func publishAt(t testing.TB, eng *Engine, clock *fakeClock, at time.Time, a article.Article) article.Article {
	t.Helper()
	clock.Set(at)
	a.PublishedAt = at
	if err := eng.Publish(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, eng, 20*time.Second)
	return a
}

// digestAt makes the digest of time at (as the engine's clock work does when at comes) and
// waits for it to be sent.
func digestAt(t testing.TB, eng *Engine, clock *fakeClock, at time.Time) {
	t.Helper()
	clock.Set(at.Add(30 * time.Second))
	if err := eng.makeDigests(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, eng, 20*time.Second)
}

// digests returns the digests a chat holds.
func (e *env) digests(chat int64) []string {
	var out []string
	for _, m := range e.tg.Messages(chat) {
		if strings.Contains(m.Text(), "Digest ·") || strings.Contains(m.Text(), "Дайджест ·") {
			out = append(out, m.Text())
		}
	}
	return out
}

// TestDigestPerReader: at a digest time each digest reader gets one message with the stories
// of their languages and topics since their previous digest time — not breaking stories, which
// they had at once — and nobody else gets one; an empty digest is not sent.
func TestDigestPerReader(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 11, 28, 0, 0, 0, 0, almaty)
	e, eng, clock := modesEnv(t, day.Add(7*time.Hour))
	e.reader(t, subscriber.Reader{ChatID: 1, Langs: []string{"kk"}, AllTopics: true, Mode: subscriber.Digest})
	e.reader(t, subscriber.Reader{ChatID: 2, Lang: "en", Langs: []string{"ru", "en"}, Topics: []string{"economy"}, Mode: subscriber.Digest})
	e.reader(t, subscriber.Reader{ChatID: 3, Langs: []string{"ru"}, AllTopics: true, Mode: subscriber.Digest, DigestTimes: []string{"19:00"}})
	e.reader(t, subscriber.Reader{ChatID: 4, Langs: []string{"en"}, AllTopics: true})
	e.reader(t, subscriber.Reader{ChatID: 5, Langs: []string{"kk"}, Topics: []string{"sport"}, Mode: subscriber.Digest})
	e.reader(t, subscriber.Reader{ChatID: 6, Langs: []string{"kk"}, AllTopics: true, Mode: subscriber.Breaking})
	run(t, eng)

	kkPolitics := story("kkp", "kk", "politics")
	kkPolitics.Title = "Мәжіліс заң қабылдады"
	publishAt(t, eng, clock, day.Add(7*time.Hour+10*time.Minute), kkPolitics)
	ruEconomy := story("rue", "ru", "economy")
	ruEconomy.Title = "Тенге укрепился"
	publishAt(t, eng, clock, day.Add(7*time.Hour+20*time.Minute), ruEconomy)
	enEconomy := story("ene", "en", "economy")
	enEconomy.Title = "Oil prices rise"
	publishAt(t, eng, clock, day.Add(7*time.Hour+30*time.Minute), enEconomy)
	ruPolitics := story("rup", "ru", "politics")
	ruPolitics.Title = "Сенат одобрил закон"
	publishAt(t, eng, clock, day.Add(7*time.Hour+40*time.Minute), ruPolitics)
	breaking := story("kkb", "kk", "politics")
	breaking.Title, breaking.Breaking = "Шұғыл хабар", true
	publishAt(t, eng, clock, day.Add(7*time.Hour+50*time.Minute), breaking)

	// Before the digest: the instant reader has their story, digest readers only the
	// breaking one, and so does the breaking-only reader.
	if n := len(e.tg.Messages(4)); n != 1 {
		t.Errorf("the instant reader holds %d messages, want 1", n)
	}
	for _, c := range []int64{1, 5, 6} {
		if got := e.tg.Messages(c); len(got) != 1 || !strings.Contains(got[0].Text(), "Шұғыл хабар") {
			t.Errorf("chat %d before the digest holds %d messages, want the breaking story alone", c, len(got))
		}
	}
	if n := len(e.tg.Messages(2)) + len(e.tg.Messages(3)); n != 0 {
		t.Errorf("digest readers of other languages got %d messages before the digest", n)
	}

	digestAt(t, eng, clock, day.Add(8*time.Hour))
	d1 := e.digests(1)
	if len(d1) != 1 || !strings.Contains(d1[0], "Мәжіліс заң қабылдады") || strings.Contains(d1[0], "Шұғыл хабар") {
		t.Errorf("reader 1's digests: %q; want one with the kk story and not the breaking one", d1)
	}
	d2 := e.digests(2)
	if len(d2) != 1 || !strings.Contains(d2[0], "Тенге укрепился") || !strings.Contains(d2[0], "Oil prices rise") ||
		strings.Contains(d2[0], "Сенат") || !strings.Contains(d2[0], "Digest ·") {
		t.Errorf("reader 2's digests: %q; want one, in English, with both economy stories and not politics", d2)
	}
	for _, c := range []int64{3, 4, 5, 6} {
		if got := e.digests(c); len(got) != 0 {
			t.Errorf("chat %d got a digest at 08:00: %q", c, got)
		}
	}
	// The same digest time made again (another copy, a restart) sends nothing more.
	if err := eng.makeDigests(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, eng, 10*time.Second)
	if n := len(e.digests(1)) + len(e.digests(2)); n != 2 {
		t.Errorf("%d digests after the 08:00 digest was made twice, want 2", n)
	}

	// 19:00: the 08:00 readers get only what came since 08:00 (nothing for reader 1: no
	// digest); reader 3, who keeps 19:00 alone, gets the day since yesterday's 19:00.
	sport := story("kks", "kk", "sport")
	sport.Title = "Футбол: жеңіс"
	publishAt(t, eng, clock, day.Add(12*time.Hour), sport)
	digestAt(t, eng, clock, day.Add(19*time.Hour))
	if got := e.digests(1); len(got) != 2 || strings.Contains(got[1], "Мәжіліс") || !strings.Contains(got[1], "Футбол") {
		t.Errorf("reader 1's digests: %q; want a second one with the sport story only", got)
	}
	if got := e.digests(5); len(got) != 1 || !strings.Contains(got[0], "Футбол") {
		t.Errorf("reader 5 (sport) digests: %q", got)
	}
	if got := e.digests(3); len(got) != 1 || !strings.Contains(got[0], "Тенге") || !strings.Contains(got[0], "Сенат") {
		t.Errorf("reader 3 (19:00 only): %q; want both ru stories of the day", got)
	}
	if got := e.digests(2); len(got) != 1 {
		t.Errorf("reader 2 got %d digests; nothing new for them at 19:00", len(got))
	}
}

// TestQuietHoursAndStalePushes: in a reader's quiet hours a push goes silently (a breaking one
// still notifies), unless the reader turned quiet hours off; an instant push later than
// PUSH_MAX_AGE after its story is not sent, counted as stale.
func TestQuietHoursAndStalePushes(t *testing.T) {
	t.Parallel()
	night := time.Date(2026, 11, 28, 23, 30, 0, 0, almaty)
	e, eng, clock := modesEnv(t, night)
	e.reader(t, subscriber.Reader{ChatID: 1, Langs: []string{"en"}, AllTopics: true})
	e.reader(t, subscriber.Reader{ChatID: 2, Langs: []string{"en"}, AllTopics: true, QuietOff: true})
	run(t, eng)
	publishAt(t, eng, clock, night, story("n1", "en"))
	b := story("n2", "en")
	b.Breaking = true
	publishAt(t, eng, clock, night.Add(time.Minute), b)
	silent := func(chat int64, i int) bool {
		m := e.tg.Messages(chat)
		if len(m) <= i {
			t.Fatalf("chat %d holds %d messages", chat, len(m))
		}
		return m[i].Params["disable_notification"] == true
	}
	if !silent(1, 0) || silent(2, 0) {
		t.Errorf("a push at 23:30: silent for the quiet reader %v (want true), for the other %v (want false)", silent(1, 0), silent(2, 0))
	}
	if silent(1, 1) {
		t.Error("a breaking story at night went silently")
	}
	if n := len(e.tg.Messages("@news_en")); n != 2 || e.tg.Messages("@news_en")[0].Params["disable_notification"] == true {
		t.Errorf("the channel: %d posts; channel posts are not the readers' quiet hours", n)
	}
	// Morning: not quiet any more.
	clock.Set(night.Add(8 * time.Hour))
	publishAt(t, eng, clock, night.Add(8*time.Hour), story("n3", "en"))
	if silent(1, 2) {
		t.Error("a push at 07:30 went silently")
	}

	// A story handed on more than PUSH_MAX_AGE (6 h) after its time: stale, sent to nobody.
	old := story("old", "en")
	old.PublishedAt = night.Add(8*time.Hour - 7*time.Hour)
	if err := eng.Publish(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	st := waitIdle(t, eng, 10*time.Second)
	for _, c := range []int64{1, 2} {
		if n := len(e.tg.Messages(c)); n != 3 {
			t.Errorf("chat %d holds %d messages, want 3 (the stale story not sent)", c, n)
		}
	}
	if st.Failed["stale"] != 2 {
		t.Errorf("Stats.Failed = %v, want 2 stale", st.Failed)
	}
	if got := testutil.ToFloat64(eng.met.failed.WithLabelValues("stale")); got != 2 {
		t.Errorf("newsbot_delivery_failed_total{reason=stale} = %v, want 2", got)
	}
	// Breaking stories and editors' pushes go out whatever their age.
	if _, err := eng.Push(context.Background(), old, PushOptions{By: 9}); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, eng, 10*time.Second)
	if n := len(e.tg.Messages(int64(1))); n != 4 {
		t.Errorf("after an editor's push of the old story chat 1 holds %d messages, want 4", n)
	}
}

// TestModeSwitchNeitherGapNorDuplicate: a reader who goes from instant to digest and back
// gets every story once — what they had instantly is not in their digest, what their digest
// would have shown comes in a catch-up when they leave digests, and a story queued before a
// switch is not pushed to them twice.
func TestModeSwitchNeitherGapNorDuplicate(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 11, 28, 0, 0, 0, 0, almaty)
	e, eng, clock := modesEnv(t, day.Add(7*time.Hour))
	e.reader(t, subscriber.Reader{ChatID: 1, Langs: []string{"en"}, AllTopics: true})
	stop := run(t, eng)
	ctx := context.Background()
	publishAt(t, eng, clock, day.Add(7*time.Hour), story("s1", "en")) // instant
	// s2 is handed on while the workers are stopped: its fan-out has not reached the reader
	// when they switch to digests.
	stop()
	clock.Set(day.Add(9 * time.Hour))
	s2 := story("s2", "en")
	s2.PublishedAt = clock.Now()
	if err := eng.Publish(ctx, s2); err != nil {
		t.Fatal(err)
	}
	clock.Set(day.Add(10 * time.Hour))
	if _, err := e.store.SetMode(ctx, 1, subscriber.Digest); err != nil {
		t.Fatal(err)
	}
	run(t, eng)
	waitIdle(t, eng, 10*time.Second)
	publishAt(t, eng, clock, day.Add(11*time.Hour), story("s3", "en")) // digest mode
	digestAt(t, eng, clock, day.Add(19*time.Hour))
	got := e.tg.Messages(1)
	if len(got) != 2 || !strings.Contains(got[0].Text(), "Story s1") {
		t.Fatalf("reader holds %d messages, want s1 and the 19:00 digest", len(got))
	}
	if d := got[1].Text(); !strings.Contains(d, "Story s2") || !strings.Contains(d, "Story s3") || strings.Contains(d, "Story s1") {
		t.Errorf("19:00 digest: %q; want s2 and s3, not s1 (already pushed)", d)
	}

	// Next morning: s4 in digest mode, then the reader goes back to instant at 10:00 — before
	// the 19:00 digest: the catch-up brings s4, and s5 comes instantly.
	publishAt(t, eng, clock, day.Add(33*time.Hour), story("s4", "en"))
	digestAt(t, eng, clock, day.Add(32*time.Hour)) // 08:00: s4 came after it
	clock.Set(day.Add(34 * time.Hour))
	before, _, _ := e.store.Get(ctx, 1)
	if _, err := e.store.SetMode(ctx, 1, subscriber.Instant); err != nil {
		t.Fatal(err)
	}
	sent, err := eng.CatchUp(ctx, eng.Replies(e.client()), before)
	if err != nil || !sent {
		t.Fatalf("CatchUp = %v, %v; want a catch-up sent", sent, err)
	}
	publishAt(t, eng, clock, day.Add(35*time.Hour), story("s5", "en"))
	got = e.tg.Messages(1)
	var texts []string
	for _, m := range got {
		texts = append(texts, m.Text())
	}
	all := strings.Join(texts, "\n---\n")
	for _, s := range []string{"Story s1", "Story s2", "Story s3", "Story s4", "Story s5"} {
		if n := strings.Count(all, s); n != 1 {
			t.Errorf("%s reached the reader %d times, want once:\n%s", s, n, all)
		}
	}
}

// TestDigestStartsWithTheRates: with exchange rates on, a digest begins with the day's rates
// line in the reader's language.
func TestDigestStartsWithTheRates(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 11, 28, 0, 0, 0, 0, almaty)
	e, eng, clock := modesEnv(t, day.Add(7*time.Hour))
	eng.opt.RatesLine = func(_ context.Context, lang string) string {
		if lang == "en" {
			return "USD 498.55 · EUR 524.28 · RUB 4.75"
		}
		return "USD 498,55 · EUR 524,28 · RUB 4,75"
	}
	e.reader(t, subscriber.Reader{ChatID: 1, Langs: []string{"ru"}, AllTopics: true, Mode: subscriber.Digest})
	e.reader(t, subscriber.Reader{ChatID: 2, Langs: []string{"en"}, AllTopics: true, Mode: subscriber.Digest})
	run(t, eng)
	publishAt(t, eng, clock, day.Add(7*time.Hour), story("r1", "ru"))
	publishAt(t, eng, clock, day.Add(7*time.Hour), story("r2", "en"))
	digestAt(t, eng, clock, day.Add(8*time.Hour))
	for chat, want := range map[int64]string{1: "<i>USD 498,55 · EUR 524,28 · RUB 4,75</i>", 2: "<i>USD 498.55 · EUR 524.28 · RUB 4.75</i>"} {
		d := e.digests(chat)
		if len(d) != 1 {
			t.Fatalf("chat %d holds %d digests", chat, len(d))
		}
		lines := strings.Split(d[0], "\n")
		if len(lines) < 2 || lines[1] != want {
			t.Errorf("chat %d digest begins %q, want the rates line %q second", chat, lines[:min(2, len(lines))], want)
		}
	}
}
