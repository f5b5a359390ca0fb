package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Process is a redis-server or redis-sentinel of a test's own, on a free
// loopback port with its files in a temporary directory: for tests that
// kill a server, such as a failover. It is killed when the test ends.
type Process struct {
	Addr string // 127.0.0.1:port
	tb   testing.TB
	bin  string
	conf string // its configuration file, which a sentinel rewrites
	log  string

	mu  sync.Mutex
	cmd *exec.Cmd
}

// StartServer starts redis-server with nothing saved to disk and the
// configuration lines given, such as "replicaof 127.0.0.1 6380".
func StartServer(tb testing.TB, lines ...string) *Process {
	tb.Helper()
	return start(tb, "redis-server", append([]string{`save ""`, "appendonly no"}, lines...))
}

// StartSentinel starts redis-sentinel watching the primary at primary
// under name, with a quorum of quorum and the lines given (such as
// "sentinel down-after-milliseconds kfgate 1000").
func StartSentinel(tb testing.TB, name, primary string, quorum int, lines ...string) *Process {
	tb.Helper()
	host, port, _ := net.SplitHostPort(primary)
	return start(tb, "redis-sentinel", append([]string{fmt.Sprintf("sentinel monitor %s %s %s %d", name, host, port, quorum)}, lines...))
}

func start(tb testing.TB, bin string, lines []string) *Process {
	tb.Helper()
	path, err := exec.LookPath(bin)
	if err != nil {
		tb.Fatalf("%s is not installed: the test runs real Redis processes; install Debian's redis-server and redis-sentinel packages (.ci/run does): %v", bin, err)
	}
	port := freePort(tb)
	dir := tb.TempDir()
	p := &Process{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), tb: tb, bin: path,
		conf: filepath.Join(dir, bin+".conf"), log: filepath.Join(dir, bin+".log")}
	conf := append([]string{"bind 127.0.0.1", "port " + strconv.Itoa(port), "protected-mode no", "daemonize no",
		"dir " + dir, "logfile " + p.log}, lines...)
	if err := os.WriteFile(p.conf, []byte(strings.Join(conf, "\n")+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(p.Kill)
	p.Start()
	return p
}

// Start starts the process again after Kill, with its configuration as it
// is now (a sentinel's, rewritten), and waits until it answers PING.
func (p *Process) Start() {
	p.tb.Helper()
	p.mu.Lock()
	cmd := exec.Command(p.bin, p.conf)
	if err := cmd.Start(); err != nil {
		p.mu.Unlock()
		p.tb.Fatalf("start %s: %v", p.bin, err)
	}
	p.cmd = cmd
	p.mu.Unlock()
	c := p.Client()
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			p.tb.Fatalf("%s at %s does not answer: %v\n%s", p.bin, p.Addr, err, p.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill kills the process at once (SIGKILL, as a crash) and waits for it.
func (p *Process) Kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
	p.cmd = nil
}

// Client returns a client of the process; the caller closes it.
func (p *Process) Client() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: p.Addr, DisableIdentity: true, Protocol: 2, MaxRetries: -1})
}

// Log returns the process's log, for a failing test's message.
func (p *Process) Log() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// freePort returns a loopback port no one listens on now.
func freePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// WaitReplicated waits until replica is connected to primary and has
// caught up with it.
func WaitReplicated(tb testing.TB, primary, replica *Process) {
	tb.Helper()
	pc, rc := primary.Client(), replica.Client()
	defer pc.Close()
	defer rc.Close()
	ctx := context.Background()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		info, _ := rc.Info(ctx, "replication").Result()
		if strings.Contains(info, "master_link_status:up") {
			// WAIT 1 returns 1 once the replica acknowledged every write so far.
			if n, err := pc.Do(ctx, "wait", 1, 1000).Int(); err == nil && n >= 1 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatalf("the replica at %s did not catch up with %s:\n%s", replica.Addr, primary.Addr, replica.Log())
}
