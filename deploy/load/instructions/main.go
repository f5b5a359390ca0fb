// Command instructions counts the CPU instructions Redis spends on one
// inbound script call (internal/session/lua/inbound.lua), under Valgrind's
// Callgrind: a count, unlike a time, is the same from run to run whatever
// else the machine does, so two versions of the scripts compare exactly.
//
//	deploy/load/instructions.sh
//
// The script starts redis-server under callgrind on 127.0.0.1:7399 and runs
// this program, which queues 1,000 users (nobody online), then measures
// 1,000 calls of each kind: a queued user's next message and a new user's
// first, zeroing Callgrind's counters before and dumping them after
// (callgrind_control), and prints the instructions per call.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/session"
)

func main() {
	addr := flag.String("redis", "127.0.0.1:7399", "the Redis under callgrind")
	pid := flag.String("pid", "", "the process id of valgrind running that Redis")
	out := flag.String("out", "", "callgrind's --callgrind-out-file (dumps are <out>.1, <out>.2)")
	users := flag.Int("users", 1000, "users queued first, and calls measured of each kind")
	flag.Parse()
	if err := run(*addr, *pid, *out, *users); err != nil {
		fmt.Fprintln(os.Stderr, "instructions:", err)
		os.Exit(1)
	}
}

const account = "wx1a2b3c4d5e6f7a8b"

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// message is user i's n-th message as the engine hands it over during a
// surge with nobody online.
func message(i, n int, now time.Time) session.Inbound {
	it := kf.Item{ID: strconv.Itoa(i*100 + n), Direction: "in", Author: "user", Type: string(kf.MsgText),
		Content: "在吗？我的订单还没发货，能帮我查一下吗", CreateTime: now.Unix(), At: now.UnixMilli()}
	body, _ := json.Marshal(it)
	preview, _ := json.Marshal(it.Preview())
	return session.Inbound{Account: account, OpenID: fmt.Sprintf("oGZUI0egBJY1zhBYw2KhdU%06d", i), Now: now,
		SessionID: fmt.Sprintf("%024x", i+1), Message: body, Preview: preview, QuotaGrant: 5, QuotaWindow: 48 * time.Hour,
		QueueNotice: "您前面还有 {ahead} 位，请稍候", QueuedNextNotice: "下一位就是您", NobodyOnline: true,
		NoAgentNotice: "客服暂时不在线，我们会尽快回复您", NoAgentEvery: 10 * time.Minute,
		Stream: "intake", Group: "engine", EntryID: "1-1"}
}

func run(addr, pid, out string, users int) error {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true})
	defer rdb.Close()
	if err := rdb.FlushAll(ctx).Err(); err != nil {
		return err
	}
	store := session.NewStore(rdb, "kfgate:", session.Options{ContextSize: 20, IdleTimeout: 30 * time.Minute,
		WarnBefore: 5 * time.Minute, ReturnWindow: time.Hour, Reserve: 2})
	if err := store.PutAgent(ctx, kf.Agent{ID: "agent1", Accounts: []string{account}, MaxSessions: 10, Status: kf.AgentOffline}, t0); err != nil {
		return err
	}
	for i := range users {
		if _, err := store.Inbound(ctx, message(i, 0, t0)); err != nil {
			return err
		}
	}
	dumps := 0
	measure := func(name string, call func(i int) error) error {
		for i := range 50 { // scripts loaded, warm
			if err := call(i); err != nil {
				return err
			}
		}
		if err := exec.Command("callgrind_control", "-z", pid).Run(); err != nil {
			return fmt.Errorf("callgrind_control -z %s: %w", pid, err)
		}
		for i := range users {
			if err := call(50 + i); err != nil {
				return err
			}
		}
		if err := exec.Command("callgrind_control", "-d", pid).Run(); err != nil {
			return fmt.Errorf("callgrind_control -d %s: %w", pid, err)
		}
		dumps++
		dump, err := os.ReadFile(out + "." + strconv.Itoa(dumps))
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(dump), "\n") {
			if v, ok := strings.CutPrefix(line, "summary: "); ok {
				n, err := strconv.ParseFloat(strings.Fields(v)[0], 64)
				if err != nil {
					return err
				}
				fmt.Printf("%-28s %8.0f instructions per call\n", name, n/float64(users))
				return nil
			}
		}
		return fmt.Errorf("no summary in %s.%d", out, dumps)
	}
	if err := measure("a queued user's next message", func(i int) error {
		_, err := store.Inbound(ctx, message(i%users, i+1, t0.Add(time.Second)))
		return err
	}); err != nil {
		return err
	}
	next := users
	return measure("a new user's first message", func(int) error {
		next++
		_, err := store.Inbound(ctx, message(next, 0, t0.Add(time.Second)))
		return err
	})
}
