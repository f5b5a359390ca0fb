package server

import (
	"net"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"
)

func TestClientIP(t *testing.T) {
	nginx := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		name, remote, realIP, xff, want string
		trusted                         []netip.Prefix
	}{
		{"plain peer", "203.0.113.7:4000", "", "", "203.0.113.7", nginx},
		{"untrusted peer picks its address", "203.0.113.7:4000", "198.51.100.1", "", "203.0.113.7", nginx},
		{"untrusted peer, forwarded", "203.0.113.7:4000", "", "198.51.100.1", "203.0.113.7", nginx},
		{"nginx on this host", "127.0.0.1:4000", "198.51.100.1", "", "198.51.100.1", nginx},
		{"nginx on the private network", "10.0.0.5:4000", "198.51.100.1", "", "198.51.100.1", nginx},
		{"private peer not configured", "10.0.0.5:4000", "198.51.100.1", "", "10.0.0.5", DefaultTrustedProxies},
		{"unparseable X-Real-IP", "10.0.0.5:4000", "not an ip", "", "10.0.0.5", nginx},
		{"X-Forwarded-For, last untrusted hop", "10.0.0.5:4000", "", "192.0.2.9, 198.51.100.1, 10.0.0.7", "198.51.100.1", nginx},
		{"X-Forwarded-For with garbage", "10.0.0.5:4000", "", "198.51.100.1, junk", "10.0.0.5", nginx},
		{"X-Forwarded-For of proxies only", "10.0.0.5:4000", "", "10.0.0.8", "10.0.0.8", nginx},
		{"IPv6 loopback", "[::1]:4000", "2001:db8::1", "", "2001:db8::1", DefaultTrustedProxies},
		{"IPv4-mapped peer", "[::ffff:127.0.0.1]:4000", "198.51.100.2", "", "198.51.100.2", DefaultTrustedProxies},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.remote
		if tt.realIP != "" {
			r.Header.Set("X-Real-IP", tt.realIP)
		}
		if tt.xff != "" {
			r.Header.Set("X-Forwarded-For", tt.xff)
		}
		if got := clientIP(r, tt.trusted); got != tt.want {
			t.Errorf("%s: clientIP = %s, want %s", tt.name, got, tt.want)
		}
	}
}

// Any header value: clientIP never panics and answers an address or the peer.
func FuzzClientIP(f *testing.F) {
	f.Add("10.0.0.5:4000", "198.51.100.1", "1.2.3.4, 10.0.0.1")
	f.Add("[::1]:1", "::ffff:1.2.3.4", "")
	f.Fuzz(func(t *testing.T, remote, realIP, xff string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		r.Header["X-Real-Ip"] = []string{realIP}
		r.Header["X-Forwarded-For"] = []string{xff}
		got := clientIP(r, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")})
		if _, err := netip.ParseAddr(got); err != nil && got != remote {
			host, _, _ := net.SplitHostPort(remote)
			if got != host {
				t.Fatalf("clientIP(%q, %q, %q) = %q", remote, realIP, xff, got)
			}
		}
	})
}

func TestAuthLimitWindow(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	l := newAuthLimit(2, time.Minute)
	l.now = func() time.Time { return now }
	l.fail("a")
	if _, blocked := l.blocked("a"); blocked {
		t.Fatal("blocked after one failure of two")
	}
	l.fail("a")
	if left, blocked := l.blocked("a"); !blocked || left != time.Minute {
		t.Fatalf("after two failures: blocked %v for %s", blocked, left)
	}
	if _, blocked := l.blocked("b"); blocked {
		t.Error("another address is blocked too")
	}
	now = now.Add(61 * time.Second)
	if _, blocked := l.blocked("a"); blocked {
		t.Error("still blocked after the window")
	}
}
