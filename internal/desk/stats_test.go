package desk

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"newsbot/internal/delivery"
	"newsbot/internal/subscriber"
)

func TestStatsPlurals(t *testing.T) {
	t.Parallel()
	cases := []struct {
		lang  string
		n     int
		wants []string
	}{
		{"ru", 1, []string{"Активные: 1 подписчик\n"}},
		{"ru", 3, []string{"Активные: 3 подписчика\n"}},
		{"ru", 5, []string{"Активные: 5 подписчиков\n"}},
		{"ru", 21, []string{"Активные: 21 подписчик\n"}},
		{"ru", 12, []string{"Активные: 12 подписчиков\n"}},
		{"kk", 1, []string{"Белсенді: 1 оқырман\n"}},
		{"kk", 5, []string{"Белсенді: 5 оқырман\n"}},
		{"en", 1, []string{"Active: 1 reader\n"}},
		{"en", 3, []string{"Active: 3 readers\n"}},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s-%d", tc.lang, tc.n), func(t *testing.T) {
			t.Parallel()
			d := newDesk(t)
			ids := make([]int64, tc.n)
			for i := range ids {
				ids[i] = int64(10000 + i)
			}
			d.subscribe(ids...)
			ed := admin(adminA, tc.lang)
			d.say(ed, "/stats")
			mustContain(t, d.last(ed.id).Text(), tc.wants...)
		})
	}
}

func TestStatsContent(t *testing.T) {
	t.Parallel()
	want := map[string][]string{
		"kk": {"<b>Оқырмандар</b>", "Жазылудан бас тартқан: 1 · ботты бұғаттаған: 1", "<b>Ағылшын тілі</b> — 3 оқырман", "Саясат 1",
			"<b>Соңғы 24 сағат</b>", "Жіберілгені: 0 хабарлама", "Таратылғаны: 1 материал", "Жеткізілмегені: жоқ", "(429): 0", "Редакторлар жібергені: 1 материал",
			"<b>Қазір таратылуда</b>", "Chinese leader", "Өңделгені 0"},
		"ru": {"<b>Подписчики</b>", "Отписались: 1 · заблокировали бота: 1", "— 3 подписчика", "Политика 1",
			"<b>За 24 часа</b>", "Отправлено: 0 сообщений", "Разослано: 1 материал", "Не доставлено: нет", "(429): 0", "Отправлено редакторами: 1 материал",
			"<b>Идёт рассылка</b>", "Chinese leader", "Обработано 0"},
		"en": {"<b>Readers</b>", "Stopped: 1 · blocked the bot: 1", "— 3 readers", "Politics 1",
			"<b>Last 24 hours</b>", "Sent: 0 messages", "Delivered: 1 story", "Not delivered: none", "(429): 0", "Pushed by editors: 1 story",
			"<b>Sending now</b>", "Chinese leader", "0 done"},
	}
	for _, lang := range testLangs {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			d := newDesk(t)
			d.subscribe(9001, 9002, 9003, 9004, 9005)
			ctx := context.Background()
			if err := d.readers.SetStatus(ctx, 9004, subscriber.Stopped); err != nil {
				t.Fatal(err)
			}
			if err := d.readers.SetStatus(ctx, 9005, subscriber.Blocked); err != nil {
				t.Fatal(err)
			}
			if err := d.readers.Save(ctx, subscriber.Reader{ChatID: 9006, Lang: "kk", Langs: []string{"kk"}, Topics: []string{"politics"}, Status: subscriber.Active}); err != nil {
				t.Fatal(err)
			}
			ed := admin(adminA, lang)
			_, control := d.publish(ed.id, ed, d.story.ID)
			d.pressAs(ed.id, ed, control.MessageID, buttonData(t, control, deskWords[lang].confirm))
			d.say(ed, "/stats")
			text := d.last(ed.id).Text()
			mustContain(t, text, want[lang]...)
			for _, line := range strings.Split(text, "\n") {
				if n := len([]rune(line)); n > 90 {
					t.Errorf("line of %d characters, too wide for a phone: %q", n, line)
				}
			}
		})
	}
}

