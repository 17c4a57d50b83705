package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mmcdole/gofeed"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"newsbot/internal/article"
	"newsbot/internal/redistest"
	"newsbot/internal/testkit"
)

func TestFeedItemsToArticles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file, lang string
		want       []article.Article
	}{
		{
			file: "rss-kk.xml",
			want: []article.Article{{
				ID:          "egemen-321456",
				URL:         "https://egemen.example.kz/article/321456-tokaev-si-czinpin",
				Lang:        "kk",
				Title:       "Қасым-Жомарт Тоқаев Си Цзиньпинмен келіссөз жүргізді",
				PublishedAt: time.Date(2022, 9, 14, 13, 28, 0, 0, time.UTC),
				Lead:        "Ақордада Қазақстан Президенті Қасым-Жомарт Тоқаев пен ҚХР Төрағасы Си Цзиньпиннің келіссөздері өтті.\n\nТараптар сауда & инвестиция мәселелерін талқылады — толығырақ",
				Body:        "Ақордада екі ел басшыларының кездесуі өтті.\n\nКеліссөздер кеңейтілген құрамда жалғасты.\n\nҚұжаттарға қол қойылды.",
				Topics:      []string{"politics"},
				ImageURL:    "https://egemen.example.kz/uploads/2022/9/14/akorda.jpg",
				Author:      "Айгүл Сейітқызы",
			}, {
				ID:          "https://egemen.example.kz/article/321460-kurama",
				URL:         "https://egemen.example.kz/article/321460-kurama",
				Lang:        "kk",
				Title:       "Ұлттық құрама жаттығу жиынын бастады",
				PublishedAt: time.Date(2022, 9, 14, 11, 5, 0, 0, time.UTC),
				Lead:        "Футболдан ұлттық құрама Түркістанда жиынға жиналды.",
				Topics:      []string{"sport"},
				ImageURL:    "https://egemen.example.kz/uploads/2022/9/14/kurama.jpg",
			}, {
				ID:          "https://egemen.example.kz/article/321470-mektep",
				URL:         "https://egemen.example.kz/article/321470-mektep",
				Lang:        "kk",
				Title:       "Ақмола облысында жаңа мектеп ашылды",
				PublishedAt: time.Date(2022, 9, 14, 9, 0, 0, 0, time.UTC),
				Lead:        "Мектеп 600 оқушыға арналған.",
				Topics:      []string{"society"},
			}},
		},
		{
			file: "atom-ru.xml",
			want: []article.Article{{
				ID:          "tag:kazinform.example.kz,2022:a3978123",
				URL:         "https://kazinform.example.kz/ru/news/si-czinpin-pribyl-v-astanu-a3978123",
				Lang:        "ru",
				Title:       "Си Цзиньпин прибыл в Астану с государственным визитом",
				PublishedAt: time.Date(2022, 9, 14, 7, 5, 0, 0, time.UTC),
				Lead:        "Председатель КНР Си Цзиньпин прибыл в Астану.\n\nЭто первый зарубежный визит за «пандемийные» годы.",
				Body:        "В аэропорту его встретил Президент Казахстана.\n\nПереговоры пройдут в Акорде.",
				Topics:      []string{"politics", "world"},
				ImageURL:    "https://kazinform.example.kz/uploads/si-astana.jpg",
				Author:      "Ерлан Сапаров",
			}, {
				ID:          "tag:kazinform.example.kz,2022:a3978200",
				URL:         "https://kazinform.example.kz/ru/news/tenge-a3978200",
				Lang:        "ru",
				Title:       "Тенге укрепился к доллару",
				PublishedAt: time.Date(2022, 9, 14, 6, 0, 0, 0, time.UTC),
				Lead:        "Курс на KASE составил 470,5 тенге за доллар.",
				Topics:      []string{"economy"},
			}},
		},
		{
			file: "feed-en.json",
			want: []article.Article{{
				ID:          "https://astanatimes.example.kz/2022/09/xi-jinping-visit/",
				URL:         "https://astanatimes.example.kz/2022/09/xi-jinping-visit/",
				Lang:        "en",
				Title:       "Xi Jinping visits Kazakhstan & meets Tokayev",
				PublishedAt: time.Date(2022, 9, 14, 7, 30, 0, 0, time.UTC),
				Lead:        "Chinese President Xi Jinping arrived in Astana on Sept. 14 for his first foreign trip since the pandemic.",
				Body:        "The two leaders held talks in Akorda.\n\nThey signed agreements on trade, transport & energy.",
				Topics:      []string{"politics", "world"},
				ImageURL:    "https://astanatimes.example.kz/wp-content/uploads/2022/09/xi-tokayev.jpg",
				Author:      "Assel Satubaldina",
			}, {
				ID:          "astanatimes-88120",
				URL:         "https://astanatimes.example.kz/2022/09/tech-hub/",
				Lang:        "en",
				Title:       "Astana Hub opens a new campus",
				PublishedAt: time.Date(2022, 9, 14, 4, 0, 0, 0, time.UTC),
				Body:        "The tech park will host 300 startups.",
				Topics:      []string{"tech"},
			}},
		},
	}
	e := newEnv(t)
	f := NewFeed(e.deps, nil, FeedOptions{})
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			feed, err := gofeed.NewParser().Parse(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			lang := normaliseLang(feed.Language)
			base := feedBase("https://feeds.example.kz/"+tt.file, feed)
			if len(feed.Items) != len(tt.want) {
				t.Fatalf("%d items, want %d", len(feed.Items), len(tt.want))
			}
			for i, it := range feed.Items {
				got, err := f.toArticle(context.Background(), it, lang, base)
				if err != nil {
					t.Fatal(err)
				}
				if err := testRules.Validate(got); err != nil {
					t.Errorf("item %d invalid: %v", i, err)
				}
				if diff := articleDiff(got, tt.want[i]); diff != "" {
					t.Errorf("item %d:\n%s", i, diff)
				}
			}
		})
	}
}

