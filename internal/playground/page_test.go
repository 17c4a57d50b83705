package playground

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"newsbot/internal/article"
	"newsbot/internal/botapi"
	"newsbot/internal/locale"
	"newsbot/internal/testkit"
)

// testPage is the page alone, on the stand-in, without the service: what it shows of the
// stand-in's chats and what its actions hand to it and to the article store.
type testPage struct {
	t   *testing.T
	p   *page
	api *botapi.Server
	url string
}

func newTestPage(t *testing.T) *testPage {
	t.Helper()
	texts, err := locale.Load()
	if err != nil {
		t.Fatal(err)
	}
	set, err := readSettings(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	api := botapi.New(botapi.Options{})
	t.Cleanup(api.Close)
	channels := map[string]string{"kk": "@pg_kk", "ru": "@pg_ru", "en": "@pg_en"}
	log := &testkit.Log{}
	p := newPage(pageDeps{api: api, texts: texts, set: set, channels: channels, dir: t.TempDir(), redis: &redisChoice{}, log: log.Logger()})
	srv := httptest.NewServer(p.handler())
	t.Cleanup(srv.Close)
	return &testPage{t: t, p: p, api: api, url: srv.URL}
}

// post sends an action as the page's script does.
func (tp *testPage) post(path string, body any) (int, result) {
	tp.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", tp.url+path, strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", tp.url)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tp.t.Fatal(err)
	}
	defer resp.Body.Close()
	var res result
	_ = json.NewDecoder(resp.Body).Decode(&res)
	return resp.StatusCode, res
}

func (tp *testPage) get(path string) string {
	tp.t.Helper()
	resp, err := http.Get(tp.url + path)
	if err != nil {
		tp.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		tp.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return string(b)
}

func TestReaderTypesAndTheBotGetsAnUpdate(t *testing.T) {
	tp := newTestPage(t)
	code, res := tp.post("/api/reader", map[string]string{"name": `<img src=x onerror=alert(1)>`, "lang": "ru"})
	if code != 200 || res.ID == 0 {
		t.Fatalf("add reader: %d %+v", code, res)
	}
	hostile := `<b>hi</b><script>alert("x")</script> & /start`
	if code, res := tp.post("/api/say", map[string]any{"chat": res.ID, "text": hostile}); code != 200 {
		t.Fatalf("say: %d %+v", code, res)
	}
	if tp.api.Pending() != 1 {
		t.Errorf("%d updates queued for the bot, want the message", tp.api.Pending())
	}
	chat := tp.get("/part/chat?id=" + itoa(res.ID))
	if strings.Contains(chat, "<script>") || strings.Contains(chat, "<b>hi") {
		t.Errorf("the reader's text reached the page as markup:\n%s", chat)
	}
	if !strings.Contains(chat, "&lt;b&gt;hi&lt;/b&gt;&lt;script&gt;") {
		t.Errorf("the reader's text is not shown escaped:\n%s", chat)
	}
	readers := tp.get("/part/readers")
	if strings.Contains(readers, "<img") || !strings.Contains(readers, "&lt;img src=x") {
		t.Errorf("the reader's name is not shown escaped:\n%s", readers)
	}
	// A message longer than Telegram's 4096 goes as two, as the app sends it.
	if code, _ := tp.post("/api/say", map[string]any{"chat": res.ID, "text": strings.Repeat("я", 5000)}); code != 200 {
		t.Errorf("long message: %d", code)
	}
	if n := len(tp.api.History(res.ID)); n != 3 {
		t.Errorf("chat holds %d messages, want 3", n)
	}
}

func TestBotPostsShowAsTelegramShowsThem(t *testing.T) {
	tp := newTestPage(t)
	ts := httptest.NewServer(tp.api)
	defer ts.Close()
	send := func(method string, form map[string]string) {
		vals := make(map[string][]string)
		for k, v := range form {
			vals[k] = []string{v}
		}
		resp, err := http.PostForm(ts.URL+"/bot"+tp.api.Token()+"/"+method, vals)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %s", method, b)
		}
	}
	kb := `{"inline_keyboard":[[{"text":"Read","url":"https://news.example.kz/a"},{"text":"Share","url":"https://t.me/share/url?url=https%3A%2F%2Fnews.example.kz%2Fa&text=A"}],[{"text":"Evil","url":"javascript:alert(1)"}]]}`
	send("sendPhoto", map[string]string{
		"chat_id": "@pg_en", "photo": "https://photos.example.kz/p.jpg", "parse_mode": "HTML", "reply_markup": kb,
		"caption": `<b>Title &lt;script&gt;</b> <i>lead</i> <a href="https://news.example.kz/a">link</a> <a href="javascript:alert(1)">bad</a>`,
	})
	send("sendMessage", map[string]string{"chat_id": "@pg_en", "text": "second"})
	send("editMessageCaption", map[string]string{"chat_id": "@pg_en", "message_id": "1", "parse_mode": "HTML", "reply_markup": kb, "caption": "<b>Corrected</b>"})
	send("deleteMessage", map[string]string{"chat_id": "@pg_en", "message_id": "2"})

	id, _ := tp.api.ChatID("@pg_en")
	chat := tp.get("/part/chat?id=" + itoa(id) + "&lang=en")
	for _, want := range []string{
		`<b>Corrected</b>`, `class="edited">edited<`, `<img src="https://photos.example.kz/p.jpg"`,
		`href="https://t.me/share/url?url=https%3A%2F%2Fnews.example.kz%2Fa&amp;text=A"`, `class="msg bot deleted"`, `Deleted `,
	} {
		if !strings.Contains(chat, want) {
			t.Errorf("channel lacks %s:\n%s", want, chat)
		}
	}
	if strings.Contains(chat, "javascript:") {
		t.Errorf("a javascript: link reached the page:\n%s", chat)
	}
	if got := richText("Title <script> lead link bad", []botapi.Entity{
		{Type: "bold", Offset: 0, Length: 14}, {Type: "text_link", Offset: 20, Length: 4, URL: "https://x.kz/?a=1&b=2"},
		{Type: "text_link", Offset: 25, Length: 3, URL: "javascript:alert(1)"},
	}); string(got) != `<b>Title &lt;script&gt;</b> lead <a href="https://x.kz/?a=1&amp;b=2" target="_blank" rel="noopener noreferrer">link</a> <span class="link">bad</span>` {
		t.Errorf("rich text %s", got)
	}
	// Entities that overlap without nesting still give nested markup.
	if got := richText("abcd", []botapi.Entity{{Type: "bold", Offset: 0, Length: 3}, {Type: "italic", Offset: 1, Length: 3}}); got != "<b>a<i>bc</i></b><i>d</i>" {
		t.Errorf("overlap %s", got)
	}
}

