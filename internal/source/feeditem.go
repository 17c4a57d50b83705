package source

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/mmcdole/gofeed"
	gofeedext "github.com/mmcdole/gofeed/extensions"

	"newsbot/internal/article"
)

// How a feed item becomes an article: links resolved, HTML reduced to plain text, categories
// mapped to topics, the photo picked.

// builtinTopicNames are the section names Kazakh, Russian and English news sites use for the
// default topic slugs (see the project glossary). Only slugs in TOPICS are ever used.
var builtinTopicNames = map[string]string{
	"саясат": "politics", "политика": "politics", "politics": "politics",
	"экономика": "economy", "бизнес": "economy", "economy": "economy", "business": "economy",
	"қоғам": "society", "общество": "society", "society": "society",
	"әлем": "world", "мир": "world", "в мире": "world", "world": "world",
	"спорт": "sport", "sport": "sport", "sports": "sport",
	"мәдениет": "culture", "культура": "culture", "culture": "culture",
	"технологиялар": "tech", "технология": "tech", "технологии": "tech", "tech": "tech", "technology": "tech",
}

// feedBase is what relative links in the feed are resolved against: the site link of the
// feed (itself resolved against the feed URL), else the feed URL.
func feedBase(feedURL string, feed *gofeed.Feed) *url.URL {
	base, err := url.Parse(feedURL)
	if err != nil {
		base = &url.URL{}
	}
	if feed.Link != "" {
		if l, err := base.Parse(strings.TrimSpace(feed.Link)); err == nil && l.IsAbs() {
			return l
		}
	}
	return base
}

func resolve(base *url.URL, ref string) string {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return ""
	}
	u, err := base.Parse(ref)
	if err != nil {
		return ref // left as is: validation names the field
	}
	return u.String()
}

// normaliseLang turns "ru-RU", "kk_KZ", "EN" into "ru", "kk", "en".
func normaliseLang(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if i := strings.IndexAny(s, "-_"); i >= 0 {
		s = s[:i]
	}
	return s
}

// toArticle maps a feed item to an article (not yet validated).
func (f *Feed) toArticle(ctx context.Context, it *gofeed.Item, lang string, base *url.URL) (article.Article, error) {
	link := it.Link
	if link == "" && len(it.Links) > 0 {
		link = it.Links[0]
	}
	link = resolve(base, link)
	id := strings.TrimSpace(it.GUID)
	if id == "" {
		id = link
	}
	a := article.Article{
		ID:    id,
		URL:   link,
		Lang:  lang,
		Title: singleLine(it.Title),
		Lead:  truncate(plainText(it.Description), article.MaxTextLen),
		Body:  truncate(plainText(it.Content), article.MaxTextLen),
	}
	if a.Body == a.Lead {
		a.Body = "" // many feeds repeat the summary as content
	}
	switch {
	case it.PublishedParsed != nil:
		a.PublishedAt = it.PublishedParsed.UTC()
	case it.UpdatedParsed != nil:
		a.PublishedAt = it.UpdatedParsed.UTC()
	default:
		// No date: the time first seen, kept in the store, so that the story's content (and
		// hash) stays the same from fetch to fetch.
		t, ok, err := f.deps.Store.publishedAt(ctx, id)
		if err != nil {
			return article.Article{}, err
		}
		if !ok {
			t = time.Now().UTC().Truncate(time.Second)
		}
		a.PublishedAt = t
	}
	for _, c := range it.Categories {
		slug, ok := f.topics[strings.ToLower(strings.TrimSpace(c))]
		if ok && slices.Contains(f.deps.Rules.Topics, slug) && !slices.Contains(a.Topics, slug) {
			a.Topics = append(a.Topics, slug)
		}
	}
	a.ImageURL = resolve(base, itemImage(it))
	switch {
	case len(it.Authors) > 0 && it.Authors[0] != nil:
		a.Author = singleLine(it.Authors[0].Name)
	case it.Author != nil:
		a.Author = singleLine(it.Author.Name)
	case it.DublinCoreExt != nil && len(it.DublinCoreExt.Creator) > 0:
		a.Author = singleLine(it.DublinCoreExt.Creator[0])
	}
	return a, nil
}

// itemImage picks the story's photo: an image enclosure, then Media RSS content or thumbnail
// (also inside media:group), then whatever gofeed found (item image, first <img>).
func itemImage(it *gofeed.Item) string {
	for _, e := range it.Enclosures {
		if e != nil && e.URL != "" && strings.HasPrefix(strings.ToLower(e.Type), "image/") {
			return e.URL
		}
	}
	if media, ok := it.Extensions["media"]; ok {
		var contents, thumbs []ext
		contents = append(contents, toExt(media["content"])...)
		thumbs = append(thumbs, toExt(media["thumbnail"])...)
		for _, g := range media["group"] {
			contents = append(contents, toExt(g.Children["content"])...)
			thumbs = append(thumbs, toExt(g.Children["thumbnail"])...)
		}
		for _, c := range contents {
			if c.url != "" && (c.medium == "image" || strings.HasPrefix(c.typ, "image/")) {
				return c.url
			}
		}
		for _, t := range thumbs {
			if t.url != "" {
				return t.url
			}
		}
	}
	if it.Image != nil {
		return it.Image.URL
	}
	return ""
}

type ext struct{ url, medium, typ string }

func toExt(es []gofeedext.Extension) []ext {
	out := make([]ext, 0, len(es))
	for _, e := range es {
		out = append(out, ext{url: e.Attrs["url"], medium: strings.ToLower(e.Attrs["medium"]), typ: strings.ToLower(e.Attrs["type"])})
	}
	return out
}
