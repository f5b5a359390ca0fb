package routing_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/routing"
)

// benchTeam is a team of n agents serving two accounts, in random order (as
// SMEMBERS returns them), with loads from idle to full, one in ten away or
// offline, and one in ten with the skill "vip". Every string is a copy of its
// own, as when decoded from Redis: no comparison is won by equal pointers.
func benchTeam(n int) []routing.Agent {
	rng := rand.New(rand.NewPCG(1, 2))
	agents := make([]routing.Agent, n)
	for i := range agents {
		a := routing.Agent{ID: fmt.Sprintf("agent-%05d", i),
			Accounts: []string{strings.Clone("wx0000000000000001"), strings.Clone("wx0000000000000002")},
			Skills:   []string{strings.Clone("general")}, Weight: 1 + rng.IntN(4), MaxSessions: 5 + rng.IntN(10),
			Status: kf.AgentStatus(strings.Clone(string(kf.AgentOnline)))}
		a.Load = rng.IntN(a.MaxSessions + 1)
		switch i % 10 {
		case 3:
			a.Status = kf.AgentAway
		case 7:
			a.Status = kf.AgentOffline
		case 5:
			a.Skills = append(a.Skills, strings.Clone("vip"))
		}
		agents[i] = a
	}
	rng.Shuffle(n, func(i, j int) { agents[i], agents[j] = agents[j], agents[i] })
	return agents
}

// BenchmarkPick is one decision among 1,000 agents (and 100, a more usual
// team), the roster and ring cached.
func BenchmarkPick(b *testing.B) {
	users := make([]string, 1024)
	for i := range users {
		users[i] = fmt.Sprintf("o6_bmjrPTlm6_2sgVt7h%08d", i) // 28 characters, as WeChat's
	}
	for _, n := range []int{1000, 100} {
		agents := benchTeam(n)
		for _, bc := range []struct {
			s     routing.Strategy
			skill string
		}{
			{routing.ConsistentHash, ""}, {routing.LeastLoaded, ""}, {routing.RoundRobin, ""}, {routing.Weighted, ""},
			{routing.ConsistentHash, "vip"},
		} {
			name := fmt.Sprintf("%s/agents=%d", bc.s, n)
			if bc.skill != "" {
				name += "/skill"
			}
			b.Run(name, func(b *testing.B) {
				r := routing.NewRouter(routing.Options{})
				req := routing.Request{Account: "wx0000000000000002", Skill: bc.skill, Previous: "agent-99999"}
				if _, err := r.Pick(bc.s, req, agents, 0); err != nil { // builds the roster and ring
					b.Fatal(err)
				}
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					req.OpenID = users[i%len(users)]
					if _, err := r.Pick(bc.s, req, agents, uint64(i)); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		}
	}
}

// BenchmarkRingBuild is what a change in the team costs: the roster and ring
// of 1,000 agents at the default 160 points each.
func BenchmarkRingBuild(b *testing.B) {
	agents := benchTeam(1000)
	req := routing.Request{Account: "wx0000000000000001", OpenID: "o6_bmjrPTlm6_2sgVt7h00000001"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := routing.NewRouter(routing.Options{}).Pick(routing.ConsistentHash, req, agents, 0); err != nil {
			b.Fatal(err)
		}
	}
}
