package botapi

import (
	"fmt"
	"html"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Telegram refuses what its HTML parse mode cannot parse. The stand-in parses the same way,
// so that a test of any package that sends an unescaped "<" from an article title, a tag
// Telegram does not know, or a misnested tag fails where production would; and what it
// accepts becomes the plain text and entities Telegram answers with (and the playground
// shows).

// htmlTags are the tags Telegram's HTML parse mode accepts, with the entity each makes.
var htmlTags = map[string]string{
	"b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline", "ins": "underline",
	"s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
	"span": "spoiler", "tg-spoiler": "spoiler", "a": "text_link", "tg-emoji": "custom_emoji",
	"code": "code", "pre": "pre", "blockquote": "blockquote",
}

// htmlEntities are the named entities Telegram knows; numeric ones are all accepted.
var htmlEntities = map[string]string{"lt": "<", "gt": ">", "amp": "&", "quot": `"`}

// Entity is a MessageEntity: a span of the plain text, in UTF-16 code units as Telegram
// counts them.
type Entity struct {
	Type   string `json:"type"`
	Offset int    `json:"offset"`
	Length int    `json:"length"`
	// URL is the link of a text_link.
	URL string `json:"url,omitempty"`
	// Language is the language of a pre block (<pre><code class="language-go">).
	Language string `json:"language,omitempty"`
	// CustomEmojiID is the emoji of a custom_emoji.
	CustomEmojiID string `json:"custom_emoji_id,omitempty"`
}

// ParseError is why Telegram refuses a text: its description as Telegram words it.
type ParseError struct{ Description string }

func (e *ParseError) Error() string { return e.Description }

// ParseHTML parses text as Telegram's HTML parse mode does: the plain text a reader sees
// and its entities, or a *ParseError with Telegram's "can't parse entities" description.
func ParseHTML(text string) (plain string, entities []Entity, err error) {
	if !strings.ContainsAny(text, "<&") {
		return text, nil, nil
	}
	type open struct {
		name string
		ent  int // index into entities, or -1
	}
	var (
		stack []open
		b     strings.Builder
		units int // UTF-16 length of b
	)
	b.Grow(len(text))
	write := func(s string) {
		b.WriteString(s)
		units += utf16Len(s)
	}
	fail := func(format string, args ...any) (string, []Entity, error) {
		return "", nil, &ParseError{Description: "Bad Request: can't parse entities: " + fmt.Sprintf(format, args...)}
	}
	last := func() string {
		if len(stack) == 0 {
			return ""
		}
		return stack[len(stack)-1].name
	}
	start := 0 // start of pending text
	for i := 0; i < len(text); i++ {
		switch text[i] {
		case '<':
			write(text[start:i])
			end := strings.IndexByte(text[i:], '>')
			if end < 0 {
				return fail("Unclosed start tag at byte offset %d", i)
			}
			tag := text[i+1 : i+end]
			if name, closing := strings.CutPrefix(tag, "/"); closing {
				name = strings.ToLower(strings.TrimSpace(name))
				if len(stack) == 0 || last() != name {
					return fail("Unmatched end tag at byte offset %d, expected \"</%s>\", found \"</%s>\"", i, last(), name)
				}
				o := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				if o.ent >= 0 {
					entities[o.ent].Length = units - entities[o.ent].Offset
				}
			} else {
				name, attrs := strings.ToLower(tag), ""
				if j := strings.IndexAny(name, " \t\n"); j >= 0 {
					name, attrs = name[:j], tag[j:]
				}
				typ, ok := htmlTags[name]
				if !ok {
					return fail("Unsupported start tag \"%s\" at byte offset %d", name, i)
				}
				o := open{name: name, ent: -1}
				e := Entity{Type: typ, Offset: units}
				switch name {
				case "a":
					e.URL = attr(attrs, "href")
				case "tg-emoji":
					e.CustomEmojiID = attr(attrs, "emoji-id")
				case "blockquote":
					if hasAttr(attrs, "expandable") {
						e.Type = "expandable_blockquote"
					}
				case "code":
					// <pre><code class="language-go">: the language belongs to the pre block.
					if last() == "pre" {
						if lang, ok := strings.CutPrefix(attr(attrs, "class"), "language-"); ok {
							entities[stack[len(stack)-1].ent].Language = lang
						}
						typ = ""
					}
				}
				if typ != "" {
					o.ent = len(entities)
					entities = append(entities, e)
				}
				stack = append(stack, o)
			}
			i += end
			start = i + 1
		case '&':
			end := strings.IndexByte(text[i:], ';')
			if end < 0 || end > 12 {
				continue // a lone "&": Telegram takes it as text
			}
			name := text[i+1 : i+end]
			var dec string
			switch {
			case strings.HasPrefix(name, "#"):
				dec = html.UnescapeString(text[i : i+end+1])
			case htmlEntities[name] != "":
				dec = htmlEntities[name]
			case isEntityName(name):
				return fail("Unsupported HTML entity \"&%s;\" at byte offset %d", name, i)
			default:
				continue
			}
			write(text[start:i])
			write(dec)
			i += end
			start = i + 1
		}
	}
	if len(stack) > 0 {
		return fail("Can't find end tag corresponding to start tag \"%s\"", last())
	}
	write(text[start:])
	// Telegram drops entities that cover nothing.
	kept := entities[:0]
	for _, e := range entities {
		if e.Length > 0 {
			kept = append(kept, e)
		}
	}
	if len(kept) == 0 {
		kept = nil
	}
	return b.String(), kept, nil
}

// attr returns the value of an attribute in a tag's attribute text (`href="x" class='y'`).
func attr(attrs, name string) string {
	rest := attrs
	for {
		rest = strings.TrimLeft(rest, " \t\n")
		if rest == "" {
			return ""
		}
		eq := strings.IndexAny(rest, "= \t\n")
		key := rest
		if eq >= 0 {
			key = rest[:eq]
		}
		if eq < 0 || rest[eq] != '=' {
			if eq < 0 {
				return ""
			}
			rest = rest[eq:]
			continue
		}
		rest = rest[eq+1:]
		var val string
		if rest != "" && (rest[0] == '"' || rest[0] == '\'') {
			q := rest[0]
			end := strings.IndexByte(rest[1:], q)
			if end < 0 {
				val, rest = rest[1:], ""
			} else {
				val, rest = rest[1:1+end], rest[2+end:]
			}
		} else {
			end := strings.IndexAny(rest, " \t\n")
			if end < 0 {
				end = len(rest)
			}
			val, rest = rest[:end], rest[end:]
		}
		if strings.EqualFold(key, name) {
			return html.UnescapeString(val)
		}
	}
}

func hasAttr(attrs, name string) bool {
	for _, f := range strings.Fields(attrs) {
		k, _, _ := strings.Cut(f, "=")
		if strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}

func isEntityName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// utf16Len is the length of s in UTF-16 code units, the unit of Telegram's limits and
// entity offsets.
func utf16Len(s string) int {
	n := 0
	for i := 0; i < len(s); {
		if s[i] < utf8.RuneSelf {
			n++
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		n += max(utf16.RuneLen(r), 1)
	}
	return n
}
