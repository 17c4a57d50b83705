package rates

import (
	"html"
	"strconv"
	"strings"
	"time"
)

// Texts is what formatting needs of the translations; *locale.Bundle has it. Format uses the
// keys of locales/rates.*.toml and the month names of locales/common.*.toml.
type Texts interface {
	T(lang, id string, data map[string]any) string
	Date(lang string, t time.Time) string
}

// Format renders the /rates answer as Telegram HTML: a title with the bank's date, one line
// per currency ("🇺🇸 USD 498,55 ₸ ▲ 1,25"; the decimal separator is the language's), and, when
// the snapshot is stale, a line saying which day's rates these are, when they were fetched, and
// that they could not be updated. Fetch times are shown in loc (TIMEZONE); nil leaves them in
// their own location. A snapshot without rates gives the "not available yet" message.
// Everything, translations included, is escaped.
func Format(t Texts, lang string, s Snapshot, loc *time.Location) string {
	if len(s.Rates) == 0 {
		return html.EscapeString(t.T(lang, "rates_unavailable", nil))
	}
	sep := t.T(lang, "rates_decimal_separator", nil)
	var b strings.Builder
	b.WriteString("<b>")
	b.WriteString(html.EscapeString(t.T(lang, "rates_title", map[string]any{
		"Day":   strconv.Itoa(s.Date.Day()),
		"Month": t.T(lang, "rates_month_"+strconv.Itoa(int(s.Date.Month())), nil),
	})))
	b.WriteString("</b>\n")
	for _, r := range s.Rates {
		b.WriteString("\n")
		b.WriteString(html.EscapeString(rateLine(r, sep)))
	}
	if s.Stale {
		fetched := s.FetchedAt
		if loc != nil {
			fetched = fetched.In(loc)
		}
		b.WriteString("\n\n")
		b.WriteString(html.EscapeString(t.T(lang, "rates_stale", map[string]any{
			"Date":    day(t, lang, s.Date),
			"Fetched": t.Date(lang, fetched),
		})))
	}
	return b.String()
}

// Line is the one-line header a digest starts with: "USD 498,55 · EUR 524,28 · RUB 4,75". It
// is plain text (escape it where HTML is sent; codes and numbers need none); "" without rates.
func Line(t Texts, lang string, s Snapshot) string {
	sep := t.T(lang, "rates_decimal_separator", nil)
	parts := make([]string, 0, len(s.Rates))
	for _, r := range s.Rates {
		parts = append(parts, r.Code+" "+r.PerUnit.Format(sep))
	}
	return strings.Join(parts, " · ")
}

// rateLine is "🇺🇸 USD 498,55 ₸ ▲ 1,25": the arrow only when the rate moved, the amount only
// when the feed gave it.
func rateLine(r Rate, sep string) string {
	var b strings.Builder
	if f := flag(r.Code); f != "" {
		b.WriteString(f + " ")
	}
	b.WriteString(r.Code + " " + r.PerUnit.Format(sep) + " ₸")
	arrow := map[Direction]string{DirUp: "▲", DirDown: "▼"}[r.Direction]
	if arrow != "" {
		b.WriteString(" " + arrow)
		if r.HasChange {
			b.WriteString(" " + r.Change.Abs().Format(sep))
		}
	}
	return b.String()
}

// day is the bank's date in the language's words: "14 қыркүйек 2022", "14 сентября 2022".
func day(t Texts, lang string, d time.Time) string {
	return t.T(lang, "rates_day", map[string]any{
		"Day":   strconv.Itoa(d.Day()),
		"Month": t.T(lang, "month_"+strconv.Itoa(int(d.Month())), nil),
		"Year":  strconv.Itoa(d.Year()),
	})
}

// flag is the flag of the currency's country: the first two letters of an ISO 4217 code are
// the ISO 3166 country (EU for the euro); X… codes (XDR, XAU) belong to no country.
func flag(code string) string {
	if len(code) != 3 || code[0] == 'X' {
		return ""
	}
	var b strings.Builder
	for _, c := range code[:2] {
		if c < 'A' || c > 'Z' {
			return ""
		}
		b.WriteRune(0x1F1E6 + c - 'A')
	}
	return b.String()
}