func articleDiff(got, want article.Article) string {
	var b strings.Builder
	check := func(field string, g, w any) {
		if !equalAny(g, w) {
			b.WriteString(field + ":\n   got  " + toString(g) + "\n   want " + toString(w) + "\n")
		}
	}
	check("id", got.ID, want.ID)
	check("url", got.URL, want.URL)
	check("lang", got.Lang, want.Lang)
	check("title", got.Title, want.Title)
	check("published_at", got.PublishedAt.UTC().Format(time.RFC3339), want.PublishedAt.UTC().Format(time.RFC3339))
	check("lead", got.Lead, want.Lead)
	check("body", got.Body, want.Body)
	check("topics", strings.Join(got.Topics, ","), strings.Join(want.Topics, ","))
	check("image_url", got.ImageURL, want.ImageURL)
	check("author", got.Author, want.Author)
	return b.String()
}

func equalAny(a, b any) bool { return toString(a) == toString(b) }
func toString(v any) string  { s, _ := v.(string); return strings.ReplaceAll(s, "\n", `\n`) }

// feedServer is a real HTTP server for a feed whose content the test changes.
type feedServer struct {
	*httptest.Server
	mu       sync.Mutex
	body     string
	etag     string
	ctype    string
	delay    time.Duration
	requests []http.Header
}

func newFeedServer(t *testing.T, body, etag string) *feedServer {
	fs := &feedServer{body: body, etag: etag, ctype: "application/rss+xml; charset=utf-8"}
	fs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fs.mu.Lock()
		fs.requests = append(fs.requests, r.Header.Clone())
		body, etag, delay := fs.body, fs.etag, fs.delay
		fs.mu.Unlock()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		if etag != "" && r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", fs.ctype)
		if etag != "" {
			w.Header().Set("ETag", etag)
		}
		w.Header().Set("Last-Modified", "Wed, 14 Sep 2022 13:40:00 GMT")
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(fs.Close)
	return fs
}

func (fs *feedServer) set(body, etag string) {
	fs.mu.Lock()
	fs.body, fs.etag = body, etag
	fs.mu.Unlock()
}

func (fs *feedServer) reqs() []http.Header {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return slices.Clone(fs.requests)
}

func (fs *feedServer) waitRequests(t *testing.T, n int) []http.Header {
	t.Helper()
	testkit.WaitFor(t, fmt.Sprintf("%d requests to the feed server", n), 10*time.Second, func() bool { return len(fs.reqs()) >= n })
	return fs.reqs()
}

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const newItem = `<item>
      <title>Астанада халықаралық форум өтті</title>
      <link>https://egemen.example.kz/article/321500-forum</link>
      <guid isPermaLink="false">egemen-321500</guid>
      <pubDate>Wed, 14 Sep 2022 15:00:00 +0000</pubDate>
      <category>Әлем</category>
      <description>Форумға 40 елдің өкілдері қатысты.</description>
    </item>
    `

