package playground

import (
	"embed"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"newsbot/internal/article"
	"newsbot/internal/botapi"
	"newsbot/internal/locale"
)

// assets are the page's template, script and style: no build step, in the binary.
//
//go:embed assets
var assets embed.FS

// pageLangs are the languages of the page's own labels.
var pageLangs = []string{"kk", "ru", "en"}

type pageDeps struct {
	api      *botapi.Server
	texts    *locale.Bundle
	set      settings
	channels map[string]string // language -> "@channel"
	dir      string
	redis    *redisChoice
	queue    Queue
	log      *slog.Logger
}

// page serves the playground's page, its live updates and its actions.
type page struct {
	pageDeps
	store   *store
	roster  *roster
	changed notifier // the roster and the store: what the stand-in does not see
	strip   sampler
	tmpl    map[string]*template.Template // by page language
}

func newPage(d pageDeps) *page {
	editor := int64(madeUpEditor)
	if len(d.set.admins) > 0 {
		editor = d.set.admins[0]
	}
	p := &page{
		pageDeps: d,
		store:    &store{dir: d.dir, rules: article.Rules{Languages: d.set.languages, Topics: d.set.topics}},
		roster:   newRoster(editor),
		tmpl:     map[string]*template.Template{},
	}
	for _, lang := range pageLangs {
		p.tmpl[lang] = template.Must(template.New("").Funcs(template.FuncMap{
			"t": func(id string) string { return d.texts.T(lang, id, nil) },
			"tf": func(id string, kv ...any) string {
				data := map[string]any{}
				for i := 0; i+1 < len(kv); i += 2 {
					data[kv[i].(string)] = kv[i+1]
				}
				return d.texts.T(lang, id, data)
			},
		}).ParseFS(assets, "assets/*.html"))
	}
	return p
}

func (p *page) handler() http.Handler {
	mux := http.NewServeMux()
	for _, name := range []string{"page.js", "page.css"} {
		mux.HandleFunc("GET /static/"+name, func(w http.ResponseWriter, r *http.Request) {
			http.ServeFileFS(w, r, assets, "assets/"+name)
		})
	}
	mux.HandleFunc("GET /{$}", p.index)
	mux.HandleFunc("GET /events", p.events)
	mux.HandleFunc("GET /part/chat", p.partChat)
	mux.HandleFunc("GET /part/readers", p.partReaders)
	mux.HandleFunc("GET /part/stories", p.partStories)
	mux.HandleFunc("POST /api/say", p.say)
	mux.HandleFunc("POST /api/press", p.press)
	mux.HandleFunc("POST /api/block", p.block)
	mux.HandleFunc("POST /api/restart", p.restart)
	mux.HandleFunc("POST /api/reader", p.addReader)
	mux.HandleFunc("POST /api/story", p.addStory)
	mux.HandleFunc("POST /api/correct", p.correct)
	mux.HandleFunc("POST /api/retract", p.retract)
	return guard(mux)
}

// guard keeps the page to the browser on this computer: a Host that is not a loopback one
// (DNS rebinding) is refused, and so is an action that is not same-origin JSON (another
// site's form or script).
func guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.Trim(host, "[]")
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			http.Error(w, "the playground answers on localhost only", http.StatusForbidden)
			return
		}
		if r.Method == http.MethodPost {
			ct := r.Header.Get("Content-Type")
			origin := r.Header.Get("Origin")
			if !strings.HasPrefix(ct, "application/json") || (origin != "" && origin != "http://"+r.Host) ||
				r.Header.Get("Sec-Fetch-Site") == "cross-site" {
				http.Error(w, "cross-site request refused", http.StatusForbidden)
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src * data:; script-src 'self'; style-src 'self'; frame-ancestors 'none'")
		next.ServeHTTP(w, r)
	})
}

