package bot

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"newsbot/internal/locale"
)

// TestEveryMessageIDIsTranslated catches a message id used in the code but missing from
// locales/bot.*.toml (the locale package's own test only compares languages with each other).
func TestEveryMessageIDIsTranslated(t *testing.T) {
	t.Parallel()
	texts, err := locale.Load()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	literal := regexp.MustCompile(`"((?:bot|topic|lang|all)_[a-z_]+)"`)
	ids := map[string]bool{"lang_self": true, "all_topics": true}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range literal.FindAllStringSubmatch(string(src), -1) {
			if !strings.HasSuffix(m[1], "_") { // prefixes of ids built at run time
				ids[m[1]] = true
			}
		}
	}
	for _, cmd := range (&Bot{}).readerCommands() {
		ids["bot_cmd_"+cmd.Name] = true
	}
	for _, l := range testLangs {
		ids["bot_news_in_"+l] = true
		ids["lang_"+l] = true
		ids["bot_lang_"+l] = true
	}
	for _, tp := range testTopics {
		ids["topic_"+tp] = true
	}
	if len(ids) < 40 {
		t.Fatalf("found only %d message ids: the pattern is broken", len(ids))
	}
	for id := range ids {
		for _, lang := range testLangs {
			if !texts.Has(lang, id) {
				t.Errorf("message %s is missing in %s", id, lang)
			}
		}
	}
}
