package post

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"newsbot/internal/article"
)

// FuzzRender: for any article that validates, the post parses as Telegram HTML, stays within
// Telegram's limit after parsing, and is valid UTF-8. (make fuzz runs it for three minutes.)
func FuzzRender(f *testing.F) {
	r := newRenderer(f)
	s := sample(f)
	f.Add(s.Title, s.Lead, s.Body, s.URL, s.ImageURL, s.ImageCredit, "politics", "kk", false)
	f.Add("<script>alert(1)</script>", "AT&T </b>", "&amp; &lt; <i>", "https://x.kz/?a=1&b=<>", "", "", "world,tech", "en", true)
	f.Add("😀"+strings.Repeat("ж", 1000), "", strings.Repeat("👨‍👩‍👧 ", 3000), "https://новости.қаз/а?б=в#г", "https://x.kz/p.jpg", strings.Repeat("&", 900), "", "ru", false)
	f.Fuzz(func(t *testing.T, title, lead, body, u, img, credit, topics, lang string, breaking bool) {
		a := article.Article{
			ID: "fuzz", URL: u, Lang: "en", Title: title, Lead: lead, Body: body,
			ImageURL: img, ImageCredit: credit, Breaking: breaking,
			PublishedAt: time.Date(2022, 9, 14, 12, 28, 0, 0, time.UTC),
		}
		if topics != "" {
			a.Topics = strings.Split(topics, ",")
		}
		if rules.Validate(a) != nil {
			return
		}
		p, err := r.Render(a, lang, "@news")
		if err != nil {
			t.Fatalf("valid article refused: %v", err)
		}
		limit := MaxText
		if p.Method == "sendPhoto" {
			limit = MaxCaption
		}
		text := p.Text()
		if !utf8.ValidString(text) {
			t.Fatalf("invalid UTF-8: %q", text)
		}
		plain, err := parseTelegramHTML(text)
		if err != nil {
			t.Fatalf("Telegram would refuse: %v\n%q", err, text)
		}
		if n := utf16Len(plain); n > limit || strings.TrimSpace(plain) == "" {
			t.Fatalf("%d UTF-16 units (limit %d): %q", n, limit, plain)
		}
	})
}
