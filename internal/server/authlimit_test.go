package server

import (
	"net/http/httptest"
	"testing"
	"time"
)

func TestClientIP(t *testing.T) {
	tests := []struct{ remote, realIP, want string }{
		{"203.0.113.7:4000", "", "203.0.113.7"},
		{"203.0.113.7:4000", "198.51.100.1", "203.0.113.7"}, // a client on the internet cannot pick its address
		{"127.0.0.1:4000", "198.51.100.1", "198.51.100.1"},  // Nginx on this host
		{"10.0.0.5:4000", "198.51.100.1", "198.51.100.1"},   // Nginx on the private network
		{"10.0.0.5:4000", "not an ip", "10.0.0.5"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.remote
		if tt.realIP != "" {
			r.Header.Set("X-Real-IP", tt.realIP)
		}
		if got := clientIP(r); got != tt.want {
			t.Errorf("clientIP(%s, X-Real-IP %q) = %s, want %s", tt.remote, tt.realIP, got, tt.want)
		}
	}
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
