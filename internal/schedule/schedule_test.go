package schedule

import (
	"strings"
	"testing"
	"time"
)

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestParseClock(t *testing.T) {
	tests := []struct {
		in      string
		want    Clock
		wantErr bool
	}{
		{"00:00", 0, false},
		{"08:00", 8 * 60, false},
		{"8:00", 8 * 60, false},
		{" 19:30 ", 19*60 + 30, false},
		{"23:59", 23*60 + 59, false},
		{"24:00", 0, true},
		{"12:60", 0, true},
		{"12", 0, true},
		{"12:5", 0, true},
		{"123:00", 0, true},
		{"+8:00", 0, true},
		{"8am", 0, true},
		{"08.00", 0, true},
		{"", 0, true},
	}
	for _, tc := range tests {
		got, err := ParseClock(tc.in)
		if tc.wantErr {
			if err == nil || !strings.Contains(err.Error(), "HH:MM") {
				t.Errorf("ParseClock(%q) = %v, %v; want an error saying HH:MM", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseClock(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestClockString(t *testing.T) {
	for c, want := range map[Clock]string{0: "00:00", 8 * 60: "08:00", 19*60 + 5: "19:05", 23*60 + 59: "23:59"} {
		if got := c.String(); got != want {
			t.Errorf("Clock(%d) = %q, want %q", int(c), got, want)
		}
		if back, err := ParseClock(want); err != nil || back != c {
			t.Errorf("ParseClock(%q) = %v, %v; want %d back", want, back, err, int(c))
		}
	}
}

func TestParseWindow(t *testing.T) {
	tests := []struct {
		in      string
		want    Window
		wantErr string
	}{
		{"23:00-07:00", Window{23 * 60, 7 * 60}, ""},
		{"13:00-14:30", Window{13 * 60, 14*60 + 30}, ""},
		{"00:00-06:00", Window{0, 6 * 60}, ""},
		{" 22:00 - 6:00 ", Window{22 * 60, 6 * 60}, ""},
		{"23:00-23:00", Window{}, `"23:00-23:00" starts and ends at the same time`},
		{"23:00", Window{}, `"23:00" is not FROM-TO`},
		{"23:00-25:00", Window{}, `"23:00-25:00": "25:00" is not a time of day`},
		{"night-07:00", Window{}, `"night-07:00": "night" is not a time of day`},
	}
	for _, tc := range tests {
		got, err := ParseWindow(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseWindow(%q) = %v, %v; want error %q", tc.in, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseWindow(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	if w, _ := ParseWindow("23:00-07:00"); w.String() != "23:00-07:00" || w.IsZero() {
		t.Errorf("String = %q, IsZero = %v", w.String(), w.IsZero())
	}
	if w := (Window{}); !w.IsZero() || w.String() != "" {
		t.Errorf("the zero window: IsZero = %v, String = %q; want none", w.IsZero(), w.String())
	}
}

func TestWindowContains(t *testing.T) {
	almaty := zone(t, "Asia/Almaty")
	berlin := zone(t, "Europe/Berlin")
	night := Window{23 * 60, 7 * 60}
	lunch := Window{13 * 60, 14 * 60}
	at := func(loc *time.Location, s string) time.Time {
		t.Helper()
		v, err := time.ParseInLocation("2006-01-02 15:04:05", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		w    Window
		t    time.Time
		loc  *time.Location
		want bool
	}{
		{night, at(almaty, "2025-06-01 22:59:59"), almaty, false},
		{night, at(almaty, "2025-06-01 23:00:00"), almaty, true},
		{night, at(almaty, "2025-06-02 00:00:00"), almaty, true},
		{night, at(almaty, "2025-06-02 03:00:00"), almaty, true},
		{night, at(almaty, "2025-06-02 06:59:59"), almaty, true},
		{night, at(almaty, "2025-06-02 07:00:00"), almaty, false},
		{night, at(almaty, "2025-06-02 12:00:00"), almaty, false},
		{lunch, at(almaty, "2025-06-02 12:59:00"), almaty, false},
		{lunch, at(almaty, "2025-06-02 13:00:00"), almaty, true},
		{lunch, at(almaty, "2025-06-02 14:00:00"), almaty, false},
		{lunch, at(almaty, "2025-06-02 23:30:00"), almaty, false},
		// The window is on the clocks of loc, whatever zone t is in: 18:30 UTC is 23:30 in Almaty.
		{night, time.Date(2025, 6, 1, 18, 30, 0, 0, time.UTC), almaty, true},
		{night, time.Date(2025, 6, 1, 18, 30, 0, 0, time.UTC), time.UTC, false},
		// Berlin in summer (UTC+2) and winter (UTC+1): 05:30 UTC is 07:30 and 06:30.
		{night, time.Date(2025, 7, 1, 5, 30, 0, 0, time.UTC), berlin, false},
		{night, time.Date(2025, 1, 15, 5, 30, 0, 0, time.UTC), berlin, true},
		{Window{}, at(almaty, "2025-06-02 03:00:00"), almaty, false},
	}
	for _, tc := range tests {
		if got := tc.w.Contains(tc.t, tc.loc); got != tc.want {
			t.Errorf("%v.Contains(%v in %v) = %v, want %v", tc.w, tc.t, tc.loc, got, tc.want)
		}
	}
}

func TestNext(t *testing.T) {
	almaty := zone(t, "Asia/Almaty")
	berlin := zone(t, "Europe/Berlin")
	newYork := zone(t, "America/New_York")
	utc := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	clock := func(s string) Clock {
		c, err := ParseClock(s)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		name string
		t    string
		c    string
		loc  *time.Location
		want string
	}{
		{"later today", "2025-06-01T01:00:00+05:00", "08:00", almaty, "2025-06-01T08:00:00+05:00"},
		{"exactly now", "2025-06-01T08:00:00+05:00", "08:00", almaty, "2025-06-01T08:00:00+05:00"},
		{"a nanosecond late: tomorrow", "2025-06-01T08:00:00.000000001+05:00", "08:00", almaty, "2025-06-02T08:00:00+05:00"},
		{"evening, after the last", "2025-06-01T21:00:00+05:00", "19:00", almaty, "2025-06-02T19:00:00+05:00"},
		{"t in another zone", "2025-06-01T02:00:00Z", "08:00", almaty, "2025-06-01T08:00:00+05:00"},
		{"UTC date behind Almaty's", "2025-06-01T20:00:00Z", "08:00", almaty, "2025-06-02T08:00:00+05:00"},
		{"end of month", "2025-06-30T20:00:00+05:00", "08:00", almaty, "2025-07-01T08:00:00+05:00"},
		{"end of year", "2025-12-31T23:30:00+05:00", "00:15", almaty, "2026-01-01T00:15:00+05:00"},
		// Kazakhstan moved from UTC+6 to UTC+5 at midnight of 1 March 2024: 23:00-23:59 of
		// 29 February happened twice.
		{"Almaty before the change", "2024-02-28T20:00:00+06:00", "08:00", almaty, "2024-02-29T08:00:00+06:00"},
		{"Almaty repeated hour: the first pass", "2024-02-29T22:00:00+06:00", "23:30", almaty, "2024-02-29T23:30:00+06:00"},
		{"Almaty repeated hour: not again on the second pass", "2024-02-29T23:30:00.000000001+06:00", "23:30", almaty, "2024-03-01T23:30:00+05:00"},
		{"Almaty after the change", "2024-02-29T20:00:00+06:00", "08:00", almaty, "2024-03-01T08:00:00+05:00"},
		// Europe/Berlin: 30 March 2025 02:00 CET became 03:00 CEST; 26 October 2025 03:00 CEST
		// became 02:00 CET.
		{"Berlin, the night before spring", "2025-03-29T20:00:00+01:00", "08:00", berlin, "2025-03-30T08:00:00+02:00"},
		{"Berlin, skipped time: an hour late", "2025-03-30T00:00:00+01:00", "02:30", berlin, "2025-03-30T03:30:00+02:00"},
		{"Berlin, skipped time, asked after the jump", "2025-03-30T03:10:00+02:00", "02:30", berlin, "2025-03-30T03:30:00+02:00"},
		{"Berlin, skipped time, next day", "2025-03-30T03:30:00.000000001+02:00", "02:30", berlin, "2025-03-31T02:30:00+02:00"},
		{"Berlin, repeated time: the first pass", "2025-10-26T00:00:00+02:00", "02:30", berlin, "2025-10-26T02:30:00+02:00"},
		{"Berlin, repeated time: not again", "2025-10-26T02:30:00.000000001+02:00", "02:30", berlin, "2025-10-27T02:30:00+01:00"},
		{"Berlin, after autumn", "2025-10-25T20:00:00+02:00", "19:00", berlin, "2025-10-26T19:00:00+01:00"},
		// West of Greenwich time.Date resolves skipped and repeated times the other way round;
		// Next keeps the same rules.
		{"New York, skipped time: an hour late", "2025-03-09T00:00:00-05:00", "02:30", newYork, "2025-03-09T03:30:00-04:00"},
		{"New York, repeated time: the first pass", "2025-11-02T00:00:00-04:00", "01:30", newYork, "2025-11-02T01:30:00-04:00"},
		{"New York, repeated time: not again", "2025-11-02T01:30:00.000000001-04:00", "01:30", newYork, "2025-11-03T01:30:00-05:00"},
	}
	for _, tc := range tests {
		got := Next(utc(tc.t), clock(tc.c), tc.loc)
		want := utc(tc.want)
		if !got.Equal(want) {
			t.Errorf("%s: Next(%s, %s, %v) = %s, want %s", tc.name, tc.t, tc.c, tc.loc, got.Format(time.RFC3339), tc.want)
		}
		if got.Location() != tc.loc {
			t.Errorf("%s: Next is in %v, want %v", tc.name, got.Location(), tc.loc)
		}
	}
}

// A digest loop fires at Next and asks again from just after it: once per day, every day,
// through both DST changes of a year.
func TestNextOncePerDay(t *testing.T) {
	for _, name := range []string{"Europe/Berlin", "America/New_York", "Asia/Almaty"} {
		loc := zone(t, name)
		for _, c := range []Clock{0, 2*60 + 30, 8 * 60, 23*60 + 30} {
			at := time.Date(2024, 1, 1, 0, 0, 0, 0, loc)
			days := map[string]bool{}
			for range 731 {
				next := Next(at, c, loc)
				if !next.After(at) && !next.Equal(at) {
					t.Fatalf("%s %v: Next(%v) = %v went back", name, c, at, next)
				}
				day := next.Format("2006-01-02")
				if days[day] {
					t.Fatalf("%s %v: fired twice on %s", name, c, day)
				}
				days[day] = true
				at = next.Add(time.Nanosecond)
			}
			// 2024-01-01 to 2025-12-31: every day once.
			if len(days) != 731 {
				t.Errorf("%s %v: fired on %d days of 731", name, c, len(days))
			}
		}
	}
}

func TestPrev(t *testing.T) {
	almaty, _ := time.LoadLocation("Asia/Almaty")
	at := time.Date(2026, 11, 28, 8, 0, 0, 0, almaty)
	eight, _ := ParseClock("08:00")
	seven, _ := ParseClock("19:00")
	if got := Prev(at, eight, almaty); !got.Equal(at.AddDate(0, 0, -1)) {
		t.Errorf("Prev(08:00 at 08:00) = %v, want the day before", got)
	}
	if got := Prev(at, seven, almaty); !got.Equal(time.Date(2026, 11, 27, 19, 0, 0, 0, almaty)) {
		t.Errorf("Prev(19:00 at 08:00) = %v", got)
	}
	if got := Prev(at.Add(time.Minute), eight, almaty); !got.Equal(at) {
		t.Errorf("Prev(08:00 at 08:01) = %v, want 08:00 that day", got)
	}
}