func TestNewStoryCorrectionAndRetraction(t *testing.T) {
	tp := newTestPage(t)
	code, res := tp.post("/api/story", map[string]any{
		"title": `Tokayev <b>meets</b> & "Xi"`, "lead": "First lead.", "lang": "ru", "topics": []string{"politics"},
		"image_url": "https://news.example.kz/p.jpg", "breaking": true,
	})
	if code != 200 || !strings.Contains(res.Message, ".json") {
		t.Fatalf("new story: %d %+v", code, res)
	}
	stories := tp.p.store.list()
	if len(stories) != 1 {
		t.Fatalf("store holds %d stories", len(stories))
	}
	read := func() article.Article {
		data, err := os.ReadFile(filepath.Join(tp.p.store.dir, stories[0].File))
		if err != nil {
			t.Fatal(err)
		}
		a, err := article.Parse(data, tp.p.store.rules)
		if err != nil {
			t.Fatalf("the file written is not a valid article: %v", err)
		}
		return a
	}
	if a := read(); a.Title != `Tokayev <b>meets</b> & "Xi"` || a.Lang != "ru" || !a.Breaking || a.ImageURL != "https://news.example.kz/p.jpg" || time.Since(a.PublishedAt) > time.Minute {
		t.Errorf("article %+v", a)
	}
	part := tp.get("/part/stories")
	if strings.Contains(part, "<b>meets") || !strings.Contains(part, "&lt;b&gt;meets&lt;/b&gt;") {
		t.Errorf("the title is not shown escaped:\n%s", part)
	}

	if code, res := tp.post("/api/correct", map[string]string{"file": stories[0].File, "title": "Tokayev meets Xi", "lead": "Corrected lead."}); code != 200 {
		t.Fatalf("correct: %d %+v", code, res)
	}
	if a := read(); a.Title != "Tokayev meets Xi" || a.Lead != "Corrected lead." || !a.Breaking {
		t.Errorf("corrected article %+v", a)
	}
	if code, res := tp.post("/api/retract", map[string]string{"file": stories[0].File}); code != 200 {
		t.Fatalf("retract: %d %+v", code, res)
	}
	if a := read(); !a.Retracted {
		t.Error("retraction not written")
	}
	if code, _ := tp.post("/api/retract", map[string]string{"file": "../../etc/passwd"}); code == 200 {
		t.Error("retracted a file outside the store")
	}
}

