package subscriber_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"newsbot/internal/redistest"
	"newsbot/internal/subscriber"
)

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

var (
	langs  = []string{"kk", "ru", "en"}
	topics = []string{"politics", "economy", "society", "world", "sport", "culture", "tech"}
)

type fixture struct {
	s      *subscriber.Store
	rdb    *redis.Client
	prefix string
	model  map[int64]subscriber.Reader // what the store should hold
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	rdb, prefix := redistest.New(t)
	return &fixture{s: subscriber.NewStore(rdb, prefix, langs, topics), rdb: rdb, prefix: prefix,
		model: make(map[int64]subscriber.Reader)}
}

func (f *fixture) save(t *testing.T, r subscriber.Reader) {
	t.Helper()
	if err := f.s.Save(context.Background(), r); err != nil {
		t.Fatalf("Save(%+v): %v", r, err)
	}
	f.model[r.ChatID] = r
}

// check compares every audience and every count with what the model says.
func (f *fixture) check(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	want := subscriber.Counts{
		ByStatus:    map[subscriber.Status]int64{subscriber.Active: 0, subscriber.Stopped: 0, subscriber.Blocked: 0},
		Groups:      map[subscriber.Status]int64{subscriber.Active: 0, subscriber.Stopped: 0, subscriber.Blocked: 0},
		ByInterface: map[string]int64{},
		ByLang:      map[string]int64{},
		AllTopics:   map[string]int64{},
		ByTopic:     map[string]map[string]int64{},
		ByMode:      map[subscriber.Mode]int64{subscriber.Instant: 0, subscriber.Digest: 0, subscriber.Breaking: 0},
	}
	for _, l := range langs {
		want.ByLang[l], want.AllTopics[l] = 0, 0
		want.ByTopic[l] = map[string]int64{}
		for _, tp := range topics {
			want.ByTopic[l][tp] = 0
		}
	}
	for _, r := range f.model {
		want.ByStatus[r.Status]++
		if r.Group {
			want.Groups[r.Status]++
		}
		if r.Status != subscriber.Active {
			continue
		}
		want.ByInterface[r.Lang]++
		want.ByMode[modeOf(r)]++
		if modeOf(r) == subscriber.Digest {
			want.Digest++
		}
		for _, l := range r.Langs {
			want.ByLang[l]++
			if modeOf(r) != subscriber.Instant {
				continue
			}
			if r.AllTopics {
				want.AllTopics[l]++
				continue
			}
			for _, tp := range r.Topics {
				want.ByTopic[l][tp]++
			}
		}
	}
	got, err := f.s.Counts(ctx)
	if err != nil {
		t.Fatalf("Counts: %v", err)
	}
	for k, v := range want.ByInterface {
		if v == 0 {
			delete(want.ByInterface, k)
		}
	}
	for k, v := range got.ByInterface {
		if v == 0 {
			delete(got.ByInterface, k)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Counts:\n got %v\nwant %v", got, want)
	}
	if got.Total() != int64(len(f.model)) {
		t.Errorf("Total = %d, want %d", got.Total(), len(f.model))
	}

	for _, l := range langs {
		f.checkAudience(t, l, nil, true)
		f.checkAudience(t, l, nil, false)
		for _, tp := range topics {
			f.checkAudience(t, l, []string{tp}, false)
		}
		f.checkAudience(t, l, []string{"politics", "economy", "tech"}, false)
	}
	var digest []int64
	for id, r := range f.model {
		if r.Status == subscriber.Active && modeOf(r) == subscriber.Digest {
			digest = append(digest, id)
		}
	}
	slices.Sort(digest)
	got2, err := f.s.DigestPage(ctx, subscriber.Start, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got2, digest) {
		t.Errorf("DigestPage = %v, want %v", got2, digest)
	}
}

func modeOf(r subscriber.Reader) subscriber.Mode {
	if r.Mode == "" {
		return subscriber.Instant
	}
	return r.Mode
}

func (f *fixture) want(lang string, tps []string, breaking bool) []int64 {
	var ids []int64
	for id, r := range f.model {
		if (r.Follows(lang, tps) && modeOf(r) == subscriber.Instant) || (breaking && r.Status == subscriber.Active && slices.Contains(r.Langs, lang)) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

func (f *fixture) checkAudience(t *testing.T, lang string, tps []string, breaking bool) {
	t.Helper()
	got, err := f.s.AudiencePage(context.Background(), lang, tps, breaking, subscriber.Start, 1<<20)
	if err != nil {
		t.Fatalf("AudiencePage(%s, %v, %v): %v", lang, tps, breaking, err)
	}
	if want := f.want(lang, tps, breaking); !slices.Equal(got, want) {
		t.Errorf("AudiencePage(%s, %v, breaking=%v) = %v, want %v", lang, tps, breaking, got, want)
	}
}

func active(id int64, lang string, ls []string, tps []string) subscriber.Reader {
	return subscriber.Reader{ChatID: id, Lang: lang, Langs: ls, Topics: tps, Status: subscriber.Active}
}

func TestSaveAndGet(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	in := subscriber.Reader{ChatID: 42, Lang: "kk", Langs: []string{"en", "kk", "en"}, Topics: []string{"tech", "politics"},
		Status: subscriber.Active, LangCode: "kk-KZ"}
	if err := f.s.Save(ctx, in); err != nil {
		t.Fatal(err)
	}
	got, ok, err := f.s.Get(ctx, 42)
	if err != nil || !ok {
		t.Fatalf("Get: %v %v", ok, err)
	}
	if !slices.Equal(got.Langs, []string{"kk", "en"}) || !slices.Equal(got.Topics, []string{"politics", "tech"}) {
		t.Errorf("stored languages %v, topics %v: want configured order without duplicates", got.Langs, got.Topics)
	}
	if got.Lang != "kk" || got.Status != subscriber.Active || got.LangCode != "kk-KZ" || got.Group || got.AllTopics {
		t.Errorf("Get = %+v", got)
	}
	if d := time.Since(got.JoinedAt); d < 0 || d > time.Minute {
		t.Errorf("JoinedAt = %v, want now", got.JoinedAt)
	}

	// A later save without JoinedAt or LangCode keeps them.
	joined := got.JoinedAt
	if err := f.s.Save(ctx, subscriber.Reader{ChatID: 42, Lang: "ru", Langs: []string{"ru"}, AllTopics: true, Status: subscriber.Stopped}); err != nil {
		t.Fatal(err)
	}
	got, _, err = f.s.Get(ctx, 42)
	if err != nil {
		t.Fatal(err)
	}
	if !got.JoinedAt.Equal(joined) || got.LangCode != "kk-KZ" || got.Lang != "ru" || !got.AllTopics || got.Status != subscriber.Stopped {
		t.Errorf("after second save: %+v (joined before %v)", got, joined)
	}

	// An explicit JoinedAt is kept.
	at := time.Date(2022, 9, 14, 18, 28, 0, 0, time.UTC)
	if err := f.s.Save(ctx, subscriber.Reader{ChatID: -100500, Lang: "en", Langs: []string{"en"}, Status: subscriber.Active, JoinedAt: at, Group: true}); err != nil {
		t.Fatal(err)
	}
	got, _, _ = f.s.Get(ctx, -100500)
	if !got.JoinedAt.Equal(at) || !got.Group {
		t.Errorf("group: %+v", got)
	}

	if _, ok, err := f.s.Get(ctx, 7); ok || err != nil {
		t.Errorf("Get of an unknown reader = %v, %v; want false, nil", ok, err)
	}
}

func TestSaveRejectsBadDataAndWritesNothing(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	good := active(5, "kk", []string{"kk"}, []string{"politics"})
	cases := []struct {
		name  string
		edit  func(*subscriber.Reader)
		names string // what the error must mention
	}{
		{"interface language", func(r *subscriber.Reader) { r.Lang = "de" }, `"de"`},
		{"story language", func(r *subscriber.Reader) { r.Langs = []string{"kk", "fr"} }, `"fr"`},
		{"topic", func(r *subscriber.Reader) { r.Topics = []string{"politics", "gossip"} }, `"gossip"`},
		{"status", func(r *subscriber.Reader) { r.Status = "gone" }, `"gone"`},
		{"empty status", func(r *subscriber.Reader) { r.Status = "" }, `status ""`},
		{"chat id 0", func(r *subscriber.Reader) { r.ChatID = 0 }, "chat id 0"},
		{"chat id too big for a score", func(r *subscriber.Reader) { r.ChatID = 1 << 60 }, "out of range"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := good
			c.edit(&r)
			err := f.s.Save(ctx, r)
			if !errors.Is(err, subscriber.ErrInvalid) || !strings.Contains(err.Error(), c.names) {
				t.Fatalf("Save = %v, want ErrInvalid naming %s", err, c.names)
			}
			if err := f.s.SaveMany(ctx, []subscriber.Reader{active(6, "ru", []string{"ru"}, nil), r}); !errors.Is(err, subscriber.ErrInvalid) {
				t.Fatalf("SaveMany = %v, want ErrInvalid", err)
			}
		})
	}
	if _, err := f.s.ToggleTopic(ctx, 5, "gossip"); !errors.Is(err, subscriber.ErrInvalid) || !strings.Contains(err.Error(), "gossip") {
		t.Errorf("ToggleTopic(gossip) = %v", err)
	}
	if _, err := f.s.SetLanguages(ctx, 5, []string{"de"}); !errors.Is(err, subscriber.ErrInvalid) || !strings.Contains(err.Error(), "de") {
		t.Errorf("SetLanguages(de) = %v", err)
	}
	if err := f.s.SetStatus(ctx, 5, "gone"); !errors.Is(err, subscriber.ErrInvalid) {
		t.Errorf("SetStatus(gone) = %v", err)
	}
	if _, err := f.s.AudiencePage(ctx, "kk", []string{"gossip"}, false, subscriber.Start, 10); !errors.Is(err, subscriber.ErrInvalid) {
		t.Errorf("AudiencePage(gossip) = %v", err)
	}
	if n, err := f.rdb.Keys(ctx, f.prefix+"*").Result(); err != nil || len(n) != 0 {
		t.Errorf("bad data wrote keys %v (%v)", n, err)
	}
	f.check(t)
}

func TestAudience(t *testing.T) {
	f := newFixture(t)
	f.save(t, active(10, "kk", []string{"kk"}, []string{"politics"}))
	f.save(t, active(20, "kk", []string{"kk", "en"}, []string{"politics", "economy"})) // in both languages
	f.save(t, subscriber.Reader{ChatID: 30, Lang: "ru", Langs: []string{"ru", "kk"}, AllTopics: true, Status: subscriber.Active})
	f.save(t, active(40, "en", []string{"en"}, []string{"tech"}))
	f.save(t, active(50, "kk", []string{"kk"}, nil)) // follows nothing: breaking news only
	f.save(t, subscriber.Reader{ChatID: -1001234567890, Lang: "kk", Langs: []string{"kk"}, Topics: []string{"sport"}, Status: subscriber.Active, Group: true})
	f.save(t, subscriber.Reader{ChatID: 60, Lang: "kk", Langs: []string{"kk"}, AllTopics: true, Status: subscriber.Stopped})
	f.check(t)

	ctx := context.Background()
	for _, c := range []struct {
		lang     string
		topics   []string
		breaking bool
		want     []int64
	}{
		{"kk", []string{"politics"}, false, []int64{10, 20, 30}},
		{"kk", []string{"politics", "economy", "sport"}, false, []int64{-1001234567890, 10, 20, 30}},
		{"en", []string{"economy"}, false, []int64{20}},
		{"kk", nil, false, []int64{30}},                                         // a story without topics: all-topics followers
		{"kk", []string{"tech"}, true, []int64{-1001234567890, 10, 20, 30, 50}}, // breaking: everyone active in kk
		{"en", nil, true, []int64{20, 40}},
		{"ru", []string{"world"}, false, []int64{30}},
	} {
		// 0 begins at the start too: groups' negative ids must not be skipped.
		got, err := f.s.AudiencePage(ctx, c.lang, c.topics, c.breaking, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("AudiencePage(%s, %v, breaking=%v) = %v, want %v", c.lang, c.topics, c.breaking, got, c.want)
		}
	}
}

// TestPagination pages through audiences of overlapping topics with small pages and checks
// that the pages together are exactly the audience: ascending, nothing twice, nothing skipped.
func TestPagination(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	rng := rand.New(rand.NewPCG(1, 2))
	var batch []subscriber.Reader
	for i := 0; i < 3000; i++ {
		r := randomReader(rng, i)
		batch = append(batch, r)
		f.model[r.ChatID] = r
	}
	if err := f.s.SaveMany(ctx, batch); err != nil {
		t.Fatal(err)
	}
	f.check(t)
	for _, c := range []struct {
		lang     string
		topics   []string
		breaking bool
	}{
		{"kk", []string{"politics"}, false},
		{"kk", []string{"politics", "economy", "world"}, false},
		{"ru", topics, false},
		{"en", []string{"tech", "tech"}, false},
		{"kk", nil, false},
		{"ru", nil, true},
	} {
		want := f.want(c.lang, c.topics, c.breaking)
		for _, n := range []int{1, 7, 100, 1000} {
			var got []int64
			after := subscriber.Start
			for pages := 0; ; pages++ {
				page, err := f.s.AudiencePage(ctx, c.lang, c.topics, c.breaking, after, n)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) > n {
					t.Fatalf("page of %d ids, asked for %d", len(page), n)
				}
				got = append(got, page...)
				if len(page) < n {
					break
				}
				after = page[len(page)-1]
				if pages > len(want)+1 {
					t.Fatal("paging does not end")
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s %v breaking=%v pages of %d: got %d ids, want %d (sorted and distinct: %v)",
					c.lang, c.topics, c.breaking, n, len(got), len(want), slices.IsSorted(got) && len(slices.Compact(slices.Clone(got))) == len(got))
			}
		}
		if len(want) < 50 {
			t.Errorf("%s %v: audience of %d is too small to test paging", c.lang, c.topics, len(want))
		}
	}
}

func randomReader(rng *rand.Rand, i int) subscriber.Reader {
	r := subscriber.Reader{ChatID: int64(1e8) + int64(rng.IntN(7e9)), Status: subscriber.Active}
	if i%25 == 0 {
		r.ChatID = -1000000000000 - int64(rng.IntN(1e10))
		r.Group = true
	}
	switch p := rng.IntN(100); {
	case p < 50:
		r.Lang = "kk"
	case p < 85:
		r.Lang = "ru"
	default:
		r.Lang = "en"
	}
	r.Langs = []string{r.Lang}
	if rng.IntN(5) == 0 {
		r.Langs = append(r.Langs, langs[rng.IntN(len(langs))])
		r.Langs = canonical(r.Langs, langs)
	}
	if rng.IntN(10) < 4 {
		r.AllTopics = true
	} else {
		for n := 1 + rng.IntN(3); n > 0; n-- {
			// politics and economy are the popular ones
			r.Topics = append(r.Topics, topics[min(rng.IntN(len(topics)+3), rng.IntN(len(topics)))])
		}
		r.Topics = canonical(r.Topics, topics)
	}
	switch rng.IntN(20) {
	case 0:
		r.Status = subscriber.Stopped
	case 1:
		r.Status = subscriber.Blocked
	}
	return r
}

// canonical is the order the store keeps: that of the configuration, no duplicates.
func canonical(vals, known []string) []string {
	var out []string
	for _, k := range known {
		if slices.Contains(vals, k) {
			out = append(out, k)
		}
	}
	return out
}

func TestStatusTransitions(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.save(t, active(1, "kk", []string{"kk", "ru"}, []string{"politics", "sport"}))
	f.save(t, active(2, "ru", []string{"ru"}, []string{"sport"}))
	f.check(t)
	for _, st := range []subscriber.Status{subscriber.Stopped, subscriber.Active, subscriber.Blocked, subscriber.Blocked, subscriber.Active} {
		if err := f.s.SetStatus(ctx, 1, st); err != nil {
			t.Fatal(err)
		}
		r := f.model[1]
		r.Status = st
		f.model[1] = r
		f.check(t)
		got, _, err := f.s.Get(ctx, 1)
		if err != nil || got.Status != st || !slices.Equal(got.Topics, []string{"politics", "sport"}) {
			t.Errorf("after SetStatus(%s): %+v, %v: choices must survive", st, got, err)
		}
	}
	if err := f.s.SetStatus(ctx, 99, subscriber.Blocked); !errors.Is(err, subscriber.ErrNotFound) {
		t.Errorf("SetStatus of unknown reader = %v, want ErrNotFound", err)
	}
	f.check(t)
}

func TestDelete(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.save(t, active(1, "kk", []string{"kk"}, []string{"politics"}))
	f.save(t, subscriber.Reader{ChatID: -5, Lang: "en", Langs: []string{"en", "kk"}, AllTopics: true, Status: subscriber.Active, Group: true})
	f.check(t)
	if err := f.s.Delete(ctx, -5); err != nil {
		t.Fatal(err)
	}
	delete(f.model, -5)
	f.check(t)
	if _, ok, _ := f.s.Get(ctx, -5); ok {
		t.Error("deleted reader still there")
	}
	if err := f.s.Delete(ctx, -5); err != nil {
		t.Errorf("deleting again: %v", err)
	}
	f.check(t)
}

func TestToggleTopicAndFriends(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.save(t, subscriber.Reader{ChatID: 1, Lang: "kk", Langs: []string{"kk"}, AllTopics: true, Status: subscriber.Active})
	f.check(t)

	step := func(name string, r subscriber.Reader, err error, want subscriber.Reader) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if r.AllTopics != want.AllTopics || !slices.Equal(r.Topics, want.Topics) || !slices.Equal(r.Langs, want.Langs) || r.Lang != want.Lang {
			t.Fatalf("%s returned %+v, want %+v", name, r, want)
		}
		stored, _, err := f.s.Get(ctx, 1)
		if err != nil || fmt.Sprint(stored) != fmt.Sprint(r) {
			t.Fatalf("%s: stored %+v, returned %+v (%v)", name, stored, r, err)
		}
		f.model[1] = want
		f.check(t)
	}
	want := f.model[1]

	// Unchecking one topic while following all leaves the others followed.
	r, err := f.s.ToggleTopic(ctx, 1, "sport")
	want.AllTopics, want.Topics = false, []string{"politics", "economy", "society", "world", "culture", "tech"}
	step("toggle sport off all", r, err, want)

	r, err = f.s.ToggleTopic(ctx, 1, "politics")
	want.Topics = []string{"economy", "society", "world", "culture", "tech"}
	step("toggle politics off", r, err, want)

	r, err = f.s.ToggleTopic(ctx, 1, "sport")
	want.Topics = []string{"economy", "society", "world", "sport", "culture", "tech"}
	step("toggle sport on", r, err, want)

	r, err = f.s.SetAllTopics(ctx, 1, true)
	want.AllTopics = true
	step("all topics", r, err, want)

	r, err = f.s.SetAllTopics(ctx, 1, false)
	want.AllTopics = false
	step("own topics again", r, err, want)

	r, err = f.s.SetLanguages(ctx, 1, []string{"en", "ru"})
	want.Langs = []string{"ru", "en"}
	step("languages", r, err, want)

	r, err = f.s.SetInterfaceLanguage(ctx, 1, "en")
	want.Lang = "en"
	step("interface language", r, err, want)

	if _, err := f.s.ToggleTopic(ctx, 2, "sport"); !errors.Is(err, subscriber.ErrNotFound) {
		t.Errorf("ToggleTopic of unknown reader = %v, want ErrNotFound", err)
	}
	if _, ok, _ := f.s.Get(ctx, 2); ok {
		t.Error("ToggleTopic created a reader")
	}
}

