// Package post renders an article as the Telegram Bot API request that publishes it: method,
// HTML text or caption within Telegram's limits, photo, link preview and buttons. It is pure:
// no I/O, the same article and language always give the same post.
package post

import (
	"fmt"
	"maps"
	"strings"
	"time"

	"newsbot/internal/article"
	"newsbot/internal/locale"
)

// Telegram's limits, counted on the text after HTML parsing, in UTF-16 code units: the Bot API
// says "1-4096 characters after entities parsing", and Telegram measures text (entity offsets
// and lengths) in UTF-16 code units, so an emoji outside the BMP costs two.
const (
	MaxText    = 4096
	MaxCaption = 1024
)

// Lengths of the parts a renderer cuts before the body gets any room: a credit or a share
// text may come from a CMS as a paragraph, and must not push the story itself out.
const (
	maxCredit    = 200
	maxShareText = 200
	// minCut is the smallest useful piece of a paragraph worth cutting with an ellipsis;
	// shorter leftovers are dropped so a post does not end in three words and "…".
	minCut = 60
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

// Text returns the HTML text of the post: the caption of a photo or the text of a message.
func (p Post) Text() string {
	if s, ok := p.Params["caption"].(string); ok {
		return s
	}
	s, _ := p.Params["text"].(string)
	return s
}

// Renderer renders posts with the labels of a locale bundle, dates in one time zone.
type Renderer struct {
	bundle *locale.Bundle
	loc    *time.Location
}

// NewRenderer returns a renderer. loc is the time zone of dates shown to readers (TIMEZONE);
// nil means UTC.
func NewRenderer(b *locale.Bundle, loc *time.Location) *Renderer {
	if loc == nil {
		loc = time.UTC
	}
	return &Renderer{bundle: b, loc: loc}
}

// Render renders a for readers of lang (the language of the labels: buttons, "Photo:",
// hashtags, date). chatID is an int64 or "@channel"; "" leaves it for WithChat. The article
// should be valid (article.Rules.Validate); Render still refuses one without a title or a
// usable URL, since Telegram would refuse the post.
func (r *Renderer) Render(a article.Article, lang string, chatID any) (Post, error) {
	storyURL, err := normalizeURL(a.URL)
	if err != nil {
		return Post{}, &article.FieldError{Field: "url", Reason: err.Error()}
	}
	title := oneLine(a.Title)
	if title == "" {
		return Post{}, &article.FieldError{Field: "title", Reason: "required"}
	}
	photo := ""
	if a.ImageURL != "" {
		if photo, err = normalizeURL(a.ImageURL); err != nil {
			return Post{}, &article.FieldError{Field: "image_url", Reason: err.Error()}
		}
	}

	limit := MaxText
	if photo != "" {
		limit = MaxCaption
	}
	text := r.text(a, lang, title, photo != "", limit)

	params := map[string]any{
		"chat_id":      chatID,
		"parse_mode":   "HTML",
		"reply_markup": r.keyboard(lang, storyURL, title),
	}
	if photo != "" {
		params["photo"] = photo
		params["caption"] = text
		return Post{Method: "sendPhoto", Params: params}, nil
	}
	params["text"] = text
	// The preview is the story page itself (its og:image and title), shown large because
	// a text post has no other picture.
	params["link_preview_options"] = map[string]any{
		"url":                storyURL,
		"prefer_large_media": true,
	}
	return Post{Method: "sendMessage", Params: params}, nil
}

// escaper escapes plain text for Telegram's HTML mode with the only named entities it
// knows. (html.EscapeString would also write &#39; and &#34;: valid, but noise in every
// apostrophe of a story.)
var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")

// block is one paragraph of the post: plain text and how it is styled.
type block struct {
	text  string
	style string // "", "b" or "i"
}

func (b block) html() string {
	s := escaper.Replace(b.text)
	if b.style == "" {
		return s
	}
	return "<" + b.style + ">" + s + "</" + b.style + ">"
}

// text lays the post out as
//
//	⚡ Breaking          (bold; breaking stories only)
//	Title               (bold)
//	Lead
//	Body paragraphs     (text messages only, as many as fit; the last one may be cut)
//	date · Photo: X     (italic)
//	#hashtags
//
// The header and footer are reserved first, then the title, lead and body fill what is left:
// whatever is cut, the post keeps its date, credit and hashtags. Lengths are those of the
// plain text (what Telegram counts after parsing); escaping happens afterwards, so a cut can
// never fall inside a tag or an entity.
func (r *Renderer) text(a article.Article, lang, title string, photo bool, limit int) string {
	var head, tail []block
	if a.Breaking {
		head = append(head, block{text: "⚡ " + r.bundle.T(lang, "post_breaking", nil), style: "b"})
	}
	meta := []string{}
	if !a.PublishedAt.IsZero() {
		meta = append(meta, r.bundle.Date(lang, a.PublishedAt.In(r.loc)))
	}
	if credit := oneLine(a.ImageCredit); photo && credit != "" {
		meta = append(meta, r.bundle.T(lang, "post_photo_credit", map[string]any{"Credit": cut(credit, maxCredit)}))
	}
	if len(meta) > 0 {
		tail = append(tail, block{text: strings.Join(meta, " · "), style: "i"})
	}
	if tags := r.hashtags(lang, a.Topics); tags != "" {
		tail = append(tail, block{text: tags})
	}

	// Paragraphs are separated by a blank line: two units each.
	used := 0
	for _, b := range append(head, tail...) {
		used += utf16Len(b.text) + 2
	}
	room := limit - used

	story := []block{{text: title, style: "b"}}
	if lead := oneLine(a.Lead); lead != "" {
		story = append(story, block{text: lead})
	}
	if !photo {
		for _, p := range paragraphs(a.Body) {
			story = append(story, block{text: p})
		}
	}
	var fitted []block
	for i, b := range story {
		n := utf16Len(b.text)
		if n <= room {
			fitted = append(fitted, b)
			room -= n + 2
			continue
		}
		// The title is always shown, cut if it must be; other paragraphs only when a useful
		// piece of them fits.
		if i == 0 || room >= minCut {
			b.text = cut(b.text, room)
			fitted = append(fitted, b)
		}
		break
	}

	all := append(append(head, fitted...), tail...)
	parts := make([]string, 0, len(all))
	for _, b := range all {
		if b.text != "" {
			parts = append(parts, b.html())
		}
	}
	return strings.Join(parts, "\n\n")
}

// hashtags renders the topics as hashtags in the label language: a reader of the Kazakh
// channel searches for #саясат, not #politics, and the channel of one language always uses the
// same words. The words come from the locale files (hashtag_<slug>), not from the topic names,
// because a hashtag must be one word ("В мире" would end at the space); a topic without a
// translation falls back to its slug.
func (r *Renderer) hashtags(lang string, topics []string) string {
	var tags []string
	seen := map[string]bool{}
	for _, t := range topics {
		word, ok := r.bundle.Lookup(lang, "hashtag_"+t, nil)
		if !ok {
			word = t
		}
		word = hashtagWord(word)
		if word == "" || seen[word] {
			continue
		}
		seen[word] = true
		tags = append(tags, "#"+word)
	}
	return strings.Join(tags, " ")
}

func (r *Renderer) keyboard(lang, storyURL, title string) map[string]any {
	return map[string]any{
		"inline_keyboard": [][]map[string]any{{
			{"text": r.bundle.T(lang, "button_read", nil), "url": storyURL},
			{"text": r.bundle.T(lang, "button_share", nil), "url": ShareURL(storyURL, cut(title, maxShareText))},
		}},
	}
}

// String is for debugging and test failures.
func (p Post) String() string { return fmt.Sprintf("%s %v", p.Method, p.Params) }
