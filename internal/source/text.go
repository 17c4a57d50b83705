package source

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// plainText reduces feed HTML to the plain text of the article format: tags dropped, entities
// decoded, whitespace collapsed, one blank line between paragraphs. Script and style contents
// are dropped. A real tokenizer, because feed HTML is rarely well formed.
func plainText(s string) string {
	if !strings.ContainsAny(s, "<&") {
		return joinParagraphs(strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n\n"))
	}
	var paras []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			paras = append(paras, cur.String())
			cur.Reset()
		}
	}
	skip := 0 // inside script/style
	z := html.NewTokenizer(strings.NewReader(s))
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			flush()
			return joinParagraphs(paras)
		case html.TextToken:
			if skip == 0 {
				// In HTML a newline is just a space; only <br> and blocks break lines.
				cur.WriteString(strings.NewReplacer("\r", " ", "\n", " ").Replace(string(z.Text())))
			}
		case html.StartTagToken, html.EndTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			a := atom.Lookup(name)
			switch a {
			case atom.Script, atom.Style:
				if tt == html.StartTagToken {
					skip++
				} else if tt == html.EndTagToken && skip > 0 {
					skip--
				}
			case atom.Br:
				cur.WriteByte('\n')
			default:
				if blockElement[a] {
					flush()
				}
			}
		}
	}
}

// blockElement: elements that start a new paragraph.
var blockElement = map[atom.Atom]bool{
	atom.P: true, atom.Div: true, atom.Section: true, atom.Article: true, atom.Blockquote: true,
	atom.H1: true, atom.H2: true, atom.H3: true, atom.H4: true, atom.H5: true, atom.H6: true,
	atom.Li: true, atom.Ul: true, atom.Ol: true, atom.Table: true, atom.Tr: true, atom.Pre: true,
	atom.Figure: true, atom.Figcaption: true, atom.Header: true, atom.Footer: true, atom.Hr: true,
}

// joinParagraphs collapses whitespace inside each paragraph (a <br> line break is kept as a
// paragraph break: Telegram shows both the same) and drops empty ones.
func joinParagraphs(paras []string) string {
	var out []string
	for _, p := range paras {
		for _, line := range strings.Split(p, "\n") {
			if f := strings.Join(strings.FieldsFunc(line, unicode.IsSpace), " "); f != "" {
				out = append(out, f)
			}
		}
	}
	return strings.Join(out, "\n\n")
}

// singleLine collapses all whitespace (titles, names).
func singleLine(s string) string {
	return strings.Join(strings.FieldsFunc(plainText(s), unicode.IsSpace), " ")
}

// truncate cuts s to at most n bytes at a rune boundary, so that an overlong feed text is
// shortened rather than making the whole item invalid.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
