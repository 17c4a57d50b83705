package locale

import (
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"testing/fstest"
	"time"
	"unicode"

	"github.com/BurntSushi/toml"
	"github.com/nicksnyder/go-i18n/v2/i18n"

	"newsbot/locales"
)

// pluralForms are the CLDR cardinal categories each language's plural messages must have:
// exactly these, no more (a stray "few" in English is a copy-paste mistake).
var pluralForms = map[string][]string{
	"ru": {"one", "few", "many", "other"},
	"kk": {"one", "other"},
	"en": {"one", "other"},
}

type localeFile struct {
	name, domain, lang string
	messages           map[string]*i18n.Message
}

func readFiles(t *testing.T, fsys fs.FS) []localeFile {
	t.Helper()
	names, err := fs.Glob(fsys, "*.toml")
	if err != nil || len(names) == 0 {
		t.Fatalf("no locale files: %v", err)
	}
	var files []localeFile
	for _, name := range names {
		lang, err := FileLang(name)
		if err != nil {
			t.Fatal(err)
		}
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			t.Fatal(err)
		}
		mf, err := i18n.ParseMessageFileBytes(data, name, map[string]i18n.UnmarshalFunc{"toml": toml.Unmarshal})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		f := localeFile{name: name, domain: strings.SplitN(name, ".", 2)[0], lang: lang, messages: map[string]*i18n.Message{}}
		for _, m := range mf.Messages {
			f.messages[m.ID] = m
		}
		files = append(files, f)
	}
	return files
}

// forms returns the plural forms a message defines, by CLDR name.
func forms(m *i18n.Message) map[string]string {
	out := map[string]string{}
	for name, v := range map[string]string{"zero": m.Zero, "one": m.One, "two": m.Two, "few": m.Few, "many": m.Many, "other": m.Other} {
		if v != "" {
			out[name] = v
		}
	}
	return out
}

func isPlural(m *i18n.Message) bool {
	return m.Zero != "" || m.One != "" || m.Two != "" || m.Few != "" || m.Many != ""
}

var placeholder = regexp.MustCompile(`\{\{-?\s*\.(\w+)`)

