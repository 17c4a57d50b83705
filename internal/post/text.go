package post

import (
	"errors"
	"net"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// ellipsis ends a cut text. One character, so the cut costs one unit.
const ellipsis = "…"

// utf16Len is the length of s as Telegram counts it: UTF-16 code units.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// cut shortens plain text s to at most max UTF-16 units, ending at a word boundary with an
// ellipsis. A single word longer than the room (a URL, a long compound) is cut inside, but
// never inside a character, a surrogate pair or an emoji sequence.
func cut(s string, max int) string {
	if utf16Len(s) <= max {
		return s
	}
	if max < 1 {
		return ""
	}
	room := max - utf16Len(ellipsis)
	// end is the byte offset of the longest prefix that fits.
	end, n := 0, 0
	for i, r := range s {
		w := utf16.RuneLen(r)
		if n+w > room {
			break
		}
		n += w
		end = i + utf8.RuneLen(r)
	}
	prefix := s[:end]
	// Prefer the last space, unless it throws away most of the room (one giant word).
	if i := strings.LastIndexFunc(prefix, unicode.IsSpace); i > 0 && utf16Len(prefix[:i]) >= room/2 {
		prefix = prefix[:i]
	} else if end < len(s) {
		prefix = prefix[:graphemeSafe(s, end)]
	}
	prefix = strings.TrimRightFunc(prefix, func(r rune) bool {
		return unicode.IsSpace(r) || strings.ContainsRune(",;:-–—", r)
	})
	return prefix + ellipsis
}

// graphemeSafe moves a cut at byte end of s back so that it does not split an emoji sequence:
// a ZWJ sequence (👨‍👩‍👧), a variation selector (❤️), a skin tone, a keycap or a flag (two
// regional indicators). It handles what news text contains, not every grapheme rule.
func graphemeSafe(s string, end int) int {
	for end > 0 {
		next, _ := utf8.DecodeRuneInString(s[end:])
		prev, size := utf8.DecodeLastRuneInString(s[:end])
		switch {
		case joinsPrevious(next), prev == 0x200D:
			end -= size
		case isRegional(prev) && isRegional(next):
			// Pairs count from the start of the run; cutting between two halves of a
			// flag leaves a lone letter box.
			run := 0
			for i := end; i > 0; {
				r, sz := utf8.DecodeLastRuneInString(s[:i])
				if !isRegional(r) {
					break
				}
				run++
				i -= sz
			}
			if run%2 == 1 {
				end -= size
			}
			return end
		default:
			return end
		}
	}
	return end
}

func joinsPrevious(r rune) bool {
	return r == 0x200D || // zero width joiner
		r >= 0xFE00 && r <= 0xFE0F || // variation selectors
		r >= 0x1F3FB && r <= 0x1F3FF || // skin tones
		r == 0x20E3 || // combining enclosing keycap
		r >= 0xE0020 && r <= 0xE007F || // tag characters (subdivision flags)
		unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Me, r)
}

func isRegional(r rune) bool { return r >= 0x1F1E6 && r <= 0x1F1FF }

// clean makes article text safe to send: valid UTF-8, no control characters (Telegram drops or
// refuses them), tabs as spaces.
func clean(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n':
			return r
		case r == '\t' || r == '\r':
			return ' '
		case unicode.IsControl(r), r == 0xFEFF, r >= 0xD800 && r <= 0xDFFF:
			return -1
		}
		return r
	}, s)
}

// oneLine is clean text with every run of white space (line breaks included) as one space:
// titles, leads and credits are one paragraph.
func oneLine(s string) string {
	return strings.Join(strings.Fields(clean(s)), " ")
}

// paragraphs splits a body on blank lines; a single line break inside a paragraph becomes a
// space, as a CMS's hard-wrapped text is meant to flow.
func paragraphs(body string) []string {
	var out []string
	for _, p := range splitBlank(clean(body)) {
		if p = oneLine(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func splitBlank(s string) []string {
	lines := strings.Split(s, "\n")
	var paras []string
	var cur []string
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			if len(cur) > 0 {
				paras = append(paras, strings.Join(cur, " "))
				cur = nil
			}
			continue
		}
		cur = append(cur, l)
	}
	if len(cur) > 0 {
		paras = append(paras, strings.Join(cur, " "))
	}
	return paras
}

// hashtagWord keeps what Telegram recognises in a hashtag: letters, digits and "_". A topic
// "climate-change" becomes #climate_change.
func hashtagWord(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_':
			b.WriteRune(r)
		case r == '-' || r == ' ':
			b.WriteRune('_')
		}
	}
	w := strings.Trim(b.String(), "_")
	// A hashtag of digits only is not a hashtag to Telegram.
	if strings.IndexFunc(w, unicode.IsLetter) < 0 {
		return ""
	}
	return w
}

// normalizeURL makes an article URL what Telegram accepts in a button and a photo field: an
// ASCII URL. A Cyrillic host (новости.қаз) becomes punycode, Cyrillic in the path and query is
// percent-encoded; characters that carry meaning (?&=#/) are left as the CMS wrote them.
func normalizeURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "", errors.New("not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return "", errors.New("not an absolute http(s) URL")
	}
	if net.ParseIP(u.Hostname()) == nil {
		host, err := hostProfile.ToASCII(u.Hostname())
		if err != nil || host == "" {
			return "", errors.New("host is not a valid domain name")
		}
		if port := u.Port(); port != "" {
			host = net.JoinHostPort(host, port)
		}
		u.Host = host
	}
	u.RawQuery = escapeNonASCII(u.RawQuery)
	// EscapedPath and EscapedFragment already percent-encode what must be.
	return u.String(), nil
}

// escapeNonASCII percent-encodes bytes a URL may not hold raw (non-ASCII, spaces, quotes)
// and leaves everything else, including existing %XX escapes, as written.
func escapeNonASCII(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 || c <= 0x20 || c == '"' || c == '<' || c == '>' || c == '\\' || c == '^' || c == '`' || c == '{' || c == '|' || c == '}' || c == 0x7f {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// hostProfile is article's: a host the article validation accepts always converts.
var hostProfile = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.VerifyDNSLength(true), idna.StrictDomainName(false))

// ShareURL is Telegram's share link for a story: https://t.me/share/url?url=URL&text=TEXT, both
// query-encoded (spaces as %20: "+" is a space only in form encoding, and the share page
// shows the text as given).
func ShareURL(storyURL, text string) string {
	q := "url=" + queryEscape(storyURL)
	if text != "" {
		q += "&text=" + queryEscape(text)
	}
	return (&url.URL{Scheme: "https", Host: "t.me", Path: "/share/url", RawQuery: q}).String()
}

func queryEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}
