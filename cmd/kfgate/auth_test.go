package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kfgate/kfgate/internal/openapitest"
	"github.com/kfgate/kfgate/internal/sim"
)

// Every /api/v1 endpoint × (no token, a bad token, an agent who does not
// serve the session, the agent who does, an admin), on the real serve with
// everything configured: 401 without valid credentials, 403 for the wrong
// role or someone else's session, and otherwise past authorization (the
// call's own answer, which other tests check).
func TestAPIAuthTable(t *testing.T) {
	const adminToken = "auth-admin-token-000000001"
	setup := newSimulated(t, simulatedOptions{secret: "auth-secret", adminToken: adminToken, postgres: true, plaintext: true,
		admin: "max_auth_failures: 1000"})
	wechat := setup.wechat
	base, _, _ := startServe(t, setup.config, nil)
	call := func(method, path, token, body string) int {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := openapitest.Load(t).Client(t).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if resp.StatusCode >= 400 && (json.NewDecoder(resp.Body).Decode(&out) != nil || out["error"] == "") {
			t.Errorf("%s %s: %d without a JSON error", method, path, resp.StatusCode)
		}
		return resp.StatusCode
	}
	newAgent := func(id string) string {
		_, out := apiCall(t, base, "POST", "/api/v1/agents", adminToken, `{"id":"`+id+`","accounts":["`+testAppID+`"],"max_sessions":1}`)
		token, _ := out["token"].(string)
		return token
	}
	owner, other := newAgent("owner"), newAgent("other")
	if call("PUT", "/api/v1/agent/status", owner, `{"status":"online"}`) != 200 {
		t.Fatal("owner online")
	}
	// A user's session, served by owner.
	p, _ := sim.NewPoster(base, sim.Account{AppID: testAppID, Token: testToken}, false, nil)
	_ = wechat.Interact(testAppID, "o_auth", sim.InteractMessage, time.Now())
	if status, _, err := p.Post(context.Background(), p.Prepare(sim.TextXML("gh_a", "o_auth", time.Now().Unix(), "hi", 1))); err != nil || status != 200 {
		t.Fatalf("callback %d %v", status, err)
	}
	var sid string
	waitFor(t, "the owner's session", func() bool {
		req, _ := http.NewRequest("GET", base+"/api/v1/agent/sessions", nil)
		req.Header.Set("Authorization", "Bearer "+owner)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var out struct{ Sessions []struct{ ID string } }
		_ = json.NewDecoder(resp.Body).Decode(&out)
		if len(out.Sessions) == 1 {
			sid = out.Sessions[0].ID
		}
		return sid != ""
	})

	const (
		auth      = 401
		forbidden = 403
		allowed   = 0 // anything but 401, 403 and 429
	)
	type who struct{ other, owner, admin int }
	adminOnly, agentOnly := who{forbidden, forbidden, allowed}, who{allowed, allowed, auth}
	sessionAny, sessionAgent := who{forbidden, allowed, allowed}, who{forbidden, allowed, forbidden}
	anyone := who{allowed, allowed, allowed} // the WebSocket: an agent's events, or an admin's (all)
	n := 0
	endpoints := []struct {
		method, path, body string
		want               who
	}{
		{"GET", "/api/v1/agents", "", adminOnly},
		{"POST", "/api/v1/agents", `{"id":"new-%d","accounts":["` + testAppID + `"],"max_sessions":1}`, adminOnly},
		{"GET", "/api/v1/agents/other", "", adminOnly},
		{"PATCH", "/api/v1/agents/nobody", `{"weight":2}`, adminOnly},
		{"DELETE", "/api/v1/agents/nobody", "", adminOnly},
		{"POST", "/api/v1/agents/nobody/token", "", adminOnly},
		{"DELETE", "/api/v1/agents/nobody/token", "", adminOnly},
		{"GET", "/api/v1/accounts", "", adminOnly},
		{"GET", "/api/v1/queue?account=" + testAppID, "", adminOnly},
		{"GET", "/api/v1/sessions", "", adminOnly},
		{"GET", "/api/v1/sessions/" + "%s", "", adminOnly},
		{"GET", "/api/v1/stats", "", adminOnly},
		{"PUT", "/api/v1/agents/nobody/password", `{"password":"long-enough-1"}`, adminOnly},
		{"GET", "/api/v1/me", "", who{allowed, allowed, allowed}},
		{"GET", "/api/v1/agent/team", "", agentOnly},
		{"DELETE", "/api/v1/me/sessions", "", agentOnly},
		{"PUT", "/api/v1/agent/status", `{"status":"online"}`, agentOnly},
		{"POST", "/api/v1/agent/heartbeat", "", agentOnly},
		{"GET", "/api/v1/agent/sessions", "", agentOnly},
		{"GET", "/api/v1/agent/ws", "", anyone},
		{"GET", "/api/v1/sessions/%s/messages", "", sessionAny},
		{"POST", "/api/v1/sessions/%s/messages", `{"content":"hello"}`, sessionAgent},
		{"POST", "/api/v1/sessions/%s/images", "", sessionAgent},
		{"POST", "/api/v1/sessions/%s/typing", `{"typing":true}`, sessionAny},
		{"POST", "/api/v1/sessions/%s/transfer", `{"to_agent":"nobody"}`, sessionAny},
		{"POST", "/api/v1/sessions/%s/close", "", sessionAny}, // last: the owner closes it
	}
	for _, e := range endpoints {
		path := e.path
		if strings.Contains(path, "%s") {
			path = fmt.Sprintf(path, sid)
		}
		for _, c := range []struct {
			name, token string
			want        int
		}{
			{"no token", "", auth},
			{"bad token", "kfa_not-a-real-token", auth},
			{"other agent", other, e.want.other},
			{"owner", owner, e.want.owner},
			{"admin", adminToken, e.want.admin},
		} {
			n++
			body := e.body
			if strings.Contains(body, "%d") {
				body = fmt.Sprintf(body, n)
			}
			got := call(e.method, path, c.token, body)
			switch {
			case got == 429:
				t.Fatalf("%s %s as %s: 429, the failure limit was reached", e.method, e.path, c.name)
			case c.want == allowed && (got == 401 || got == 403):
				t.Errorf("%s %s as %s = %d, want it allowed", e.method, e.path, c.name, got)
			case c.want != allowed && got != c.want:
				t.Errorf("%s %s as %s = %d, want %d", e.method, e.path, c.name, got, c.want)
			}
		}
	}
}