var fastFeed = FeedOptions{Interval: 50 * time.Millisecond, Timeout: 2 * time.Second, RetryMax: 200 * time.Millisecond}

func TestFeedFirstFetchSeedsThen304ThenNewItem(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rss := readTestdata(t, "rss-kk.xml")
	fs := newFeedServer(t, rss, `"v1"`)
	f := NewFeed(e.deps, []FeedConfig{{URL: fs.URL + "/rss"}}, fastFeed)
	run(t, f)

	// First fetch: unconditional; its stories are recorded as seen, not pushed.
	reqs := fs.waitRequests(t, 3)
	if reqs[0].Get("If-None-Match") != "" {
		t.Errorf("first fetch sent If-None-Match %q", reqs[0].Get("If-None-Match"))
	}
	if reqs[0].Get("User-Agent") == "" || strings.HasPrefix(reqs[0].Get("User-Agent"), "Go-http-client") {
		t.Errorf("User-Agent %q, want newsbot's own", reqs[0].Get("User-Agent"))
	}
	if reqs[1].Get("If-None-Match") != `"v1"` || reqs[1].Get("If-Modified-Since") == "" {
		t.Errorf("second fetch headers %v, want If-None-Match \"v1\" and If-Modified-Since", reqs[1])
	}
	e.rec.none(t, 100*time.Millisecond)
	if n := testutil.ToFloat64(e.metrics.fetches.WithLabelValues("not_modified")); n < 1 {
		t.Errorf("not_modified fetches %v, want >= 1", n)
	}
	latest, err := e.store.Latest(context.Background(), []string{"kk"}, 10)
	if err != nil || len(latest) != 3 {
		t.Fatalf("Latest = %d stories, %v; want the 3 seen ones", len(latest), err)
	}

	fs.set(strings.Replace(rss, "<item>", newItem+"<item>", 1), `"v2"`)
	ev := e.rec.next(t)
	if ev.Method != "Publish" || ev.Article.ID != "egemen-321500" || !slices.Equal(ev.Article.Topics, []string{"world"}) || ev.Article.Lang != "kk" {
		t.Fatalf("got %s %+v, want new egemen-321500 (kk, world)", ev.Method, ev.Article)
	}
	e.rec.none(t, 300*time.Millisecond)

	// A restart stays conditional: the validators are in Redis.
	e2 := newEnvOn(t, e.store)
	n := len(fs.reqs())
	run(t, NewFeed(e2.deps, []FeedConfig{{URL: fs.URL + "/rss"}}, fastFeed))
	if r := fs.waitRequests(t, n+2); r[len(r)-1].Get("If-None-Match") != `"v2"` {
		t.Errorf("after restart If-None-Match %q, want \"v2\"", r[len(r)-1].Get("If-None-Match"))
	}
	e2.rec.none(t, 200*time.Millisecond)
}

func TestFeedTimeoutBacksOffOtherFeedsGoOn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	slow := newFeedServer(t, readTestdata(t, "rss-kk.xml"), "")
	slow.delay = time.Hour
	good := newFeedServer(t, readTestdata(t, "atom-ru.xml"), `"a1"`)
	opt := fastFeed
	opt.Timeout = 100 * time.Millisecond
	opt.Backfill = 1
	stop := run(t, NewFeed(e.deps, []FeedConfig{{URL: slow.URL}, {Lang: "ru", URL: good.URL}}, opt))

	// The good feed is unaffected: its newest story is backfilled.
	if ev := e.rec.next(t); ev.Article.ID != "tag:kazinform.example.kz,2022:a3978123" {
		t.Fatalf("got %s, want the newest story of the good feed", ev.Article.ID)
	}
	slow.waitRequests(t, 3)
	lines := e.logs.Records("feed failed")
	if len(lines) < 2 {
		t.Fatalf("%d backoff log lines, want >= 2", len(lines))
	}
	if lines[0]["feed"] != slow.URL || !strings.Contains(lines[0]["err"].(string), "timed out after 100ms") {
		t.Errorf("log line %v: want the slow feed and a timeout", lines[0])
	}
	if n := testutil.ToFloat64(e.metrics.fetches.WithLabelValues("error")); n < 2 {
		t.Errorf("error fetches %v, want >= 2", n)
	}
	stop() // returns promptly although the server never answers
}

