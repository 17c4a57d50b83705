package post

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"newsbot/internal/article"
	"newsbot/internal/locale"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

var rules = article.Rules{
	Languages: []string{"kk", "ru", "en"},
	Topics:    []string{"politics", "economy", "society", "world", "sport", "culture", "tech"},
}

func newRenderer(t testing.TB) *Renderer {
	t.Helper()
	b, err := locale.Load()
	if err != nil {
		t.Fatal(err)
	}
	loc, err := time.LoadLocation("Asia/Almaty")
	if err != nil {
		t.Fatal(err)
	}
	return NewRenderer(b, loc)
}

func sample(t testing.TB) article.Article {
	t.Helper()
	data, err := os.ReadFile("../../testdata/seed-xi-jinping-visit.en.json")
	if err != nil {
		t.Fatal(err)
	}
	a, err := article.Parse(data, rules)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// kazakhBody is about 10,000 characters of Kazakh news prose in paragraphs.
func kazakhBody() string {
	sentences := []string{
		"Мемлекет басшысы Қасым-Жомарт Тоқаев Қытай Халық Республикасының Төрағасы Си Цзиньпинмен кездесті.",
		"Тараптар екіжақты ынтымақтастықтың өзекті мәселелерін талқылап, сауда-экономикалық байланыстарды нығайтуға мүдделі екенін атап өтті.",
		"Президент қытайлық әріптесіне шақыруды қабыл алып, еліміздің төріне келгені үшін алғыс айтты.",
		"Кездесу барысында көлік-логистика, энергетика және ауыл шаруашылығы салаларындағы жобаларға ерекше назар аударылды.",
	}
	var b strings.Builder
	for i := 0; b.Len() < 19000; i++ { // ~2 bytes per Cyrillic letter
		b.WriteString(sentences[i%len(sentences)])
		if i%3 == 2 {
			b.WriteString("\n\n")
		} else {
			b.WriteString(" ")
		}
	}
	return strings.TrimSpace(b.String())
}

func TestRenderGolden(t *testing.T) {
	r := newRenderer(t)
	base := sample(t)
	noPhoto := base
	noPhoto.ImageURL, noPhoto.ImageCredit = "", ""

	with := func(f func(a *article.Article)) article.Article {
		a := base
		a.Topics = append([]string(nil), base.Topics...)
		f(&a)
		return a
	}
	kk := with(func(a *article.Article) {
		a.Lang = "kk"
		a.Title = "Си Цзиньпин: Қазақстанмен қарым-қатынасқа үлкен мән береміз"
		a.Lead = "Қытай Төрағасының пандемиядан кейінгі алғашқы шетелдік сапары тарихи маңызға ие"
		a.Body = kazakhBody()
	})

	cases := []struct {
		name  string
		a     article.Article
		lang  string
		chat  any
		limit int
	}{
		{"sample_photo_kk", base, "kk", "@news_kk", MaxCaption},
		{"sample_photo_ru", base, "ru", "@news_ru", MaxCaption},
		{"sample_photo_en", base, "en", "@news_en", MaxCaption},
		{"sample_text_en", noPhoto, "en", int64(123456789), MaxText},
		{"sample_text_kk", noPhoto, "kk", int64(123456789), MaxText},
		{"breaking_ru", with(func(a *article.Article) { a.Breaking = true; a.Topics = []string{"politics", "world"} }), "ru", "@news_ru", MaxCaption},
		{"title_script", with(func(a *article.Article) { a.Title = "<script>alert(1)</script>" }), "en", "@news_en", MaxCaption},
		{"title_att", with(func(a *article.Article) {
			a.Title = "AT&T buys T&amp;T for \"$1\" <b>today</b>"
			a.ImageCredit = "A&B <i>Studio</i>"
		}), "en", "@news_en", MaxCaption},
		{"title_close_b", with(func(a *article.Article) {
			a.Title = "</b> closing tag & &lt; entity"
			a.Lead = "</i></b><a href=\"x\">"
		}), "en", "@news_en", MaxCaption},
		{"kazakh_10000_text", func() article.Article { a := kk; a.ImageURL, a.ImageCredit = "", ""; return a }(), "kk", "@news_kk", MaxText},
		{"kazakh_10000_photo", kk, "kk", "@news_kk", MaxCaption},
		{"emoji_at_cut", with(func(a *article.Article) {
			a.ImageURL = ""
			a.Lead = ""
			a.Body = strings.Repeat("👨‍👩‍👧 🇰🇿🇰🇿 ❤️ ", 700)
		}), "en", "@news_en", MaxText},
		{"url_cyrillic_query", with(func(a *article.Article) {
			a.URL = "https://новости.қаз/жаңалықтар/саясат?id=1&q=a%20b?c=d#бөлім"
			a.ImageURL = "https://news.example.kz/суреттер/фото-1.jpg?w=800&h=600"
			a.Title = "Query ?&=# in the title"
		}), "kk", "@news_kk", MaxCaption},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := rules.Validate(tc.a); err != nil {
				t.Fatalf("test article invalid: %v", err)
			}
			p, err := r.Render(tc.a, tc.lang, tc.chat)
			if err != nil {
				t.Fatal(err)
			}
			checkPost(t, p, tc.limit)
			got, err := json.MarshalIndent(p, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", "golden", tc.name+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the golden file (go test -update to accept):\n%s", path, got)
			}
		})
	}
}

