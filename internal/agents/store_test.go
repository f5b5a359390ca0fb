package agents_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kfgate/kfgate/internal/agents"
	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/pgtest"
	"github.com/kfgate/kfgate/internal/redistest"
)

// stores are the implementations every test runs against, each on a real
// server: PostgreSQL in a schema of the test's own, Redis under a prefix.
var stores = []struct {
	name string
	open func(t *testing.T) agents.Records
}{
	{"postgres", func(t *testing.T) agents.Records {
		pool, _ := pgtest.Migrated(t)
		return agents.NewPostgres(pool)
	}},
	{"redis", func(t *testing.T) agents.Records {
		rdb, prefix := redistest.New(t)
		return agents.NewRedis(rdb, prefix)
	}},
}

// each runs test against every store.
func each(t *testing.T, test func(t *testing.T, ctx context.Context, s agents.Records)) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			test(t, t.Context(), st.open(t))
		})
	}
}

func alice() kf.Agent {
	return kf.Agent{ID: "alice", Name: "Alice", Accounts: []string{"wx1", "wx2"},
		Skills: []string{"billing"}, Weight: 2, MaxSessions: 5, Role: kf.RoleAgent}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantKind fails the test unless err is of kind k.
func wantKind(t *testing.T, what string, err error, k kf.Kind) {
	t.Helper()
	if err == nil || kf.KindOf(err) != k {
		t.Errorf("%s: got error %v, want kind %v", what, err, k)
	}
}

func TestCreateGetListUpdateDelete(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, s agents.Records) {
		a := alice()
		a.Status, a.Load = kf.AgentOnline, 3 // not stored
		must(t, s.Create(ctx, a, nil))
		must(t, s.Create(ctx, kf.Agent{ID: "bob", Accounts: []string{"wx1"}, Weight: 1, MaxSessions: 1}, nil))

		got, err := s.Get(ctx, "alice")
		must(t, err)
		if diff := cmp.Diff(alice(), got); diff != "" {
			t.Errorf("Get (-want +got):\n%s", diff)
		}

		upd := kf.Agent{ID: "alice", Name: "Alice L.", Accounts: []string{"wx3"}, Weight: 1, MaxSessions: 9}
		must(t, s.Update(ctx, upd))
		got, err = s.Get(ctx, "alice")
		must(t, err)
		want := upd
		want.Skills, want.Role = []string{}, kf.RoleAgent // lists come back non-nil; the role defaults to agent
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Get after Update (-want +got):\n%s", diff)
		}

		list, err := s.List(ctx)
		must(t, err)
		bob := kf.Agent{ID: "bob", Accounts: []string{"wx1"}, Skills: []string{}, Weight: 1, MaxSessions: 1, Role: kf.RoleAgent}
		if diff := cmp.Diff([]kf.Agent{want, bob}, list); diff != "" {
			t.Errorf("List (-want +got):\n%s", diff)
		}

		must(t, s.Delete(ctx, "alice"))
		_, err = s.Get(ctx, "alice")
		wantKind(t, "Get of a deleted agent", err, kf.KindNotFound)
		list, err = s.List(ctx)
		must(t, err)
		if diff := cmp.Diff([]kf.Agent{bob}, list); diff != "" {
			t.Errorf("List after Delete (-want +got):\n%s", diff)
		}
		wantKind(t, "Update of a deleted agent", s.Update(ctx, upd), kf.KindNotFound)
		wantKind(t, "Delete of a deleted agent", s.Delete(ctx, "alice"), kf.KindNotFound)
		wantKind(t, "SetTokenHash of a deleted agent", s.SetTokenHash(ctx, "alice", agents.HashToken("t")), kf.KindNotFound)
	})
}

func TestListEmptyAndOrder(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, s agents.Records) {
		list, err := s.List(ctx)
		must(t, err)
		if len(list) != 0 {
			t.Fatalf("List of an empty registry = %v", list)
		}
		ids := []string{"b", "a_1", "A", "a-1", "a", "Z9", "0"}
		for _, id := range ids {
			must(t, s.Create(ctx, kf.Agent{ID: id, Weight: 1, MaxSessions: 1}, nil))
		}
		list, err = s.List(ctx)
		must(t, err)
		var got []string
		for _, a := range list {
			got = append(got, a.ID)
		}
		if want := slices.Sorted(slices.Values(ids)); !slices.Equal(got, want) {
			t.Errorf("List order = %q, want bytewise %q", got, want)
		}
	})
}

