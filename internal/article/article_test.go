package article

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// now is the clock of every test: published_at is checked against it.
var now = time.Date(2026, 11, 27, 10, 15, 0, 0, time.UTC)

var rules = Rules{
	Languages: []string{"kk", "ru", "en"},
	Topics:    []string{"politics", "economy", "society", "world", "sport", "culture", "tech"},
	Now:       func() time.Time { return now },
}

const valid = `{"id":"a1","url":"https://news.example.kz/a1","lang":"kk","title":"Тақырып","published_at":"2022-09-14T18:28:00+06:00"}`

// with returns the valid article with one field replaced (or removed, for "-") by raw JSON.
func with(field, raw string) string {
	m := map[string]string{
		"id": `"a1"`, "url": `"https://news.example.kz/a1"`, "lang": `"kk"`, "title": `"Тақырып"`,
		"published_at": `"2022-09-14T18:28:00+06:00"`,
	}
	if raw == "-" {
		delete(m, field)
	} else {
		m[field] = raw
	}
	var parts []string
	for _, k := range []string{"id", "url", "lang", "title", "published_at", "lead", "body", "topics", "image_url", "image_credit", "author", "source", "section", "breaking", "retracted"} {
		if v, ok := m[k]; ok {
			parts = append(parts, `"`+k+`":`+v)
		}
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		data string
		want []string // every "FIELD: reason" prefix expected, in order
	}{
		{"missing id", with("id", "-"), []string{"id: required"}},
		{"blank id", with("id", `"  "`), []string{"id: required"}},
		{"control in id", with("id", `"a\nb"`), []string{"id: contains control characters"}},
		{"missing url", with("url", "-"), []string{"url: required"}},
		{"relative url", with("url", `"/news/a1"`), []string{"url: \"/news/a1\" is not an absolute http(s) URL"}},
		{"ftp url", with("url", `"ftp://news.example.kz/a1"`), []string{"url: \"ftp://news.example.kz/a1\" is not an absolute"}},
		{"javascript url", with("url", `"javascript:alert(1)"`), []string{"url: \"javascript:alert(1)\" is not an absolute"}},
		{"url with space", with("url", `"https://news.example.kz/a b"`), []string{"url: contains spaces"}},
		{"url without host", with("url", `"https:///a1"`), []string{"url: \"https:///a1\" has no host"}},
		{"url port only", with("url", `"https://:443/a1"`), []string{"url: \"https://:443/a1\" has no host"}},
		{"url bad domain", with("url", `"https://a..b/x"`), []string{"url: \"https://a..b/x\": host \"a..b\" is not a valid domain name"}},
		{"missing lang", with("lang", "-"), []string{"lang: required"}},
		{"unknown lang", with("lang", `"de"`), []string{`lang: "de" is not one of LANGUAGES (kk,ru,en)`}},
		{"missing title", with("title", "-"), []string{"title: required"}},
		{"control-only title", with("title", `"\u0001\u0002 \n"`), []string{"title: required"}},
		{"null title", with("title", "null"), []string{"title: required"}},
		{"long title", with("title", `"`+strings.Repeat("ж", MaxTitleLen+1)+`"`), []string{"title: longer than 1000 characters"}},
		{"missing time", with("published_at", "-"), []string{"published_at: required"}},
		{"bad time", with("published_at", `"14.09.2022 18:28"`), []string{`published_at: "14.09.2022 18:28" is not an RFC 3339 time`}},
		{"time without zone", with("published_at", `"2022-09-14T18:28:00"`), []string{"published_at: \"2022-09-14T18:28:00\" is not an RFC 3339 time"}},
		{"time as number", with("published_at", `1663158480`), []string{"published_at: must be an RFC 3339 string"}},
		{"unknown topic", with("topics", `["politics","weather"]`), []string{`topics: "weather" is not one of TOPICS`}},
		{"duplicate topic", with("topics", `["sport","sport"]`), []string{`topics: "sport" is listed twice`}},
		{"topics as string", with("topics", `"politics"`), []string{"topics: must be an array, not string"}},
		{"topic as number", with("topics", `[1]`), []string{"topics: must be a string, not number"}},
		{"title as number", with("title", `42`), []string{"title: must be a string, not number"}},
		{"breaking as string", with("breaking", `"yes"`), []string{"breaking: must be true or false, not string"}},
		{"bad image url", with("image_url", `"images/a.jpg"`), []string{"image_url: \"images/a.jpg\" is not an absolute"}},
		{"url with credentials", with("url", `"https://editor:S3cretPass@news.example.kz/a1"`), []string{"url: has a user name or password"}},
		{"url with a user name", with("url", `"https://editor@news.example.kz/a1"`), []string{"url: has a user name or password"}},
		{"image url with credentials", with("image_url", `"https://editor:S3cretPass@cdn.example.kz/a.jpg"`), []string{"image_url: has a user name or password"}},
		{"unparsable url with @", with("url", `"https://editor:S3c/ret@news.example.kz/a1"`), []string{"url: not a valid URL"}},
		{"invisible title", with("title", `"\u200b\u202e\u2066 \u00a0\u200d\ufeff\u2069\u3164"`), []string{"title: has no visible character"}},
		{"published in year 1", with("published_at", `"0001-01-02T00:00:00Z"`), []string{"published_at: 0001-01-02T00:00:00Z is before 1990-01-01"}},
		{"published before 1990", with("published_at", `"1989-12-31T23:59:59+00:00"`), []string{"published_at: 1989-12-31T23:59:59Z is before 1990-01-01"}},
		{"published in 2062", with("published_at", `"2062-01-01T00:00:00Z"`), []string{"published_at: 2062-01-01T00:00:00Z is more than a day ahead of now"}},
		{"published in 9999", with("published_at", `"9999-12-31T23:59:59Z"`), []string{"published_at: 9999-12-31T23:59:59Z is more than a day ahead"}},
		{"over the size cap", valid[:len(valid)-1] + `,"views":"` + strings.Repeat("x", MaxSize) + `"}`, []string{"article: 4194" /* the size */}},
		{"trailing data", valid + ` {"id":"a2"}`, []string{"article: unexpected data after the JSON object"}},
		{"trailing garbage", valid + `x`, []string{"article: unexpected data after the JSON object"}},
		{"not an object", `[1,2]`, []string{"article: must be a JSON object, not array"}},
		{"a string", `"story"`, []string{"article: must be a JSON object, not string"}},
		{"null", `null`, []string{"article: must be a JSON object, not null"}},
		// An editor fixes a file in one pass: wrong types and bad values are all listed, each
		// field once (a title of the wrong type is not "required" as well).
		{"types and values at once", `{"id":7,"url":"ftp://x.kz/a","lang":"en","title":["t"],"published_at":"yesterday","topics":"politics","breaking":"yes","image_url":"http://"}`,
			[]string{"id: must be a string, not number", "url: ", "title: must be a string, not array", "published_at: \"yesterday\" is not an RFC 3339 time", "topics: must be an array, not string", "image_url: ", "breaking: must be true or false, not string"}},
		{"truncated", valid[:40], []string{"article: incomplete JSON"}},
		{"empty file", ``, []string{"article: incomplete JSON"}},
		{"syntax error", `{"id": "a1",}`, []string{"article: invalid JSON at byte"}},
		{"invalid utf8", "{\"id\":\"a\xff\"}", []string{"article: not valid UTF-8"}},
		{"several at once", `{"url":"x","lang":"de","published_at":"2022-09-14T18:28:00Z"}`, []string{"id: required", "url: ", "lang: ", "title: required"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.data), rules)
			if err == nil {
				t.Fatalf("accepted %s", tc.data)
			}
			got := problems(err)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d problems %q, want %d %q", len(got), got, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(got[i], w) {
					t.Errorf("problem %d = %q, want prefix %q", i, got[i], w)
				}
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Errorf("error %T is not a *FieldError", err)
			}
			// Refusal reasons are logged: credentials never appear in them.
			if strings.Contains(err.Error(), "S3c") {
				t.Errorf("the reason %q shows the password", err)
			}
		})
	}
}

