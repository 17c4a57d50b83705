package playground

import (
	"context"
	"embed"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"newsbot/internal/article"
)

// sampleFS holds the sample story, for a playground started away from the repository.
//
//go:embed sample/*.json
var sampleFS embed.FS

// maxSamples is how many sample stories are copied into the store.
const maxSamples = 3

// seed makes the first start look like a working newsroom: the sample readers subscribe
// with real /start updates, then the sample stories are written into the article store,
// after the service's first pass over it (stories already there at a first start are
// recorded as seen, not posted), so that they are posted to the channels and pushed.
func (p *page) seed(ctx context.Context, samplesDir string, getenv func(string) string) {
	log := p.log
	if !waitUntil(ctx, 2*time.Minute, func() bool { return p.api.Count("getUpdates") > 0 }) {
		if ctx.Err() == nil {
			log.Warn("playground: the service never asked for updates; no sample readers or stories")
		}
		return
	}
	var started []reader
	for _, s := range sampleReaders {
		if !slices.Contains(p.set.languages, s.lang) {
			continue
		}
		r, err := p.roster.add(s.name, s.lang)
		if err != nil {
			continue
		}
		if _, err := p.api.Say(r.User, s.start); err != nil {
			log.Warn("playground: sample reader /start", "chat_id", r.ID, "err", err)
			continue
		}
		started = append(started, r)
	}
	p.changed.bump()
	// The welcomes show the bot is answering, and so past its start.
	waitUntil(ctx, 30*time.Second, func() bool {
		for _, r := range started {
			if !p.hasBotMessage(r.ID) {
				return false
			}
		}
		return true
	})
	if ctx.Err() != nil {
		return
	}

	samples := p.samples(samplesDir, getenv)
	for i, obj := range samples {
		// Published now: an instant push of a story older than PUSH_MAX_AGE is skipped as
		// stale, and the sample readers should get it.
		obj["published_at"] = time.Now().Add(-time.Duration(i) * time.Minute).UTC().Format(time.RFC3339)
		id, _ := obj["id"].(string)
		if _, err := p.store.write(fileName(id), obj); err != nil {
			log.Warn("playground: sample story", "article_id", id, "err", err)
			continue
		}
		log.Info("playground: sample story written", "article_id", id)
	}
	p.changed.bump()
	if len(samples) == 0 {
		return
	}
	// Should the service's first pass have come after all, it recorded them as seen: a copy
	// under a new id is then a new story.
	lang, _ := samples[0]["lang"].(string)
	if waitUntil(ctx, 15*time.Second, func() bool { return len(p.api.History(p.channels[lang])) > 0 }) || ctx.Err() != nil {
		return
	}
	obj := samples[0]
	id, _ := obj["id"].(string)
	obj["id"] = id + "-" + randomHex(2)
	if u, ok := obj["url"].(string); ok {
		obj["url"] = u + "?copy=" + obj["id"].(string)
	}
	if _, err := p.store.write(fileName(obj["id"].(string)), obj); err == nil {
		log.Warn("playground: the sample story was not posted; wrote it again under a new id", "article_id", obj["id"])
		p.changed.bump()
	}
}

// samples returns up to maxSamples valid stories of the sample directory (ARTICLES_DIR,
// else ./articles), or the embedded sample story when it has none.
func (p *page) samples(dir string, getenv func(string) string) []map[string]any {
	if dir == "" {
		dir = strings.TrimSpace(getenv("ARTICLES_DIR"))
	}
	if dir == "" || dir == "off" {
		dir = "articles"
	}
	out := readSamples(os.DirFS(dir), p.store.rules)
	if len(out) == 0 {
		sub, _ := fs.Sub(sampleFS, "sample")
		out = readSamples(sub, p.store.rules)
	}
	return out
}

func readSamples(fsys fs.FS, rules article.Rules) []map[string]any {
	names, _ := fs.Glob(fsys, "*.json")
	var out []map[string]any
	for _, name := range names {
		if strings.HasPrefix(name, ".") || len(out) == maxSamples {
			continue
		}
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			continue
		}
		a, err := article.Parse(data, rules)
		if err != nil || a.Retracted {
			continue
		}
		var obj map[string]any
		if json.Unmarshal(data, &obj) != nil {
			continue
		}
		out = append(out, obj)
	}
	return out
}

// fileName is the store's file name for an article id.
func fileName(id string) string {
	name := strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r < 0x20 {
			return '_'
		}
		return r
	}, id)
	return filepath.Base(strings.TrimLeft(name, ".")) + ".json"
}

func (p *page) hasBotMessage(chat int64) bool {
	for _, m := range p.api.History(chat) {
		if m.From == nil {
			return true
		}
	}
	return false
}

// waitUntil polls cond every 50 ms until it holds (true), the timeout passes or ctx ends.
func waitUntil(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
	return true
}