func TestFeedSinkFailureRetriedUnconditionally(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rss := readTestdata(t, "rss-kk.xml")
	fs := newFeedServer(t, rss, `"v1"`)
	run(t, NewFeed(e.deps, []FeedConfig{{URL: fs.URL}}, fastFeed))
	fs.waitRequests(t, 2) // seeded, then a 304

	var mu sync.Mutex
	fails := 1
	e.rec.setFail(func(call) error {
		mu.Lock()
		defer mu.Unlock()
		if fails > 0 {
			fails--
			return context.DeadlineExceeded
		}
		return nil
	})
	n := len(fs.reqs())
	fs.set(strings.Replace(rss, "<item>", newItem+"<item>", 1), `"v2"`)
	if ev := e.rec.next(t); ev.Article.ID != "egemen-321500" {
		t.Fatalf("got %s, want egemen-321500 after a retry", ev.Article.ID)
	}
	// The fetch after the failure was unconditional (validators not saved), so the story
	// was not hidden behind a 304.
	reqs := fs.reqs()[n:]
	if len(reqs) < 2 || reqs[1].Get("If-None-Match") == `"v2"` {
		t.Errorf("retry sent If-None-Match %q; want no v2 validator before the story was handed on", reqs[1].Get("If-None-Match"))
	}
	e.rec.none(t, 300*time.Millisecond)
}

func TestFeedInvalidItemsLoggedOnceAndOversizeRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rss := strings.Replace(readTestdata(t, "rss-kk.xml"), "<title>Ақмола облысында жаңа мектеп ашылды</title>", "<title>  </title>", 1)
	fs := newFeedServer(t, rss, "") // no validators: every fetch is a 200
	opt := fastFeed
	opt.Backfill = 10
	run(t, NewFeed(e.deps, []FeedConfig{{URL: fs.URL}}, opt))
	for range 2 {
		e.rec.next(t)
	}
	fs.waitRequests(t, 5)
	lines := e.logs.Records("invalid feed item")
	if len(lines) != 1 || lines[0]["field"] != "title" || lines[0]["story_id"] != "https://egemen.example.kz/article/321470-mektep" {
		t.Errorf("invalid-item log lines %v; want one naming the item and title", lines)
	}
	if n := e.invalidCount("feed"); n != 1 {
		t.Errorf("invalid metric %v, want 1", n)
	}

	e2 := newEnv(t)
	big := newFeedServer(t, strings.Repeat(" ", 2048)+readTestdata(t, "rss-kk.xml"), "")
	opt.MaxBytes = 1024
	run(t, NewFeed(e2.deps, []FeedConfig{{URL: big.URL}}, opt))
	big.waitRequests(t, 2)
	time.Sleep(50 * time.Millisecond)
	if l := e2.logs.Records("feed failed"); len(l) == 0 || !strings.Contains(l[0]["err"].(string), "larger than 1024 bytes") {
		t.Errorf("oversize feed logs %v; want 'larger than 1024 bytes'", l)
	}
	e2.rec.none(t, 10*time.Millisecond)
}

func TestFeedLanguageNotConfiguredIsSkipped(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rss := strings.Replace(readTestdata(t, "rss-kk.xml"), "<language>kk-KZ</language>", "<language>de-DE</language>", 1)
	fs := newFeedServer(t, rss, "")
	opt := fastFeed
	opt.Backfill = 10
	run(t, NewFeed(e.deps, []FeedConfig{{URL: fs.URL}}, opt))
	fs.waitRequests(t, 4)
	e.rec.none(t, 50*time.Millisecond)
	if l := e.logs.Records("language is not one of LANGUAGES"); len(l) != 1 || l[0]["lang"] != "de" {
		t.Errorf("log lines %v; want one naming lang de", l)
	}
}