// checkPost asserts what Telegram would check: HTML it can parse, text within the limit after
// parsing (UTF-16 units), valid UTF-8, and buttons with ASCII URLs.
func checkPost(t *testing.T, p Post, limit int) {
	t.Helper()
	text := p.Text()
	plain, err := parseTelegramHTML(text)
	if err != nil {
		t.Fatalf("Telegram would refuse the HTML: %v\n%s", err, text)
	}
	if n := utf16Len(plain); n > limit || n == 0 {
		t.Fatalf("text is %d UTF-16 units, limit %d", n, limit)
	}
	if p.Params["parse_mode"] != "HTML" {
		t.Errorf("parse_mode = %v", p.Params["parse_mode"])
	}
	kb := p.Params["reply_markup"].(map[string]any)["inline_keyboard"].([][]map[string]any)
	for _, row := range kb {
		for _, b := range row {
			u := b["url"].(string)
			for i := 0; i < len(u); i++ {
				if u[i] >= 0x80 || u[i] <= 0x20 {
					t.Errorf("button %q has a raw byte %q in its URL %s", b["text"], u[i], u)
				}
			}
		}
	}
}

func TestRenderFacts(t *testing.T) {
	r := newRenderer(t)
	a := sample(t)

	p, err := r.Render(a, "kk", "@news_kk")
	if err != nil {
		t.Fatal(err)
	}
	if p.Method != "sendPhoto" || p.Params["photo"] != a.ImageURL {
		t.Errorf("a story with image_url is a sendPhoto of it, got %s %v", p.Method, p.Params["photo"])
	}
	caption := p.Text()
	for _, want := range []string{"<b>" + "Chinese leader: We pay great attention to relations with Kazakhstan" + "</b>", "Фото: Akorda", "#саясат", "14 қыркүйек 2022, 18:28"} {
		if !strings.Contains(caption, want) {
			t.Errorf("caption lacks %q:\n%s", want, caption)
		}
	}
	kb := p.Params["reply_markup"].(map[string]any)["inline_keyboard"].([][]map[string]any)[0]
	if kb[0]["text"] != "Толығырақ" || kb[0]["url"] != a.URL {
		t.Errorf("read button = %v", kb[0])
	}
	wantShare := "https://t.me/share/url?url=https%3A%2F%2Fnews.example.kz%2Fen%2Fnews%2Fchinese-leader-we-pay-great-attention-to-relations-with-kazakhstan&text=Chinese%20leader%3A%20We%20pay%20great%20attention%20to%20relations%20with%20Kazakhstan"
	if kb[1]["text"] != "Бөлісу" || kb[1]["url"] != wantShare {
		t.Errorf("share button = %v, want url %s", kb[1], wantShare)
	}

	a.ImageURL = ""
	p, err = r.Render(a, "ru", int64(42))
	if err != nil {
		t.Fatal(err)
	}
	if p.Method != "sendMessage" {
		t.Fatalf("method = %s", p.Method)
	}
	lp := p.Params["link_preview_options"].(map[string]any)
	if lp["url"] != a.URL || lp["prefer_large_media"] != true {
		t.Errorf("link_preview_options = %v", lp)
	}
	if strings.Contains(p.Text(), "Фото:") {
		t.Error("a text post credits a photo it does not show")
	}
	if !strings.Contains(p.Text(), "Xi Jinping said.") {
		t.Error("the whole body fits in 4096 and should be there")
	}

	other := p.WithChat(int64(7))
	if other.Params["chat_id"] != int64(7) || p.Params["chat_id"] != int64(42) {
		t.Error("WithChat must copy, not modify")
	}
}

