package sim

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"
)

// OutageMode is how the simulator fails a request during an outage.
type OutageMode string

// The outage modes: a network error, or an HTTP error from a front end.
const (
	OutageClose OutageMode = "close" // hijack and close the connection: the client sees a network error
	Outage503   OutageMode = "503"   // HTTP 503 Service Unavailable, no JSON
)

// Faults are failures the simulator injects into the WeChat paths (never
// into /sim/), to test a client's retries, backoff and failover
// (docs/wechat.md, "Hosts and failover" and "Error codes"). The zero value
// injects none.
type Faults struct {
	// ErrorRate is the probability (0..1) that a call is answered with
	// ErrCode instead of being served; only calls to ErrPath when it is set.
	ErrorRate float64
	ErrCode   int    // default -1 "system error"; e.g. 45011 to throttle
	ErrPath   string // e.g. "/cgi-bin/message/custom/send"; "" = every path
	// Latency is added to every call before it is served.
	Latency time.Duration
	// Outage fails every call while it is true, or while the simulator's
	// clock is in [OutageFrom, OutageUntil) when either is set (a zero
	// OutageFrom means "since ever", a zero OutageUntil "for ever").
	Outage      bool
	OutageFrom  time.Time
	OutageUntil time.Time
	OutageMode  OutageMode // default OutageClose
	// DailyQuotaExhausted answers every custom/send with 45009 (docs/wechat.md, "API quotas").
	DailyQuotaExhausted bool
}

// faultsJSON is the JSON of Faults for /sim/faults: snake_case names and
// Latency as a Go duration string such as "250ms".
type faultsJSON struct {
	ErrorRate           float64    `json:"error_rate"`
	ErrCode             int        `json:"errcode,omitempty"`
	ErrPath             string     `json:"error_path,omitempty"`
	Latency             string     `json:"latency,omitempty"`
	Outage              bool       `json:"outage"`
	OutageFrom          *time.Time `json:"outage_from,omitempty"`
	OutageUntil         *time.Time `json:"outage_until,omitempty"`
	OutageMode          OutageMode `json:"outage_mode,omitempty"`
	DailyQuotaExhausted bool       `json:"daily_quota_exhausted"`
}

// MarshalJSON writes f as /sim/faults shows it.
func (f Faults) MarshalJSON() ([]byte, error) {
	j := faultsJSON{ErrorRate: f.ErrorRate, ErrCode: f.ErrCode, ErrPath: f.ErrPath, Outage: f.Outage,
		OutageMode: f.OutageMode, DailyQuotaExhausted: f.DailyQuotaExhausted}
	if f.Latency > 0 {
		j.Latency = f.Latency.String()
	}
	if !f.OutageFrom.IsZero() {
		j.OutageFrom = &f.OutageFrom
	}
	if !f.OutageUntil.IsZero() {
		j.OutageUntil = &f.OutageUntil
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads f as POST /sim/faults takes it.
func (f *Faults) UnmarshalJSON(b []byte) error {
	var j faultsJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	nf := Faults{ErrorRate: j.ErrorRate, ErrCode: j.ErrCode, ErrPath: j.ErrPath, Outage: j.Outage,
		OutageMode: j.OutageMode, DailyQuotaExhausted: j.DailyQuotaExhausted}
	if j.Latency != "" {
		d, err := time.ParseDuration(j.Latency)
		if err != nil {
			return fmt.Errorf("latency: %w", err)
		}
		nf.Latency = d
	}
	if j.OutageFrom != nil {
		nf.OutageFrom = *j.OutageFrom
	}
	if j.OutageUntil != nil {
		nf.OutageUntil = *j.OutageUntil
	}
	if err := nf.validate(); err != nil {
		return err
	}
	*f = nf
	return nil
}

func (f Faults) validate() error {
	switch {
	case f.ErrorRate < 0 || f.ErrorRate > 1:
		return fmt.Errorf("error_rate %v is not in 0..1", f.ErrorRate)
	case f.Latency < 0:
		return fmt.Errorf("latency %v is negative", f.Latency)
	case f.OutageMode != "" && f.OutageMode != OutageClose && f.OutageMode != Outage503:
		return fmt.Errorf("outage_mode %q is neither %q nor %q", f.OutageMode, OutageClose, Outage503)
	}
	return nil
}

// outage reports whether calls fail at now.
func (f Faults) outage(now time.Time) bool {
	if f.Outage {
		return true
	}
	if f.OutageFrom.IsZero() && f.OutageUntil.IsZero() {
		return false
	}
	return !now.Before(f.OutageFrom) && (f.OutageUntil.IsZero() || now.Before(f.OutageUntil))
}

// injectsError decides whether a call to path gets the injected error.
func (f Faults) injectsError(path string) bool {
	if f.ErrorRate <= 0 || f.ErrPath != "" && f.ErrPath != path {
		return false
	}
	return f.ErrorRate >= 1 || rand.Float64() < f.ErrorRate
}

// code is the injected errcode.
func (f Faults) code() int {
	if f.ErrCode == 0 {
		return -1
	}
	return f.ErrCode
}

// SetFaults replaces the injected faults; Faults{} turns them off. It
// returns an error, and changes nothing, for an ErrorRate outside 0..1, a
// negative Latency or an unknown OutageMode.
func (a *API) SetFaults(f Faults) error {
	if err := f.validate(); err != nil {
		return err
	}
	a.mu.Lock()
	a.faults = f
	a.mu.Unlock()
	return nil
}

// Faults returns the injected faults.
func (a *API) Faults() Faults {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.faults
}