func TestFeedRepeatedGUIDDoesNotFlipFlop(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rss := readTestdata(t, "rss-kk.xml")
	dup := strings.Replace(newItem, "Астанада халықаралық форум өтті", "Астанада форум өтті (ескі нұсқа)", 1)
	fs := newFeedServer(t, strings.Replace(rss, "<item>", newItem+dup+"<item>", 1), "") // always 200
	run(t, NewFeed(e.deps, []FeedConfig{{URL: fs.URL}}, fastFeed))
	fs.waitRequests(t, 6)
	e.rec.none(t, 50*time.Millisecond)
	got, ok, err := e.store.Get(context.Background(), "egemen-321500")
	if err != nil || !ok || got.Title != "Астанада халықаралық форум өтті" {
		t.Errorf("stored %q, %v, %v; want the first listing of the guid", got.Title, ok, err)
	}
}

func TestFeedWithoutLanguageUsesDefaultLang(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rss := strings.Replace(readTestdata(t, "rss-kk.xml"), "<language>kk-KZ</language>", "", 1)
	fs := newFeedServer(t, rss, "")
	opt := fastFeed
	opt.Backfill = 1
	opt.DefaultLang = "kk"
	run(t, NewFeed(e.deps, []FeedConfig{{URL: fs.URL}}, opt))
	if ev := e.rec.next(t); ev.Article.Lang != "kk" || ev.Article.ID != "egemen-321456" {
		t.Fatalf("got %s (%s), want egemen-321456 in kk", ev.Article.ID, ev.Article.Lang)
	}

	e2 := newEnv(t)
	opt.DefaultLang = ""
	run(t, NewFeed(e2.deps, []FeedConfig{{URL: fs.URL}}, opt))
	fs.waitRequests(t, 6)
	e2.rec.none(t, 50*time.Millisecond)
	if l := e2.logs.Records("language is not one of LANGUAGES"); len(l) != 1 {
		t.Errorf("log lines %v; want one", l)
	}
}

func TestFeedTwoCopiesAndADirHandOnAStoryOnce(t *testing.T) {
	t.Parallel()
	e1 := newEnv(t)
	e2 := newEnvOn(t, e1.store)
	rss := readTestdata(t, "rss-kk.xml")
	fs := newFeedServer(t, rss, "")
	run(t, NewFeed(e1.deps, []FeedConfig{{URL: fs.URL}}, fastFeed))
	run(t, NewFeed(e2.deps, []FeedConfig{{URL: fs.URL}}, fastFeed))
	dir := t.TempDir()
	startedDir(t, e2, dir, fastDir)
	waitInitialised(t, e1.store, "feed:"+fs.URL)

	fs.set(strings.Replace(rss, "<item>", newItem+"<item>", 1), "")
	// The same story also arrives as a file (the CMS exports it too).
	a := article.Article{ID: "egemen-321500", URL: "https://egemen.example.kz/article/321500-forum", Lang: "kk",
		Title: "Астанада халықаралық форум өтті", PublishedAt: time.Date(2022, 9, 14, 15, 0, 0, 0, time.UTC),
		Lead: "Форумға 40 елдің өкілдері қатысты.", Topics: []string{"world"}}
	writeStory(t, dir, a)
	count := 0
	var deadline <-chan time.Time // after the first event: time for a duplicate to show up
	select {
	case ev := <-e1.rec.ch:
		e1.rec.ch <- ev
	case ev := <-e2.rec.ch:
		e2.rec.ch <- ev
	case <-time.After(10 * time.Second):
		t.Fatal("the story was not handed on")
	}
	deadline = time.After(500 * time.Millisecond)
	for done := false; !done; {
		select {
		case ev := <-e1.rec.ch:
			count++
			if ev.Article.ID != a.ID {
				t.Errorf("unexpected %s", ev.Article.ID)
			}
		case ev := <-e2.rec.ch:
			count++
			if ev.Article.ID != a.ID {
				t.Errorf("unexpected %s", ev.Article.ID)
			}
		case <-deadline:
			done = true
		}
	}
	if count != 1 {
		t.Errorf("story handed on %d times by two feed watchers and a dir, want 1", count)
	}
}

