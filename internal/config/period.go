package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Period is a span of time too long for hours to read well: a whole number
// of days ("395d") or a Go duration ("72h"); "0" is none.
type Period time.Duration

// Duration returns p as a time.Duration.
func (p Period) Duration() time.Duration { return time.Duration(p) }

// String writes p in days when it is whole days.
func (p Period) String() string {
	d := time.Duration(p)
	if d != 0 && d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}

// ParsePeriod reads "395d" or a Go duration.
func ParsePeriod(s string) (Period, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseInt(n, 10, 64)
		if err != nil || days > 100*366 || days < -100*366 {
			return 0, fmt.Errorf("period %q: want a whole number of days such as 395d", s)
		}
		return Period(time.Duration(days) * 24 * time.Hour), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("period %q: want days such as 395d or a duration such as 72h", s)
	}
	return Period(d), nil
}

// UnmarshalYAML reads a Period; a wrong value is reported like any other
// value of the wrong type (yamlerr.go).
func (p *Period) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParsePeriod(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: cannot unmarshal %s `%s` into config.Period", n.Line, n.ShortTag(), n.Value)}}
	}
	*p = v
	return nil
}

// MarshalYAML writes p as String does.
func (p Period) MarshalYAML() (any, error) { return p.String(), nil }