func TestStoriesTheStoreRefuses(t *testing.T) {
	tp := newTestPage(t)
	for name, tc := range map[string]struct {
		draft map[string]any
		want  string
	}{
		"5000-character title": {map[string]any{"title": strings.Repeat("Ұ", 5000), "lang": "kk"}, "title: longer than 1000 characters"},
		"broken photo URL":     {map[string]any{"title": "x", "lang": "kk", "image_url": "ht!tp://nope"}, "image_url:"},
		"no title":             {map[string]any{"title": "  ", "lang": "kk"}, "title: required"},
		"unknown topic":        {map[string]any{"title": "x", "lang": "kk", "topics": []string{"<gossip>"}}, `topics: "<gossip>" is not one of TOPICS`},
	} {
		t.Run(name, func(t *testing.T) {
			code, res := tp.post("/api/story?lang=ru", tc.draft)
			if code != http.StatusUnprocessableEntity || res.Error != "Хранилище материалов не принимает этот материал:" {
				t.Fatalf("answered %d %+v", code, res)
			}
			if !strings.Contains(strings.Join(res.Problems, "\n"), tc.want) {
				t.Errorf("problems %q, want %q", res.Problems, tc.want)
			}
		})
	}
	if n := len(tp.p.store.list()); n != 0 {
		t.Errorf("%d refused stories were written", n)
	}
}

func TestActionsOnlyFromThePage(t *testing.T) {
	tp := newTestPage(t)
	try := func(host, origin, ct string) int {
		req, _ := http.NewRequest("POST", tp.url+"/api/reader", strings.NewReader(`{"name":"x","lang":"en"}`))
		req.Host = host
		req.Header.Set("Content-Type", ct)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	host := strings.TrimPrefix(tp.url, "http://")
	if c := try(host, "", "application/json"); c != 200 {
		t.Errorf("the page's own request: %d", c)
	}
	if c := try(host, "https://evil.example", "application/json"); c != 403 {
		t.Errorf("another site's script: %d", c)
	}
	if c := try(host, "", "application/x-www-form-urlencoded"); c != 403 {
		t.Errorf("another site's form: %d", c)
	}
	if c := try("evil.example:80", "", "application/json"); c != 403 {
		t.Errorf("a rebound DNS name: %d", c)
	}
}

func TestPageLabelsFollowTheChosenLanguage(t *testing.T) {
	tp := newTestPage(t)
	for lang, want := range map[string]string{"kk": "Материалдар қоймасы", "ru": "Хранилище материалов", "en": "Article store"} {
		if page := tp.get("/?lang=" + lang); !strings.Contains(page, want) || !strings.Contains(page, `<html lang="`+lang+`">`) {
			t.Errorf("%s page lacks %q", lang, want)
		}
	}
	if js := tp.get("/static/page.js"); !strings.Contains(js, "EventSource") {
		t.Error("the page's script is not served")
	}
	resp, err := http.Get(tp.url + "/static/page.html")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("the template is served as a file: %d", resp.StatusCode)
	}
}

// TestEveryLabelIsTranslated catches a label used by the page but missing from
// locales/playground.*.toml.
func TestEveryLabelIsTranslated(t *testing.T) {
	texts, err := locale.Load()
	if err != nil {
		t.Fatal(err)
	}
	var src strings.Builder
	for _, glob := range []string{"*.go", "assets/*.html"} {
		files, _ := filepath.Glob(glob)
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			b, _ := os.ReadFile(f)
			src.Write(b)
		}
	}
	n := 0
	for _, part := range strings.Split(src.String(), `"pg_`)[1:] {
		id := "pg_" + part[:strings.IndexByte(part, '"')]
		n++
		for _, lang := range pageLangs {
			if !texts.Has(lang, id) {
				t.Errorf("label %s is missing in %s", id, lang)
			}
		}
	}
	if n < 30 {
		t.Fatalf("found only %d labels: the pattern is broken", n)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