func placeholders(m *i18n.Message) []string {
	set := map[string]bool{}
	for _, v := range forms(m) {
		for _, sub := range placeholder.FindAllStringSubmatch(v, -1) {
			set[sub[1]] = true
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// checkComplete is the completeness test over any set of message files; TestComplete runs it on
// the real files, TestCompleteCatches on broken ones to show that it fails when it should.
func checkComplete(fsys fs.FS, errorf func(format string, args ...any), t *testing.T) {
	files := readFiles(t, fsys)
	langs := map[string]bool{}
	domains := map[string]map[string]localeFile{}
	for _, f := range files {
		langs[f.lang] = true
		if domains[f.domain] == nil {
			domains[f.domain] = map[string]localeFile{}
		}
		domains[f.domain][f.lang] = f
	}

	// Every domain exists in every language.
	for domain, byLang := range domains {
		for lang := range langs {
			if _, ok := byLang[lang]; !ok {
				errorf("%s.%s.toml is missing (the domain %s exists in other languages)", domain, lang, domain)
			}
		}
	}

	// No id is defined twice in one language: go-i18n would keep one silently.
	seen := map[string]string{}
	for _, f := range files {
		for id := range f.messages {
			key := f.lang + "/" + id
			if other, dup := seen[key]; dup {
				errorf("%s: %q is already defined in %s", f.name, id, other)
			}
			seen[key] = f.name
		}
	}

	for domain, byLang := range domains {
		ids := map[string]bool{}
		for _, f := range byLang {
			for id := range f.messages {
				ids[id] = true
			}
		}
		for id := range ids {
			var refLang string
			var ref *i18n.Message
			for _, lang := range sortedKeys(byLang) {
				f := byLang[lang]
				m, ok := f.messages[id]
				if !ok {
					errorf("%s: %q is missing", f.name, id)
					continue
				}
				fm := forms(m)
				if len(fm) == 0 {
					errorf("%s: %q is empty", f.name, id)
					continue
				}
				for name, v := range fm {
					if strings.TrimSpace(v) == "" {
						errorf("%s: %q form %s is blank", f.name, id, name)
					}
					checkScript(f.name, id, lang, v, errorf)
				}
				if isPlural(m) {
					want := pluralForms[lang]
					if want == nil {
						errorf("%s: no plural rules known for %s in this test", f.name, lang)
					}
					var got []string
					for name := range fm {
						got = append(got, name)
					}
					if !sameSet(got, want) {
						errorf("%s: plural %q has forms %v, %s needs exactly %v", f.name, id, sorted(got), lang, want)
					}
				}
				if ref == nil {
					ref, refLang = m, lang
					continue
				}
				if isPlural(m) != isPlural(ref) {
					errorf("%s: %q is plural in one language and not in %s", f.name, id, refLang)
				}
				if a, b := placeholders(m), placeholders(ref); !slices.Equal(a, b) {
					errorf("%s: %q has placeholders %v, %s.%s.toml has %v", f.name, id, a, domain, refLang, b)
				}
			}
		}
	}
}

// checkScript catches the classic mistake of Kazakh and Russian typing: a Latin letter that
// looks like a Cyrillic one inside a word (Латин "a" in «жаңалық»). Brand names are whole
// Latin words and pass.
func checkScript(file, id, lang, s string, errorf func(string, ...any)) {
	if lang != "kk" && lang != "ru" {
		return
	}
	plain := regexp.MustCompile(`\{\{[^}]*\}\}`).ReplaceAllString(s, " ")
	for _, w := range strings.FieldsFunc(plain, func(r rune) bool { return !unicode.IsLetter(r) }) {
		latin := strings.IndexFunc(w, func(r rune) bool { return unicode.Is(unicode.Latin, r) }) >= 0
		cyr := strings.IndexFunc(w, func(r rune) bool { return unicode.Is(unicode.Cyrillic, r) }) >= 0
		if latin && cyr {
			errorf("%s: %q: the word %q mixes Latin and Cyrillic letters", file, id, w)
		}
	}
}

func TestComplete(t *testing.T) {
	checkComplete(locales.FS, t.Errorf, t)
}

// The completeness test must fail on the mistakes it exists for.
func TestCompleteCatches(t *testing.T) {
	broken := fstest.MapFS{
		"x.en.toml": {Data: []byte("a = \"A {{.Name}}\"\nb = \"B\"\n[n]\none = \"{{.Count}} reader\"\nother = \"{{.Count}} readers\"\n[p]\none = \"1\"\nother = \"2\"\n")},
		"x.ru.toml": {Data: []byte("a = \"А {{.Title}}\"\nb = \"\"\nc = \"лишний\"\n[n]\none = \"{{.Count}} читатель\"\nother = \"{{.Count}} читателя\"\n[p]\none = \"1\"\nfew = \"2\"\nmany = \"5\"\nother = \"1,5\"\n")},
		"x.kk.toml": {Data: []byte("a = \"Тaқырып {{.Name}}\"\n[n]\none = \"{{.Count}} оқырман\"\nother = \"{{.Count}} оқырман\"\n[p]\none = \"1\"\nother = \"2\"\n")},
		"y.en.toml": {Data: []byte("a = \"again\"\n")},
	}
	var got []string
	checkComplete(broken, func(format string, args ...any) { got = append(got, fmt.Sprintf(format, args...)) }, t)
	all := strings.Join(got, "\n")
	for _, want := range []string{
		`x.ru.toml: "a" has placeholders [Title]`, // placeholders differ
		`x.kk.toml: "b" is missing`,               // missing key
		`"b" is empty`,                            // empty in ru
		`x.ru.toml: plural "n" has forms [one other], ru needs exactly [one few many other]`,
		`mixes Latin and Cyrillic`, // «Тaқырып» with a Latin a
		`y.kk.toml is missing`,     // a domain missing in a language
		`y.en.toml: "a" is already defined in x.en.toml`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("the check did not report %q; it reported:\n%s", want, all)
		}
	}
}

func sortedKeys(m map[string]localeFile) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sorted(s []string) []string { s = slices.Clone(s); sort.Strings(s); return s }

func sameSet(a, b []string) bool { return slices.Equal(sorted(a), sorted(b)) }

// Every message renders in every language without a template error.
func TestEveryMessageRenders(t *testing.T) {
	b, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range readFiles(t, locales.FS) {
		for id, m := range f.messages {
			data := map[string]any{}
			for _, p := range placeholders(m) {
				data[p] = "X"
			}
			if isPlural(m) {
				for _, n := range []int{0, 1, 2, 5, 11, 21} {
					if s := b.Plural(f.lang, id, n, data); s == id || s == "" {
						t.Errorf("%s: %q does not render for %d", f.name, id, n)
					}
				}
				continue
			}
			if s, ok := b.Lookup(f.lang, id, data); !ok || s == "" {
				t.Errorf("%s: %q does not render", f.name, id)
			}
		}
	}
}

func TestTAndFallback(t *testing.T) {
	b, err := LoadFS(fstest.MapFS{
		"x.en.toml": {Data: []byte("hello = \"Hello, {{.Name}}\"\nonly_en = \"English only\"\n[readers]\none = \"{{.Count}} reader\"\nother = \"{{.Count}} readers\"\n")},
		"x.ru.toml": {Data: []byte("hello = \"Здравствуйте, {{.Name}}\"\n[readers]\none = \"{{.Count}} читатель\"\nfew = \"{{.Count}} читателя\"\nmany = \"{{.Count}} читателей\"\nother = \"{{.Count}} читателя\"\n")},
		"x.kk.toml": {Data: []byte("hello = \"Сәлеметсіз бе, {{.Name}}\"\n[readers]\none = \"{{.Count}} оқырман\"\nother = \"{{.Count}} оқырман\"\n")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Languages(); !slices.Equal(got, []string{"en", "kk", "ru"}) {
		t.Errorf("Languages = %v", got)
	}
	if got := b.T("kk", "hello", map[string]any{"Name": "Айгүл"}); got != "Сәлеметсіз бе, Айгүл" {
		t.Errorf("T kk = %q", got)
	}
	if got := b.T("kk", "only_en", nil); got != "English only" {
		t.Errorf("missing kk falls back to en, got %q", got)
	}
	if got := b.T("de", "hello", map[string]any{"Name": "X"}); got != "Hello, X" {
		t.Errorf("unknown language falls back to en, got %q", got)
	}
	if got := b.T("ru", "no_such_id", nil); got != "no_such_id" {
		t.Errorf("unknown id = %q, want the id", got)
	}
	if _, ok := b.Lookup("ru", "no_such_id", nil); ok {
		t.Error("Lookup found a missing id")
	}
	if !b.Has("en", "only_en") || b.Has("kk", "only_en") {
		t.Error("Has")
	}
	for _, tc := range []struct {
		lang string
		n    int
		want string
	}{
		{"ru", 1, "1 читатель"}, {"ru", 21, "21 читатель"}, {"ru", 2, "2 читателя"}, {"ru", 23, "23 читателя"},
		{"ru", 5, "5 читателей"}, {"ru", 11, "11 читателей"}, {"ru", 12, "12 читателей"}, {"ru", 0, "0 читателей"}, {"ru", 100, "100 читателей"},
		{"kk", 1, "1 оқырман"}, {"kk", 5, "5 оқырман"},
		{"en", 1, "1 reader"}, {"en", 0, "0 readers"}, {"en", 2, "2 readers"},
	} {
		if got := b.Plural(tc.lang, "readers", tc.n, nil); got != tc.want {
			t.Errorf("Plural(%s, %d) = %q, want %q", tc.lang, tc.n, got, tc.want)
		}
	}
}

func TestLoadFSRejects(t *testing.T) {
	for name, fsys := range map[string]fstest.MapFS{
		"bad name":   {"post.toml": {Data: []byte("a = \"b\"\n")}},
		"bad toml":   {"post.en.toml": {Data: []byte("a = \n")}},
		"bad lang":   {"post.english.toml": {Data: []byte("a = \"b\"\n")}},
		"no files":   {"readme.md": {Data: []byte("x")}},
		"bad plural": {"post.en.toml": {Data: []byte("[a]\none = 1\n")}},
	} {
		if _, err := LoadFS(fsys); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
}

func TestDate(t *testing.T) {
	b, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	almaty, err := time.LoadLocation("Asia/Almaty")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2022, 9, 14, 12, 28, 0, 0, time.UTC).In(almaty)
	for lang, want := range map[string]string{
		"kk": "14 қыркүйек 2022, 18:28",
		"ru": "14 сентября 2022, 18:28",
		"en": "14 September 2022, 18:28",
	} {
		if got := b.Date(lang, at); got != want {
			t.Errorf("Date(%s) = %q, want %q", lang, got, want)
		}
	}
	jan := time.Date(2024, 1, 5, 7, 3, 0, 0, almaty)
	if got := b.Date("ru", jan); got != "5 января 2024, 07:03" {
		t.Errorf("Date(ru, January) = %q", got)
	}
	if got := b.Date("kk", jan); got != "5 қаңтар 2024, 07:03" {
		t.Errorf("Date(kk, January) = %q", got)
	}
}

// Fan-out renders from many goroutines with one bundle (run with -race).
func TestConcurrentUse(t *testing.T) {
	b, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan string)
	for i := 0; i < 8; i++ {
		go func() {
			lang := b.Languages()[i%len(b.Languages())]
			done <- b.T(lang, "button_read", nil) + b.Date(lang, time.Unix(int64(i)*86400*40, 0))
		}()
	}
	for i := 0; i < 8; i++ {
		if s := <-done; s == "" {
			t.Error("empty")
		}
	}
}

// LANGUAGES is checked against Languages: it must name exactly the languages the loaded bundle
// serves, no fewer (a language refused that newsbot speaks) and no more (one accepted that
// would reach readers half in English).
func TestLanguagesForConfig(t *testing.T) {
	got, err := Languages()
	if err != nil {
		t.Fatal(err)
	}
	b, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if want := b.Languages(); !slices.Equal(got, want) {
		t.Errorf("Languages() = %v, the bundle has %v", got, want)
	}
	if !slices.Equal(got, []string{"en", "kk", "ru"}) {
		t.Errorf("Languages() = %v, want en, kk and ru (the locales/ files)", got)
	}
}