// Redis emptied under a running feed watcher (FLUSHALL, or a restore of an old backup) is a
// first fetch again: the feed's items are recorded as seen, not posted again, not even the
// Backfill newest; an item that comes afterwards is handed on.
func TestFeedFlushAllDoesNotRepostTheArchive(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	e := newEnvOn(t, NewStore(rdb, "flush:", StoreOptions{}))
	rss := readTestdata(t, "rss-kk.xml")
	fs := newFeedServer(t, rss, `"v1"`)
	opt := fastFeed
	opt.Backfill = 1
	run(t, NewFeed(e.deps, []FeedConfig{{URL: fs.URL}}, opt))
	if c := e.rec.next(t); c.Article.ID != "egemen-321456" {
		t.Fatalf("got %s, want the newest item backfilled", c.Article.ID)
	}
	fs.waitRequests(t, 3) // conditional fetches answered 304 from here on

	if err := rdb.FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "the first fetch to be redone", 10*time.Second, func() bool {
		return len(e.logs.Records("first-start marker of feed is gone")) == 1
	})
	e.rec.none(t, 300*time.Millisecond)
	if latest, err := e.store.Latest(context.Background(), []string{"kk"}, 10); err != nil || len(latest) != 3 {
		t.Errorf("Latest after the flush = %d stories, %v; want the feed's 3", len(latest), err)
	}

	fs.set(strings.Replace(rss, "<item>", newItem+"<item>", 1), `"v2"`)
	if c := e.rec.next(t); c.Method != "Publish" || c.Article.ID != "egemen-321500" {
		t.Fatalf("got %s %s, want the item added after the flush", c.Method, c.Article.ID)
	}
	e.rec.none(t, 200*time.Millisecond)
}

// A feed URL with credentials: they reach the server, and no log line or error shows them,
// neither the password nor the user name, whatever happens to the feed.
func TestFeedCredentialsNeverShown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rss := strings.Replace(readTestdata(t, "rss-kk.xml"), "<title>Ақмола облысында жаңа мектеп ашылды</title>", "<title>  </title>", 1)
	var mu sync.Mutex
	status, auth := http.StatusOK, ""
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if u, p, ok := r.BasicAuth(); ok {
			auth = u + ":" + p
		}
		if status != http.StatusOK {
			w.WriteHeader(status)
			return
		}
		_, _ = w.Write([]byte(rss))
	}))
	defer srv.Close()
	feedURL := strings.Replace(srv.URL, "http://", "http://feeduser:FeedPass123@", 1) + "/rss"
	shown := srv.URL + "/rss"

	e.rec.setFail(func(c call) error {
		if c.Article.ID == "egemen-321500" {
			return errors.New("delivery unavailable")
		}
		return nil
	})
	opt := fastFeed
	opt.Backfill = 1
	run(t, NewFeed(e.deps, []FeedConfig{{URL: feedURL}, {Lang: "de", URL: feedURL + "?de"}}, opt))
	e.rec.next(t)
	mu.Lock()
	rss = strings.Replace(rss, "<item>", newItem+"<item>", 1)
	mu.Unlock()
	testkit.WaitFor(t, "a failed hand-on and an invalid item", 10*time.Second, func() bool {
		return len(e.logs.Records("story not handed on")) > 0 && len(e.logs.Records("invalid feed item")) > 0
	})
	mu.Lock()
	status = http.StatusBadGateway
	mu.Unlock()
	testkit.WaitFor(t, "a 502 logged", 10*time.Second, func() bool {
		return strings.Contains(e.logs.String(), "502")
	})
	srv.CloseClientConnections()
	srv.Listener.Close() // connection refused: net/http's error quotes the URL
	testkit.WaitFor(t, "a refused connection logged", 10*time.Second, func() bool {
		return strings.Contains(e.logs.String(), "connection refused")
	})

	mu.Lock()
	if auth != "feeduser:FeedPass123" {
		t.Errorf("the server got credentials %q, want feeduser:FeedPass123", auth)
	}
	mu.Unlock()
	log := e.logs.String()
	for _, secret := range []string{"FeedPass123", "feeduser", "***"} {
		if strings.Contains(log, secret) {
			t.Errorf("the log shows %q:\n%s", secret, log)
		}
	}
	for _, msg := range []string{"story handed on", "story not handed on", "invalid feed item", "feed failed", "first fetch of feed", "feed skipped"} {
		lines := e.logs.Records(msg)
		if len(lines) == 0 {
			t.Errorf("no %q line", msg)
			continue
		}
		if s := fmt.Sprint(lines[0]); !strings.Contains(s, strings.TrimPrefix(shown, "http://")) {
			t.Errorf("%q line %s does not name the feed as %s", msg, s, shown)
		}
	}
}
