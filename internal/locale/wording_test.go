package locale

import (
	"fmt"
	"strings"
	"testing"
	"testing/fstest"

	"newsbot/locales"
)

// Words a native Kazakh editor flagged (issue 16, checked against the project glossary): each says something
// other than what the bot means, so a later edit must not bring it back.
var kkForbidden = []struct{ phrase, why string }{
	{"кері қайтарыл", "«кері қайтару» is to send back, not to withdraw a story: write «алынып тасталған / алынып тасталды»"},
	{"алып қойған оқырман", "«алып қою» is to confiscate: readers who already got a story «бұрын алған оқырмандар»"},
	{"қазірдің өзінде", "a word-for-word Russian «уже»: «Сіз жазылып қойғансыз»"},
}

// kkWithdrawn are the Kazakh messages about a withdrawn (retracted) story: they must say it the
// way Kazakh media do, «алынып тасталған / алынып тасталды».
var kkWithdrawn = []string{"admin_retracted", "admin_story_gone", "admin_audit_retracted"}

// kkLangNames are the language names inside Kazakh sentences («Бот тілі: қазақша»): the short
// forms; «қазақ тілі» there renders «тілі» twice.
var kkLangNames = map[string]string{"bot_lang_kk": "қазақша", "bot_lang_ru": "орысша", "bot_lang_en": "ағылшынша"}

// checkWording reports Kazakh messages that break the rules above.
func checkWording(files []localeFile, errorf func(string, ...any)) {
	found := map[string]bool{}
	for _, f := range files {
		if f.lang != "kk" {
			continue
		}
		for id, m := range f.messages {
			for form, s := range forms(m) {
				low := strings.ToLower(s)
				for _, w := range kkForbidden {
					if strings.Contains(low, w.phrase) {
						errorf("%s %s (%s) says «%s»: %s", f.name, id, form, w.phrase, w.why)
					}
				}
			}
		}
		for _, id := range kkWithdrawn {
			if m, ok := f.messages[id]; ok {
				found[id] = true
				if !strings.Contains(strings.ToLower(m.Other), "алынып таста") {
					errorf("%s %s = %q: a withdrawn story is «алынып тасталған / алынып тасталды»", f.name, id, m.Other)
				}
			}
		}
		if f.domain != "bot" {
			continue
		}
		for id, want := range kkLangNames {
			found[id] = true
			if m, ok := f.messages[id]; !ok || m.Other != want {
				got := "<missing>"
				if ok {
					got = fmt.Sprintf("%q", m.Other)
				}
				errorf("%s %s = %s, want %q: the short form inside a sentence («Бот тілі: %s»)", f.name, id, got, want, want)
			}
		}
	}
	for _, id := range kkWithdrawn {
		if !found[id] {
			errorf("no Kazakh message %s: the withdrawn-story wording is not checked", id)
		}
	}
	if !found["bot_lang_kk"] {
		errorf("no bot.kk.toml: the Kazakh language names are not checked")
	}
}

// TestKazakhWording: the meaning-critical Kazakh words of the embedded message files.
func TestKazakhWording(t *testing.T) {
	checkWording(readFiles(t, locales.FS), t.Errorf)
}

// TestKazakhWordingCatches: the check finds each wrong wording it guards against.
func TestKazakhWordingCatches(t *testing.T) {
	bad := fstest.MapFS{
		"admin.kk.toml": {Data: []byte(`admin_retracted = "«{{.Title}}» материалы кері қайтарылған."
admin_story_gone = "Материал енді қолжетімсіз немесе алынып тасталған."
admin_audit_retracted = "Тоқтатылды: материал алынып тасталды ({{.Messages}})"
admin_channel_note = "Материалды алып қойған оқырмандарға қайта жіберілмейді."
`)},
		"bot.kk.toml": {Data: []byte(`bot_already = "Сіз қазірдің өзінде жазылғансыз."
bot_lang_kk = "қазақ тілі"
bot_lang_ru = "орысша"
[bot_status_topics]
one = "Кері қайтарылды {{.Count}}"
other = "{{.Count}}"
`)},
		"bot.ru.toml": {Data: []byte(`bot_lang_kk = "кері қайтарылды"` + "\n")},
	}
	var got []string
	checkWording(readFiles(t, bad), func(format string, args ...any) { got = append(got, fmt.Sprintf(format, args...)) })
	for _, want := range []string{
		"admin_retracted (other) says «кері қайтарыл»",
		"admin_retracted = ",
		"admin_channel_note (other) says «алып қойған оқырман»",
		"bot_already (other) says «қазірдің өзінде»",
		"bot_status_topics (one) says «кері қайтарыл»",
		`bot_lang_kk = "қазақ тілі", want "қазақша"`,
		`bot_lang_en = <missing>, want "ағылшынша"`,
	} {
		if !containsPart(got, want) {
			t.Errorf("check missed %q; it reported:\n%s", want, strings.Join(got, "\n"))
		}
	}
	if containsPart(got, "bot.ru.toml") || containsPart(got, "bot_lang_ru") || containsPart(got, "admin_story_gone") {
		t.Errorf("check reported a message that is right (or not Kazakh):\n%s", strings.Join(got, "\n"))
	}
	if len(got) != 7 {
		t.Errorf("check reported %d problems, want 7:\n%s", len(got), strings.Join(got, "\n"))
	}
}

func containsPart(list []string, part string) bool {
	for _, s := range list {
		if strings.Contains(s, part) {
			return true
		}
	}
	return false
}
