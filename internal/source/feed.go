package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mmcdole/gofeed"
	"github.com/redis/go-redis/v9"

	"newsbot/internal/article"
	"newsbot/internal/backoff"
	"newsbot/internal/secret"
)

// FeedConfig is one feed: its URL and, optionally, the language of its stories (otherwise the
// feed's own language is used).
type FeedConfig struct {
	Lang string
	URL  string
}

// FeedOptions tune the feed watcher; the zero value gives the defaults.
type FeedOptions struct {
	Interval  time.Duration // how often each feed is fetched (default 1m)
	Timeout   time.Duration // per fetch, connect to last byte (default 30s)
	MaxBytes  int64         // a bigger response is an error (default 10 MiB)
	UserAgent string        // default "newsbot/1 (+feed reader)"
	RetryMax  time.Duration // longest backoff after failures (default 30m)
	Backfill  int           // at a feed's very first fetch, hand on its newest N stories
	// DefaultLang is the language of a feed that states none (no lang= in FEEDS, no
	// <language>/xml:lang/language in the feed). Empty: such a feed is skipped with a log
	// line. A feed that states a language outside LANGUAGES is always skipped.
	DefaultLang string
	// TopicNames maps more category names (lower case) to topic slugs, beside the built-in
	// Kazakh, Russian and English section names.
	TopicNames map[string]string
	HTTPClient *http.Client // default: a client with sane transport timeouts
}

// Feed watches RSS 2.0, Atom and JSON Feed feeds, each in its own loop: fetched every Interval
// with If-None-Match/If-Modified-Since (validators kept in Redis, so restarts stay
// conditional), backing off exponentially with jitter while a feed fails. The validators of a
// fetch are saved only once all its stories were handed on, so a failed hand-on is retried by
// an unconditional fetch rather than hidden behind a 304.
//
// A feed URL may carry credentials (https://user:password@host/rss): they are sent, never
// shown. Every log line and error of the watcher names the feed by its URL without userinfo.
type Feed struct {
	deps   Deps
	feeds  []FeedConfig
	opt    FeedOptions
	client *http.Client
	topics map[string]string
}

// NewFeed returns a watcher of the feeds. It does no I/O.
func NewFeed(deps Deps, feeds []FeedConfig, opt FeedOptions) *Feed {
	if opt.Interval <= 0 {
		opt.Interval = time.Minute
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 30 * time.Second
	}
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = 10 << 20
	}
	if opt.UserAgent == "" {
		opt.UserAgent = "newsbot/1 (+feed reader)"
	}
	if opt.RetryMax <= 0 {
		opt.RetryMax = 30 * time.Minute
	}
	client := opt.HTTPClient
	if client == nil {
		client = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: opt.Timeout,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConnsPerHost:   2,
		}}
	}
	deps = deps.withDefaults()
	topics := make(map[string]string)
	for name, slug := range builtinTopicNames {
		topics[name] = slug
	}
	for name, slug := range opt.TopicNames {
		topics[strings.ToLower(strings.TrimSpace(name))] = slug
	}
	for _, slug := range deps.Rules.Topics {
		topics[strings.ToLower(slug)] = slug
	}
	return &Feed{deps: deps, feeds: feeds, opt: opt, client: client, topics: topics}
}

// Run fetches every feed until ctx is done.
func (f *Feed) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, fc := range f.feeds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.loop(ctx, fc)
		}()
	}
	wg.Wait()
	return nil
}

// feedState is what one feed's loop remembers between fetches. Whether the feed had its
// first fetch is not among it: that is read from Redis on every fetch.
type feedState struct {
	name       string // the source's name in the store: "feed:" and the URL as configured
	shown      string // the URL without userinfo, for logs, errors and origins
	wait       backoff.Backoff
	invalid    map[string]string // item id -> hash of the content already reported invalid
	langWarned bool
	started    bool // this copy has done the feed's first fetch once: a later one backfills nothing
}