func TestCreateConflicts(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, s agents.Records) {
		must(t, s.Create(ctx, alice(), agents.HashToken("one")))
		other := alice()
		other.Name = "Impostor"
		wantKind(t, "Create of an existing id", s.Create(ctx, other, nil), kf.KindConflict)
		got, err := s.Get(ctx, "alice")
		must(t, err)
		if got.Name != "Alice" {
			t.Errorf("a refused Create changed the agent: name %q", got.Name)
		}
		bob := kf.Agent{ID: "bob", Weight: 1, MaxSessions: 1}
		wantKind(t, "Create with another agent's token", s.Create(ctx, bob, agents.HashToken("one")), kf.KindConflict)
		_, err = s.Get(ctx, "bob")
		wantKind(t, "Get of an agent whose Create was refused", err, kf.KindNotFound)
	})
}

func TestCreateRevivesDeletedID(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, s agents.Records) {
		must(t, s.Create(ctx, alice(), agents.HashToken("old")))
		must(t, s.Delete(ctx, "alice"))
		again := kf.Agent{ID: "alice", Name: "Alice II", Accounts: []string{"wx9"}, Weight: 3, MaxSessions: 2}
		must(t, s.Create(ctx, again, agents.HashToken("new")))
		got, err := s.Get(ctx, "alice")
		must(t, err)
		again.Skills, again.Role = []string{}, kf.RoleAgent
		if diff := cmp.Diff(again, got); diff != "" {
			t.Errorf("revived agent (-want +got):\n%s", diff)
		}
		_, err = s.ByTokenHash(ctx, agents.HashToken("old"))
		wantKind(t, "the deleted agent's token", err, kf.KindNotFound)
		if _, err := s.ByTokenHash(ctx, agents.HashToken("new")); err != nil {
			t.Errorf("the revived agent's token: %v", err)
		}
	})
}

func TestUnknown(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, s agents.Records) {
		_, err := s.Get(ctx, "nobody")
		wantKind(t, "Get", err, kf.KindNotFound)
		if !errors.Is(err, kf.ErrNotFound) {
			t.Errorf("Get: errors.Is(%v, kf.ErrNotFound) = false", err)
		}
		wantKind(t, "Update", s.Update(ctx, kf.Agent{ID: "nobody", Weight: 1, MaxSessions: 1}), kf.KindNotFound)
		wantKind(t, "Delete", s.Delete(ctx, "nobody"), kf.KindNotFound)
		wantKind(t, "SetTokenHash", s.SetTokenHash(ctx, "nobody", agents.HashToken("x")), kf.KindNotFound)
		wantKind(t, "SetTokenHash nil", s.SetTokenHash(ctx, "nobody", nil), kf.KindNotFound)
		_, err = s.ByTokenHash(ctx, agents.HashToken("x"))
		wantKind(t, "ByTokenHash", err, kf.KindNotFound)
		_, err = s.ByTokenHash(ctx, nil)
		wantKind(t, "ByTokenHash nil", err, kf.KindNotFound)
		// Not an id, but a name of another registry key in Redis.
		must(t, s.Create(ctx, alice(), agents.HashToken("t")))
		_, err = s.Get(ctx, "token:"+fmt.Sprintf("%x", agents.HashToken("t")))
		wantKind(t, "Get of a token key", err, kf.KindNotFound)
		wantKind(t, "Delete of a token key", s.Delete(ctx, "index:live"), kf.KindNotFound)
	})
}

