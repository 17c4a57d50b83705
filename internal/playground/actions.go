package playground

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"time"
	"unicode/utf16"

	"newsbot/internal/botapi"
)

// The page's actions: each is what a Telegram user or the newsroom's CMS would do, and goes
// to the service the way theirs would — as updates through the stand-in's getUpdates queue,
// or as files in the article store.

type result struct {
	OK       bool     `json:"ok"`
	Message  string   `json:"message,omitempty"`
	Error    string   `json:"error,omitempty"`
	Problems []string `json:"problems,omitempty"`
	ID       int64    `json:"id,omitempty"`
}

func (p *page) reply(w http.ResponseWriter, status int, res result) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(res)
}

// fail answers a refused action with the reason in the page's language.
func (p *page) fail(w http.ResponseWriter, r *http.Request, status int, reason string) {
	p.reply(w, status, result{Error: p.texts.T(p.lang(r), "pg_failed", map[string]any{"Reason": reason})})
}

func (p *page) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		p.fail(w, r, http.StatusBadRequest, "bad request: "+err.Error())
		return false
	}
	return true
}

// user returns the Telegram user of a chat on the page; the editor speaks the page's
// language.
func (p *page) user(w http.ResponseWriter, r *http.Request, chat int64) (botapi.User, bool) {
	rd, ok := p.roster.get(chat)
	if !ok {
		p.fail(w, r, http.StatusNotFound, "no such reader")
		return botapi.User{}, false
	}
	if rd.Editor {
		rd.LanguageCode = p.lang(r)
	}
	return rd.User, true
}

// say delivers what a reader typed. Longer than Telegram's 4096 characters, it goes as
// several messages, as the Telegram app sends it.
func (p *page) say(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Chat int64  `json:"chat"`
		Text string `json:"text"`
	}
	if !p.decode(w, r, &in) {
		return
	}
	u, ok := p.user(w, r, in.Chat)
	if !ok {
		return
	}
	for _, part := range splitMessage(in.Text, 4096) {
		if _, err := p.api.Say(u, part); err != nil {
			p.actionFailed(w, r, err)
			return
		}
	}
	p.reply(w, http.StatusOK, result{OK: true})
}

func (p *page) press(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Chat    int64  `json:"chat"`
		Message int    `json:"message"`
		Data    string `json:"data"`
	}
	if !p.decode(w, r, &in) {
		return
	}
	u, ok := p.user(w, r, in.Chat)
	if !ok {
		return
	}
	if err := p.api.Press(u, in.Message, in.Data); err != nil {
		p.actionFailed(w, r, err)
		return
	}
	p.reply(w, http.StatusOK, result{OK: true})
}

func (p *page) block(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Chat int64 `json:"chat"`
	}
	if !p.decode(w, r, &in) {
		return
	}
	if u, ok := p.user(w, r, in.Chat); ok {
		p.api.Block(u)
		p.changed.bump()
		p.reply(w, http.StatusOK, result{OK: true})
	}
}

func (p *page) restart(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Chat int64 `json:"chat"`
	}
	if !p.decode(w, r, &in) {
		return
	}
	u, ok := p.user(w, r, in.Chat)
	if !ok {
		return
	}
	if err := p.api.Unblock(u); err != nil {
		p.actionFailed(w, r, err)
		return
	}
	p.changed.bump()
	p.reply(w, http.StatusOK, result{OK: true})
}

func (p *page) addReader(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name string `json:"name"`
		Lang string `json:"lang"`
	}
	if !p.decode(w, r, &in) {
		return
	}
	if !slices.Contains(pageLangs, in.Lang) {
		p.fail(w, r, http.StatusBadRequest, "the Telegram language is one of kk, ru, en")
		return
	}
	rd, err := p.roster.add(in.Name, in.Lang)
	if err != nil {
		p.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	p.api.AddUser(rd.User)
	p.changed.bump()
	p.reply(w, http.StatusOK, result{OK: true, ID: rd.ID})
}

func (p *page) addStory(w http.ResponseWriter, r *http.Request) {
	var in draft
	if !p.decode(w, r, &in) {
		return
	}
	st, err := p.store.add(in, time.Now())
	p.stored(w, r, st, err)
}

func (p *page) correct(w http.ResponseWriter, r *http.Request) {
	var in struct {
		File  string `json:"file"`
		Title string `json:"title"`
		Lead  string `json:"lead"`
	}
	if !p.decode(w, r, &in) {
		return
	}
	st, err := p.store.correct(in.File, in.Title, in.Lead)
	p.stored(w, r, st, err)
}

func (p *page) retract(w http.ResponseWriter, r *http.Request) {
	var in struct {
		File string `json:"file"`
	}
	if !p.decode(w, r, &in) {
		return
	}
	st, err := p.store.retract(in.File)
	p.stored(w, r, st, err)
}

// stored answers a write to the article store: the file written, or every reason article
// validation gave for refusing it.
func (p *page) stored(w http.ResponseWriter, r *http.Request, st story, err error) {
	lang := p.lang(r)
	var ref *refusal
	switch {
	case errors.As(err, &ref):
		p.reply(w, http.StatusUnprocessableEntity, result{Error: p.texts.T(lang, "pg_story_refused", nil), Problems: ref.problems})
	case err != nil:
		p.fail(w, r, http.StatusBadRequest, err.Error())
	default:
		p.changed.bump()
		p.reply(w, http.StatusOK, result{OK: true, Message: p.texts.T(lang, "pg_story_written", map[string]any{"File": st.File})})
	}
}

func (p *page) actionFailed(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusBadRequest
	if errors.Is(err, botapi.ErrBlocked) {
		status = http.StatusConflict
	}
	p.fail(w, r, status, err.Error())
}

// splitMessage cuts text into pieces of at most limit UTF-16 units, on rune boundaries.
func splitMessage(text string, limit int) []string {
	var out []string
	units := 0
	start := 0
	for i, r := range text {
		n := utf16.RuneLen(r)
		if n < 0 {
			n = 1
		}
		if units+n > limit {
			out = append(out, text[start:i])
			start, units = i, 0
		}
		units += n
	}
	return append(out, text[start:])
}