// TestConcurrentToggles presses topic buttons from many goroutines at once: topic i is pressed
// i+1 times, so exactly the topics pressed an odd number of times end up followed, with the
// indexes agreeing; a lost update would show.
func TestConcurrentToggles(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	const readers = 5
	for id := int64(1); id <= readers; id++ {
		f.save(t, active(id, "kk", []string{"kk", "en"}, nil))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for round := 0; round < 3; round++ { // 3 rounds: topic i pressed 3*(i+1) times, same parity
		for i, tp := range topics {
			for k := 0; k <= i; k++ {
				for id := int64(1); id <= readers; id++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						if _, err := f.s.ToggleTopic(ctx, id, tp); err != nil {
							errs <- err
						}
					}()
				}
			}
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	want := []string{"politics", "society", "sport", "tech"} // pressed 3, 9, 15, 21 times
	for id := int64(1); id <= readers; id++ {
		r, _, err := f.s.Get(ctx, id)
		if err != nil || !slices.Equal(r.Topics, want) {
			t.Errorf("reader %d follows %v (%v), want %v", id, r.Topics, err, want)
		}
		m := f.model[id]
		m.Topics = want
		f.model[id] = m
	}
	f.check(t)
}

func TestMigrate(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	const from, to = -4012345, -1004012345678
	g := subscriber.Reader{ChatID: from, Lang: "ru", Langs: []string{"ru", "kk"}, Topics: []string{"economy"}, Status: subscriber.Active, Group: true, LangCode: "ru"}
	f.save(t, g)
	f.save(t, active(7, "ru", []string{"ru"}, []string{"economy"}))
	before, _, _ := f.s.Get(ctx, from)
	if err := f.s.Migrate(ctx, from, to); err != nil {
		t.Fatal(err)
	}
	delete(f.model, from)
	g.ChatID = to
	f.model[to] = g
	f.check(t)
	if _, ok, _ := f.s.Get(ctx, from); ok {
		t.Error("old group id still has a record")
	}
	after, ok, err := f.s.Get(ctx, to)
	if err != nil || !ok || !after.JoinedAt.Equal(before.JoinedAt) || !slices.Equal(after.Topics, before.Topics) || after.LangCode != "ru" {
		t.Errorf("migrated record %+v (%v), was %+v", after, err, before)
	}

	// A second copy of the bot getting the same migrate_to error: nothing to do.
	if err := f.s.Migrate(ctx, from, to); err != nil {
		t.Errorf("repeated Migrate: %v", err)
	}
	f.check(t)
	if err := f.s.Migrate(ctx, -1, -2); !errors.Is(err, subscriber.ErrNotFound) {
		t.Errorf("Migrate of unknown chats = %v, want ErrNotFound", err)
	}

	// The supergroup subscribed on its own already: its choices win, the old record goes.
	const old2, new2 = -77, -10077
	f.save(t, subscriber.Reader{ChatID: old2, Lang: "kk", Langs: []string{"kk"}, AllTopics: true, Status: subscriber.Active, Group: true})
	f.save(t, subscriber.Reader{ChatID: new2, Lang: "en", Langs: []string{"en"}, Topics: []string{"tech"}, Status: subscriber.Active, Group: true})
	if err := f.s.Migrate(ctx, old2, new2); err != nil {
		t.Fatal(err)
	}
	delete(f.model, old2)
	f.check(t)

	// A stopped group moves too, and stays out of the audience.
	const old3, new3 = -88, -10088
	f.save(t, subscriber.Reader{ChatID: old3, Lang: "kk", Langs: []string{"kk"}, AllTopics: true, Status: subscriber.Stopped, Group: true})
	if err := f.s.Migrate(ctx, old3, new3); err != nil {
		t.Fatal(err)
	}
	r := f.model[old3]
	delete(f.model, old3)
	r.ChatID = new3
	f.model[new3] = r
	f.check(t)
}

func TestCorruptRecord(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	for name, fields := range map[string][]any{
		"status":    {"l", "kk", "sl", "kk", "s", "maybe", "j", "1", "u", "1"},
		"joined":    {"l", "kk", "sl", "kk", "s", "active", "j", "yesterday", "u", "1"},
		"no lang":   {"sl", "kk", "s", "active", "j", "1", "u", "1"},
		"only junk": {"x", "y"},
	} {
		key := f.prefix + "{sub}:r:3"
		f.rdb.Del(ctx, key)
		if err := f.rdb.HSet(ctx, key, fields...).Err(); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.s.Get(ctx, 3); !errors.Is(err, subscriber.ErrCorrupt) {
			t.Errorf("%s: Get = %v, want ErrCorrupt", name, err)
		}
	}
	// A corrupt record can be overwritten by a good one.
	f.save(t, active(3, "kk", []string{"kk"}, []string{"tech"}))
	if _, ok, err := f.s.Get(ctx, 3); !ok || err != nil {
		t.Errorf("after overwrite: %v %v", ok, err)
	}
	// Update sees a corrupt record as none, so that writing a reader repairs it.
	f.rdb.HSet(ctx, f.prefix+"{sub}:r:3", "s", "maybe")
	r, err := f.s.Update(ctx, 3, func(r *subscriber.Reader, exists bool) error {
		if exists {
			t.Error("Update handed a corrupt record to fn as existing")
		}
		*r = active(3, "ru", []string{"ru"}, []string{"sport"})
		return nil
	})
	if err != nil || r.Lang != "ru" || r.Status != subscriber.Active {
		t.Errorf("Update over a corrupt record = %+v, %v", r, err)
	}
	if ids, _ := f.s.AudiencePage(ctx, "ru", []string{"sport"}, false, subscriber.Start, 10); len(ids) != 1 || ids[0] != 3 {
		t.Errorf("audience after the repair = %v, want [3]", ids)
	}

	f.rdb.HSet(ctx, f.prefix+"{sub}:stats", "s:active", "lots")
	if _, err := f.s.Counts(ctx); !errors.Is(err, subscriber.ErrCorrupt) {
		t.Errorf("Counts with a corrupt counter = %v, want ErrCorrupt", err)
	}
	f.rdb.ZAdd(ctx, f.prefix+"{sub}:topic:kk:tech", redis.Z{Score: 4, Member: "four"})
	if _, err := f.s.AudiencePage(ctx, "kk", []string{"tech"}, false, subscriber.Start, 10); !errors.Is(err, subscriber.ErrCorrupt) {
		t.Errorf("AudiencePage with a corrupt member = %v, want ErrCorrupt", err)
	}
}

// TestScriptCacheFlushed: after SCRIPT FLUSH (or a failover to a replica without the scripts)
// every write path loads its script again.
func TestScriptCacheFlushed(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	s := subscriber.NewStore(rdb, "x:", langs, topics)
	ops := func() {
		t.Helper()
		if err := rdb.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveMany(ctx, []subscriber.Reader{active(1, "kk", []string{"kk"}, nil), active(2, "kk", []string{"kk"}, []string{"tech"})}); err != nil {
			t.Fatalf("SaveMany: %v", err)
		}
		rdb.ScriptFlush(ctx)
		if _, err := s.ToggleTopic(ctx, 1, "tech"); err != nil {
			t.Fatalf("ToggleTopic: %v", err)
		}
		rdb.ScriptFlush(ctx)
		if err := s.Migrate(ctx, 2, 3); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		rdb.ScriptFlush(ctx)
		if err := s.Delete(ctx, 3); err != nil {
			t.Fatalf("Delete: %v", err)
		}
	}
	ops()
	ops()
	got, err := s.AudiencePage(ctx, "kk", []string{"tech"}, false, subscriber.Start, 10)
	if err != nil || !slices.Equal(got, []int64{1}) {
		t.Errorf("audience %v, %v", got, err)
	}
}

// TestConcurrentMixedOperations runs every kind of write at once on a few readers, then checks
// that the indexes and counters agree with the records as they ended up.
func TestConcurrentMixedOperations(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	ids := []int64{-3, -2, -1, 1, 2, 3}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 9))
			for i := 0; i < 150; i++ {
				id := ids[rng.IntN(len(ids))]
				var err error
				switch rng.IntN(8) {
				case 0, 1:
					r := randomReader(rng, 1)
					r.ChatID = id
					err = f.s.Save(ctx, r)
				case 2:
					err = f.s.SetStatus(ctx, id, []subscriber.Status{subscriber.Active, subscriber.Stopped, subscriber.Blocked}[rng.IntN(3)])
				case 3, 4:
					_, err = f.s.ToggleTopic(ctx, id, topics[rng.IntN(len(topics))])
				case 5:
					_, err = f.s.SetAllTopics(ctx, id, rng.IntN(2) == 0)
				case 6:
					err = f.s.Migrate(ctx, id, ids[rng.IntN(len(ids))])
				case 7:
					if rng.IntN(4) == 0 {
						err = f.s.Delete(ctx, id)
					} else {
						_, err = f.s.SetLanguages(ctx, id, canonical([]string{langs[rng.IntN(3)], langs[rng.IntN(3)]}, langs))
					}
				}
				if err != nil && !errors.Is(err, subscriber.ErrNotFound) {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, id := range ids {
		r, ok, err := f.s.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			f.model[id] = r
		}
	}
	f.check(t)
}

