package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/routing"
	"github.com/kfgate/kfgate/internal/sim"
)

// An account whose agents work in WeChat's own customer-service tool
// (accounts[].agents: wechat), end to end against the simulator: three kf
// accounts, two of them online; twenty users, each handed to an online kf
// account by consistent hashing with bounded loads (the decisions replayed
// with the router), the offline one getting nobody; WeChat's sessions
// match kfgate's one to one; a kf account closing a session in WeChat, or
// switching it, moves kfgate's; kfgate's idle close and a transfer through
// the API move WeChat's; with nobody online a user hears 当前无客服在线…
// once and waits, and WeChat's own queue shows beside kfgate's.
func TestWeChatKfMode(t *testing.T) {
	const admin = "wxkf-admin-token-000000001"
	env := newSimulated(t, simulatedOptions{secret: "wxkf-secret", adminToken: admin, postgres: true,
		account: "agents: wechat, kf_max_sessions: 15",
		extra:   "scheduler: {every: 100ms, kf_poll: 200ms}\nengine: {idle_timeout: 1h, warn_before: 300ms}"})
	wechat, rdb, prefix := env.wechat, env.rdb, env.prefix
	ctx := context.Background()
	kfs := []string{"anna@shop", "bob@shop", "carl@shop"}
	for _, k := range kfs {
		if err := wechat.AddKf(testAppID, k, strings.Split(k, "@")[0]); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range kfs[:2] {
		if err := wechat.SetKfOnline(testAppID, k, true); err != nil {
			t.Fatal(err)
		}
	}
	base, stop, logs := startServe(t, env.config, nil)
	acct := sim.Account{AppID: testAppID, Token: testToken, AESKey: testAESKey}
	if err := wechat.CallbackTo(base, acct, true); err != nil {
		t.Fatal(err)
	}
	p, err := sim.NewPoster(base, acct, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	msgID := int64(1000)
	say := func(openid, text string) {
		t.Helper()
		msgID++
		if err := wechat.Interact(testAppID, openid, sim.InteractMessage, time.Time{}); err != nil {
			t.Fatal(err)
		}
		status, body, err := p.Post(ctx, p.Prepare(sim.TextXML("gh_"+testAppID, openid, time.Now().Unix(), text, msgID)))
		if err != nil || status != 200 || string(body) != "success" {
			t.Fatalf("callback = %d %q %v", status, body, err)
		}
	}
	// session is the user's live session in kfgate: state and agent.
	session := func(openid string) (string, string) {
		h := rdb.HGetAll(ctx, prefix+"sess:"+testAppID+":"+openid).Val()
		return h["state"], h["agent"]
	}
	agentStatus := func(id string) string { return rdb.HGet(ctx, prefix+"agent:"+id, "status").Val() }

	// The poll makes the two online kf accounts routing targets.
	waitFor(t, "the poll to bring anna and bob online", func() bool {
		return agentStatus("kf:anna@shop") == "online" && agentStatus("kf:bob@shop") == "online"
	})
	if s := agentStatus("kf:carl@shop"); s == "online" {
		t.Fatalf("carl, offline in WeChat, is %q", s)
	}

	// Twenty users, one after the other; each decision is replayed with
	// the router on the loads the one before left.
	router := routing.NewRouter(routing.Options{})
	load := map[string]int{}
	var users []string
	for i := range 20 {
		openid := fmt.Sprintf("o_wxkf_user_%02d", i)
		users = append(users, openid)
		// The poll refreshes the routing view between two users.
		time.Sleep(250 * time.Millisecond)
		say(openid, "你好")
		waitFor(t, openid+"'s hand-over", func() bool {
			state, agent := session(openid)
			return state == "serving" && wechat.KfSessions(testAppID)[openid] == strings.TrimPrefix(agent, "kf:")
		})
		_, got := session(openid)
		var snapshot []routing.Agent
		for _, id := range []string{"kf:anna@shop", "kf:bob@shop", "kf:carl@shop"} {
			st := kf.AgentOnline
			if id == "kf:carl@shop" {
				st = kf.AgentOffline
			}
			snapshot = append(snapshot, routing.Agent{ID: id, Accounts: []string{testAppID}, Weight: 1, MaxSessions: 15, Load: load[id], Status: st})
		}
		want, err := router.Pick(routing.ConsistentHash, routing.Request{Account: testAppID, OpenID: openid}, snapshot, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s went to %s; consistent hashing with bounded loads on loads %v picks %s", openid, got, load, want)
		}
		load[got]++
	}
	t.Logf("20 users: anna %d, bob %d, carl %d", load["kf:anna@shop"], load["kf:bob@shop"], load["kf:carl@shop"])
	if load["kf:carl@shop"] != 0 || load["kf:anna@shop"] == 0 || load["kf:bob@shop"] == 0 {
		t.Errorf("loads %v: want both online kf accounts used, the offline one not", load)
	}
	// One to one: WeChat's sessions are kfgate's.
	matchOneToOne := func() string {
		inWeChat := wechat.KfSessions(testAppID)
		inKfgate := map[string]string{}
		for _, u := range users {
			if state, agent := session(u); state == "serving" {
				inKfgate[u] = strings.TrimPrefix(agent, "kf:")
			}
		}
		if fmt.Sprint(inWeChat) != fmt.Sprint(inKfgate) {
			return fmt.Sprintf("WeChat's sessions %v\nkfgate's %v", inWeChat, inKfgate)
		}
		return ""
	}
	if diff := matchOneToOne(); diff != "" {
		t.Fatal(diff)
	}
	// WeChat's accepted_case is the load kfgate routes by.
	waitFor(t, "the loads from accepted_case", func() bool {
		return rdb.HGet(ctx, prefix+"agent:kf:anna@shop", "load").Val() == fmt.Sprint(load["kf:anna@shop"])
	})

	// A kf account closes a session in WeChat's tool: kfgate's closes.
	closed := users[0]
	closedID := rdb.HGet(ctx, prefix+"sess:"+testAppID+":"+closed, "id").Val()
	_, closedBy := session(closed)
	if err := wechat.CloseAsKf(testAppID, closed); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the close in WeChat to close kfgate's session", func() bool { state, _ := session(closed); return state == "" })
	// The archive keeps the session's transitions, WeChat's close among them.
	var transitions []string
	waitFor(t, "the archive to hold the closed session's transitions", func() bool {
		status, out := apiCall(t, base, "GET", "/api/v1/sessions/"+closedID, admin, "")
		transitions = nil
		if list, ok := out["transitions"].([]any); ok && status == 200 {
			for _, x := range list {
				m := x.(map[string]any)
				transitions = append(transitions, fmt.Sprintf("%s %s %s %s", m["type"], m["agent"], m["actor"], m["reason"]))
			}
		}
		return len(transitions) == 2
	})
	if want := []string{"session.assigned " + closedBy + " router new", "session.closed " + closedBy + " wechat kf_close_session"}; fmt.Sprint(want) != fmt.Sprint(transitions) {
		t.Errorf("archived transitions %q, want %q", transitions, want)
	}

	// A transfer through kfgate's API moves WeChat's session.
	moved := users[1]
	_, from := session(moved)
	to := "kf:anna@shop"
	if from == to {
		to = "kf:bob@shop"
	}
	sid := rdb.HGet(ctx, prefix+"sess:"+testAppID+":"+moved, "id").Val()
	if status, out := apiCall(t, base, "POST", "/api/v1/sessions/"+sid+"/transfer", admin, fmt.Sprintf(`{"to_agent":%q}`, to)); status != 200 {
		t.Fatalf("transfer = %d %v", status, out)
	}
	waitFor(t, "the transfer to move WeChat's session", func() bool {
		return wechat.KfSessions(testAppID)[moved] == strings.TrimPrefix(to, "kf:")
	})

	// A kf account switches a user to another in WeChat's tool: kfgate's
	// session follows.
	switched := users[2]
	_, from = session(switched)
	other := "anna@shop"
	if from == "kf:anna@shop" {
		other = "bob@shop"
	}
	if err := wechat.SwitchAsKf(testAppID, switched, other); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the switch in WeChat to move kfgate's session", func() bool { _, agent := session(switched); return agent == "kf:"+other })

	// kfgate's idle close (its deadline made due now) closes WeChat's.
	idle := users[3]
	rdb.ZAdd(ctx, prefix+"deadlines", redis.Z{Score: 0, Member: prefix + "sess:" + testAppID + ":" + idle})
	waitFor(t, "the idle close to close WeChat's session", func() bool {
		state, _ := session(idle)
		_, inWeChat := wechat.KfSessions(testAppID)[idle]
		return state == "" && !inWeChat
	})
	if diff := matchOneToOne(); diff != "" {
		t.Fatal(diff)
	}

	// Nobody online: the user waits in kfgate's queue and hears so once.
	for _, k := range kfs[:2] {
		if err := wechat.SetKfOnline(testAppID, k, false); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the poll to take anna and bob offline", func() bool {
		return agentStatus("kf:anna@shop") == "offline" && agentStatus("kf:bob@shop") == "offline"
	})
	lonely := "o_wxkf_lonely"
	say(lonely, "有人吗")
	waitFor(t, "the lonely user to queue", func() bool { state, _ := session(lonely); return state == "waiting" })
	say(lonely, "还在吗")
	noAgent := func() int {
		n := 0
		for _, r := range wechat.Received(testAppID, lonely) {
			if strings.Contains(string(r.Body), "当前无客服在线") {
				n++
			}
		}
		return n
	}
	waitFor(t, "the no_agent notice", func() bool { return noAgent() >= 1 })
	time.Sleep(500 * time.Millisecond) // whatever else would come
	if n := noAgent(); n != 1 {
		t.Errorf("the no_agent notice came %d times, want once", n)
	}
	if state, _ := session(lonely); state != "waiting" {
		t.Errorf("the lonely user's session is %q, want waiting", state)
	}
	if _, ok := wechat.KfSessions(testAppID)[lonely]; ok {
		t.Error("the lonely user has a session in WeChat with nobody online")
	}
	// Supervisors see kfgate's queue, and WeChat's beside it.
	status, out := apiCall(t, base, "GET", "/api/v1/queue?account="+testAppID, admin, "")
	if status != 200 {
		t.Fatalf("queue = %d %v", status, out)
	}
	b, _ := json.Marshal(out)
	if !strings.Contains(string(b), lonely) || !strings.Contains(string(b), `"wechat":{"count":0`) {
		t.Errorf("queue = %s, want the lonely user and WeChat's (empty) queue", b)
	}

	// Bob comes back: the user waiting is handed to him.
	if err := wechat.SetKfOnline(testAppID, "bob@shop", true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bob to take the waiting user", func() bool {
		state, agent := session(lonely)
		return state == "serving" && agent == "kf:bob@shop" && wechat.KfSessions(testAppID)[lonely] == "bob@shop"
	})
	if n := wechat.CallbackFailures(); n != 0 {
		t.Errorf("%d kf_* pushes were not answered success", n)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), `"level":"ERROR"`) {
		t.Errorf("errors logged:\n%s", logs)
	}
}