func TestInvalid(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, s agents.Records) {
		for _, tc := range []struct {
			name string
			a    kf.Agent
		}{
			{"empty id", kf.Agent{Weight: 1, MaxSessions: 1}},
			{"id with a colon", kf.Agent{ID: "a:b", Weight: 1, MaxSessions: 1}},
			{"id with a space", kf.Agent{ID: "a b", Weight: 1, MaxSessions: 1}},
			{"weight 0", kf.Agent{ID: "a", MaxSessions: 1}},
			{"max_sessions 0", kf.Agent{ID: "a", Weight: 1}},
		} {
			wantKind(t, "Create "+tc.name, s.Create(ctx, tc.a, nil), kf.KindInvalid)
			wantKind(t, "Update "+tc.name, s.Update(ctx, tc.a), kf.KindInvalid)
		}
		wantKind(t, "Create with a short hash", s.Create(ctx, alice(), []byte("short")), kf.KindInvalid)
		must(t, s.Create(ctx, alice(), nil))
		wantKind(t, "SetTokenHash with a short hash", s.SetTokenHash(ctx, "alice", []byte("short")), kf.KindInvalid)
	})
}

func TestTokens(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, s agents.Records) {
		first, second := agents.HashToken("first"), agents.HashToken("second")
		must(t, s.Create(ctx, alice(), nil))
		must(t, s.Create(ctx, kf.Agent{ID: "bob", Weight: 1, MaxSessions: 1}, nil))
		lookup := func(hash []byte) (string, error) {
			a, err := s.ByTokenHash(ctx, hash)
			return a.ID, err
		}

		must(t, s.SetTokenHash(ctx, "alice", first))
		if id, err := lookup(first); err != nil || id != "alice" {
			t.Fatalf("ByTokenHash(first) = %q, %v; want alice", id, err)
		}
		if a, _ := s.ByTokenHash(ctx, first); !cmp.Equal(a, alice()) {
			t.Errorf("ByTokenHash returned %+v, want %+v", a, alice())
		}
		must(t, s.SetTokenHash(ctx, "alice", first)) // the same again: no conflict with itself

		wantKind(t, "bob takes alice's token", s.SetTokenHash(ctx, "bob", first), kf.KindConflict)

		must(t, s.SetTokenHash(ctx, "alice", second)) // a new token replaces the old one
		if _, err := lookup(first); kf.KindOf(err) != kf.KindNotFound {
			t.Errorf("the replaced token still works: %v", err)
		}
		if id, err := lookup(second); err != nil || id != "alice" {
			t.Errorf("ByTokenHash(second) = %q, %v; want alice", id, err)
		}

		must(t, s.SetTokenHash(ctx, "bob", first)) // free again after the replacement
		if id, err := lookup(first); err != nil || id != "bob" {
			t.Errorf("ByTokenHash(first) = %q, %v; want bob", id, err)
		}

		must(t, s.SetTokenHash(ctx, "alice", nil)) // revoke
		if _, err := lookup(second); kf.KindOf(err) != kf.KindNotFound {
			t.Errorf("the revoked token still works: %v", err)
		}
		must(t, s.SetTokenHash(ctx, "alice", nil)) // revoking twice is fine

		must(t, s.Delete(ctx, "bob")) // deleting revokes
		if _, err := lookup(first); kf.KindOf(err) != kf.KindNotFound {
			t.Errorf("a deleted agent's token still works: %v", err)
		}
		must(t, s.SetTokenHash(ctx, "alice", first)) // and frees it
		if id, err := lookup(first); err != nil || id != "alice" {
			t.Errorf("ByTokenHash(first) = %q, %v; want alice", id, err)
		}
	})
}

// TestConcurrentCreate: of many creations of one id at once, exactly one
// succeeds; the others are conflicts.
func TestConcurrentCreate(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, s agents.Records) {
		const n = 8
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				a := alice()
				a.Name = fmt.Sprint("alice ", i)
				errs[i] = s.Create(ctx, a, agents.HashToken(fmt.Sprint("token ", i)))
			})
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case kf.KindOf(err) != kf.KindConflict:
				t.Errorf("Create: %v, want a conflict", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d of %d concurrent Creates of one id succeeded, want 1", ok, n)
		}
		tokens := 0
		for i := range n {
			if _, err := s.ByTokenHash(ctx, agents.HashToken(fmt.Sprint("token ", i))); err == nil {
				tokens++
			}
		}
		if tokens != 1 {
			t.Errorf("%d tokens work, want the winner's only", tokens)
		}
	})
}
