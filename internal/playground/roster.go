package playground

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"newsbot/internal/botapi"
)

// madeUpEditor is the editor's Telegram id when ADMIN_IDS is empty.
const madeUpEditor = 424242

// firstReader is the id of the first sample reader; readers added on the page follow.
const firstReader = 1001

// maxNameLen is Telegram's limit on a first name.
const maxNameLen = 64

// reader is a Telegram user the page plays: a reader of the bot, or the editor.
type reader struct {
	botapi.User
	Editor bool
}

// roster is the readers the page knows, in the order they were added.
type roster struct {
	mu   sync.Mutex
	list []reader
	next int64
}

func newRoster(editorID int64) *roster {
	return &roster{
		list: []reader{{User: botapi.User{ID: editorID, FirstName: "Dana", LanguageCode: "en"}, Editor: true}},
		next: firstReader,
	}
}

// add adds a reader with a name and a Telegram language; the name is cut to Telegram's 64
// characters as the app cuts it.
func (r *roster) add(name, lang string) (reader, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return reader{}, fmt.Errorf("a reader needs a name")
	}
	if utf8.RuneCountInString(name) > maxNameLen {
		name = string([]rune(name)[:maxNameLen])
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for slices.ContainsFunc(r.list, func(x reader) bool { return x.ID == r.next }) {
		r.next++
	}
	rd := reader{User: botapi.User{ID: r.next, FirstName: name, LanguageCode: lang}}
	r.next++
	r.list = append(r.list, rd)
	return rd, nil
}

// get returns the reader with the id.
func (r *roster) get(id int64) (reader, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, x := range r.list {
		if x.ID == id {
			return x, true
		}
	}
	return reader{}, false
}

// editor returns the editor.
func (r *roster) editor() reader {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.list[0]
}

// readers returns the readers, the editor left out.
func (r *roster) readers() []reader {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.list[1:])
}

// sampleReaders are the readers subscribed at the first start, two a language, each with the
// /start they type (a plain one follows all topics; a deep link one topic).
var sampleReaders = []struct {
	name, lang, start string
}{
	{"Айгерім", "kk", "/start"},
	{"Ерлан", "kk", "/start kk_economy"},
	{"Анна", "ru", "/start"},
	{"Дмитрий", "ru", "/start ru_politics"},
	{"Emma", "en", "/start"},
	{"James", "en", "/start politics"},
}
