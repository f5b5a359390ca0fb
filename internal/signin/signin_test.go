package signin_test

import (
	"testing"
	"time"

	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/redistest"
	"github.com/kfgate/kfgate/internal/signin"
)

func TestSessions(t *testing.T) {
	rdb, prefix := redistest.New(t)
	s := signin.New(rdb, prefix, time.Hour)
	ctx := t.Context()
	one, err := s.Create(ctx, "ann")
	if err != nil {
		t.Fatal(err)
	}
	two, _ := s.Create(ctx, "ann")
	bob, _ := s.Create(ctx, "bob")
	if one == two || len(one) != 43 {
		t.Errorf("session ids %q, %q: want distinct, 32 random bytes in base64url", one, two)
	}
	for id, want := range map[string]string{one: "ann", two: "ann", bob: "bob"} {
		if got, err := s.Agent(ctx, id); err != nil || got != want {
			t.Errorf("Agent(%q) = %q, %v; want %q", id, got, err, want)
		}
	}
	// Only the hash of an id is stored: no key holds the id itself.
	if n := rdb.Exists(ctx, prefix+"signin:"+one).Val(); n != 0 {
		t.Error("the session id itself is a key")
	}
	keys, _ := rdb.Keys(ctx, prefix+"signin:*").Result()
	if len(keys) != 5 { // three sessions, two people
		t.Errorf("keys %v, want a hash per session and a set per person", keys)
	}
	for _, k := range keys {
		if ttl := rdb.TTL(ctx, k).Val(); ttl <= 0 || ttl > time.Hour {
			t.Errorf("%s expires in %v, want within the hour", k, ttl)
		}
	}
	for _, bad := range []string{"", "nope", string(make([]byte, 200))} {
		if _, err := s.Agent(ctx, bad); kf.KindOf(err) != kf.KindUnauthorized {
			t.Errorf("Agent(%q) = %v, want unauthorized", bad, err)
		}
	}
	// Sign out one; then everywhere.
	if err := s.Delete(ctx, one); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Agent(ctx, one); err == nil {
		t.Error("a signed-out session still works")
	}
	if _, err := s.Agent(ctx, two); err != nil {
		t.Error("signing out one session ended another")
	}
	if err := s.DeleteAll(ctx, "ann"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Agent(ctx, two); err == nil {
		t.Error("a session outlived sign-out everywhere")
	}
	if got, err := s.Agent(ctx, bob); err != nil || got != "bob" {
		t.Error("ann's sign-out everywhere ended bob's session")
	}
}
