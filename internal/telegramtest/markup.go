package telegramtest

import (
	"fmt"
	"strings"
)

// Telegram refuses what its HTML parse mode cannot parse, and buttons whose callback_data is
// not 1–64 bytes. The fake refuses them the same way, so that a test of any package that
// sends an unescaped "<" from an article title, a tag Telegram does not know, or an
// overlong button fails where production would.

// htmlTags are the tags Telegram's HTML parse mode accepts.
var htmlTags = map[string]bool{
	"b": true, "strong": true, "i": true, "em": true, "u": true, "ins": true, "s": true,
	"strike": true, "del": true, "span": true, "tg-spoiler": true, "a": true, "tg-emoji": true,
	"code": true, "pre": true, "blockquote": true,
}

// htmlEntities are the named entities Telegram knows; numeric ones are all accepted.
var htmlEntities = map[string]bool{"lt": true, "gt": true, "amp": true, "quot": true}

// checkHTML reports, as Telegram words it, why text is not valid Telegram HTML; "" when it is.
func checkHTML(text string) string {
	var open []string
	for i := 0; i < len(text); i++ {
		switch text[i] {
		case '<':
			end := strings.IndexByte(text[i:], '>')
			if end < 0 {
				return fmt.Sprintf("Bad Request: can't parse entities: Unclosed start tag at byte offset %d", i)
			}
			tag := text[i+1 : i+end]
			if name, closing := strings.CutPrefix(tag, "/"); closing {
				name = strings.ToLower(strings.TrimSpace(name))
				if len(open) == 0 || open[len(open)-1] != name {
					return fmt.Sprintf("Bad Request: can't parse entities: Unmatched end tag at byte offset %d, expected \"</%s>\", found \"</%s>\"", i, last(open), name)
				}
				open = open[:len(open)-1]
			} else {
				name := strings.ToLower(tag)
				if j := strings.IndexAny(name, " \t\n"); j >= 0 {
					name = name[:j]
				}
				if !htmlTags[name] {
					return fmt.Sprintf("Bad Request: can't parse entities: Unsupported start tag \"%s\" at byte offset %d", name, i)
				}
				open = append(open, name)
			}
			i += end
		case '&':
			end := strings.IndexByte(text[i:], ';')
			if end < 0 || end > 12 {
				continue // a lone "&": Telegram takes it as text
			}
			name := text[i+1 : i+end]
			if strings.HasPrefix(name, "#") || htmlEntities[name] {
				i += end
				continue
			}
			if isEntityName(name) {
				return fmt.Sprintf("Bad Request: can't parse entities: Unsupported HTML entity \"&%s;\" at byte offset %d", name, i)
			}
		}
	}
	if len(open) > 0 {
		return fmt.Sprintf("Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"%s\"", last(open))
	}
	return ""
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

func last(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}

// checkKeyboard refuses an inline keyboard button with callback_data outside 1–64 bytes.
func checkKeyboard(p map[string]any) string {
	rm, ok := p["reply_markup"].(map[string]any)
	if !ok {
		return ""
	}
	rows, _ := rm["inline_keyboard"].([]any)
	for _, row := range rows {
		buttons, _ := row.([]any)
		for _, b := range buttons {
			m, _ := b.(map[string]any)
			if d, ok := m["callback_data"].(string); ok && (len(d) == 0 || len(d) > 64) {
				return "Bad Request: BUTTON_DATA_INVALID"
			}
		}
	}
	return ""
}
