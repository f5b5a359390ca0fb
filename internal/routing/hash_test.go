package routing

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestHashGolden pins the hash: every replica and every future version must
// compute the same values, or users move to other agents on deploy.
func TestHashGolden(t *testing.T) {
	tests := []struct {
		s    string
		want uint64
	}{
		{"", 0xef46db3751d8e999},  // = XXH64("", 0)
		{"a", 0xd24ec4f1a98c6e5b}, // = XXH64("a", 0)
		{"agent-01", 0x6242305e0550ab03},
		{"oUser00000000000000000000001", 0x79bd9a08dfdf872e},
		{"o6_bmjrPTlm6_2sgVt7hMZOPfL2M", 0x8076f27ee4563b45},
	}
	for _, tt := range tests {
		if got := hashString(tt.s); got != tt.want {
			t.Errorf("hashString(%q) = %#016x, want %#016x", tt.s, got, tt.want)
		}
	}
	h := hashString("agent-01")
	if got := [2]uint64{vnode(h, 0), vnode(h, 159)}; got != [2]uint64{0xb3ce597f9ad1ba5b, 0x188ec89b5a1a9214} {
		t.Errorf("vnode = %#016x", got)
	}
	if got := pairHash(hashString("oUser1"), h); got != 0xf53df0f705d606c7 {
		t.Errorf("pairHash = %#016x", got)
	}
	if u := [2]float64{unit(0), unit(^uint64(0))}; u[0] <= 0 || u[1] >= 1 {
		t.Errorf("unit reaches the ends of (0, 1): %v", u)
	}
}

// TestDecisionsGolden pins whole decisions, ring construction and scoring
// included, for the same reason.
func TestDecisionsGolden(t *testing.T) {
	agents := testTeam(50, "wx1")
	r := NewRouter(Options{})
	got := map[Strategy][]string{}
	for _, s := range []Strategy{ConsistentHash, Weighted} {
		for i := range 5 {
			id, err := r.Pick(s, Request{Account: "wx1", OpenID: fmt.Sprintf("oUser%d", i)}, agents, uint64(i))
			if err != nil {
				t.Fatal(err)
			}
			got[s] = append(got[s], id)
		}
	}
	want := map[Strategy][]string{
		ConsistentHash: {"a037", "a023", "a033", "a033", "a012"},
		Weighted:       {"a026", "a038", "a026", "a014", "a019"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decisions (-want +got):\n%s", diff)
	}
}
