package rates

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"newsbot/internal/locale"
)

func bundle(t *testing.T) *locale.Bundle {
	t.Helper()
	b, err := locale.Load()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func almaty(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Almaty")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// seed is the publisher's ticker as the bank's feed gives it (testdata/rates_all.xml).
func seed(t *testing.T) Snapshot {
	t.Helper()
	day, _, err := parseFeed(readFeed(t, "rates_all.xml"), ticker)
	if err != nil {
		t.Fatal(err)
	}
	return Snapshot{Date: day.Date, FetchedAt: t0, Rates: day.Rates}
}

func TestFormatSeedInThreeLanguages(t *testing.T) {
	t.Parallel()
	b, loc := bundle(t), almaty(t)
	for lang, want := range map[string]string{
		"kk": "<b>Ұлттық банктің 14 қыркүйектегі ресми бағамы</b>\n\n" +
			"🇺🇸 USD 498,55 ₸ ▲ 1,25\n🇪🇺 EUR 524,28 ₸ ▼ 0,40\n🇷🇺 RUB 4,75 ₸",
		"ru": "<b>Официальный курс Нацбанка на 14 сентября</b>\n\n" +
			"🇺🇸 USD 498,55 ₸ ▲ 1,25\n🇪🇺 EUR 524,28 ₸ ▼ 0,40\n🇷🇺 RUB 4,75 ₸",
		"en": "<b>National Bank official rates for 14 September</b>\n\n" +
			"🇺🇸 USD 498.55 ₸ ▲ 1.25\n🇪🇺 EUR 524.28 ₸ ▼ 0.40\n🇷🇺 RUB 4.75 ₸",
	} {
		if got := Format(b, lang, seed(t), loc); got != want {
			t.Errorf("Format(%s) =\n%s\nwant\n%s", lang, got, want)
		}
	}
}

func TestFormatStale(t *testing.T) {
	t.Parallel()
	b, loc := bundle(t), almaty(t)
	s := seed(t)
	s.Stale = true
	for lang, want := range map[string]string{
		"kk": "⚠️ Бағамды жаңарту мүмкін болмады. Бағам күні: 14 қыркүйек 2022. Соңғы жаңарту: 14 қыркүйек 2022, 10:00.",
		"ru": "⚠️ Обновить курс не удалось. Курс на 14 сентября 2022. Последнее обновление: 14 сентября 2022, 10:00.",
		"en": "⚠️ The rates could not be updated. Rates for 14 September 2022, last updated 14 September 2022, 10:00.",
	} {
		got := Format(b, lang, s, loc)
		if !strings.HasSuffix(got, "₸\n\n"+want) {
			t.Errorf("Format(%s, stale) =\n%s\nwant it to end with\n%s", lang, got, want)
		}
		if strings.Contains(Format(b, lang, seed(t), loc), "⚠️") {
			t.Errorf("Format(%s) has the stale line without Stale", lang)
		}
	}
}

func TestFormatArrows(t *testing.T) {
	t.Parallel()
	b := bundle(t)
	day, _, err := parseFeed(readFeed(t, "rates_all_next_day_rub_per10.xml"), ticker)
	if err != nil {
		t.Fatal(err)
	}
	s := Snapshot{Date: day.Date, FetchedAt: t0, Rates: append(day.Rates,
		// The feed gave only <index>: an arrow, no amount made up.
		Rate{Code: "CNY", PerUnit: MustDecimal("71.60"), Direction: DirUp},
		Rate{Code: "XDR", PerUnit: MustDecimal("644.83"), Change: MustDecimal("0.00"), HasChange: true, Direction: DirNone},
	)}
	got := Format(b, "ru", s, nil)
	for _, line := range []string{
		"🇺🇸 USD 499,10 ₸ ▲ 0,55\n",
		"🇪🇺 EUR 523,90 ₸ ▼ 0,38\n",
		"🇷🇺 RUB 4,76 ₸ ▲ 0,01\n", // quoted per 10 units (47.60), shown per 1
		"🇨🇳 CNY 71,60 ₸ ▲\n",
		"\nXDR 644,83 ₸", // no country, no flag; unchanged, no arrow
	} {
		if !strings.Contains(got+"\n", line) {
			t.Errorf("Format =\n%s\nwant a line %q", got, line)
		}
	}
	if !strings.HasPrefix(got, "<b>Официальный курс Нацбанка на 15 сентября</b>") {
		t.Errorf("title of %s", got)
	}
}

func TestFormatEveryMonth(t *testing.T) {
	t.Parallel()
	b := bundle(t)
	s := seed(t)
	s.Stale = true
	for _, lang := range b.Languages() {
		for m := time.January; m <= time.December; m++ {
			s.Date = time.Date(2022, m, 5, 0, 0, 0, 0, time.UTC)
			got := Format(b, lang, s, nil)
			if strings.Contains(got, "month_") || strings.Contains(got, "rates_") || !strings.Contains(got, "5 ") {
				t.Errorf("Format(%s, %s) = %s", lang, m, got)
			}
		}
	}
	s.Date = time.Date(2022, 9, 5, 0, 0, 0, 0, time.UTC)
	if got := Format(b, "kk", s, nil); !strings.Contains(got, "Ұлттық банктің 5 қыркүйектегі ресми бағамы") ||
		!strings.Contains(got, "Бағам күні: 5 қыркүйек 2022.") {
		t.Errorf("kk = %s", got)
	}
}

func TestFormatUnavailable(t *testing.T) {
	t.Parallel()
	b := bundle(t)
	for lang, want := range map[string]string{
		"kk": "Валюта бағамы әзірге қолжетімсіз. Кейінірек қайталап көріңіз.",
		"ru": "Курсы валют пока недоступны. Попробуйте позже.",
		"en": "Exchange rates are not available yet. Please try again later.",
	} {
		if got := Format(b, lang, Snapshot{}, nil); got != want {
			t.Errorf("Format(%s, no rates) = %q", lang, got)
		}
		if got := Line(b, lang, Snapshot{}); got != "" {
			t.Errorf("Line(%s, no rates) = %q", lang, got)
		}
	}
}

func TestLine(t *testing.T) {
	t.Parallel()
	b := bundle(t)
	s := seed(t)
	for lang, want := range map[string]string{
		"kk": "USD 498,55 · EUR 524,28 · RUB 4,75",
		"ru": "USD 498,55 · EUR 524,28 · RUB 4,75",
		"en": "USD 498.55 · EUR 524.28 · RUB 4.75",
	} {
		if got := Line(b, lang, s); got != want {
			t.Errorf("Line(%s) = %q, want %q", lang, got, want)
		}
	}
}

// texts is a Texts whose every string carries HTML, to show Format escapes all of it.
type texts struct{}

func (texts) T(lang, id string, data map[string]any) string {
	if id == "rates_decimal_separator" {
		return "&"
	}
	s := "<i>" + id + "</i>"
	for k, v := range data {
		s += " " + k + "=" + v.(string)
	}
	return s
}

func (texts) Date(lang string, t time.Time) string { return "<" + strconv.Itoa(t.Hour()) + ">" }

func TestFormatEscapes(t *testing.T) {
	t.Parallel()
	s := seed(t)
	s.Stale = true
	s.Rates = append(s.Rates, Rate{Code: "<X>", PerUnit: MustDecimal("1"), Direction: DirNone})
	got := Format(texts{}, "kk", s, time.UTC)
	tags := regexp.MustCompile(`<[^>]*>`).FindAllString(got, -1)
	for _, tag := range tags {
		if tag != "<b>" && tag != "</b>" {
			t.Errorf("unescaped %q in\n%s", tag, got)
		}
	}
	for _, want := range []string{"&lt;i&gt;rates_title&lt;/i&gt;", "498&amp;55", "&lt;X&gt; 1&amp;00", "Fetched=&lt;4&gt;"} {
		if !strings.Contains(got, want) {
			t.Errorf("Format =\n%s\nwant %q", got, want)
		}
	}
}

func TestFlag(t *testing.T) {
	t.Parallel()
	for code, want := range map[string]string{"USD": "🇺🇸", "EUR": "🇪🇺", "RUB": "🇷🇺", "KZT": "🇰🇿", "XDR": "", "US": "", "us1": ""} {
		if got := flag(code); got != want {
			t.Errorf("flag(%s) = %q, want %q", code, got, want)
		}
	}
}
