package kf

import (
	"fmt"
	"strings"
	"time"
)

// Hours are an account's business hours: outside them a user who has no
// session is told so instead of being queued. Zero Hours are always open.
type Hours struct {
	loc    *time.Location
	ranges []dayRange
}

type dayRange struct {
	days        [7]bool // by time.Weekday
	open, close int     // minutes after midnight; close > open
}

var weekdays = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday,
	"wed": time.Wednesday, "thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

// ParseHours reads business hours such as ["mon-fri 09:00-18:00", "sat
// 10:00-16:00"] in the named time zone (default Asia/Shanghai, WeChat's
// home). An empty list means always open.
func ParseHours(specs []string, zone string) (Hours, error) {
	if zone == "" {
		zone = "Asia/Shanghai"
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return Hours{}, fmt.Errorf("unknown time zone %q", zone)
	}
	h := Hours{loc: loc}
	for _, spec := range specs {
		r, err := parseRange(spec)
		if err != nil {
			return Hours{}, fmt.Errorf("%q: %w", spec, err)
		}
		h.ranges = append(h.ranges, r)
	}
	return h, nil
}

func parseRange(spec string) (dayRange, error) {
	var r dayRange
	days, times, ok := strings.Cut(strings.TrimSpace(strings.ToLower(spec)), " ")
	if !ok {
		return r, fmt.Errorf(`want "mon-fri 09:00-18:00"`)
	}
	for _, part := range strings.Split(days, ",") {
		from, to, isRange := strings.Cut(part, "-")
		a, okA := weekdays[from]
		b, okB := weekdays[to]
		if !okA || isRange && !okB {
			return r, fmt.Errorf("days must be like mon-fri or sat,sun")
		}
		if !isRange {
			b = a
		}
		for d := a; ; d = (d + 1) % 7 {
			r.days[d] = true
			if d == b {
				break
			}
		}
	}
	open, closing, ok := strings.Cut(strings.TrimSpace(times), "-")
	if !ok {
		return r, fmt.Errorf("hours must be like 09:00-18:00")
	}
	var err error
	if r.open, err = minutes(open); err != nil {
		return r, err
	}
	if r.close, err = minutes(closing); err != nil {
		return r, err
	}
	if r.close <= r.open {
		return r, fmt.Errorf("closes before it opens")
	}
	return r, nil
}

func minutes(hhmm string) (int, error) {
	t, err := time.Parse("15:04", hhmm)
	if err != nil && hhmm != "24:00" {
		return 0, fmt.Errorf("%q is not a time like 09:30", hhmm)
	}
	if hhmm == "24:00" {
		return 24 * 60, nil
	}
	return t.Hour()*60 + t.Minute(), nil
}

// Open reports whether t falls within the hours.
func (h Hours) Open(t time.Time) bool {
	if len(h.ranges) == 0 {
		return true
	}
	t = t.In(h.loc)
	m := t.Hour()*60 + t.Minute()
	for _, r := range h.ranges {
		if r.days[t.Weekday()] && m >= r.open && m < r.close {
			return true
		}
	}
	return false
}
