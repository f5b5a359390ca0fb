package metrics

import (
	"slices"
	"time"
)

// SessionObserver records what the session scripts measure (it satisfies
// session.Observer): queue waits, session lengths and survey answers.
// Choices are the configured survey choice ids; any other id a user sends
// is counted as "other", so that users cannot grow the label set.
type SessionObserver struct {
	M       *Metrics
	Choices []string
}

// Waited implements session.Observer.
func (o SessionObserver) Waited(account string, d time.Duration) {
	o.M.Waiting.WithLabelValues(account).Observe(d.Seconds())
}

// Ended implements session.Observer.
func (o SessionObserver) Ended(account string, d time.Duration) {
	o.M.SessionDuration.WithLabelValues(account).Observe(d.Seconds())
}

// Answered implements session.Observer.
func (o SessionObserver) Answered(account, choice string) {
	if !slices.Contains(o.Choices, choice) {
		choice = "other"
	}
	o.M.SurveyAnswers.WithLabelValues(account, choice).Inc()
}
