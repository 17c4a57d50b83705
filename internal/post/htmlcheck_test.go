package post

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// allowedTags are the tags of Telegram's HTML parse mode (Bot API "HTML style").
var allowedTags = map[string]bool{
	"b": true, "strong": true, "i": true, "em": true, "u": true, "ins": true, "s": true,
	"strike": true, "del": true, "span": true, "tg-spoiler": true, "a": true, "tg-emoji": true,
	"code": true, "pre": true, "blockquote": true,
}

// parseTelegramHTML checks s as Telegram's HTML parser would and returns the text a reader
// sees (what Telegram counts against its limits). It rejects unknown tags, bad nesting, raw
// "<" or ">" or "&", and named entities other than the four Telegram knows.
func parseTelegramHTML(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("not valid UTF-8")
	}
	var out strings.Builder
	var stack []string
	for i := 0; i < len(s); {
		switch c := s[i]; c {
		case '<':
			end := strings.IndexByte(s[i:], '>')
			if end < 0 {
				return "", fmt.Errorf("unclosed tag at byte %d", i)
			}
			tag := s[i+1 : i+end]
			i += end + 1
			if name, ok := strings.CutPrefix(tag, "/"); ok {
				if len(stack) == 0 || stack[len(stack)-1] != name {
					return "", fmt.Errorf("closing </%s> does not match %v", name, stack)
				}
				stack = stack[:len(stack)-1]
				continue
			}
			name, attrs, _ := strings.Cut(tag, " ")
			if !allowedTags[name] {
				return "", fmt.Errorf("tag <%s> is not allowed", tag)
			}
			if strings.ContainsAny(attrs, "<") {
				return "", fmt.Errorf("bad attributes in <%s>", tag)
			}
			stack = append(stack, name)
		case '>':
			return "", fmt.Errorf("raw > at byte %d", i)
		case '&':
			end := strings.IndexByte(s[i:], ';')
			if end < 0 {
				return "", fmt.Errorf("raw & at byte %d", i)
			}
			ent := s[i+1 : i+end]
			switch {
			case ent == "lt":
				out.WriteByte('<')
			case ent == "gt":
				out.WriteByte('>')
			case ent == "amp":
				out.WriteByte('&')
			case ent == "quot":
				out.WriteByte('"')
			case strings.HasPrefix(ent, "#"):
				var r int
				if _, err := fmt.Sscanf(strings.Replace(ent[1:], "x", "0x", 1), "%v", &r); err != nil || r <= 0 || r > utf8.MaxRune {
					return "", fmt.Errorf("bad numeric entity &%s;", ent)
				}
				out.WriteRune(rune(r))
			default:
				return "", fmt.Errorf("entity &%s; is not one of &lt; &gt; &amp; &quot;", ent)
			}
			i += end + 1
		default:
			out.WriteByte(c)
			i++
		}
	}
	if len(stack) > 0 {
		return "", fmt.Errorf("unclosed tags %v", stack)
	}
	return out.String(), nil
}
