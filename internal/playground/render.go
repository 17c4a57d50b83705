package playground

import (
	"html"
	"html/template"
	"net/url"
	"slices"
	"strings"
	"unicode/utf16"

	"newsbot/internal/botapi"
)

// A post is shown as the Telegram app shows it: from the plain text and the entities the
// stand-in parsed out of the bot's HTML with Telegram's own rules. The page's HTML is built
// anew from those, tag by tag from a fixed list; nothing the bot (or a story's author) wrote
// reaches the page as markup.

// entityTags are the tags the page uses for Telegram's entities.
var entityTags = map[string][2]string{
	"bold":                  {"<b>", "</b>"},
	"italic":                {"<i>", "</i>"},
	"underline":             {"<u>", "</u>"},
	"strikethrough":         {"<s>", "</s>"},
	"spoiler":               {`<span class="spoiler">`, "</span>"},
	"code":                  {"<code>", "</code>"},
	"pre":                   {"<pre>", "</pre>"},
	"blockquote":            {"<blockquote>", "</blockquote>"},
	"expandable_blockquote": {"<blockquote>", "</blockquote>"},
}

// richText renders text with its entities as HTML: text escaped, entities as tags of
// entityTags, text_link as a link when its URL is one a browser may open. Entities that
// overlap without nesting are closed and reopened around each other, so the markup always
// nests.
func richText(text string, entities []botapi.Entity) template.HTML {
	if len(entities) == 0 {
		return template.HTML(html.EscapeString(text))
	}
	units := utf16.Encode([]rune(text))
	var ents []botapi.Entity
	for _, e := range entities {
		if e.Length > 0 && e.Offset >= 0 && e.Offset+e.Length <= len(units) {
			ents = append(ents, e)
		}
	}
	// Outer entities first: by start, then the longer one.
	slices.SortStableFunc(ents, func(a, b botapi.Entity) int {
		if a.Offset != b.Offset {
			return a.Offset - b.Offset
		}
		return b.Length - a.Length
	})
	bounds := []int{0, len(units)}
	for _, e := range ents {
		bounds = append(bounds, e.Offset, e.Offset+e.Length)
	}
	slices.Sort(bounds)
	bounds = slices.Compact(bounds)

	var b strings.Builder
	var open []int // indexes into ents, outermost first
	for i, p := range bounds {
		var want []int
		if i < len(bounds)-1 {
			for j, e := range ents {
				if e.Offset <= p && p < e.Offset+e.Length {
					want = append(want, j)
				}
			}
		}
		keep := 0
		for keep < len(open) && keep < len(want) && open[keep] == want[keep] {
			keep++
		}
		for k := len(open) - 1; k >= keep; k-- {
			b.WriteString(tagsOf(ents[open[k]])[1])
		}
		for _, j := range want[keep:] {
			b.WriteString(tagsOf(ents[j])[0])
		}
		open = want
		if i < len(bounds)-1 {
			b.WriteString(html.EscapeString(string(utf16.Decode(units[p:bounds[i+1]]))))
		}
	}
	return template.HTML(b.String())
}

// tagsOf returns the opening and closing tags of an entity; unknown entities (mentions,
// hashtags, custom emoji) show as their text.
func tagsOf(e botapi.Entity) [2]string {
	if e.Type == "text_link" {
		if u, ok := safeURL(e.URL); ok {
			return [2]string{`<a href="` + html.EscapeString(u) + `" target="_blank" rel="noopener noreferrer">`, "</a>"}
		}
		return [2]string{`<span class="link">`, "</span>"}
	}
	if t, ok := entityTags[e.Type]; ok {
		return t
	}
	return [2]string{"<span>", "</span>"}
}

// safeURL returns u when a page may link to it: http(s), tg: and mailto: only.
func safeURL(raw string) (string, bool) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "", false
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
		if u.Host == "" {
			return "", false
		}
		return u.String(), true
	case "tg", "mailto":
		return u.String(), true
	}
	return "", false
}

// photoURL returns the photo of a message when a browser can load it (http or https).
func photoURL(photo string) (string, bool) {
	u, ok := safeURL(photo)
	if !ok || !(strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://")) {
		return "", false
	}
	return u, true
}
