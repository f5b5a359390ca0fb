package server

import (
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// authLimit refuses a client that failed authentication too often: after
// limit failures within window, every API call from its address gets 429
// until the window ends, so tokens cannot be guessed at speed. It is kept
// per replica, in memory: with n replicas a client gets n × limit tries
// per window, still far too few to guess a 256-bit token.
type authLimit struct {
	limit  int
	window time.Duration
	now    func() time.Time

	mu       sync.Mutex
	failures map[string]*failures
	swept    time.Time
}

type failures struct {
	count int
	since time.Time
}

func newAuthLimit(limit int, window time.Duration) *authLimit {
	return &authLimit{limit: limit, window: window, now: time.Now, failures: map[string]*failures{}}
}

// blocked reports whether ip is refused now, and for how long.
func (l *authLimit) blocked(ip string) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.failures[ip]
	if f == nil || f.count < l.limit {
		return 0, false
	}
	left := f.since.Add(l.window).Sub(l.now())
	if left <= 0 {
		delete(l.failures, ip)
		return 0, false
	}
	return left, true
}

// fail counts a failed attempt from ip.
func (l *authLimit) fail(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if now.Sub(l.swept) > l.window { // forget old entries, so the map stays small
		for k, f := range l.failures {
			if now.Sub(f.since) > l.window {
				delete(l.failures, k)
			}
		}
		l.swept = now
	}
	f := l.failures[ip]
	if f == nil || now.Sub(f.since) > l.window {
		f = &failures{since: now}
		l.failures[ip] = f
	}
	f.count++
}

// clientIP is the address the request came from: the peer, or, when the
// peer is a proxy on this host or the private network (Nginx), the
// X-Real-IP it set. A client on the internet cannot pick its own address.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if ip := net.ParseIP(host); ip != nil && (ip.IsLoopback() || ip.IsPrivate()) {
		if real := net.ParseIP(r.Header.Get("X-Real-IP")); real != nil {
			return real.String()
		}
	}
	return host
}

func retryAfter(d time.Duration) string { return strconv.Itoa(int(d.Seconds()) + 1) }
