package kf

import (
	"testing"
	"time"
)

func TestHours(t *testing.T) {
	h, err := ParseHours([]string{"mon-fri 09:00-18:00", "sat,sun 10:00-12:30"}, "Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	cst := time.FixedZone("CST", 8*3600)
	tests := []struct {
		at   time.Time
		open bool
	}{
		{time.Date(2026, 11, 23, 9, 0, 0, 0, cst), true},      // Monday opening
		{time.Date(2026, 11, 23, 17, 59, 0, 0, cst), true},    // just before closing
		{time.Date(2026, 11, 23, 18, 0, 0, 0, cst), false},    // closed at 18:00
		{time.Date(2026, 11, 23, 8, 59, 0, 0, cst), false},    // before opening
		{time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC), true}, // 09:00 in Shanghai
		{time.Date(2026, 11, 28, 11, 0, 0, 0, cst), true},     // Saturday
		{time.Date(2026, 11, 29, 12, 30, 0, 0, cst), false},   // Sunday after 12:30
	}
	for _, tt := range tests {
		if got := h.Open(tt.at); got != tt.open {
			t.Errorf("Open(%v) = %v, want %v", tt.at, got, tt.open)
		}
	}
	if !(Hours{}).Open(time.Now()) {
		t.Error("zero Hours are not always open")
	}
	wrap, err := ParseHours([]string{"fri-mon 00:00-24:00"}, "UTC")
	if err != nil || !wrap.Open(time.Date(2026, 11, 22, 23, 0, 0, 0, time.UTC)) || wrap.Open(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)) {
		t.Errorf("fri-mon wraps the week wrong: %v", err)
	}
	for _, bad := range [][]string{{"monday 09:00-18:00"}, {"mon 9-18"}, {"mon 18:00-09:00"}, {"09:00-18:00"}, {"mon 09:00-25:00"}} {
		if _, err := ParseHours(bad, ""); err == nil {
			t.Errorf("ParseHours(%q) accepted", bad)
		}
	}
	if _, err := ParseHours(nil, "Mars/Olympus"); err == nil {
		t.Error("an unknown zone was accepted")
	}
}
