package bot

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"newsbot/internal/rates"
	"newsbot/internal/redistest"
	"newsbot/internal/testkit"
)

var _ Rates = (*rates.Service)(nil)

// ratesWords is what a reader of each language must see of /rates; kept here, not read from
// the locale files, so that a wrong translation or number format fails the test.
var ratesWords = map[string]struct {
	title, usd, eur, rub, stale, unavailable, off, cmd string
}{
	"kk": {
		title: "<b>Ұлттық банктің 14 қыркүйектегі ресми бағамы</b>",
		usd:   "USD 498,55 ₸ ▲ 1,25", eur: "EUR 524,28 ₸ ▼ 0,40", rub: "RUB 4,75 ₸",
		stale:       "Бағам күні: 14 қыркүйек 2022. Соңғы жаңарту: 14 қыркүйек 2022, 10:00.",
		unavailable: "Валюта бағамы әзірге қолжетімсіз",
		off:         "Бұл бот валюта бағамын көрсетпейді.",
		cmd:         "Ұлттық банктің валюта бағамы",
	},
	"ru": {
		title: "<b>Официальный курс Нацбанка на 14 сентября</b>",
		usd:   "USD 498,55 ₸ ▲ 1,25", eur: "EUR 524,28 ₸ ▼ 0,40", rub: "RUB 4,75 ₸",
		stale:       "Курс на 14 сентября 2022. Последнее обновление: 14 сентября 2022, 10:00.",
		unavailable: "Курсы валют пока недоступны",
		off:         "Этот бот не показывает курсы валют.",
		cmd:         "Курсы валют Нацбанка",
	},
	"en": {
		title: "<b>National Bank official rates for 14 September</b>",
		usd:   "USD 498.55 ₸ ▲ 1.25", eur: "EUR 524.28 ₸ ▼ 0.40", rub: "RUB 4.75 ₸",
		stale:       "Rates for 14 September 2022, last updated 14 September 2022, 10:00.",
		unavailable: "Exchange rates are not available yet",
		off:         "Exchange rates are not available in this bot.",
		cmd:         "National Bank exchange rates",
	},
}

// bankFeed is the National Bank's feed in a test: the recorded copy in internal/rates/testdata,
// or a 500 while down; it counts requests.
type bankFeed struct {
	*httptest.Server
	body []byte

	mu       sync.Mutex
	down     bool
	requests int
}

func newBankFeed(t *testing.T) *bankFeed {
	t.Helper()
	body, err := os.ReadFile("../rates/testdata/rates_all.xml")
	if err != nil {
		t.Fatal(err)
	}
	f := &bankFeed{body: body}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		f.mu.Lock()
		f.requests++
		down := f.down
		f.mu.Unlock()
		if down {
			http.Error(w, "Internal Server Error", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/rss+xml; charset=utf-8")
		_, _ = w.Write(f.body)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *bankFeed) setDown(down bool) {
	f.mu.Lock()
	f.down = down
	f.mu.Unlock()
}

func (f *bankFeed) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

// fetchedAt is the rates' fetch time: 10:00 in Almaty (TIMEZONE), 04:00 UTC.
var fetchedAt = time.Date(2022, 9, 14, 4, 0, 0, 0, time.UTC)

// withRates gives the harness a rates.Service on its Redis, fetching feed every interval
// once it runs.
func withRates(feed *bankFeed, interval time.Duration, svc **rates.Service) func(*Options) {
	return func(o *Options) {
		*svc = rates.New(o.Redis, rates.Options{
			Prefix: o.Prefix, URL: feed.URL, Interval: interval,
			HTTPClient: &http.Client{Timeout: 2 * time.Second},
			Log:        o.Log, Now: func() time.Time { return fetchedAt },
		})
		o.Rates = *svc
	}
}

func snapshot(t *testing.T, svc *rates.Service) (rates.Snapshot, bool) {
	t.Helper()
	snap, ok, err := svc.Latest(context.Background())
	if err != nil {
		t.Fatalf("Latest: %v", err)
	}
	return snap, ok
}

// TestRates: /rates shows the bank's rates of the day in the reader's language, numbers as the
// language writes them; when the bank goes down, the same rates with when they were fetched,
// in TIMEZONE.
func TestRates(t *testing.T) {
	t.Parallel()
	for i, lang := range testLangs {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			feed := newBankFeed(t)
			var svc *rates.Service
			h := newHarness(t, withRates(feed, 200*time.Millisecond, &svc))
			testkit.Run(t, svc.Run)
			testkit.WaitFor(t, "the first fetch", 10*time.Second, func() bool { _, ok := snapshot(t, svc); return ok })

			w := ratesWords[lang]
			reader := who{id: int64(1500 + i), lang: lang}
			h.say(reader, "/rates")
			text := h.last(reader.id).Text()
			mustContain(t, text, w.title, w.usd, w.eur, w.rub)
			if strings.Contains(text, "⚠️") || strings.Count(text, "₸") != 3 {
				t.Errorf("fresh rates: want the three ticker currencies and no stale line:\n%s", text)
			}
			if _, ok, _ := h.readers.Get(context.Background(), reader.id); ok {
				t.Error("/rates subscribed a stranger")
			}

			feed.setDown(true)
			testkit.WaitFor(t, "a failed fetch", 10*time.Second, func() bool { s, _ := snapshot(t, svc); return s.Stale })
			h.say(reader, "/rates")
			mustContain(t, h.last(reader.id).Text(), w.title, w.usd, w.eur, w.rub, w.stale)
		})
	}
}

