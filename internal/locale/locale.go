// Package locale serves newsbot's translations: every string a reader or editor sees, with
// CLDR plural rules (Russian one/few/many/other, Kazakh and English one/other) from go-i18n,
// loaded from the message files embedded in the top-level locales package.
package locale

import (
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"

	"newsbot/locales"
)

// Fallback is the language a missing message falls back to. English is the language every
// engineer can read, so a gap shows up as readable text rather than as a message id.
const Fallback = "en"

// Bundle holds every message of every language. It is safe for concurrent use: after Load
// nothing in it changes.
type Bundle struct {
	bundle     *i18n.Bundle
	localizers map[string]*i18n.Localizer
	langs      []string
	// ids[lang] is the set of message ids defined in that language; go-i18n answers a missing
	// message with an error, and Lookup needs to know without building the string twice.
	ids map[string]map[string]bool
}

// Load reads every *.toml file embedded in the locales package.
func Load() (*Bundle, error) {
	return LoadFS(locales.FS)
}

// LoadFS reads every *.toml file at the top of fsys. Tests use it with fstest.MapFS.
func LoadFS(fsys fs.FS) (*Bundle, error) {
	files, err := fs.Glob(fsys, "*.toml")
	if err != nil {
		return nil, fmt.Errorf("list locale files: %w", err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("load locales: no *.toml files")
	}
	b := &Bundle{
		bundle:     i18n.NewBundle(language.English),
		localizers: map[string]*i18n.Localizer{},
		ids:        map[string]map[string]bool{},
	}
	b.bundle.RegisterUnmarshalFunc("toml", toml.Unmarshal)
	for _, name := range files {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("read locale file %s: %w", name, err)
		}
		lang, err := FileLang(name)
		if err != nil {
			return nil, err
		}
		mf, err := b.bundle.ParseMessageFileBytes(data, name)
		if err != nil {
			return nil, fmt.Errorf("parse locale file %s: %w", name, err)
		}
		if b.ids[lang] == nil {
			b.ids[lang] = map[string]bool{}
			b.langs = append(b.langs, lang)
		}
		for _, m := range mf.Messages {
			b.ids[lang][m.ID] = true
		}
	}
	slices.Sort(b.langs)
	for _, lang := range b.langs {
		// Only the language itself: the fallback to English is Lookup's decision, so that a
		// missing Kazakh message never silently picks up some other language's text.
		b.localizers[lang] = i18n.NewLocalizer(b.bundle, lang)
	}
	return b, nil
}

// Languages returns the languages of the embedded message files, sorted: the languages a
// deployment may list in LANGUAGES. It reads only the file names, so configuration can check
// LANGUAGES before anything is loaded; Load reads the same files.
func Languages() ([]string, error) {
	files, err := fs.Glob(locales.FS, "*.toml")
	if err != nil {
		return nil, fmt.Errorf("list locale files: %w", err)
	}
	var langs []string
	for _, name := range files {
		lang, err := FileLang(name)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(langs, lang) {
			langs = append(langs, lang)
		}
	}
	slices.Sort(langs)
	return langs, nil
}

// FileLang returns the language of a message file named <domain>.<lang>.toml.
func FileLang(name string) (string, error) {
	parts := strings.Split(path.Base(name), ".")
	if len(parts) != 3 || parts[2] != "toml" || parts[0] == "" {
		return "", fmt.Errorf("locale file %s: name must be <domain>.<lang>.toml", name)
	}
	if _, err := language.Parse(parts[1]); err != nil {
		return "", fmt.Errorf("locale file %s: %q is not a language: %w", name, parts[1], err)
	}
	return parts[1], nil
}

// Languages returns the languages that have message files, sorted.
func (b *Bundle) Languages() []string { return slices.Clone(b.langs) }

// Has reports whether lang itself (not its fallback) defines the message.
func (b *Bundle) Has(lang, id string) bool { return b.ids[lang][id] }

// Lookup returns the message in lang, or in English when lang lacks it; ok is false when
// neither has it.
func (b *Bundle) Lookup(lang, id string, data map[string]any) (string, bool) {
	return b.localize(lang, id, nil, data)
}

// T returns the message in lang, falling back to English, and to the id itself when no
// language has it: a reader then sees something, and the locale tests catch the gap.
func (b *Bundle) T(lang, id string, data map[string]any) string {
	if s, ok := b.localize(lang, id, nil, data); ok {
		return s
	}
	return id
}

// Plural returns the plural form of the message for n. The template sees {{.Count}} as well
// as the data.
func (b *Bundle) Plural(lang, id string, n int, data map[string]any) string {
	d := make(map[string]any, len(data)+1)
	for k, v := range data {
		d[k] = v
	}
	d["Count"] = n
	if s, ok := b.localize(lang, id, n, d); ok {
		return s
	}
	return id
}

func (b *Bundle) localize(lang, id string, count any, data map[string]any) (string, bool) {
	for _, l := range []string{lang, Fallback} {
		if !b.ids[l][id] {
			continue
		}
		s, err := b.localizers[l].Localize(&i18n.LocalizeConfig{MessageID: id, TemplateData: data, PluralCount: count})
		if err == nil && s != "" {
			return s, true
		}
	}
	return "", false
}

// Date formats t as a reader of lang expects it in a news post: "14 қыркүйек 2022, 18:28",
// "14 сентября 2022, 18:28", "14 September 2022, 18:28". It uses t's own location: convert
// with t.In(loc) to show the configured TIMEZONE.
func (b *Bundle) Date(lang string, t time.Time) string {
	return b.T(lang, "date_format", map[string]any{
		"Day":   strconv.Itoa(t.Day()),
		"Month": b.T(lang, "month_"+strconv.Itoa(int(t.Month())), nil),
		"Year":  strconv.Itoa(t.Year()),
		"Time":  t.Format("15:04"),
	})
}
