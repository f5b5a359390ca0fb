package agents_test

import (
	"context"
	"testing"

	"github.com/kfgate/kfgate/internal/agents"
	"github.com/kfgate/kfgate/internal/kf"
)

// An agent's kf account is stored, read back by every lookup, changed and
// cleared by Update, unique among live agents, and free again once its
// agent is deleted — in both stores.
func TestKfAccount(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, s agents.Records) {
		ann := kf.Agent{ID: "ann", Accounts: []string{"wx1"}, Weight: 1, MaxSessions: 3, KfAccount: "ann@gh_shop"}
		must(t, s.Create(ctx, ann, agents.HashToken("t-ann")))

		read := func(what string, want string) {
			t.Helper()
			a, err := s.Get(ctx, "ann")
			must(t, err)
			b, err := s.ByTokenHash(ctx, agents.HashToken("t-ann"))
			must(t, err)
			c, _, err := s.Credentials(ctx, "ann")
			must(t, err)
			all, err := s.List(ctx)
			must(t, err)
			if a.KfAccount != want || b.KfAccount != want || c.KfAccount != want || all[0].KfAccount != want {
				t.Errorf("%s: kf_account %q / %q / %q / %q, want %q", what, a.KfAccount, b.KfAccount, c.KfAccount, all[0].KfAccount, want)
			}
		}
		read("created", "ann@gh_shop")

		bob := kf.Agent{ID: "bob", Accounts: []string{"wx1"}, Weight: 1, MaxSessions: 3, KfAccount: "ann@gh_shop"}
		wantKind(t, "create with ann's kf account", s.Create(ctx, bob, nil), kf.KindConflict)
		bob.KfAccount = "bob@gh_shop"
		must(t, s.Create(ctx, bob, nil))
		bob.KfAccount = "ann@gh_shop"
		wantKind(t, "update to ann's kf account", s.Update(ctx, bob), kf.KindConflict)

		ann.KfAccount = "anna@gh_shop"
		must(t, s.Update(ctx, ann))
		read("renamed", "anna@gh_shop")
		// The old one is free now.
		bob.KfAccount = "ann@gh_shop"
		must(t, s.Update(ctx, bob))

		ann.KfAccount = ""
		must(t, s.Update(ctx, ann))
		read("cleared", "")

		ann.KfAccount = "anna@gh_shop"
		must(t, s.Update(ctx, ann))
		must(t, s.Delete(ctx, "ann"))
		carl := kf.Agent{ID: "carl", Accounts: []string{"wx1"}, Weight: 1, MaxSessions: 3, KfAccount: "anna@gh_shop"}
		must(t, s.Create(ctx, carl, nil))
		// Reviving ann with her old kf account, now carl's, is a conflict.
		wantKind(t, "revive with carl's kf account", s.Create(ctx, ann, nil), kf.KindConflict)

		bad := kf.Agent{ID: "dan", Accounts: []string{"wx1"}, Weight: 1, MaxSessions: 3, KfAccount: "no-at-sign"}
		wantKind(t, "malformed kf account", s.Create(ctx, bad, nil), kf.KindInvalid)
		bad.KfAccount, bad.Accounts = "dan@gh_shop", []string{"wx1", "wx2"}
		wantKind(t, "kf account with two accounts", s.Create(ctx, bad, nil), kf.KindInvalid)
	})
}