// The deprecated transfer_to_kf still works: a warning at start, and the
// passive hand-over — every user message answered with
// transfer_customer_service, naming the kf account once kfgate's router
// gave the user one (the first message goes to WeChat's own queue, since
// the answer leaves before the routing).
func TestWeChatKfPassive(t *testing.T) {
	env := newSimulated(t, simulatedOptions{secret: "wxkf-secret", account: "transfer_to_kf: true",
		extra: "scheduler: {kf_poll: 200ms}"})
	wechat, rdb, prefix := env.wechat, env.rdb, env.prefix
	ctx := context.Background()
	if err := wechat.AddKf(testAppID, "anna@shop", "anna"); err != nil {
		t.Fatal(err)
	}
	if err := wechat.SetKfOnline(testAppID, "anna@shop", true); err != nil {
		t.Fatal(err)
	}
	base, stop, logs := startServe(t, env.config, nil)
	if !strings.Contains(logs.String(), "accounts[0].transfer_to_kf is deprecated") {
		t.Errorf("no deprecation warning in the log:\n%s", logs)
	}
	acct := sim.Account{AppID: testAppID, Token: testToken, AESKey: testAESKey}
	p, err := sim.NewPoster(base, acct, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the poll", func() bool { return rdb.HGet(ctx, prefix+"agent:kf:anna@shop", "status").Val() == "online" })
	reply := func(n int64) string {
		t.Helper()
		if err := wechat.Interact(testAppID, "o_passive", sim.InteractMessage, time.Time{}); err != nil {
			t.Fatal(err)
		}
		status, body, err := p.Post(ctx, p.Prepare(sim.TextXML("gh_"+testAppID, "o_passive", time.Now().Unix(), "在吗", n)))
		if err != nil || status != 200 {
			t.Fatalf("callback = %d %v", status, err)
		}
		plain, err := p.DecryptReply(body)
		if err != nil {
			t.Fatal(err)
		}
		return string(plain)
	}
	first := reply(1)
	if !strings.Contains(first, "transfer_customer_service") || strings.Contains(first, "KfAccount") {
		t.Errorf("first reply %s: want a transfer_customer_service naming nobody", first)
	}
	waitFor(t, "kfgate to route the user to anna", func() bool {
		h := rdb.HGetAll(ctx, prefix+"sess:"+testAppID+":o_passive").Val()
		return h["state"] == "serving" && h["agent"] == "kf:anna@shop"
	})
	// kfgate sees no answer in WeChat's tool: no reply clock, the idle clock instead.
	key := prefix + "sess:" + testAppID + ":o_passive"
	waitFor(t, "the idle clock of the passive session", func() bool {
		return rdb.ZScore(ctx, prefix+"owe:first", key).Err() != nil && rdb.ZScore(ctx, prefix+"deadlines", key).Err() == nil
	})
	second := reply(2)
	if !strings.Contains(second, "<KfAccount><![CDATA[anna@shop]]></KfAccount>") {
		t.Errorf("second reply %s: want one naming anna@shop", second)
	}
	// The passive hand-over makes no kfsession/create call.
	if n := wechat.Calls("/customservice/kfsession/create"); n != 0 {
		t.Errorf("%d kfsession/create calls with the passive hand-over", n)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}
