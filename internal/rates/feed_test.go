package rates

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var ticker = []string{"USD", "EUR", "RUB"}

func readFeed(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rateStrings writes rates compactly for comparison: "USD 498.55 up 1.25".
func rateStrings(rs []Rate) string {
	var parts []string
	for _, r := range rs {
		s := r.Code + " " + r.PerUnit.String() + " " + string(r.Direction)
		if r.HasChange {
			s += " " + r.Change.String()
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

func TestParseRecordedFeeds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file    string
		want    []string
		date    string
		rates   string
		missing string
		err     string
	}{
		{file: "rates_all.xml", want: ticker, date: "2022-09-14",
			rates: "USD 498.55 up 1.25, EUR 524.28 down -0.40, RUB 4.75 none 0.00"},
		// Asked for in another order: shown in the order asked for.
		{file: "rates_all.xml", want: []string{"RUB", "CNY", "USD"}, date: "2022-09-14",
			rates: "RUB 4.75 none 0.00, CNY 71.53 up 0.12, USD 498.55 up 1.25"},
		// Per 100 units: divided.
		{file: "rates_all.xml", want: []string{"KRW", "UZS"}, date: "2022-09-14",
			rates: "KRW 0.3577 down -0.0021, UZS 0.0451 none 0.00"},
		// RUB per 10 units is shown per 1, its change too; unsigned positive changes read.
		{file: "rates_all_next_day_rub_per10.xml", want: ticker, date: "2022-09-15",
			rates: "USD 499.10 up 0.55, EUR 523.90 down -0.38, RUB 4.76 up 0.01"},
		{file: "rates_all_missing_eur.xml", want: ticker, date: "2022-09-14",
			rates: "USD 498.55 up 1.25, RUB 4.75 none 0.00", missing: "EUR"},
		{file: "rates_all_non_numeric.xml", want: ticker, err: `USD: description: "н/д": not a number`},
		// A broken value in a currency nobody asked for does not matter.
		{file: "rates_all_non_numeric.xml", want: []string{"EUR"}, date: "2022-09-14", rates: "EUR 524.28 down -0.40"},
		{file: "rates_all_truncated.xml", want: ticker, err: "unexpected EOF"},
		{file: "rates_all.xml", want: []string{"CHF", "SEK"}, err: "none of CHF,SEK", missing: "CHF,SEK"},
	} {
		day, missing, err := parseFeed(readFeed(t, tc.file), tc.want)
		name := tc.file + " " + strings.Join(tc.want, ",")
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want one containing %q", name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got := day.Date.Format(time.DateOnly); got != tc.date {
			t.Errorf("%s: date %s, want %s", name, got, tc.date)
		}
		if got := rateStrings(day.Rates); got != tc.rates {
			t.Errorf("%s: rates\n got %s\nwant %s", name, got, tc.rates)
		}
		if got := strings.Join(missing, ","); got != tc.missing {
			t.Errorf("%s: missing %q, want %q", name, got, tc.missing)
		}
	}
}

func feedOf(items ...string) []byte {
	return []byte(`<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>` +
		strings.Join(items, "") + `</channel></rss>`)
}

func TestParseItemVariants(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, item, rates, date, err string
	}{
		{name: "older dd.mm.yy date",
			item:  `<item><title>USD</title><pubDate>19.07.18</pubDate><description>362.40</description><quant>1</quant><index>DOWN</index><change>-0.97</change><link/></item>`,
			rates: "USD 362.40 down -0.97", date: "2018-07-19"},
		{name: "index without change: an arrow, no amount",
			item:  `<item><title>USD</title><pubDate>14.09.2022</pubDate><description>498.55</description><quant>1</quant><index>UP</index></item>`,
			rates: "USD 498.55 up", date: "2022-09-14"},
		{name: "empty change is no change given",
			item:  `<item><title>USD</title><pubDate>14.09.2022</pubDate><description>498.55</description><quant>1</quant><index>DOWN</index><change></change></item>`,
			rates: "USD 498.55 down", date: "2022-09-14"},
		{name: "the change's sign wins over index",
			item:  `<item><title>USD</title><pubDate>03.04.2024</pubDate><description>419.16</description><quant>1</quant><index>UP</index><change>0.00</change><link/></item>`,
			rates: "USD 419.16 none 0.00", date: "2024-04-03"},
		{name: "lower-case code and spaces",
			item:  `<item><title> usd </title><pubDate> 14.09.2022 </pubDate><description> 498.55 </description><quant> 1 </quant><index/><change> +1.25 </change></item>`,
			rates: "USD 498.55 up 1.25", date: "2022-09-14"},
		{name: "non-numeric change",
			item: `<item><title>USD</title><pubDate>14.09.2022</pubDate><description>498.55</description><quant>1</quant><change>abc</change></item>`,
			err:  "USD: change:"},
		{name: "missing quant",
			item: `<item><title>USD</title><pubDate>14.09.2022</pubDate><description>498.55</description></item>`,
			err:  "quant"},
		{name: "quant not a power of ten",
			item: `<item><title>USD</title><pubDate>14.09.2022</pubDate><description>498.55</description><quant>3</quant></item>`,
			err:  "not a power of ten"},
		{name: "zero rate",
			item: `<item><title>USD</title><pubDate>14.09.2022</pubDate><description>0.00</description><quant>1</quant></item>`,
			err:  "not a rate"},
		{name: "bad date",
			item: `<item><title>USD</title><pubDate>2022-09-14</pubDate><description>498.55</description><quant>1</quant></item>`,
			err:  "pubDate"},
		{name: "twice",
			item: `<item><title>USD</title><pubDate>14.09.2022</pubDate><description>498.55</description><quant>1</quant></item>` +
				`<item><title>USD</title><pubDate>14.09.2022</pubDate><description>499.55</description><quant>1</quant></item>`,
			err: "twice"},
	} {
		day, _, err := parseFeed(feedOf(tc.item), []string{"USD"})
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got := rateStrings(day.Rates); got != tc.rates {
			t.Errorf("%s: rates %q, want %q", tc.name, got, tc.rates)
		}
		if got := day.Date.Format(time.DateOnly); got != tc.date {
			t.Errorf("%s: date %s, want %s", tc.name, got, tc.date)
		}
	}
}

func TestParseRejectsOtherDocuments(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]string{
		"html error page": `<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>`,
		"json error":      `{"code":500,"message":"error"}`,
		"empty":           ``,
		"other xml root":  `<?xml version="1.0"?><rates><date>14.09.2022</date><item><title>USD</title></item></rates>`,
	} {
		if _, _, err := parseFeed([]byte(body), ticker); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}