// TestStatsCountsDeliveredStories: /stats counts the stories delivery sent out in the last
// 24 hours (published by the watcher or pushed), each once, with the plural each language needs.
func TestStatsCountsDeliveredStories(t *testing.T) {
	t.Parallel()
	cases := []struct {
		lang string
		n    int
		want string
	}{
		{"ru", 2, "Разослано: 2 материала"},
		{"ru", 5, "Разослано: 5 материалов"},
		{"kk", 2, "Таратылғаны: 2 материал"},
		{"en", 1, "Delivered: 1 story"},
		{"en", 2, "Delivered: 2 stories"},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s-%d", tc.lang, tc.n), func(t *testing.T) {
			t.Parallel()
			d := newDesk(t)
			ctx := context.Background()
			for i := range tc.n {
				a := d.story
				a.ID = fmt.Sprintf("story-%d", i)
				if err := d.engine.Publish(ctx, a); err != nil {
					t.Fatal(err)
				}
				if err := d.engine.Publish(ctx, a); err != nil { // a replay counts nothing
					t.Fatal(err)
				}
			}
			ed := admin(adminA, tc.lang)
			d.say(ed, "/stats")
			mustContain(t, d.last(ed.id).Text(), tc.want)
		})
	}
}

// TestDeskNamesStoryLanguagesInTheEditorsLanguage: /audit and /stats name a story's language
// in the editor's language («английский»), not by its code ("en").
func TestDeskNamesStoryLanguagesInTheEditorsLanguage(t *testing.T) {
	t.Parallel()
	want := map[string]string{"kk": "(ағылшынша)", "ru": "(английский)", "en": "(English)"}
	for _, lang := range testLangs {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			d := newDesk(t)
			d.subscribe(9001)
			ed := admin(adminA, lang)
			_, control := d.publish(ed.id, ed, d.story.ID)
			d.pressAs(ed.id, ed, control.MessageID, buttonData(t, control, deskWords[lang].confirm))
			for _, cmd := range []string{"/audit", "/stats"} {
				d.say(ed, cmd)
				text := d.last(ed.id).Text()
				mustContain(t, text, want[lang])
				if strings.Contains(text, "(en)") {
					t.Errorf("%s shows the language code: %q", cmd, text)
				}
			}
		})
	}
}

// TestStatsWithManyTopicsFitsTelegram: TOPICS may list dozens of sections; /stats must still
// reach the editor (in more than one message if need be) instead of Telegram refusing a text
// over 4096 characters.
func TestStatsWithManyTopicsFitsTelegram(t *testing.T) {
	t.Parallel()
	var topics []string
	for i := range 80 {
		topics = append(topics, fmt.Sprintf("section-number-%02d-with-long-name", i))
	}
	h := newDesk(t, func(s *setup) { s.topics = topics })
	ctx := context.Background()
	for i, l := range testLangs {
		if err := h.readers.Save(ctx, subscriber.Reader{ChatID: int64(9100 + i), Lang: l, Langs: testLangs, Topics: topics, Status: subscriber.Active}); err != nil {
			t.Fatal(err)
		}
	}
	before := len(h.tg.Messages(adminA.id))
	h.say(adminA, "/stats")
	ms := h.tg.Messages(adminA.id)[before:]
	if len(ms) == 0 {
		t.Fatal("/stats sent nothing (Telegram refused the text?)")
	}
	var all strings.Builder
	for _, m := range ms {
		all.WriteString(m.Text())
	}
	mustContain(t, all.String(), "<b>Readers</b>", "section-number-79-with-long-name 3", "<b>Last 24 hours</b>")
}

// BenchmarkStats measures /stats with 100,000 readers.
func BenchmarkStats(b *testing.B) {
	d := newDesk(b)
	seedReaders(b, d, 100_000)
	d.tg.SetRecord(false)
	ed := admin(adminA, "ru")
	b.ResetTimer()
	for b.Loop() {
		d.say(ed, "/stats")
	}
}

