package post

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"newsbot/internal/article"
)

func digestStory(id, title string, at time.Time, topics ...string) article.Article {
	return article.Article{ID: id, URL: "https://news.example.kz/" + id, Lang: "ru", Title: title, PublishedAt: at, Topics: topics}
}

// TestDigestGroupsByTopicNewestFirst: a reader's digest lists each story once, under the first
// topic of theirs it has, groups led by their newest story, newest first within a group, each
// title a link with its time; other news last.
func TestDigestGroupsByTopicNewestFirst(t *testing.T) {
	r := newRenderer(t)
	at := time.Date(2026, 11, 28, 19, 0, 0, 0, r.loc)
	in := DigestInput{
		At:    at,
		Rates: "USD 498,55 · EUR 524,28 · RUB 4,75",
		Stories: []article.Article{
			digestStory("e1", "Тенге укрепился", at.Add(-5*time.Hour), "economy"),
			digestStory("p1", "Парламент принял закон", at.Add(-2*time.Hour), "politics", "economy"),
			digestStory("e2", "Нефть подорожала", at.Add(-1*time.Hour), "economy"),
			digestStory("o1", "Погода: снег", at.Add(-30*time.Minute)),
			digestStory("p0", "Вчерашнее заседание", at.Add(-20*time.Hour), "politics"),
		},
		Topics: []string{"politics", "economy"},
		More:   "https://t.me/news_ru",
	}
	text, ok := r.Digest(in, "ru")
	if !ok {
		t.Fatal("a digest of five stories was not made")
	}
	want := []string{
		"<b>Дайджест · 28 ноября 2026, 19:00</b>",
		"<i>USD 498,55 · EUR 524,28 · RUB 4,75</i>",
		"<b>Экономика</b>",
		`• <a href="https://news.example.kz/e2">Нефть подорожала</a> · 18:00`,
		`• <a href="https://news.example.kz/e1">Тенге укрепился</a> · 14:00`,
		"<b>Политика</b>",
		`• <a href="https://news.example.kz/p1">Парламент принял закон</a> · 17:00`,
		`• <a href="https://news.example.kz/p0">Вчерашнее заседание</a> · 27 ноября 2026, 23:00`,
		"<b>Другие новости</b>",
		`• <a href="https://news.example.kz/o1">Погода: снег</a> · 18:30`,
	}
	last := -1
	for _, w := range want {
		i := strings.Index(text, w)
		if i < 0 {
			t.Fatalf("digest lacks %q:\n%s", w, text)
		}
		if i < last {
			t.Errorf("%q out of order:\n%s", w, text)
		}
		last = i
	}
	if strings.Count(text, "Парламент") != 1 {
		t.Errorf("a story of two followed topics is listed twice:\n%s", text)
	}
	if strings.Contains(text, "ещё") {
		t.Errorf("a digest that fits says there is more:\n%s", text)
	}
	checkHTML(t, text, MaxText)

	if _, ok := r.Digest(DigestInput{At: at}, "ru"); ok {
		t.Error("an empty digest was made")
	}
}

// TestDigestThatDoesNotFit: more stories than one message holds end in "and N more" with a link
// to the channel, plural right, within 4096 characters; hostile titles stay escaped.
func TestDigestThatDoesNotFit(t *testing.T) {
	r := newRenderer(t)
	at := time.Date(2026, 11, 28, 8, 0, 0, 0, r.loc)
	var stories []article.Article
	for i := range 200 {
		title := "Сессия маслихата <script>&" + strings.Repeat(" очень длинный заголовок", 3) + " №" + strconv.Itoa(i)
		stories = append(stories, digestStory("s"+strconv.Itoa(i), title, at.Add(-time.Duration(i)*time.Minute), "society"))
	}
	for _, lang := range []string{"kk", "ru", "en"} {
		text, ok := r.Digest(DigestInput{At: at, Stories: stories, More: "https://t.me/news_" + lang}, lang)
		if !ok {
			t.Fatal("no digest")
		}
		checkHTML(t, text, MaxText)
		shown := strings.Count(text, "• ")
		rest := 200 - shown
		if shown == 0 || rest <= 0 {
			t.Fatalf("%s: %d of 200 shown", lang, shown)
		}
		more := map[string]string{"kk": "арнада тағы " + strconv.Itoa(rest) + " материал",
			"ru": "и ещё " + strconv.Itoa(rest) + " материал", "en": "and " + strconv.Itoa(rest) + " more stories"}[lang]
		if !strings.Contains(text, more) || !strings.Contains(text, `<a href="https://t.me/news_`+lang+`">`) {
			t.Errorf("%s: the end does not say %q with a link to the channel:\n%s", lang, more, text[len(text)-300:])
		}
		if strings.Contains(text, "<script>") {
			t.Errorf("%s: a title's markup reached the digest unescaped", lang)
		}
		if n := visibleLen(text); n > MaxText || n < MaxText-400 {
			t.Errorf("%s: %d characters, want the message filled close to %d", lang, n, MaxText)
		}
	}
	for n, want := range map[int]string{1: "материал в канале", 3: "материала в канале", 5: "материалов в канале", 21: "материал в канале"} {
		if got := r.bundle.Plural("ru", "digest_more", n, map[string]any{"Count": n}); !strings.Contains(got, strconv.Itoa(n)+" "+want) {
			t.Errorf("ru plural of %d: %q, want …%d %s", n, got, n, want)
		}
	}
}

// checkHTML fails unless Telegram would take text as HTML within limit characters, counted as
// it counts them, and visibleLen agrees.
func checkHTML(t *testing.T, text string, limit int) {
	t.Helper()
	plain, err := parseTelegramHTML(text)
	if err != nil {
		t.Fatalf("Telegram would refuse the HTML: %v\n%s", err, text)
	}
	if n := utf16Len(plain); n > limit || n == 0 {
		t.Fatalf("text is %d UTF-16 units, limit %d", n, limit)
	}
	if n, v := utf16Len(plain), visibleLen(text); n != v {
		t.Errorf("visibleLen = %d, Telegram counts %d", v, n)
	}
}