func (f *Feed) loop(ctx context.Context, fc FeedConfig) {
	st := &feedState{
		name:    "feed:" + fc.URL,
		shown:   secret.URL(fc.URL),
		wait:    backoff.Backoff{Min: f.opt.Interval, Max: f.opt.RetryMax},
		invalid: make(map[string]string),
	}
	for {
		err := f.poll(ctx, fc, st)
		if ctx.Err() != nil {
			return
		}
		wait := f.opt.Interval
		if err != nil {
			wait = st.wait.Next()
			f.deps.Log.Warn("feed failed; backing off", "feed", st.shown, "err", redactErr(err, fc.URL),
				"failures", st.wait.Failures(), "retry_in", wait.Round(time.Millisecond).String())
		} else {
			st.wait.Reset()
		}
		if backoff.Sleep(ctx, wait) != nil {
			return
		}
	}
}

// errNotAllHandedOn: some stories of a fetch were not handed on; they are retried.
var errNotAllHandedOn = errors.New("not every story was handed on")

// poll fetches the feed once and hands on what is new.
func (f *Feed) poll(ctx context.Context, fc FeedConfig, st *feedState) error {
	_, initialised, err := f.deps.Store.initialised(ctx, st.name)
	if err != nil {
		return err
	}
	cacheKey := f.deps.Store.keys.feedCache(fc.URL)
	var etag, lastMod string
	if initialised {
		v, err := f.deps.Store.rdb.HMGet(ctx, cacheKey, "etag", "last_modified").Result()
		if err != nil {
			return fmt.Errorf("load feed validators: %w", err)
		}
		etag, _ = v[0].(string)
		lastMod, _ = v[1].(string)
	}
	body, newEtag, newLastMod, err := f.fetch(ctx, fc.URL, etag, lastMod)
	if err != nil {
		f.deps.Metrics.fetch("error")
		return err
	}
	if body == nil {
		f.deps.Metrics.fetch("not_modified")
		return nil
	}
	feed, err := gofeed.NewParser().Parse(bytes.NewReader(body))
	if err != nil {
		f.deps.Metrics.fetch("error")
		return fmt.Errorf("parse feed: %w", err)
	}
	f.deps.Metrics.fetch("ok")

	lang := fc.Lang
	if lang == "" {
		lang = normaliseLang(feed.Language)
	}
	if lang == "" {
		lang = f.opt.DefaultLang
	}
	if !slices.Contains(f.deps.Rules.Languages, lang) {
		if !st.langWarned {
			f.deps.Log.Warn("feed skipped: its language is not one of LANGUAGES; give it as lang=URL in FEEDS",
				"feed", st.shown, "lang", lang, "feed_language", feed.Language)
			st.langWarned = true
		}
		return nil
	}
	st.langWarned = false
	base := feedBase(fc.URL, feed)

	var valid []article.Article
	inFeed := make(map[string]bool, len(feed.Items))
	for _, it := range feed.Items {
		a, err := f.toArticle(ctx, it, lang, base)
		if err != nil {
			return err
		}
		if a.ID != "" && inFeed[a.ID] {
			// A feed listing one guid twice would otherwise flip between the two versions
			// and send a correction on every fetch: the first (the feed's newest) wins.
			continue
		}
		inFeed[a.ID] = true
		if err := f.deps.Rules.Validate(a); err != nil {
			key := a.ID
			if key == "" {
				key = "title:" + it.Title
				inFeed[key] = true
			}
			if h := a.Hash(); st.invalid[key] != h {
				st.invalid[key] = h
				field, reason := describe(err)
				f.deps.Log.Warn("invalid feed item skipped; it is read again when it changes",
					"feed", st.shown, "story_id", secret.URL(a.ID), "field", field, "reason", reason)
				f.deps.Metrics.invalidArticle("feed")
			}
			continue
		}
		delete(st.invalid, a.ID)
		// Bidi controls are stripped after validation, as Parse does, so that a title of
		// nothing else is reported as having no visible character.
		valid = append(valid, a.Clean())
	}
	for key := range st.invalid {
		if !inFeed[key] {
			delete(st.invalid, key) // gone from the feed: forget it, so memory stays bounded
		}
	}
	// Oldest first, so that a channel gets the stories in the order they were published.
	slices.SortStableFunc(valid, func(x, y article.Article) int { return x.PublishedAt.Compare(y.PublishedAt) })

	origin := "feed:" + st.shown
	failed := false
	if !initialised {
		backfill := f.opt.Backfill
		if st.started {
			// Redis was emptied (or restored) under this copy: the feed's stories are old news.
			backfill = 0
			f.deps.Log.Warn("first-start marker of feed is gone from Redis (emptied or restored?); its stories are recorded as seen again, none handed on",
				"feed", st.shown)
		}
		for i, a := range valid {
			if i >= len(valid)-backfill {
				if _, err := f.deps.handOn(ctx, "feed", a, origin, ""); err != nil {
					failed = true
				}
				continue
			}
			ok, err := f.deps.Store.seed(ctx, a, f.deps.Owner, "")
			if err != nil {
				return err
			}
			if ok {
				f.deps.Metrics.story("feed", "seeded")
			}
		}
		if failed {
			return errNotAllHandedOn
		}
		if _, err := f.deps.Store.markInitialised(ctx, st.name, time.Now().UTC().Format(time.RFC3339)); err != nil {
			return err
		}
		f.deps.Log.Info("first fetch of feed: its stories recorded as seen", "feed", st.shown,
			"seen", len(valid)-min(backfill, len(valid)), "backfilled", min(backfill, len(valid)))
	} else {
		for _, a := range valid {
			if _, err := f.deps.handOn(ctx, "feed", a, origin, ""); err != nil {
				failed = true
				if !errors.Is(err, errBusy) && ctx.Err() == nil {
					f.deps.Log.Warn("story not handed on; will retry", "feed", st.shown, "story_id", a.ID, "err", redactErr(err, fc.URL))
				}
			}
		}
		if failed {
			return errNotAllHandedOn
		}
	}
	st.started = true
	if err := f.saveValidators(ctx, cacheKey, newEtag, newLastMod); err != nil {
		return err
	}
	return nil
}