func seedReaders(b *testing.B, d *harness, n int) {
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

// statsPublisher is the engine with /stats figures a test chooses: the budget, the day's
// sends and failures, the running jobs.
type statsPublisher struct {
	Publisher
	edit func(*delivery.Stats)
}

func (p statsPublisher) Stats(ctx context.Context) (delivery.Stats, error) {
	s, err := p.Publisher.Stats(ctx)
	if err == nil {
		p.edit(&s)
	}
	return s, err
}

func withStats(edit func(*delivery.Stats)) func(*setup) {
	return func(s *setup) {
		s.publisher = func(e *delivery.Engine) Publisher { return statsPublisher{Publisher: e, edit: edit} }
	}
}

// budgetDay is a day of a bot at SEND_RATE=30: 72,000 messages waiting (40 minutes), 120,345
// sent, 7 instant pushes skipped as stale, and the morning digest running.
func budgetDay(t *testing.T, wait time.Duration) func(*delivery.Stats) {
	almaty, err := time.LoadLocation("Asia/Almaty")
	if err != nil {
		t.Fatal(err)
	}
	return func(s *delivery.Stats) {
		s.Sent = 120_345
		s.Failed["stale"] = 7
		s.Budget = delivery.Budget{Waiting: 72_000, WaitTime: wait, Capacity: 30 * 86_400, MaxAge: 6 * time.Hour}
		s.Jobs = append([]delivery.JobStatus{{
			ID: "digest", State: delivery.JobRunning, Digest: time.Date(2026, 11, 27, 8, 0, 0, 0, almaty),
			Sent: 1500, Skipped: 20, Failed: 1, Estimate: 2000,
		}}, s.Jobs...)
	}
}

// TestStatsBudget: /stats shows what waits and how long it takes, the day's sends against
// the day's capacity, readers by reading mode, stale skips and a running digest, with numbers
// written as each language writes them.
func TestStatsBudget(t *testing.T) {
	t.Parallel()
	const nb = "\u00a0" // Kazakh and Russian group digits with a no-break space
	want := map[string][]string{
		"en": {"<b>Sending budget</b>", "Waiting: 72,000 messages, about 40 min to send at 30 a second",
			"Sent in 24 h: 120,345 of 2,592,000 (4.6%)", "Sent: 120,345 messages",
			"Instant: 2 · digest: 1 · breaking only: 1", "  stale (later than PUSH_MAX_AGE): 7",
			"• Digest 08:00\n  1,521 of ~2,000 done: 1,500 sent, 20 had nothing new, 1 failed"},
		"ru": {"<b>Лимит отправки</b>", "В очереди: 72" + nb + "000 сообщений, отправка займёт около 40 мин (30 в секунду)",
			"Отправлено за 24 часа: 120" + nb + "345 из 2" + nb + "592" + nb + "000 (4,6%)", "Отправлено: 120" + nb + "345 сообщений",
			"Каждая новость сразу: 2 · дайджест: 1 · только срочные: 1", "  устарели (старше PUSH_MAX_AGE): 7",
			"• Дайджест 08:00\n  Обработано 1" + nb + "521 из ~2" + nb + "000: отправлено 1" + nb + "500, без новостей 20, не доставлено 1"},
		"kk": {"<b>Жіберу лимиті</b>", "Кезекте: 72" + nb + "000 хабарлама, жіберуге шамамен 40 мин кетеді (секундына 30)",
			"Соңғы 24 сағатта жіберілгені: 120" + nb + "345, тәуліктік лимит 2" + nb + "592" + nb + "000 (4,6%)", "Жіберілгені: 120" + nb + "345 хабарлама",
			"Әр жаңалық бірден: 2 · дайджест: 1 · тек шұғыл: 1", "  ескірген (PUSH_MAX_AGE мерзімінен кеш): 7",
			"• Дайджест 08:00\n  Өңделгені 1" + nb + "521 / ~2" + nb + "000: жіберілгені 1" + nb + "500, жаңалығы жоқ 20, жеткізілмегені 1"},
	}
	for _, lang := range testLangs {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			d := newDesk(t, withStats(budgetDay(t, 40*time.Minute)))
			ctx := context.Background()
			for i, m := range []subscriber.Mode{subscriber.Instant, subscriber.Instant, subscriber.Digest, subscriber.Breaking} {
				if err := d.readers.Save(ctx, subscriber.Reader{ChatID: int64(9200 + i), Lang: "en", Langs: []string{"en"}, AllTopics: true,
					Status: subscriber.Active, Mode: m}); err != nil {
					t.Fatal(err)
				}
			}
			ed := admin(adminA, lang)
			d.say(ed, "/stats")
			text := d.last(ed.id).Text()
			mustContain(t, text, want[lang]...)
			if strings.Contains(text, "⚠️") {
				t.Errorf("a warning while the queue takes 40 min of PUSH_MAX_AGE's 6 h:\n%s", text)
			}
		})
	}
}

