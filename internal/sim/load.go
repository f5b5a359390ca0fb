package sim

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"
)

// LoadOptions describe a load run of simulated users against one kfgate.
type LoadOptions struct {
	Users       int           // distinct openids, each message a new MsgId
	Rate        float64       // callbacks per second, open loop; 0 = as fast as Connections allow
	Connections int           // concurrent connections
	Duration    time.Duration // how long to send
	// Messages, when set, is how many callbacks to send, as fast as the
	// connections go (Rate and Duration are then ignored): user i%Users
	// sends the i-th, so that every user writes before anyone writes twice.
	Messages int
	// Agents, when set, are connected agents: the report then says how
	// long each message took from its callback to an agent's WebSocket.
	Agents *Agents
}

// LoadReport is what a load run measured. Latency is from the moment a
// callback was due (open loop) or sent (closed loop) to its answer, so a
// stalled server shows up in the percentiles instead of hiding in a lower
// send rate.
type LoadReport struct {
	Sent     int
	OK       int            // 200 with "success" or a reply
	Failed   map[string]int // by status or error
	Elapsed  time.Duration
	PerSec   float64
	P50, P90 time.Duration
	P99, Max time.Duration
	// ToAgent: from sending a callback to an agent receiving the message
	// (with LoadOptions.Agents); Delivered counts the messages that arrived.
	Delivered              int
	ToAgentP50, ToAgentP99 time.Duration
}

func (r LoadReport) String() string {
	s := fmt.Sprintf("sent %d in %s: %.0f callbacks/s, ok %d, failed %v; latency p50 %s p90 %s p99 %s max %s",
		r.Sent, r.Elapsed.Round(time.Millisecond), r.PerSec, r.OK, r.Failed,
		r.P50.Round(time.Microsecond), r.P90.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.Max.Round(time.Microsecond))
	if r.Delivered > 0 {
		s += fmt.Sprintf("; to an agent: %d delivered, p50 %s p99 %s", r.Delivered,
			r.ToAgentP50.Round(time.Microsecond), r.ToAgentP99.Round(time.Microsecond))
	}
	return s
}

// Load runs simulated users against kfgate through p. All callbacks are
// prepared (signed and encrypted) before the clock starts, so the
// generator's own crypto does not compete with kfgate for the CPU.
func Load(ctx context.Context, p *Poster, o LoadOptions) (LoadReport, error) {
	if o.Connections < 1 || (o.Duration <= 0 && o.Messages <= 0) || o.Users < 1 {
		return LoadReport{}, fmt.Errorf("load: need connections ≥ 1, users ≥ 1 and a duration or a number of messages")
	}
	n := int(o.Rate * o.Duration.Seconds())
	if o.Rate == 0 {
		n = int(o.Duration.Seconds() * 20000) // more than one kfgate serves on these machines
	}
	if o.Messages > 0 {
		n, o.Rate, o.Duration = o.Messages, 0, time.Duration(1<<62)
	}
	n = max(n, 1)
	reqs := prepare(p, o.Users, n)

	tr := &http.Transport{MaxIdleConnsPerHost: o.Connections, MaxConnsPerHost: o.Connections, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}

	type job struct {
		i   int
		due time.Time
	}
	jobs := make(chan job, o.Connections*4)
	lat := make([]time.Duration, n)
	sentAt := make([]time.Time, n)
	status := make([]string, n)
	var wg sync.WaitGroup
	for range o.Connections {
		wg.Go(func() {
			for j := range jobs {
				start := j.due
				if start.IsZero() {
					start = time.Now()
				}
				sentAt[j.i] = start
				status[j.i] = post(ctx, client, reqs[j.i])
				lat[j.i] = time.Since(start)
			}
		})
	}

	start := time.Now()
	sent := 0
	deadline := start.Add(o.Duration)
feed:
	for ; sent < n; sent++ {
		var due time.Time
		if o.Rate > 0 {
			due = start.Add(time.Duration(float64(sent) / o.Rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			}
		} else if time.Now().After(deadline) {
			break
		}
		select {
		case jobs <- job{i: sent, due: due}:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)

	rep := LoadReport{Sent: sent, Failed: map[string]int{}, Elapsed: elapsed, PerSec: float64(sent) / elapsed.Seconds()}
	lat = lat[:sent]
	for _, s := range status[:sent] {
		if s == "" {
			rep.OK++
		} else {
			rep.Failed[s]++
		}
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	rep.P50, rep.P90, rep.P99 = pct(0.50), pct(0.90), pct(0.99)
	if o.Agents != nil {
		rep.Delivered, rep.ToAgentP50, rep.ToAgentP99 = toAgent(ctx, o.Agents, reqs[:sent], sentAt, status)
	}
	if len(lat) > 0 {
		rep.Max = lat[len(lat)-1]
	}
	return rep, ctx.Err()
}

// toAgent waits (up to 10 s) for the agents to receive every message kfgate
// accepted and returns how many arrived and the p50 and p99 of the time
// from sending the callback to an agent receiving it.
func toAgent(ctx context.Context, a *Agents, reqs []Prepared, sentAt []time.Time, status []string) (int, time.Duration, time.Duration) {
	var took []time.Duration
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; i < len(reqs); {
		if status[i] != "" { // refused: no agent will see it
			i++
			continue
		}
		at, ok := a.Received(strconv.FormatInt(reqs[i].MsgID, 10))
		if ok {
			took = append(took, at.Sub(sentAt[i]))
			i++
			continue
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			i++ // lost or late: not counted
			continue
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(took) == 0 {
		return 0, 0, 0
	}
	slices.Sort(took)
	return len(took), took[len(took)/2], took[min(len(took)-1, len(took)*99/100)]
}

// LoadOpenID is the openid of the load's user i.
func LoadOpenID(i int) string { return fmt.Sprintf("o_sim_user_%06d", i) }

// prepare returns n callbacks of text messages from users, each with a
// MsgId unique across runs and across generators running at once (two
// started in the same second must not send the same MsgIds: kfgate would
// rightly take the second for WeChat's retries of the first): a random
// base far from any other's, then consecutive ids.
func prepare(p *Poster, users, n int) []Prepared {
	base := rand.Int64N(1<<62) + 1
	reqs := make([]Prepared, n)
	for i := range reqs {
		openid := LoadOpenID(i % users)
		reqs[i] = p.Prepare(TextXML(p.acct.GhID, openid, time.Now().Unix(), "你好，我想咨询一下订单", base+int64(i)))
		reqs[i].MsgID = base + int64(i)
	}
	return reqs
}

// Dump writes n prepared callbacks, one per line as the URL's path and
// query, a tab, and the body, for a load tool such as wrk to replay
// (deploy/load/wrk.lua).
func Dump(w io.Writer, p *Poster, users, n int) error {
	bw := bufio.NewWriter(w)
	for _, pr := range prepare(p, users, n) {
		u, err := url.Parse(pr.URL)
		if err != nil {
			return err
		}
		if bytes.ContainsAny(pr.Body, "\t\n") {
			return fmt.Errorf("dump: a body holds a tab or newline")
		}
		fmt.Fprintf(bw, "%s\t%s\n", u.RequestURI(), pr.Body)
	}
	return bw.Flush()
}

// post sends one callback and returns "" for a 200, else what went wrong.
func post(ctx context.Context, client *http.Client, pr Prepared) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, pr.URL, bytes.NewReader(pr.Body))
	if err != nil {
		return "request"
	}
	resp, err := client.Do(req)
	if err != nil {
		return "network"
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Sprint(resp.StatusCode)
	}
	return ""
}
