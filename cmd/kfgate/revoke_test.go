package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/kfgate/kfgate/internal/sim"
)

// Revocation is immediate and everywhere: agent A, connected by WebSocket
// to replica 1 and serving a user, has its token revoked through replica
// 2. Its socket gets {"type":"access.revoked"} and closes within a second;
// its user is reassigned to B; a new user goes to B, never to A; A is
// offline. A new token for B closes B's socket of the old token and leaves
// B its users. Deleting agent C (connected to replica 1) through replica 2
// closes C's socket the same way.
func TestRevokeAcrossReplicas(t *testing.T) {
	const adminToken = "rvk-admin-token-0000000003"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	env := newSimulated(t, simulatedOptions{secret: "rvk-secret", adminToken: adminToken, postgres: true, plaintext: true,
		extra: "engine: {strategy: least_loaded}"})
	wechat, cfg := env.wechat, env.config
	replica1, _, _ := startServe(t, cfg, nil)
	replica2, _, _ := startServe(t, cfg, nil)
	newAgent := func(id string) string {
		status, out := apiCall(t, replica1, "POST", "/api/v1/agents", adminToken, `{"id":"`+id+`","accounts":["`+testAppID+`"],"max_sessions":3}`)
		if status != 201 {
			t.Fatalf("create %s = %d %v", id, status, out)
		}
		return out["token"].(string)
	}
	tokenA, tokenB, tokenC := newAgent("agent-a"), newAgent("agent-b"), newAgent("agent-c")
	dial := func(token string) *websocket.Conn {
		c, _, err := websocket.Dial(ctx, strings.Replace(replica1, "http", "ws", 1)+"/api/v1/agent/ws?token="+token, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.CloseNow() })
		return c
	}
	wsA, wsC := dial(tokenA), dial(tokenC)
	if status, _ := apiCall(t, replica1, "PUT", "/api/v1/agent/status", tokenA, `{"status":"online"}`); status != 200 {
		t.Fatal("A online")
	}
	poster, _ := sim.NewPoster(replica2, sim.Account{AppID: testAppID, Token: testToken}, false, nil)
	write := func(user string, id int64) {
		t.Helper()
		if err := wechat.Interact(testAppID, user, sim.InteractMessage, time.Now()); err != nil {
			t.Fatal(err)
		}
		if status, _, err := poster.Post(ctx, poster.Prepare(sim.TextXML("gh_rvk", user, time.Now().Unix(), "你好", id))); err != nil || status != 200 {
			t.Fatalf("callback = %d %v", status, err)
		}
	}
	sessionsOf := func(token string) []string {
		_, out := apiCall(t, replica2, "GET", "/api/v1/agent/sessions", token, "")
		var ids []string
		list, _ := out["sessions"].([]any)
		for _, s := range list {
			ids = append(ids, s.(map[string]any)["openid"].(string))
		}
		return ids
	}
	write("o_rvk_1", 1)
	waitFor(t, "A to serve the first user", func() bool { return fmt.Sprint(sessionsOf(tokenA)) == "[o_rvk_1]" })
	if status, _ := apiCall(t, replica2, "PUT", "/api/v1/agent/status", tokenB, `{"status":"online"}`); status != 200 {
		t.Fatal("B online")
	}

	// closed reads wsA until the access.revoked frame and the close, within
	// a second of the call.
	closed := func(c *websocket.Conn, who string) {
		t.Helper()
		rctx, rcancel := context.WithTimeout(ctx, time.Second)
		defer rcancel()
		var sawFrame bool
		for {
			_, data, err := c.Read(rctx)
			if err != nil {
				if websocket.CloseStatus(err) != websocket.StatusPolicyViolation || !sawFrame || errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("%s's socket: %v (revoked frame seen: %v); want the revoked frame and close 1008 within 1s", who, err, sawFrame)
				}
				return
			}
			var ev struct{ Type string }
			_ = json.Unmarshal(data, &ev)
			sawFrame = sawFrame || ev.Type == "access.revoked"
		}
	}
	if status, out := apiCall(t, replica2, "DELETE", "/api/v1/agents/agent-a/token", adminToken, ""); status != 204 {
		t.Fatalf("revoke = %d %v", status, out)
	}
	closed(wsA, "A")
	waitFor(t, "A's user to be reassigned to B", func() bool { return fmt.Sprint(sessionsOf(tokenB)) == "[o_rvk_1]" })
	if status, _ := apiCall(t, replica1, "GET", "/api/v1/agent/sessions", tokenA, ""); status != 401 {
		t.Errorf("A's revoked token on REST = %d, want 401", status)
	}
	_, out := apiCall(t, replica1, "GET", "/api/v1/agents/agent-a", adminToken, "")
	if a, _ := out["agent"].(map[string]any); a["status"] != "offline" || a["load"] != float64(0) {
		t.Errorf("A after revocation: %v, want offline with no load", a)
	}
	write("o_rvk_2", 2)
	waitFor(t, "the new user to go to B", func() bool { return len(sessionsOf(tokenB)) == 2 })

	// A new token for B closes the socket opened with the old one; B keeps
	// its users.
	wsB := dial(tokenB)
	if status, out := apiCall(t, replica2, "POST", "/api/v1/agents/agent-b/token", adminToken, ""); status != 201 {
		t.Fatalf("new token = %d %v", status, out)
	} else {
		tokenB = out["token"].(string)
	}
	closed(wsB, "B")
	if got := sessionsOf(tokenB); len(got) != 2 {
		t.Errorf("B's users after a new token: %v, want both", got)
	}

	if status, out := apiCall(t, replica2, "DELETE", "/api/v1/agents/agent-c", adminToken, ""); status != 204 {
		t.Fatalf("delete = %d %v", status, out)
	}
	closed(wsC, "C")
}
