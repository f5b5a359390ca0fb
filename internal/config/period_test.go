package config_test

import (
	"testing"
	"time"

	"github.com/kfgate/kfgate/internal/config"
)

func TestPeriodString(t *testing.T) {
	for _, c := range []struct {
		p    config.Period
		want string
	}{{config.Period(395 * 24 * time.Hour), "395d"}, {0, "0s"}, {config.Period(36 * time.Hour), "36h0m0s"}} {
		if got := c.p.String(); got != c.want {
			t.Errorf("%d: %q, want %q", c.p, got, c.want)
		}
	}
}

// Whatever a config file or variable holds, ParsePeriod answers a value or
// an error, and a value reads back as itself.
func FuzzParsePeriod(f *testing.F) {
	for _, s := range []string{"395d", "0", "72h", "-1d", "1.5d", "d", "99999999999d", "1h30m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := config.ParsePeriod(s)
		if err != nil {
			return
		}
		back, err := config.ParsePeriod(p.String())
		if err != nil || back != p {
			t.Fatalf("%q → %v → %q → %v, %v", s, time.Duration(p), p.String(), time.Duration(back), err)
		}
	})
}
