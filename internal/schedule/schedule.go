// Package schedule holds times of day as readers and operators write them ("08:00",
// "23:00-07:00") and turns them into instants in a time zone, across daylight-saving changes.
// It does no I/O and keeps no clock: callers pass the time.
package schedule

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Clock is a time of day: minutes since midnight, 0 (00:00) to 1439 (23:59).
type Clock int

// minutesPerDay bounds a Clock.
const minutesPerDay = 24 * 60

// ParseClock reads "HH:MM" on a 24-hour clock ("08:00", "19:30"; "8:00" is read too).
func ParseClock(s string) (Clock, error) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	if ok && len(h) >= 1 && len(h) <= 2 && len(m) == 2 && digits(h) && digits(m) {
		hh, _ := strconv.Atoi(h)
		mm, _ := strconv.Atoi(m)
		if hh < 24 && mm < 60 {
			return Clock(hh*60 + mm), nil
		}
	}
	return 0, fmt.Errorf("%q is not a time of day HH:MM (00:00 to 23:59)", s)
}

// digits reports whether s is ASCII digits only: strconv.Atoi alone would take "+8" and "-0".
func digits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// Hour is the clock's hour, 0-23.
func (c Clock) Hour() int { return int(c) / 60 }

// Minute is the clock's minute, 0-59.
func (c Clock) Minute() int { return int(c) % 60 }

// String is "HH:MM", as ParseClock reads it.
func (c Clock) String() string { return fmt.Sprintf("%02d:%02d", c.Hour(), c.Minute()) }

// Of is the time of day t shows on the clocks of loc.
func Of(t time.Time, loc *time.Location) Clock {
	t = t.In(loc)
	return Clock(t.Hour()*60 + t.Minute())
}

// Window is a span of the day from From (included) to To (excluded), on the clocks of a time
// zone; To before From wraps over midnight (23:00-07:00). The zero value is no window: a window
// from a time to the same time would be either empty or the whole day, and ParseWindow refuses it.
type Window struct {
	From, To Clock
}

// ParseWindow reads "HH:MM-HH:MM" ("23:00-07:00").
func ParseWindow(s string) (Window, error) {
	from, to, ok := strings.Cut(s, "-")
	if !ok {
		return Window{}, fmt.Errorf("%q is not FROM-TO (like 23:00-07:00)", s)
	}
	f, err := ParseClock(from)
	if err != nil {
		return Window{}, fmt.Errorf("%q: %w", s, err)
	}
	t, err := ParseClock(to)
	if err != nil {
		return Window{}, fmt.Errorf("%q: %w", s, err)
	}
	if f == t {
		return Window{}, fmt.Errorf("%q starts and ends at the same time", s)
	}
	return Window{From: f, To: t}, nil
}

// IsZero reports whether w is no window at all.
func (w Window) IsZero() bool { return w.From == w.To }

// String is "HH:MM-HH:MM", or "" for no window.
func (w Window) String() string {
	if w.IsZero() {
		return ""
	}
	return w.From.String() + "-" + w.To.String()
}

// Contains reports whether t falls in the window on the clocks of loc. It goes by the wall
// clock: in the hour a DST change repeats, both passes of 23:30 are inside 23:00-07:00.
func (w Window) Contains(t time.Time, loc *time.Location) bool {
	if w.IsZero() {
		return false
	}
	c := Of(t, loc)
	if w.From < w.To {
		return w.From <= c && c < w.To
	}
	return c >= w.From || c < w.To
}

// Next is the first occurrence of the time of day c at or after t, on the clocks of loc. Each
// calendar day has exactly one occurrence, so a caller that fires at Next and then asks again
// from just after it never fires twice for one day:
//   - a time the clocks show twice (autumn, 02:30 in Europe/Berlin) occurs the first time;
//   - a time the clocks skip (spring, 02:30 in Europe/Berlin) occurs when the clocks, had they
//     not jumped, would have shown it: 03:30 of the new time.
func Next(t time.Time, c Clock, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	// The day before as well: a time skipped late in that day may land on t's day.
	for i := -1; i <= 2; i++ {
		if at := On(y, m, d+i, c, loc); !at.Before(t) {
			return at
		}
	}
	// Unreachable: the occurrence two days after t's date is always later than t.
	return On(y, m, d+3, c, loc)
}

// On is the occurrence of c on the given calendar day in loc (d may overflow its month, as in
// time.Date), with Next's rules for times a DST change repeats or skips. time.Date alone
// picks one of the two passes without saying which, and it differs between zones east and
// west of Greenwich.
func On(y int, m time.Month, d int, c Clock, loc *time.Location) time.Time {
	// The wall clock read as UTC; the instant is this minus the zone's offset at that instant.
	wall := time.Date(y, m, d, c.Hour(), c.Minute(), 0, 0, time.UTC)
	// No zone is more than 14 hours from UTC, and none changes offset twice within two days:
	// the offsets a day either side are the only candidates.
	_, before := wall.Add(-24 * time.Hour).In(loc).Zone()
	_, after := wall.Add(24 * time.Hour).In(loc).Zone()
	var best time.Time
	for _, off := range []int{before, after} {
		at := wall.Add(-time.Duration(off) * time.Second)
		if _, got := at.In(loc).Zone(); got != off {
			continue // that offset is not in force at that instant
		}
		if best.IsZero() || at.Before(best) {
			best = at
		}
	}
	if best.IsZero() {
		// Skipped by a jump forward: the clocks, still on the old offset, would show it now.
		best = wall.Add(-time.Duration(before) * time.Second)
	}
	return best.In(loc)
}

// Prev is the last occurrence of time of day c strictly before t, on the clocks of loc.
func Prev(t time.Time, c Clock, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	for i := 0; i >= -2; i-- {
		if o := On(y, m, d+i, c, loc); o.Before(t) {
			return o
		}
	}
	return On(y, m, d-3, c, loc)
}