func TestRenderRefusesWhatTelegramWould(t *testing.T) {
	r := newRenderer(t)
	a := sample(t)
	for name, f := range map[string]func(*article.Article){
		"no title":    func(a *article.Article) { a.Title = " \n\t " },
		"bad url":     func(a *article.Article) { a.URL = "ftp://x" },
		"bad image":   func(a *article.Article) { a.ImageURL = "javascript:alert(1)" },
		"no host url": func(a *article.Article) { a.URL = "https:///path" },
	} {
		b := a
		f(&b)
		if _, err := r.Render(b, "en", ""); err == nil {
			t.Errorf("%s: rendered", name)
		}
	}
}

func TestCut(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"short", 10, "short"},
		{"one two three four", 12, "one two…"},
		{"one two, three", 10, "one two…"},
		{"абвгд еёжзи", 8, "абвгд…"},
		{"averyveryverylongword", 8, "averyve…"},
		{"ab 😀😀😀😀😀😀😀", 9, "ab 😀😀…"},         // 😀 is two units: never half of one
		{"ab👨‍👩‍👧cdefghijklmnop", 8, "ab…"}, // the family would be split: drop it whole
		{"x 🇰🇿🇰🇿🇰🇿🇰🇿🇰🇿🇰🇿", 9, "x 🇰🇿…"},
	}
	for _, tc := range tests {
		got := cut(tc.in, tc.max)
		if got != tc.want {
			t.Errorf("cut(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
		if utf16Len(got) > tc.max {
			t.Errorf("cut(%q, %d) = %q is %d units", tc.in, tc.max, got, utf16Len(got))
		}
	}
	// Every room size on an emoji-dense text stays valid and within the room.
	s := strings.Repeat("👨‍👩‍👧🇰🇿❤️ 😀a", 20)
	for max := 0; max < utf16Len(s)+2; max++ {
		got := cut(s, max)
		if !utf8.ValidString(got) || utf16Len(got) > max {
			t.Fatalf("cut(_, %d) = %q (%d units)", max, got, utf16Len(got))
		}
		if strings.HasSuffix(strings.TrimSuffix(got, ellipsis), "\u200d") {
			t.Fatalf("cut(_, %d) = %q ends inside a ZWJ sequence", max, got)
		}
	}
}

func TestNormalizeURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://news.example.kz/a?b=1&c=2#x":           "https://news.example.kz/a?b=1&c=2#x",
		"https://новости.қаз/жаңалықтар?q=саясат&x=%20": "https://xn--b1amnebsh.xn--80ao21a/%D0%B6%D0%B0%D2%A3%D0%B0%D0%BB%D1%8B%D2%9B%D1%82%D0%B0%D1%80?q=%D1%81%D0%B0%D1%8F%D1%81%D0%B0%D1%82&x=%20",
		"http://example.kz:8080/path":                   "http://example.kz:8080/path",
	} {
		got, err := normalizeURL(in)
		if err != nil || got != want {
			t.Errorf("normalizeURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestShareURL(t *testing.T) {
	got := ShareURL("https://x.kz/a?b=1&c=#d", "AT&T: 100% «новости»")
	want := "https://t.me/share/url?url=https%3A%2F%2Fx.kz%2Fa%3Fb%3D1%26c%3D%23d&text=AT%26T%3A%20100%25%20%C2%AB%D0%BD%D0%BE%D0%B2%D0%BE%D1%81%D1%82%D0%B8%C2%BB"
	if got != want {
		t.Errorf("ShareURL = %s\nwant       %s", got, want)
	}
}

func BenchmarkRender(b *testing.B) {
	r := newRenderer(b)
	photo := sample(b)
	long := photo
	long.ImageURL, long.Body = "", kazakhBody()
	for name, a := range map[string]article.Article{"photo": photo, "kazakh_10000_text": long} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.Render(a, "kk", "@news_kk"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// The largest article the validation lets through still fits a caption, keeping its footer.
func TestRenderExtremes(t *testing.T) {
	r := newRenderer(t)
	a := sample(t)
	a.Title = strings.Repeat("😀", article.MaxTitleLen)
	a.Lead = strings.Repeat("ж", 5000)
	a.ImageCredit = strings.Repeat("Akorda ", article.MaxTitleLen/7)
	a.Topics = rules.Topics
	a.Breaking = true
	if err := rules.Validate(a); err != nil {
		t.Fatal(err)
	}
	for _, lang := range []string{"kk", "ru", "en"} {
		p, err := r.Render(a, lang, "@x")
		if err != nil {
			t.Fatal(err)
		}
		checkPost(t, p, MaxCaption)
		text := p.Text()
		if !strings.Contains(text, "😀…</b>") || !strings.Contains(text, "#") || !strings.Contains(text, "Akorda…") {
			t.Errorf("%s: title not cut with an ellipsis, or footer lost:\n%s", lang, text)
		}
	}
}
