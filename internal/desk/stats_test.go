package desk

import (
	"context"
	"fmt"
	"strings"
	"testing"

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
