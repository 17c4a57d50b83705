package botapi

import (
	"sort"
	"time"
)

// Message is one message of a chat as the Telegram app shows it: the bot's (From nil) or
// the user's, with its edits and deletion.
type Message struct {
	ID   int
	From *User // nil: the bot
	Time time.Time
	// Text is the plain text (or caption) a reader sees, Entities its formatting.
	Text     string
	Entities []Entity
	// Photo is the photo parameter of a photo message (a URL, a file id or "attach:name").
	Photo   string
	Buttons [][]Button
	Silent  bool // disable_notification
	// Edits counts the edits; EditedAt is the last one's time.
	Edits    int
	EditedAt time.Time
	// Deleted messages stay in the history, marked, so a page can show what went away.
	Deleted   bool
	DeletedAt time.Time
}

// Button is one inline keyboard button.
type Button struct {
	Text         string
	URL          string
	CallbackData string
}

// History returns every message of the chat in order, deleted ones included. It is empty
// when recording is off.
func (s *Server) History(chatID any) []Message {
	id, ok := s.resolve(chatID)
	if !ok {
		return nil
	}
	sh := s.shardOf(id)
	sh.mu.Lock()
	c := sh.chats[id]
	if c == nil {
		sh.mu.Unlock()
		return nil
	}
	entries := make([]entry, 0, len(c.msgs))
	for _, m := range c.msgs {
		cp := *m
		cp.req.Params = cloneParams(m.req.Params)
		entries = append(entries, cp)
	}
	sh.mu.Unlock()
	sort.Slice(entries, func(i, j int) bool { return entries[i].req.MessageID < entries[j].req.MessageID })
	out := make([]Message, len(entries))
	for i, e := range entries {
		out[i] = e.message()
	}
	return out
}

func (e *entry) message() Message {
	p := e.req.Params
	m := Message{ID: e.req.MessageID, Time: e.req.Time, Edits: e.edits, Deleted: e.deleted, DeletedAt: e.deleteAt}
	if e.from != nil {
		u := *e.from
		m.From = &u
	}
	if e.edits > 0 {
		m.EditedAt = e.req.Time
	}
	text := e.req.Text()
	if p["parse_mode"] == "HTML" {
		text, m.Entities, _ = ParseHTML(text)
	}
	m.Text = text
	if photo, ok := p["photo"].(string); ok {
		m.Photo = photo
	}
	m.Buttons = buttons(p)
	m.Silent, _ = p["disable_notification"].(bool)
	return m
}

// buttons reads the inline keyboard of a request's reply_markup.
func buttons(p map[string]any) [][]Button {
	rm, _ := p["reply_markup"].(map[string]any)
	rows, _ := rm["inline_keyboard"].([]any)
	var out [][]Button
	for _, row := range rows {
		list, _ := row.([]any)
		var bs []Button
		for _, b := range list {
			m, _ := b.(map[string]any)
			text, _ := m["text"].(string)
			u, _ := m["url"].(string)
			data, _ := m["callback_data"].(string)
			bs = append(bs, Button{Text: text, URL: u, CallbackData: data})
		}
		out = append(out, bs)
	}
	return out
}

// Toast returns the latest answer to a button press in the chat, if any.
func (s *Server) Toast(chatID int64) (Toast, bool) {
	sh := s.shardOf(chatID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	c := sh.chats[chatID]
	if c == nil || c.toast == nil {
		return Toast{}, false
	}
	return *c.toast, true
}
