package playground

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"newsbot/internal/article"
)

// store is the playground's article store: the temporary ARTICLES_DIR the service watches.
// The page writes story files into it exactly as a CMS would; every change goes through the
// service's own directory watcher.
type store struct {
	dir   string
	rules article.Rules
	mu    sync.Mutex // one writer at a time: corrections read, change and write a file
	n     atomic.Int64
}

// story is a story file of the store as the page lists it.
type story struct {
	File      string
	ID        string
	URL       string
	Lang      string
	Title     string
	Lead      string
	Retracted bool
	Modified  time.Time
}

// draft is what the page's "new story" form sends.
type draft struct {
	Title    string   `json:"title"`
	Lead     string   `json:"lead"`
	Lang     string   `json:"lang"`
	Topics   []string `json:"topics"`
	ImageURL string   `json:"image_url"`
	Breaking bool     `json:"breaking"`
}

// refusal is an article the store refuses, with every problem as article validation words
// it ("title: longer than 1000 characters").
type refusal struct{ problems []string }

func (r *refusal) Error() string { return strings.Join(r.problems, "; ") }

// add writes a new story file built from the form; an invalid story is refused with the
// validation's reasons and nothing is written.
func (s *store) add(d draft, now time.Time) (story, error) {
	id := fmt.Sprintf("pg-%s-%d", now.UTC().Format("20060102-150405"), s.n.Add(1))
	topics := d.Topics
	if topics == nil {
		topics = []string{}
	}
	obj := map[string]any{
		"id":           id,
		"url":          "https://news.example.kz/" + pathSegment(d.Lang) + "/playground/" + id,
		"lang":         d.Lang,
		"title":        d.Title,
		"lead":         d.Lead,
		"topics":       topics,
		"published_at": now.UTC().Format(time.RFC3339),
		"source":       "newsbot playground",
	}
	if strings.TrimSpace(d.ImageURL) != "" {
		obj["image_url"] = strings.TrimSpace(d.ImageURL)
	}
	if d.Breaking {
		obj["breaking"] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.write(id+".json", obj)
}

// correct rewrites a story's title and lead; the service sees a correction.
func (s *store) correct(file, title, lead string) (story, error) {
	return s.change(file, func(obj map[string]any) {
		obj["title"] = title
		obj["lead"] = lead
	})
}

// retract marks a story retracted; the service deletes its channel posts.
func (s *store) retract(file string) (story, error) {
	return s.change(file, func(obj map[string]any) { obj["retracted"] = true })
}

func (s *store) change(file string, f func(map[string]any)) (story, error) {
	if file != filepath.Base(file) || !strings.HasSuffix(file, ".json") || strings.HasPrefix(file, ".") {
		return story{}, fmt.Errorf("no story file %q", file)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	data, err := os.ReadFile(filepath.Join(s.dir, file))
	if err != nil {
		return story{}, fmt.Errorf("read %s: %w", file, err)
	}
	var obj map[string]any
	if err := json.Unmarshal(data, &obj); err != nil {
		return story{}, fmt.Errorf("read %s: %w", file, err)
	}
	f(obj)
	return s.write(file, obj)
}

// write validates obj as the service will and writes it atomically (a hidden temporary
// file renamed into place: the watcher never reads half a file).
func (s *store) write(file string, obj map[string]any) (story, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(obj); err != nil {
		return story{}, fmt.Errorf("encode %s: %w", file, err)
	}
	a, err := article.Parse(buf.Bytes(), s.rules)
	if err != nil {
		return story{}, &refusal{problems: problems(err)}
	}
	tmp := filepath.Join(s.dir, "."+file+".tmp")
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return story{}, fmt.Errorf("write %s: %w", file, err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, file)); err != nil {
		_ = os.Remove(tmp)
		return story{}, fmt.Errorf("write %s: %w", file, err)
	}
	return storyOf(file, a, time.Now()), nil
}

// list returns the store's stories, newest file first. Files that do not decode are left
// out: the service logs them.
func (s *store) list() []story {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil
	}
	var out []story
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".json") || strings.HasPrefix(name, ".") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(s.dir, name))
		if err != nil {
			continue
		}
		a, err := article.Decode(data)
		if err != nil {
			continue
		}
		var mod time.Time
		if fi, err := e.Info(); err == nil {
			mod = fi.ModTime()
		}
		out = append(out, storyOf(name, a, mod))
	}
	slices.SortFunc(out, func(x, y story) int {
		if c := y.Modified.Compare(x.Modified); c != 0 {
			return c
		}
		return strings.Compare(x.File, y.File)
	})
	return out
}

// byURL finds the story a channel post's Read button points at.
func (s *store) byURL(stories []story, u string) (story, bool) {
	for _, st := range stories {
		if st.URL == u {
			return st, true
		}
	}
	return story{}, false
}

func storyOf(file string, a article.Article, mod time.Time) story {
	return story{File: file, ID: a.ID, URL: a.URL, Lang: a.Lang, Title: a.Title, Lead: a.Lead, Retracted: a.Retracted, Modified: mod}
}

// problems lists what article validation reported, one "field: reason" each.
func problems(err error) []string {
	var out []string
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		for _, e := range joined.Unwrap() {
			out = append(out, problems(e)...)
		}
		return out
	}
	return []string{err.Error()}
}

// pathSegment keeps a language code usable in the story's URL whatever the form sent.
func pathSegment(s string) string {
	s = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return -1
	}, strings.ToLower(s))
	if s == "" {
		return "x"
	}
	return s
}
