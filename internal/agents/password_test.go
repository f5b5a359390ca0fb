package agents_test

import (
	"context"
	"strings"
	"testing"

	"github.com/kfgate/kfgate/internal/agents"
	"github.com/kfgate/kfgate/internal/kf"
)

func TestHashPassword(t *testing.T) {
	h, err := agents.HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q is not a PHC argon2id string with the parameters", h)
	}
	h2, _ := agents.HashPassword("correct horse")
	if h == h2 {
		t.Error("two hashes of one password are equal: no salt")
	}
	for _, c := range []struct {
		pw   string
		want bool
	}{{"correct horse", true}, {"correct horsE", false}, {"", false}, {"correct horse ", false}} {
		if got := agents.CheckPassword(h, c.pw); got != c.want {
			t.Errorf("CheckPassword(%q) = %v, want %v", c.pw, got, c.want)
		}
	}
}

func TestCheckPasswordMalformed(t *testing.T) {
	good, _ := agents.HashPassword("pw-pw-pw-pw")
	parts := strings.Split(good, "$")
	for _, bad := range []string{
		"", "plain", "$argon2i$v=19$m=19456,t=2,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=18$m=19456,t=2,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=4294967295,t=2,p=1$" + parts[4] + "$" + parts[5], // 4 TiB: refused, not allocated
		"$argon2id$v=19$m=19456,t=2,p=1$!!!$" + parts[5],
		"$argon2id$v=19$m=19456,t=2,p=1$" + parts[4] + "$",
		good + "$extra",
	} {
		if agents.CheckPassword(bad, "pw-pw-pw-pw") {
			t.Errorf("CheckPassword(%q) matched", bad)
		}
	}
}

func TestCheckNewPassword(t *testing.T) {
	for _, c := range []struct {
		pw string
		ok bool
	}{{"1234567", false}, {"12345678", true}, {"密码密码密码密码", true}, {strings.Repeat("x", 257), false}, {"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8", false}} {
		err := agents.CheckNewPassword(c.pw)
		if (err == nil) != c.ok || err != nil && kf.KindOf(err) != kf.KindInvalid {
			t.Errorf("CheckNewPassword(%q) = %v, want ok=%v", c.pw, err, c.ok)
		}
	}
}

// FuzzCheckPassword: a stored hash is only as trusted as the database;
// whatever it holds, checking never panics and never allocates beyond the
// bounded parameters.
func FuzzCheckPassword(f *testing.F) {
	good, _ := agents.HashPassword("seed-password")
	f.Add(good, "seed-password")
	f.Add("$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "x")
	f.Fuzz(func(t *testing.T, encoded, pw string) {
		_ = agents.CheckPassword(encoded, pw)
	})
}

// Roles, passwords and disabling on every store: a new person is an agent
// without a password; the password and role are kept and returned; a
// revived id starts without a password.
func TestPeople(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, s agents.Records) {
		a := alice()
		a.Role = kf.RoleSupervisor
		must(t, s.Create(ctx, a, nil))
		got, hash, err := s.Credentials(ctx, "alice")
		must(t, err)
		if hash != "" || got.Role != kf.RoleSupervisor || got.Disabled {
			t.Errorf("new person: %+v, hash %q; want a supervisor without a password", got, hash)
		}
		must(t, s.SetPassword(ctx, "alice", "$argon2id$hash"))
		if _, hash, _ = s.Credentials(ctx, "alice"); hash != "$argon2id$hash" {
			t.Errorf("password hash %q after SetPassword", hash)
		}
		a.Role, a.Disabled = kf.RoleAdmin, true
		must(t, s.Update(ctx, a))
		if got, _ := s.Get(ctx, "alice"); got.Role != kf.RoleAdmin || !got.Disabled {
			t.Errorf("after Update: %+v, want a disabled admin", got)
		}
		wantKind(t, "a bad role", s.Update(ctx, kf.Agent{ID: "alice", Accounts: []string{"wx1"}, Weight: 1, MaxSessions: 1, Role: "boss"}), kf.KindInvalid)
		wantKind(t, "SetPassword of nobody", s.SetPassword(ctx, "nobody", "x"), kf.KindNotFound)
		_, _, err = s.Credentials(ctx, "nobody")
		wantKind(t, "Credentials of nobody", err, kf.KindNotFound)
		must(t, s.Delete(ctx, "alice"))
		must(t, s.Create(ctx, alice(), nil))
		if got, hash, _ := s.Credentials(ctx, "alice"); hash != "" || got.Disabled || got.Role != kf.RoleAgent {
			t.Errorf("revived: %+v, hash %q; want a fresh agent", got, hash)
		}
	})
}
