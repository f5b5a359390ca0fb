package kfaccounts_test

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kfgate/kfgate/internal/agents"
	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/kfaccounts"
	"github.com/kfgate/kfgate/internal/redistest"
	"github.com/kfgate/kfgate/internal/sim"
	"github.com/kfgate/kfgate/internal/wxapi"
)

const appid = "wxkf00000000001"

// setup returns the service on the simulated WeChat and a registry of
// agents in Redis, and the simulator.
func setup(t *testing.T) (*kfaccounts.Service, *agents.Redis, *sim.API) {
	t.Helper()
	api := sim.NewAPI(sim.APIOptions{Accounts: map[string]string{appid: "secret"}})
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	rdb, prefix := redistest.New(t)
	tokens, err := wxapi.NewTokens(wxapi.TokenOptions{Redis: rdb, Prefix: prefix, Accounts: map[string]string{appid: "secret"},
		BaseURL: srv.URL, BackupURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	wx, err := wxapi.New(wxapi.Options{Tokens: tokens, BaseURL: srv.URL, BackupURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	people := agents.NewRedis(rdb, prefix)
	return kfaccounts.New(wx, people), people, api
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// The list joins getkflist, getonlinekflist and the agents; the sync
// names each kind of difference; WeChat's refusals keep their kind.
func TestListAndSync(t *testing.T) {
	s, people, api := setup(t)
	ctx := t.Context()
	must(t, s.Add(ctx, appid, "ann@gh_shop", "Ann"))
	must(t, s.Add(ctx, appid, "bob@gh_shop", "Bobby"))
	must(t, s.Add(ctx, appid, "cat@gh_shop", "Cat"))
	must(t, api.SetKfOnline(appid, "ann@gh_shop", true))
	for _, a := range []kf.Agent{
		{ID: "ann", Name: "Ann", Accounts: []string{appid}, Weight: 1, MaxSessions: 3, KfAccount: "ann@gh_shop"},
		{ID: "bob", Name: "Bob", Accounts: []string{appid}, Weight: 1, MaxSessions: 3, KfAccount: "bob@gh_shop"},
		{ID: "dan", Name: "Dan", Accounts: []string{appid}, Weight: 1, MaxSessions: 3, KfAccount: "dan@gh_shop"},
		{ID: "eve", Name: "Eve", Accounts: []string{appid}, Weight: 1, MaxSessions: 3},
	} {
		must(t, people.Create(ctx, a, nil))
	}

	list, err := s.List(ctx, appid)
	must(t, err)
	type row struct {
		KfAccount, Nickname, Agent string
		Online                     bool
	}
	var got []row
	for _, k := range list {
		got = append(got, row{k.KfAccount, k.Nickname, k.Agent, k.Online})
	}
	want := []row{{"ann@gh_shop", "Ann", "ann", true}, {"bob@gh_shop", "Bobby", "bob", false}, {"cat@gh_shop", "Cat", "", false}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("List (-want +got):\n%s", d)
	}

	d, err := s.Sync(ctx, appid)
	must(t, err)
	wantSync := kfaccounts.Differences{
		Unlinked:  []string{"cat@gh_shop"},
		Missing:   []kfaccounts.AgentKf{{Agent: "dan", KfAccount: "dan@gh_shop"}},
		Nicknames: []kfaccounts.Nickname{{KfAccount: "bob@gh_shop", Nickname: "Bobby", Agent: "bob", AgentName: "Bob"}},
	}
	if diff := cmp.Diff(wantSync, d); diff != "" {
		t.Errorf("Sync (-want +got):\n%s", diff)
	}

	// Renamed to the agent's name, deleted, invited: the sync follows.
	must(t, s.Rename(ctx, appid, "bob@gh_shop", "Bob"))
	must(t, s.Delete(ctx, appid, "cat@gh_shop"))
	must(t, s.SetAvatar(ctx, appid, "ann@gh_shop", "ann.jpg", strings.NewReader("\xff\xd8\xff\xe0 a face")))
	must(t, s.Invite(ctx, appid, "bob@gh_shop", "bob_wechat_1"))
	d, err = s.Sync(ctx, appid)
	must(t, err)
	if len(d.Unlinked) != 0 || len(d.Nicknames) != 0 || len(d.Missing) != 1 {
		t.Errorf("Sync after the fixes = %+v, want only dan missing", d)
	}
	list, err = s.List(ctx, appid)
	must(t, err)
	if len(list) != 2 || list[0].HeadImgURL == "" || list[1].InviteWx != "bob_wechat_1" || list[1].InviteStatus != "waiting" ||
		list[1].InviteExpires < time.Now().Unix() {
		t.Errorf("List after avatar and invite = %+v", list)
	}

	for _, c := range []struct {
		name string
		err  error
		kind kf.Kind
	}{
		{"bad kf account", s.Add(ctx, appid, "no-at", "X"), kf.KindInvalid},
		{"empty nickname", s.Add(ctx, appid, "x@gh_shop", ""), kf.KindInvalid},
		{"nickname of 17", s.Add(ctx, appid, "x@gh_shop", strings.Repeat("客", 17)), kf.KindInvalid},
		{"exists (65406)", s.Add(ctx, appid, "ann@gh_shop", "Ann"), kf.KindConflict},
		{"rename unknown (65401)", s.Rename(ctx, appid, "zed@gh_shop", "Zed"), kf.KindNotFound},
		{"delete unknown (65401)", s.Delete(ctx, appid, "zed@gh_shop"), kf.KindNotFound},
		{"invite nobody", s.Invite(ctx, appid, "ann@gh_shop", ""), kf.KindInvalid},
		{"invite again while pending (65411)", s.Invite(ctx, appid, "bob@gh_shop", "bob_wechat_2"), kf.KindConflict},
	} {
		if c.err == nil || kf.KindOf(c.err) != c.kind {
			t.Errorf("%s: %v (kind %v), want kind %v", c.name, c.err, kf.KindOf(c.err), c.kind)
		}
	}
}
