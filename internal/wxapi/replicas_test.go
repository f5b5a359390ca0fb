package wxapi

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestReplicasShareOneFetchPerExpiry is the must-show of issue 4: four
// replicas (four Tokens and Clients) on one Redis and one simulator, many
// goroutines sending and asking for tokens while the clock jumps past the
// tokens' expiry, or into the refresh margin, round after round. Each round
// costs exactly one token fetch per account, and no call fails — in
// particular none with 40001.
func TestReplicasShareOneFetchPerExpiry(t *testing.T) {
	for _, mode := range []struct {
		name string
		mode TokenMode
	}{{"stable", TokenStable}, {"classic", TokenClassic}} {
		t.Run(mode.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := ctxT(t)
			const replicas, workers, sends, rounds = 4, 8, 5, 6
			type replica struct {
				ts *Tokens
				c  *Client
			}
			var rs []replica
			for range replicas {
				ts := e.tokens(t, mode.mode)
				rs = append(rs, replica{ts, e.client(t, ts)})
			}
			var calls, failed, failed40001 atomic.Int64
			for round := range rounds {
				for appid := range testAccounts {
					for r := range replicas {
						for w := range workers {
							e.interact(t, appid, fmt.Sprintf("user-%d-%d", r, w))
						}
					}
				}
				var first, all sync.WaitGroup
				advanced := make(chan struct{})
				for r, rep := range rs {
					for w := range workers {
						for appid := range testAccounts {
							first.Add(1)
							all.Add(1)
							go func() {
								defer all.Done()
								openid := fmt.Sprintf("user-%d-%d", r, w)
								for i := range sends {
									if i == 1 {
										first.Done()
										<-advanced
									}
									calls.Add(2)
									if _, err := rep.ts.Token(ctx, appid); err != nil {
										failed.Add(1)
										t.Errorf("Token: %v", err)
									}
									err := rep.c.SendCustom(ctx, appid, TextMessage(openid, fmt.Sprintf("round %d message %d", round, i)))
									if err != nil {
										failed.Add(1)
										if Code(err) == 40001 {
											failed40001.Add(1)
										}
										t.Errorf("SendCustom: %v", err)
									}
								}
							}()
						}
					}
				}
				// Besides, one goroutine per replica and account asks for
				// the token without pause, across the clock's jump.
				stop := make(chan struct{})
				var loopers sync.WaitGroup
				for _, rep := range rs {
					for appid := range testAccounts {
						loopers.Go(func() {
							for {
								select {
								case <-stop:
									return
								default:
								}
								calls.Add(1)
								if _, err := rep.ts.Token(ctx, appid); err != nil {
									failed.Add(1)
									t.Errorf("Token: %v", err)
								}
							}
						})
					}
				}
				first.Wait()
				// Every worker has sent once with the current token; now it
				// expires (odd rounds) or enters the refresh margin (even
				// rounds) while they go on.
				if round%2 == 0 {
					e.clk.Advance(2*time.Hour + time.Minute)
				} else {
					e.clk.Advance(2*time.Hour - 2*time.Minute)
				}
				close(advanced)
				all.Wait()
				close(stop)
				loopers.Wait()
				for appid := range testAccounts {
					// One fetch for the first token, one per round after it.
					if got, want := e.api.TokenFetches(appid), round+2; got != want {
						t.Errorf("round %d: %s made %d token fetches, want %d", round, appid, got, want)
					}
				}
			}
			st := e.api.Stats()
			delivered := 0
			for appid := range testAccounts {
				for r := range replicas {
					for w := range workers {
						delivered += len(e.api.Received(appid, fmt.Sprintf("user-%d-%d", r, w)))
					}
				}
			}
			t.Logf("%s: %d calls (Token + SendCustom) by %d+%d goroutines on %d replicas over %d expiries: "+
				"token fetches %v; custom/send requests %d for %d messages delivered; "+
				"failed calls %d, of which 40001: %d",
				mode.name, calls.Load(), replicas*workers*len(testAccounts), replicas*len(testAccounts), replicas, rounds, st.TokenFetches, e.api.Calls("/cgi-bin/message/custom/send"), delivered,
				failed.Load(), failed40001.Load())
			if failed.Load() != 0 {
				t.Errorf("%d calls failed (%d with 40001)", failed.Load(), failed40001.Load())
			}
		})
	}
}