// problems lists every FieldError's text.
func problems(err error) []string {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, problems(e)...)
		}
		return out
	}
	return []string{err.Error()}
}

// A byte order mark (Notepad's UTF-8) is not an error; field names differing only in case are
// read as encoding/json reads them.
func TestParseBOMAndCase(t *testing.T) {
	data := "\uFEFF" + strings.Replace(valid, `"title"`, `"Title"`, 1)
	a, err := Parse([]byte(data), rules)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if a.Title == "" {
		t.Errorf("Title not read from \"Title\"")
	}
}

func TestParseValid(t *testing.T) {
	data, err := os.ReadFile("../../testdata/seed-xi-jinping-visit.en.json")
	if err != nil {
		t.Fatal(err)
	}
	a, err := Parse(data, rules)
	if err != nil {
		t.Fatalf("the sample story is invalid: %v", err)
	}
	if a.ID != "el-2022-09-14-xi-jinping-kazakhstan" || a.Lang != "en" || a.ImageCredit != "Akorda" || len(a.Topics) != 1 || a.Topics[0] != "politics" {
		t.Errorf("decoded %+v", a)
	}
	want := time.Date(2022, 9, 14, 12, 28, 0, 0, time.UTC)
	if !a.PublishedAt.Equal(want) {
		t.Errorf("published_at = %v, want %v", a.PublishedAt, want)
	}
	if !strings.Contains(a.Body, "\n\n") {
		t.Error("paragraphs lost")
	}

	for name, data := range map[string]string{
		"minimal":           valid,
		"unknown fields":    with("section", `"News"`)[:len(with("section", `"News"`))-1] + `,"views":851,"tags":["x"]}`,
		"idn url":           with("url", `"https://новости.қаз/жаңалық?id=1&q=%20#бөлім"`),
		"ip url":            with("url", `"http://127.0.0.1:8080/a"`),
		"html-looking text": with("title", `"<script>alert(1)</script> AT&T </b>"`),
		"empty topics":      with("topics", `[]`),
		"trailing newline":  valid + "\n",
	} {
		if _, err := Parse([]byte(data), rules); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestHash(t *testing.T) {
	a, err := Parse([]byte(valid), rules)
	if err != nil {
		t.Fatal(err)
	}
	b := a
	b.PublishedAt = a.PublishedAt.UTC()
	if a.Hash() != b.Hash() {
		t.Error("the same instant in another offset changed the hash")
	}
	b.Title += "!"
	if a.Hash() == b.Hash() {
		t.Error("a new title did not change the hash")
	}
	if len(a.Hash()) != 32 {
		t.Errorf("hash %q", a.Hash())
	}
}

// A story may be dated up to a day ahead of the caller's clock (a clock a little fast, a zone
// written wrong), and as early as 1990.
func TestParsePublishedAtBounds(t *testing.T) {
	for _, ts := range []string{"1990-01-01T00:00:00Z", "2026-11-28T10:15:00Z", "2026-11-28T16:15:00+06:00"} {
		if _, err := Parse([]byte(with("published_at", `"`+ts+`"`)), rules); err != nil {
			t.Errorf("%s refused: %v", ts, err)
		}
	}
	if _, err := Parse([]byte(with("published_at", `"2026-11-28T10:15:01Z"`)), rules); err == nil {
		t.Error("a second over a day ahead accepted")
	}
}

// Bidi embedding, override and isolate controls never reach a post: Parse strips them from
// every text field; letters, and the marks that are not controls, stay.
func TestParseStripsBidiControls(t *testing.T) {
	ctl := "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
	data := with("title", `"Сенат`+ctl+` принял закон"`)
	for _, f := range []string{"lead", "body", "image_credit", "author", "source", "section"} {
		data = strings.Replace(data, "}", `,"`+f+`":"`+f+ctl+` \u200e text"}`, 1)
	}
	a, err := Parse([]byte(data), rules)
	if err != nil {
		t.Fatal(err)
	}
	if a.Title != "Сенат принял закон" {
		t.Errorf("title %q, want the controls gone", a.Title)
	}
	for f, v := range map[string]string{"lead": a.Lead, "body": a.Body, "image_credit": a.ImageCredit, "author": a.Author, "source": a.Source, "section": a.Section} {
		if v != f+" \u200e text" {
			t.Errorf("%s = %q, want %q", f, v, f+" \u200e text")
		}
	}
	// A title of nothing but controls is then refused, not posted blank.
	if _, err := Parse([]byte(with("title", `"`+ctl+`"`)), rules); err == nil || !strings.Contains(err.Error(), "title: has no visible character") {
		t.Errorf("control-only title: %v", err)
	}
}
