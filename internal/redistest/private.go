package redistest

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Private starts a Redis server of the test's own (Debian's redis-server,
// no persistence) and returns a client of it and a key prefix. It is for
// measurements that read the server's own counters (INFO commandstats,
// used_memory), which the shared server mixes with other tests'. The
// server is stopped when the test ends. A missing redis-server fails the
// test.
func Private(tb testing.TB) (*redis.Client, string) {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	cmd := exec.Command("redis-server", "--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--save", "",
		"--appendonly", "no", "--dir", tb.TempDir(), "--logfile", "")
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start a private redis-server (Debian's redis-server package): %v", err)
	}
	tb.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	})
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port), DisableIdentity: true, Protocol: 2})
	tb.Cleanup(func() { _ = rdb.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for rdb.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			tb.Fatalf("the private redis-server on port %d did not answer", port)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return rdb, Prefix()
}

// CommandCalls returns the calls of each command the server ran since
// its last CONFIG RESETSTAT, from INFO commandstats (a script's commands
// count one by one, besides its EVALSHA).
//
// It also holds, under "µs:evalsha", "µs:eval" and "µs:fcall", the
// microseconds Redis spent running scripts and functions: the time one
// Redis core gives each message.
func CommandCalls(tb testing.TB, rdb *redis.Client) map[string]int64 {
	tb.Helper()
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		tb.Fatal(err)
	}
	calls := map[string]int64{}
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		// cmdstat_zadd:calls=3,usec=12,usec_per_call=4.00,...
		name, rest, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "cmdstat_"), ":calls=")
		if !ok {
			continue
		}
		n, rest, _ := strings.Cut(rest, ",")
		v, err := strconv.ParseInt(n, 10, 64)
		if err != nil {
			tb.Fatalf("INFO commandstats: %q", sc.Text())
		}
		calls[name] = v
		if name == "evalsha" || name == "eval" || name == "fcall" {
			// The time Redis spent in the scripts, commands included,
			// under "µs:" and the command's name.
			us, _, _ := strings.Cut(strings.TrimPrefix(rest, "usec="), ",")
			if v, err := strconv.ParseInt(us, 10, 64); err == nil {
				calls["µs:"+name] = v
			}
		}
	}
	return calls
}