// TestStatsBudgetOverdue: a queue that takes longer than PUSH_MAX_AGE gets the warning line.
func TestStatsBudgetOverdue(t *testing.T) {
	t.Parallel()
	want := map[string][]string{
		"en": {"Waiting: 72,000 messages, about 7 h 1 min to send at 30 a second",
			"⚠️ The queue takes longer than PUSH_MAX_AGE (6h): instant pushes are skipped as stale"},
		"ru": {"отправка займёт около 7 ч 1 мин (30 в секунду)",
			"⚠️ Отправка очереди займёт больше PUSH_MAX_AGE (6h): запоздавшие новости пропускаются как устаревшие"},
		"kk": {"жіберуге шамамен 7 сағ 1 мин кетеді",
			"⚠️ Кезекті жіберу PUSH_MAX_AGE (6h) мерзімінен ұзаққа созылады: кешіккен жаңалықтар ескірген деп жіберілмейді"},
	}
	for _, lang := range testLangs {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			d := newDesk(t, withStats(budgetDay(t, 7*time.Hour+30*time.Second)))
			ed := admin(adminA, lang)
			d.say(ed, "/stats")
			mustContain(t, d.last(ed.id).Text(), want[lang]...)
		})
	}
	// PUSH_MAX_AGE as .env writes it.
	for d, want := range map[time.Duration]string{6 * time.Hour: "6h", 90 * time.Minute: "1h30m", 45 * time.Minute: "45m", 30 * time.Second: "30s"} {
		if got := envDuration(d); got != want {
			t.Errorf("envDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestStatsWaitingPlurals: the messages waiting take the plural of their number in each
// language, written with the language's digit grouping.
func TestStatsWaitingPlurals(t *testing.T) {
	t.Parallel()
	cases := []struct {
		lang string
		n    int64
		want string
	}{
		{"ru", 1, "В очереди: 1 сообщение, "},
		{"ru", 3, "В очереди: 3 сообщения, "},
		{"ru", 5, "В очереди: 5 сообщений, "},
		{"ru", 11, "В очереди: 11 сообщений, "},
		{"ru", 21, "В очереди: 21 сообщение, "},
		{"ru", 1021, "В очереди: 1\u00a0021 сообщение, "},
		{"kk", 1, "Кезекте: 1 хабарлама, "},
		{"kk", 5, "Кезекте: 5 хабарлама, "},
		{"en", 1, "Waiting: 1 message, about 1 min"},
		{"en", 3, "Waiting: 3 messages, "},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s-%d", tc.lang, tc.n), func(t *testing.T) {
			t.Parallel()
			d := newDesk(t, withStats(func(s *delivery.Stats) {
				s.Budget = delivery.Budget{Waiting: tc.n, WaitTime: time.Duration(tc.n) * time.Second / 30, Capacity: 30 * 86_400, MaxAge: 6 * time.Hour}
			}))
			ed := admin(adminA, tc.lang)
			d.say(ed, "/stats")
			mustContain(t, d.last(ed.id).Text(), tc.want)
		})
	}
}

// TestStatsBudgetFromTheEngine: the budget as the real engine reports it, at SEND_RATE=30
// with a push waiting; nothing waiting and no SEND_RATE read as such.
func TestStatsBudgetFromTheEngine(t *testing.T) {
	t.Parallel()
	d := newDesk(t, func(s *setup) { s.sendRate = 30 })
	ids := make([]int64, 40)
	for i := range ids {
		ids[i] = int64(9300 + i)
	}
	d.subscribe(ids...)
	ed := admin(adminA, "en")
	d.say(ed, "/stats")
	mustContain(t, d.last(ed.id).Text(), "<b>Sending budget</b>\nWaiting: none\nSent in 24 h: 0 of 2,592,000 (0%)")
	_, control := d.publish(ed.id, ed, d.story.ID)
	d.pressAs(ed.id, ed, control.MessageID, buttonData(t, control, deskWords["en"].confirm))
	d.say(ed, "/stats")
	mustContain(t, d.last(ed.id).Text(), "messages, about 1 min to send at 30 a second\nSent in 24 h: 0 of 2,592,000 (0%)")

	unlimited := newDesk(t, withStats(func(s *delivery.Stats) { s.Budget = delivery.Budget{Waiting: 5, MaxAge: 6 * time.Hour} }))
	unlimited.say(ed, "/stats")
	text := unlimited.last(ed.id).Text()
	mustContain(t, text, "<b>Sending budget</b>\nWaiting: 5 messages\n")
	if strings.Contains(text, "Sent in 24 h") {
		t.Errorf("a capacity line without SEND_RATE:\n%s", text)
	}
}
