package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"newsbot/internal/rates"
	"newsbot/internal/redistest"
	"newsbot/internal/telegramtest"
	"newsbot/internal/testkit"
)

// TestRunRates: with RATES_URL empty the service fetches nothing and /rates says rates are
// off; with RATES_URL at the bank (a local copy of its feed) /rates answers with the rates and
// the menus offer it.
func TestRunRates(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole service twice")
	}
	feed, err := os.ReadFile("../../internal/rates/testdata/rates_all.xml")
	if err != nil {
		t.Fatal(err)
	}
	var requests atomic.Int64
	bank := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Type", "application/rss+xml; charset=utf-8")
		_, _ = w.Write(feed)
	}))
	t.Cleanup(bank.Close)
	redis := redistest.Start(t)
	rdb := redis.Client(t)

	// ask sends /rates from a reader whose Telegram speaks lang and returns the answer.
	ask := func(t *testing.T, tg *telegramtest.Server, chat int64, lang string) string {
		t.Helper()
		before := len(tg.Messages(chat))
		tg.PushUpdate(startUpdate(chat, lang, "/rates"))
		testkit.WaitFor(t, "the answer to /rates", 10*time.Second, func() bool { return len(tg.Messages(chat)) > before })
		ms := tg.Messages(chat)
		return ms[len(ms)-1].Text()
	}
	menuOffersRates := func(tg *telegramtest.Server) bool {
		for _, r := range tg.Requests("setMyCommands") {
			if b, _ := json.Marshal(r.Params["commands"]); strings.Contains(string(b), `"command":"rates"`) {
				return true
			}
		}
		return false
	}

	t.Run("off", func(t *testing.T) {
		tg := telegramtest.New(t)
		const prefix = "ratesoff:"
		logs := serveInProcess(t, map[string]string{
			"TELEGRAM_BOT_TOKEN": tg.Token(), "TELEGRAM_API_URL": tg.URL(), "REDIS_URL": redis.URL(),
			"REDIS_PREFIX": prefix, "ARTICLES_DIR": "", "RATES_URL": "", "LOG_FORMAT": "json",
		})
		testkit.WaitFor(t, "the service to run", 20*time.Second, func() bool { return logs.Count("newsbot running") > 0 })
		if got, want := ask(t, tg, 41, "en"), "Exchange rates are not available in this bot."; got != want {
			t.Errorf("/rates with RATES_URL empty = %q, want %q", got, want)
		}
		// An empty RATES_URL must not fall back to the bank's address: nothing was fetched
		// from anywhere, and no copy took the fetch lock or stored rates.
		keys, err := rdb.Keys(context.Background(), prefix+"*rates*").Result()
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) > 0 || requests.Load() != 0 || logs.Count("exchange rates") > 0 {
			t.Errorf("rates were fetched with RATES_URL empty: keys %v, %d requests, log:\n%s", keys, requests.Load(), logs.String())
		}
		if menuOffersRates(tg) {
			t.Error("the command menu offers /rates with RATES_URL empty")
		}
	})

	t.Run("on", func(t *testing.T) {
		tg := telegramtest.New(t)
		const prefix = "rateson:"
		logs := serveInProcess(t, map[string]string{
			"TELEGRAM_BOT_TOKEN": tg.Token(), "TELEGRAM_API_URL": tg.URL(), "REDIS_URL": redis.URL(),
			"REDIS_PREFIX": prefix, "ARTICLES_DIR": "", "RATES_URL": bank.URL, "RATES_INTERVAL": "1h",
			"LOG_FORMAT": "json",
		})
		testkit.WaitFor(t, "the service to run", 20*time.Second, func() bool { return logs.Count("newsbot running") > 0 })
		// What every copy reads: the service's first fetch, stored in Redis.
		stored := rates.New(rdb, rates.Options{Prefix: prefix, URL: bank.URL})
		testkit.WaitFor(t, "the first fetch", 10*time.Second, func() bool {
			_, ok, err := stored.Latest(context.Background())
			return err == nil && ok
		})
		if n := requests.Load(); n != 1 {
			t.Errorf("%d requests to the bank in one interval, want 1", n)
		}
		for chat, want := range map[int64][]string{
			42: {"National Bank official rates for 14 September", "USD 498.55 ₸", "EUR 524.28 ₸", "RUB 4.75 ₸"},
			43: {"Официальный курс Нацбанка на 14 сентября", "USD 498,55 ₸", "EUR 524,28 ₸", "RUB 4,75 ₸"},
		} {
			lang := map[int64]string{42: "en", 43: "ru"}[chat]
			text := ask(t, tg, chat, lang)
			for _, w := range want {
				if !strings.Contains(text, w) {
					t.Errorf("/rates in %s = %q, want it to contain %q", lang, text, w)
				}
			}
		}
		if !menuOffersRates(tg) {
			t.Error("the command menu does not offer /rates with RATES_URL set")
		}
	})
}