func TestUpdate(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)

	// /start of a new reader
	r, err := f.s.Update(ctx, 9, func(r *subscriber.Reader, exists bool) error {
		if exists {
			t.Error("exists for a new reader")
		}
		*r = subscriber.Reader{ChatID: 12345, Lang: "ru", Langs: []string{"ru"}, AllTopics: true, Status: subscriber.Active}
		return nil
	})
	if err != nil || r.ChatID != 9 || r.JoinedAt.IsZero() {
		t.Fatalf("Update of a new reader = %+v, %v (ChatID must stay 9)", r, err)
	}
	f.model[9] = subscriber.Reader{ChatID: 9, Lang: "ru", Langs: []string{"ru"}, AllTopics: true, Status: subscriber.Active}
	f.check(t)

	// /stop, then /start kk_politics: active again, one more language and topic, all in one step
	if err := f.s.SetStatus(ctx, 9, subscriber.Stopped); err != nil {
		t.Fatal(err)
	}
	r, err = f.s.Update(ctx, 9, func(r *subscriber.Reader, exists bool) error {
		if !exists || r.Status != subscriber.Stopped {
			t.Errorf("returning reader: exists %v, %+v", exists, r)
		}
		r.Status = subscriber.Active
		r.Langs = append(r.Langs, "kk")
		r.AllTopics, r.Topics = false, append(r.Topics, "politics")
		return nil
	})
	if err != nil || !slices.Equal(r.Langs, []string{"kk", "ru"}) || !slices.Equal(r.Topics, []string{"politics"}) {
		t.Fatalf("Update = %+v, %v", r, err)
	}
	f.model[9] = subscriber.Reader{ChatID: 9, Lang: "ru", Langs: []string{"kk", "ru"}, Topics: []string{"politics"}, Status: subscriber.Active}
	f.check(t)

	// fn's error and invalid results write nothing
	boom := errors.New("boom")
	if _, err := f.s.Update(ctx, 9, func(r *subscriber.Reader, _ bool) error { r.Status = subscriber.Blocked; return boom }); !errors.Is(err, boom) {
		t.Errorf("Update with a failing fn = %v", err)
	}
	if _, err := f.s.Update(ctx, 9, func(r *subscriber.Reader, _ bool) error { r.Topics = []string{"gossip"}; return nil }); !errors.Is(err, subscriber.ErrInvalid) {
		t.Errorf("Update to an unknown topic = %v", err)
	}
	if _, err := f.s.Update(ctx, 10, func(r *subscriber.Reader, _ bool) error { return nil }); !errors.Is(err, subscriber.ErrInvalid) {
		t.Errorf("Update leaving a new reader empty = %v, want ErrInvalid", err)
	}
	f.check(t)

	// concurrent read-modify-write loses nothing
	var wg sync.WaitGroup
	for i, tp := range topics {
		for k := 0; k <= i; k++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := f.s.Update(ctx, 9, func(r *subscriber.Reader, _ bool) error {
					if j := slices.Index(r.Topics, tp); j >= 0 {
						r.Topics = slices.Delete(r.Topics, j, j+1)
					} else {
						r.Topics = append(r.Topics, tp)
					}
					return nil
				})
				if err != nil {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
	// politics was followed and is pressed once: off; topic i is pressed i+1 times
	want := []string{"society", "sport", "tech"}
	got, _, _ := f.s.Get(ctx, 9)
	if !slices.Equal(got.Topics, want) {
		t.Errorf("after concurrent updates: %v, want %v", got.Topics, want)
	}
	m := f.model[9]
	m.Topics = want
	f.model[9] = m
	f.check(t)
}

func TestPrefs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	for _, r := range []subscriber.Reader{
		{ChatID: 1, Lang: "ru", Langs: []string{"kk"}, AllTopics: true, Status: subscriber.Active},
		{ChatID: -100200, Lang: "en", Langs: []string{"kk"}, AllTopics: true, Status: subscriber.Active, Group: true, QuietOff: true},
	} {
		if err := f.s.Save(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := f.s.Prefs(ctx, []int64{-100200, 9, 1})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Lang != "en" || got[0].Quiet || got[1].Lang != "" || got[2].Lang != "ru" || !got[2].Quiet {
		t.Errorf("Prefs = %+v", got)
	}
	if time.Since(got[2].ModeSince) > time.Minute {
		t.Errorf("ModeSince of a new reader = %v, want now", got[2].ModeSince)
	}
}

// TestReadingModes: a reader's mode decides which audiences they are in — instant readers get
// their topics' stories, digest readers are walked by the digest, breaking-only readers get
// breaking stories alone — and every change moves them atomically, with ModeSince.
func TestReadingModes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	f.s.SetDigestTimes([]string{"08:00", "19:00"})
	base := time.Unix(1_700_000_000, 0).UTC()
	now := base
	f.s.SetClock(func() time.Time { return now })
	f.save(t, active(1, "kk", []string{"kk", "ru"}, []string{"politics"}))
	d := active(2, "ru", []string{"ru"}, nil)
	d.AllTopics, d.Mode = true, subscriber.Digest
	f.save(t, d)
	b := active(3, "en", []string{"en"}, []string{"sport"})
	b.Mode = subscriber.Breaking
	f.save(t, b)
	f.check(t)

	now = base.Add(time.Hour)
	r, err := f.s.SetMode(ctx, 1, subscriber.Digest)
	if err != nil || r.Mode != subscriber.Digest || !r.ModeSince.Equal(now) {
		t.Fatalf("SetMode = %+v, %v; want digest since %v", r, err, now)
	}
	m := f.model[1]
	m.Mode = subscriber.Digest
	f.model[1] = m
	f.check(t)
	// The same mode again keeps the time it began.
	now = base.Add(2 * time.Hour)
	if r, _ := f.s.SetMode(ctx, 1, subscriber.Digest); !r.ModeSince.Equal(base.Add(time.Hour)) {
		t.Errorf("ModeSince moved on setting the same mode: %v", r.ModeSince)
	}
	// Other changes keep it too.
	if r, _ := f.s.ToggleTopic(ctx, 1, "sport"); !r.ModeSince.Equal(base.Add(time.Hour)) {
		t.Errorf("ModeSince moved on a topic change: %v", r.ModeSince)
	}
	m.Topics = []string{"politics", "sport"}
	f.model[1] = m

	// Digest times: all by default; one can be dropped, the last one is kept.
	if !r.KeepsDigest("08:00") || !r.KeepsDigest("19:00") {
		t.Errorf("a new digest reader keeps %v", r.DigestTimes)
	}
	r, err = f.s.ToggleDigestTime(ctx, 1, "08:00")
	if err != nil || r.KeepsDigest("08:00") || !r.KeepsDigest("19:00") {
		t.Errorf("after dropping 08:00: %+v, %v", r.DigestTimes, err)
	}
	if _, err := f.s.ToggleDigestTime(ctx, 1, "19:00"); !errors.Is(err, subscriber.ErrLastDigestTime) {
		t.Errorf("dropping the last digest time: %v, want ErrLastDigestTime", err)
	}
	if _, err := f.s.ToggleDigestTime(ctx, 1, "12:00"); !errors.Is(err, subscriber.ErrInvalid) {
		t.Errorf("a time not in DIGEST_TIMES: %v, want ErrInvalid", err)
	}
	r, _ = f.s.ToggleDigestTime(ctx, 1, "08:00")
	if len(r.DigestTimes) != 0 {
		t.Errorf("keeping every time again is stored as %v, want all (none listed)", r.DigestTimes)
	}

	// Quiet hours: on by default, off and on again.
	if r, _ := f.s.SetQuiet(ctx, 1, false); r.Quiet() {
		t.Error("quiet hours still on after turning them off")
	}
	if r, _ := f.s.SetQuiet(ctx, 1, true); !r.Quiet() {
		t.Error("quiet hours still off after turning them on")
	}
	if _, err := f.s.SetMode(ctx, 1, "loud"); !errors.Is(err, subscriber.ErrInvalid) {
		t.Errorf("an unknown mode: %v, want ErrInvalid", err)
	}
	f.check(t)
	rs, found, err := f.s.Readers(ctx, []int64{2, 77, 1})
	if err != nil || !found[0] || found[1] || !found[2] || rs[2].Mode != subscriber.Digest || !rs[0].AllTopics {
		t.Errorf("Readers = %+v %v %v", rs, found, err)
	}
}

// TestDigestTimesFollowTheConfiguration: a reader's digest times that DIGEST_TIMES no longer
// has are dropped, and a reader left with none of theirs gets every digest, not none.
func TestDigestTimesFollowTheConfiguration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	f.s.SetDigestTimes([]string{"08:00", "19:00"})
	r := active(1, "kk", []string{"kk"}, nil)
	r.Mode, r.DigestTimes, r.AllTopics = subscriber.Digest, []string{"19:00"}, true
	f.save(t, r)
	f.s.SetDigestTimes([]string{"07:00", "20:00"}) // the operator moved the times
	got, _, err := f.s.Get(ctx, 1)
	if err != nil || len(got.DigestTimes) != 0 || !got.KeepsDigest("07:00") || !got.KeepsDigest("20:00") {
		t.Errorf("after DIGEST_TIMES changed: %+v, %v; want every digest", got.DigestTimes, err)
	}
	f.s.SetDigestTimes([]string{"19:00", "21:00"})
	if got, _, _ := f.s.Get(ctx, 1); !got.KeepsDigest("19:00") || got.KeepsDigest("21:00") {
		t.Errorf("a time still configured: %+v; want 19:00 alone", got.DigestTimes)
	}
}
