package server

import (
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
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

// DefaultTrustedProxies are the proxies believed when none are
// configured: loopback only (Nginx on the same host).
var DefaultTrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// clientIP is the address the request came from: the peer, or, when the
// peer is one of the trusted proxies (Nginx), the address the proxy names
// in X-Real-IP, or else the last address of X-Forwarded-For that is not
// itself a trusted proxy. A header that is not an address (or a list that
// holds one that is not) is ignored and the peer counts: a client cannot
// pick its own address, nor shelter behind a value that groups clients.
func clientIP(r *http.Request, trusted []netip.Prefix) string {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			return r.RemoteAddr
		}
		return host
	}
	addr := peer.Addr().Unmap()
	if !isTrusted(addr, trusted) {
		return addr.String()
	}
	if v := r.Header.Get("X-Real-IP"); v != "" {
		real, err := netip.ParseAddr(strings.TrimSpace(v))
		if err != nil {
			return addr.String()
		}
		return real.Unmap().String()
	}
	if v := r.Header.Values("X-Forwarded-For"); len(v) > 0 {
		hops := strings.Split(strings.Join(v, ","), ",")
		client := addr
		for i := len(hops) - 1; i >= 0; i-- {
			hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				return addr.String()
			}
			client = hop.Unmap()
			if !isTrusted(client, trusted) {
				break
			}
		}
		return client.String()
	}
	return addr.String()
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func retryAfter(d time.Duration) string { return strconv.Itoa(int(d.Seconds()) + 1) }