// lang is the page language of a request: ?lang=, then the cookie the selector sets, then
// the browser's Accept-Language, then English.
func (p *page) lang(r *http.Request) string {
	if l := r.URL.Query().Get("lang"); slices.Contains(pageLangs, l) {
		return l
	}
	if c, err := r.Cookie("playground_lang"); err == nil && slices.Contains(pageLangs, c.Value) {
		return c.Value
	}
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		base, _, _ := strings.Cut(strings.ToLower(tag), "-")
		if slices.Contains(pageLangs, base) {
			return base
		}
	}
	return "en"
}

type langLink struct {
	Code, Name string
	Current    bool
}

type indexView struct {
	Lang       string
	Langs      []langLink
	Strip      stripView
	Channels   []chatView
	Readers    readersView
	Reader     chatView
	Editor     chatView
	EditorID   int64
	Stories    []story
	Languages  []langLink // story and reader languages
	Topics     []langLink
	StoryLangs []langLink
}

func (p *page) index(w http.ResponseWriter, r *http.Request) {
	lang := p.lang(r)
	if r.URL.Query().Has("lang") {
		http.SetCookie(w, &http.Cookie{Name: "playground_lang", Value: lang, Path: "/", MaxAge: 365 * 24 * 3600, SameSite: http.SameSiteStrictMode})
	}
	v := indexView{Lang: lang, Strip: p.stripView(lang), EditorID: p.roster.editor().ID, Stories: p.store.list()}
	for _, l := range pageLangs {
		v.Langs = append(v.Langs, langLink{Code: l, Name: p.texts.T(l, "lang_self", nil), Current: l == lang})
		v.Languages = append(v.Languages, langLink{Code: l, Name: p.texts.T(l, "lang_self", nil)})
	}
	for _, l := range p.set.languages {
		v.StoryLangs = append(v.StoryLangs, langLink{Code: l, Name: p.texts.T(l, "lang_self", nil), Current: l == lang})
		v.Channels = append(v.Channels, p.channelView(l, v.Stories))
	}
	for _, tp := range p.set.topics {
		name, ok := p.texts.Lookup(lang, "topic_"+tp, nil)
		if !ok {
			name = tp
		}
		v.Topics = append(v.Topics, langLink{Code: tp, Name: name})
	}
	readers := p.roster.readers()
	selected := int64(0)
	if id, err := strconv.ParseInt(r.URL.Query().Get("reader"), 10, 64); err == nil {
		selected = id
	}
	if _, ok := p.roster.get(selected); !ok && len(readers) > 0 {
		selected = readers[0].ID
	}
	v.Readers = p.readersView(readers, selected)
	if rd, ok := p.roster.get(selected); ok && !rd.Editor {
		v.Reader = p.privateView(rd)
	}
	v.Editor = p.privateView(p.roster.editor())
	p.render(w, lang, "page", v)
}

func (p *page) partChat(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.URL.Query().Get("id"), 10, 64)
	if err != nil {
		http.Error(w, "no such chat", http.StatusNotFound)
		return
	}
	lang := p.lang(r)
	for _, l := range p.set.languages {
		if cid, _ := p.api.ChatID(p.channels[l]); cid == id {
			p.render(w, lang, "chat", p.channelView(l, p.store.list()))
			return
		}
	}
	rd, ok := p.roster.get(id)
	if !ok {
		http.Error(w, "no such chat", http.StatusNotFound)
		return
	}
	p.render(w, lang, "chat", p.privateView(rd))
}

func (p *page) partReaders(w http.ResponseWriter, r *http.Request) {
	selected, _ := strconv.ParseInt(r.URL.Query().Get("selected"), 10, 64)
	p.render(w, p.lang(r), "readers", p.readersView(p.roster.readers(), selected))
}

func (p *page) partStories(w http.ResponseWriter, r *http.Request) {
	p.render(w, p.lang(r), "stories", p.store.list())
}

func (p *page) render(w http.ResponseWriter, lang, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := p.tmpl[lang].ExecuteTemplate(w, name, data); err != nil {
		p.log.Warn("playground: render the page", "template", name, "err", err)
	}
}

