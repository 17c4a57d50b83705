package post

import (
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"newsbot/internal/article"
)

// DigestInput is what one reader's digest shows.
type DigestInput struct {
	At      time.Time         // the digest time
	Rates   string            // the day's rates line (plain text); "" for none
	Stories []article.Article // the reader's stories since their last digest, any order
	// Topics are the topics the reader follows, in the order of TOPICS; a story is listed
	// under the first of its topics the reader follows, or its own first topic for a reader of
	// every topic. Stories with none of them are listed last, under "Other".
	Topics []string
	// More is where "and N more" points when not every story fits: the channel of the
	// reader's language ("https://t.me/news_kk"); "" for no link.
	More string
}

// Digest renders a reader's digest in lang: a title with the time, the rates line, then the
// stories grouped by topic — groups in the order of their newest story, newest first within
// each — each title a link to the story, with its time. What does not fit in one message
// (MaxText) ends in "and N more" with a link to the channel. ok is false when there is no
// story: an empty digest is not sent.
func (r *Renderer) Digest(in DigestInput, lang string) (text string, ok bool) {
	if len(in.Stories) == 0 {
		return "", false
	}
	type group struct {
		name    string
		stories []article.Article
		newest  time.Time
	}
	var groups []*group
	byName := map[string]*group{}
	for _, a := range in.Stories {
		name := digestTopic(a.Topics, in.Topics)
		g := byName[name]
		if g == nil {
			g = &group{name: name}
			byName[name] = g
			groups = append(groups, g)
		}
		g.stories = append(g.stories, a)
		if a.PublishedAt.After(g.newest) {
			g.newest = a.PublishedAt
		}
	}
	newestFirst := func(a, b time.Time) int { return b.Compare(a) }
	for _, g := range groups {
		slices.SortStableFunc(g.stories, func(x, y article.Article) int { return newestFirst(x.PublishedAt, y.PublishedAt) })
	}
	slices.SortStableFunc(groups, func(x, y *group) int {
		if (x.name == "") != (y.name == "") { // "Other" last
			if x.name == "" {
				return 1
			}
			return -1
		}
		return newestFirst(x.newest, y.newest)
	})

	var b strings.Builder
	b.WriteString("<b>" + escaper.Replace(r.bundle.T(lang, "digest_title", map[string]any{"Date": r.bundle.Date(lang, in.At.In(r.loc))})) + "</b>")
	if in.Rates != "" {
		b.WriteString("\n<i>" + escaper.Replace(in.Rates) + "</i>")
	}
	used := visibleLen(b.String())
	// Room kept for the "and N more" line, whatever N.
	tail := utf16Len(r.bundle.Plural(lang, "digest_more", 999, map[string]any{"Count": 999})) + 2
	shown, total := 0, len(in.Stories)
	for _, g := range groups {
		name := r.bundle.T(lang, "digest_other", nil)
		if g.name != "" {
			name = r.bundle.T(lang, "topic_"+g.name, nil)
		}
		head := "\n\n<b>" + escaper.Replace(name) + "</b>"
		if used+visibleLen(head) > MaxText-tail {
			break
		}
		added := false
		for _, a := range g.stories {
			line := "\n• " + r.digestLine(a, lang, in.At)
			extra := visibleLen(line)
			if !added {
				extra += visibleLen(head)
			}
			if used+extra > MaxText-tail {
				break
			}
			if !added {
				b.WriteString(head)
				added = true
			}
			b.WriteString(line)
			used += extra
			shown++
		}
		if shown < total && !added {
			break
		}
	}
	if rest := total - shown; rest > 0 {
		more := escaper.Replace(r.bundle.Plural(lang, "digest_more", rest, map[string]any{"Count": rest}))
		if in.More != "" {
			more = `<a href="` + escaper.Replace(in.More) + `">` + more + "</a>"
		}
		b.WriteString("\n\n" + more)
	}
	return b.String(), true
}

// digestLine is one story of a digest: its title as a link, and its time (the date too when
// it is not the digest's day).
func (r *Renderer) digestLine(a article.Article, lang string, at time.Time) string {
	title := cut(oneLine(a.Title), 300)
	link := escaper.Replace(title)
	if u, err := normalizeURL(a.URL); err == nil {
		link = `<a href="` + escaper.Replace(u) + `">` + link + "</a>"
	}
	t := a.PublishedAt.In(r.loc)
	when := t.Format("15:04")
	if y1, m1, d1 := t.Date(); !sameDay(y1, m1, d1, at.In(r.loc)) {
		when = r.bundle.Date(lang, t)
	}
	return link + " · " + escaper.Replace(when)
}

func sameDay(y int, m time.Month, d int, t time.Time) bool {
	y2, m2, d2 := t.Date()
	return y == y2 && m == m2 && d == d2
}

// digestTopic is the group a story is listed under: the first of its topics the reader
// follows (its own first topic for a reader of every topic), or "" for none.
func digestTopic(storyTopics, followed []string) string {
	for _, t := range followed {
		for _, s := range storyTopics {
			if s == t {
				return t
			}
		}
	}
	if len(followed) == 0 && len(storyTopics) > 0 {
		return storyTopics[0]
	}
	return ""
}

// visibleLen is the length Telegram counts of an HTML text this package wrote: tags left out,
// the four named entities as one character each.
func visibleLen(html string) int {
	n, in := 0, false
	for i := 0; i < len(html); i++ {
		switch c := html[i]; {
		case c == '<':
			in = true
		case c == '>':
			in = false
		case in:
		case c == '&':
			if j := strings.IndexByte(html[i:], ';'); j > 0 && j <= 6 {
				i += j
			}
			n++
		default:
			r, size := utf8.DecodeRuneInString(html[i:])
			n += utf16Len(string(r))
			i += size - 1
		}
	}
	return n
}