// TestRatesInTheReadersInterfaceLanguage: a reader who chose a bot language gets /rates in it,
// whatever their Telegram app's language.
func TestRatesInTheReadersInterfaceLanguage(t *testing.T) {
	t.Parallel()
	feed := newBankFeed(t)
	var svc *rates.Service
	h := newHarness(t, withRates(feed, time.Hour, &svc))
	testkit.Run(t, svc.Run)
	testkit.WaitFor(t, "the first fetch", 10*time.Second, func() bool { _, ok := snapshot(t, svc); return ok })

	reader := who{id: 1510, lang: "en"}
	h.say(reader, "/start")
	if _, err := h.readers.SetInterfaceLanguage(context.Background(), reader.id, "kk"); err != nil {
		t.Fatal(err)
	}
	h.say(reader, "/rates")
	mustContain(t, h.last(reader.id).Text(), ratesWords["kk"].title, ratesWords["kk"].usd)
}

// TestRatesNotFetchedYet: with the bank down since the start there is nothing to show, and
// /rates says so rather than showing a number it did not read.
func TestRatesNotFetchedYet(t *testing.T) {
	t.Parallel()
	feed := newBankFeed(t)
	feed.setDown(true)
	var svc *rates.Service
	h := newHarness(t, withRates(feed, time.Hour, &svc))
	testkit.Run(t, svc.Run)
	testkit.WaitFor(t, "a fetch", 10*time.Second, func() bool { return feed.count() > 0 })
	for i, lang := range testLangs {
		reader := who{id: int64(1520 + i), lang: lang}
		h.say(reader, "/rates")
		text := h.last(reader.id).Text()
		mustContain(t, text, ratesWords[lang].unavailable)
		if strings.Contains(text, "₸") {
			t.Errorf("%s: rates shown that were never read: %q", lang, text)
		}
	}
}

// TestRatesOff: without rates (RATES_URL empty) /rates answers in one short line, and neither
// the menus nor /help offer it.
func TestRatesOff(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for i, lang := range testLangs {
		reader := who{id: int64(1530 + i), lang: lang}
		h.say(reader, "/rates")
		if got := h.last(reader.id).Text(); got != ratesWords[lang].off {
			t.Errorf("%s: /rates with rates off = %q, want %q", lang, got, ratesWords[lang].off)
		}
		h.say(reader, "/help")
		if help := h.last(reader.id).Text(); strings.Contains(help, "/rates") {
			t.Errorf("%s: /help offers /rates with rates off:\n%s", lang, help)
		}
	}
	if err := h.bot.RegisterCommands(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, r := range h.tg.Requests("setMyCommands") {
		if b, _ := json.Marshal(r.Params["commands"]); strings.Contains(string(b), `"rates"`) {
			t.Errorf("menu %q offers /rates with rates off: %s", r.Params["language_code"], b)
		}
	}
}

// TestRatesInMenuAndHelp: with rates on, /rates is in the command menu of every language (and
// the default one), after /latest, and in /help, described in the reader's language.
func TestRatesInMenuAndHelp(t *testing.T) {
	t.Parallel()
	var svc *rates.Service
	h := newHarness(t, withRates(newBankFeed(t), time.Hour, &svc))
	if err := h.bot.RegisterCommands(context.Background()); err != nil {
		t.Fatal(err)
	}
	menus := map[string]string{}
	for _, r := range h.tg.Requests("setMyCommands") {
		code, _ := r.Params["language_code"].(string)
		var names []string
		for _, c := range r.Params["commands"].([]any) {
			m := c.(map[string]any)
			names = append(names, m["command"].(string))
			if m["command"] == "rates" {
				menus[code], _ = m["description"].(string)
			}
		}
		if got := strings.Join(names, " "); got != "start topics language settings latest rates stop help" {
			t.Errorf("menu %q: %s", code, got)
		}
	}
	for code, lang := range map[string]string{"kk": "kk", "ru": "ru", "en": "en", "": "kk"} {
		if menus[code] != ratesWords[lang].cmd {
			t.Errorf("menu %q describes /rates as %q, want %q", code, menus[code], ratesWords[lang].cmd)
		}
	}
	for i, lang := range testLangs {
		reader := who{id: int64(1540 + i), lang: lang}
		h.say(reader, "/help")
		mustContain(t, h.last(reader.id).Text(), "/rates — "+ratesWords[lang].cmd)
	}
}

// TestRatesRedisError: when the rates cannot be read, the reader gets the bot's usual error
// answer and the failure is logged once.
func TestRatesRedisError(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	logs := &testkit.Log{}
	h := newHarness(t, func(o *Options) {
		o.Rates = rates.New(srv.Client(t), rates.Options{Prefix: "down:", URL: "http://127.0.0.1:1/"})
		o.Log = logs.Logger()
	})
	srv.Stop()
	reader := who{id: 1550, lang: "ru"}
	h.say(reader, "/rates")
	if got := h.last(reader.id).Text(); got != "Произошла ошибка. Попробуйте позже." {
		t.Errorf("/rates with the rates' Redis down = %q, want the usual error answer", got)
	}
	recs := logs.Records("handle update")
	if len(recs) != 1 {
		t.Fatalf("%d log lines for the failure, want 1:\n%s", len(recs), logs.String())
	}
	if err, _ := recs[0]["err"].(string); !strings.Contains(err, "/rates in 1550") {
		t.Errorf("logged err %q does not say what failed", err)
	}
}