// chatView is a chat as the page shows it.
type chatView struct {
	ID       int64
	Channel  bool
	Title    string
	Sub      string
	Editor   bool
	Blocked  bool
	Messages []msgView
	Toast    string
}

type msgView struct {
	ID        int
	Mine      bool
	Text      template.HTML
	HasPhoto  bool
	Photo     string // loadable photo URL; empty: the photo shows as missing
	Rows      [][]buttonView
	Edited    bool
	Deleted   bool
	Silent    bool
	Time      string
	DeletedAt string
	Story     string // the store's file of the story a channel post shows
}

type buttonView struct {
	Text  string
	URL   string
	Data  string
	Share bool
}

func (p *page) channelView(lang string, stories []story) chatView {
	name := p.channels[lang]
	id, _ := p.api.ChatID(name)
	v := chatView{ID: id, Channel: true, Title: name, Sub: p.texts.T(lang, "lang_self", nil)}
	v.Messages = p.messages(p.api.History(name), stories)
	return v
}

func (p *page) privateView(rd reader) chatView {
	v := chatView{ID: rd.ID, Title: rd.FirstName, Sub: rd.LanguageCode, Editor: rd.Editor, Blocked: p.api.Blocked(rd.ID)}
	v.Messages = p.messages(p.api.History(rd.ID), nil)
	if t, ok := p.api.Toast(rd.ID); ok {
		v.Toast = t.Text
	}
	return v
}

func (p *page) messages(hist []botapi.Message, stories []story) []msgView {
	out := make([]msgView, 0, len(hist))
	for _, m := range hist {
		v := msgView{
			ID: m.ID, Mine: m.From != nil, Text: richText(m.Text, m.Entities), Edited: m.Edits > 0,
			Deleted: m.Deleted, Silent: m.Silent, Time: m.Time.In(p.set.loc).Format("15:04"),
		}
		if m.Deleted {
			v.DeletedAt = m.DeletedAt.In(p.set.loc).Format("15:04")
		}
		if m.Photo != "" {
			v.HasPhoto = true
			v.Photo, _ = photoURL(m.Photo)
		}
		for _, row := range m.Buttons {
			var bs []buttonView
			for _, b := range row {
				bv := buttonView{Text: b.Text, Data: b.CallbackData}
				if u, ok := safeURL(b.URL); ok {
					bv.URL = u
					bv.Share = strings.HasPrefix(u, "https://t.me/share/url")
					if st, ok := p.store.byURL(stories, b.URL); ok && !bv.Share {
						v.Story = st.File
					}
				}
				bs = append(bs, bv)
			}
			v.Rows = append(v.Rows, bs)
		}
		out = append(out, v)
	}
	return out
}

type readersView struct {
	Selected int64
	List     []readerView
}

type readerView struct {
	ID       int64
	Name     string
	Lang     string
	Blocked  bool
	Selected bool
}

func (p *page) readersView(readers []reader, selected int64) readersView {
	v := readersView{Selected: selected}
	for _, rd := range readers {
		v.List = append(v.List, readerView{ID: rd.ID, Name: rd.FirstName, Lang: rd.LanguageCode, Blocked: p.api.Blocked(rd.ID), Selected: rd.ID == selected})
	}
	return v
}

type stripView struct {
	strip
	Redis string
}

func (p *page) stripView(lang string) stripView {
	v := stripView{strip: p.strip.get()}
	if v.Queue == "" {
		v.Queue = "—"
	}
	if v.Rate == "" {
		v.Rate = "0.0"
	}
	if p.redis.shared {
		v.Redis = p.texts.T(lang, "pg_redis_shared", map[string]any{"Prefix": p.redis.prefix})
	} else {
		v.Redis = p.texts.T(lang, "pg_redis_own", nil)
	}
	return v
}

// notifier wakes the page's event streams on changes the stand-in does not see.
type notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

// wait returns a channel closed at the next bump.
func (n *notifier) wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	return n.ch
}

func (n *notifier) bump() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
}