func (f *Feed) saveValidators(ctx context.Context, key, etag, lastMod string) error {
	_, err := f.deps.Store.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, key)
		if etag != "" {
			p.HSet(ctx, key, "etag", etag)
		}
		if lastMod != "" {
			p.HSet(ctx, key, "last_modified", lastMod)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save feed validators: %w", err)
	}
	return nil
}

// fetch GETs the feed. body is nil on 304 Not Modified.
func (f *Feed) fetch(ctx context.Context, feedURL, etag, lastMod string) (body []byte, newEtag, newLastMod string, err error) {
	ctx, cancel := context.WithTimeout(ctx, f.opt.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, feedURL, nil)
	if err != nil {
		// url.Parse's error quotes the URL, credentials and all.
		return nil, "", "", errors.New("fetch feed: the URL does not parse")
	}
	req.Header.Set("User-Agent", f.opt.UserAgent)
	req.Header.Set("Accept", "application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9, application/json;q=0.9, text/xml;q=0.8, */*;q=0.5")
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	if lastMod != "" {
		req.Header.Set("If-Modified-Since", lastMod)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		// The client's *url.Error quotes the URL (with the user name); the log line names the
		// feed already, so only what went wrong is kept.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		var ne net.Error
		if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
			return nil, "", "", fmt.Errorf("fetch feed: timed out after %s: %w", f.opt.Timeout, err)
		}
		return nil, "", "", fmt.Errorf("fetch feed: %w", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified:
		return nil, "", "", nil
	case resp.StatusCode != http.StatusOK:
		return nil, "", "", fmt.Errorf("fetch feed: HTTP status %s", resp.Status)
	}
	body, err = io.ReadAll(io.LimitReader(resp.Body, f.opt.MaxBytes+1))
	if err != nil {
		return nil, "", "", fmt.Errorf("read feed: %w", err)
	}
	if int64(len(body)) > f.opt.MaxBytes {
		return nil, "", "", fmt.Errorf("read feed: larger than %d bytes", f.opt.MaxBytes)
	}
	return body, resp.Header.Get("ETag"), resp.Header.Get("Last-Modified"), nil
}
