package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/sim"
)

// The API abused as a careless client or an attacker would, on the real
// serve with PostgreSQL: for every operation of docs/openapi.yaml, a NUL,
// bytes that are not UTF-8 and an oversize value in each path parameter,
// each query parameter and each string field of the JSON body, and
// out-of-range numbers in each integer parameter and field. Each answer is
// a 4xx with a one-line JSON reason, never a 5xx. Then signed callbacks
// with a raw NUL and with invalid UTF-8 are accepted, a poison entry is
// written straight into the events stream, and a normal message sent after
// all of it is archived (its row is in PostgreSQL) while the dead-letter
// stream holds the poison entry.
func TestAPIAbuse(t *testing.T) {
	const adminToken = "abuse-admin-token-00000001"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	setup := newSimulated(t, simulatedOptions{secret: "abuse-secret", adminToken: adminToken, postgres: true, plaintext: true,
		admin: "max_auth_failures: 100000"})
	rdb, prefix, pool, wechat := setup.rdb, setup.prefix, setup.pool, setup.wechat
	base, _, logs := startServe(t, setup.config, nil)

	// An agent serving a user, so that the session calls reach their
	// handlers.
	status, out := apiCall(t, base, "POST", "/api/v1/agents", adminToken, `{"id":"ann","accounts":["`+testAppID+`"],"skills":["billing"],"max_sessions":5}`)
	if status != 201 {
		t.Fatalf("create agent = %d %v", status, out)
	}
	ann := out["token"].(string)
	apiCall(t, base, "PUT", "/api/v1/agent/status", ann, `{"status":"online"}`)
	user := "o_abuse_user"
	if err := wechat.Interact(testAppID, user, sim.InteractMessage, time.Now()); err != nil {
		t.Fatal(err)
	}
	poster, _ := sim.NewPoster(base, sim.Account{AppID: testAppID, Token: testToken}, false, nil)
	post := func(content string, id int64) {
		t.Helper()
		status, body, err := poster.Post(ctx, poster.Prepare(sim.TextXML("gh_abuse", user, time.Now().Unix(), content, id)))
		if err != nil || status != 200 || string(body) != "success" {
			t.Fatalf("callback %q = %d %q %v, want 200 success", content, status, body, err)
		}
	}
	post("你好", 1)
	var sid string
	waitFor(t, "ann to get the session", func() bool {
		_, out := apiCall(t, base, "GET", "/api/v1/agent/sessions", ann, "")
		if list, _ := out["sessions"].([]any); len(list) == 1 {
			sid, _ = list[0].(map[string]any)["id"].(string)
		}
		return sid != ""
	})

	// The requests, derived from the document.
	loader := openapi3.NewLoader()
	spec, err := loader.LoadFromFile("../../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	type bad struct{ name, raw string } // raw: already escaped for its place
	pathBad := []bad{{"NUL", "a%00b"}, {"invalid UTF-8", "a%FF%FEb"}, {"oversize", strings.Repeat("a", 300)}, {"control", "a%07b"}}
	queryBad := []bad{{"NUL", "a%00b"}, {"invalid UTF-8", "%C3%28"}, {"oversize", strings.Repeat("q", 300)}, {"bad escape", "%zz"}}
	numBad := []string{"-1", "0", "99999999999999999999", "1e3", "x"}
	client := &http.Client{Timeout: 10 * time.Second}
	type result struct {
		what   string
		status int
		body   string
	}
	var results []result
	call := func(what, method, path, token, contentType string, body []byte) {
		req, err := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(body))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		results = append(results, result{what, resp.StatusCode, string(b)})
	}
	values := map[string]string{"id": "nobody", "account": testAppID, "openid": user}
	var ops []string
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			ops = append(ops, method+" "+path)
			_ = op
		}
	}
	slices.Sort(ops)
	for _, key := range ops {
		method, path, _ := strings.Cut(key, " ")
		op := spec.Paths.Find(path).GetOperation(method)
		token := adminToken
		if op.Security != nil {
			var names []string
			for _, req := range *op.Security {
				for name := range req {
					names = append(names, name)
				}
			}
			if !slices.Contains(names, "admin") {
				token = ann
			}
		}
		params := append(openapi3.Parameters{}, spec.Paths.Find(path).Parameters...)
		params = append(params, op.Parameters...)
		fill := func(override map[string]string) string {
			p := path
			for _, prm := range params {
				if prm.Value.In != "path" {
					continue
				}
				v := values[prm.Value.Name]
				if strings.HasPrefix(path, "/api/v1/sessions/{id}") {
					v = sid
				}
				if o, ok := override[prm.Value.Name]; ok {
					v = o
				}
				p = strings.Replace(p, "{"+prm.Value.Name+"}", v, 1)
			}
			return p
		}
		isInt := func(s *openapi3.SchemaRef) bool {
			return s != nil && s.Value != nil && s.Value.Type != nil && (s.Value.Type.Is("integer") || s.Value.Type.Is("number"))
		}
		for _, prm := range params {
			name := prm.Value.Name
			switch prm.Value.In {
			case "path":
				for _, b := range pathBad {
					call(fmt.Sprintf("%s path {%s} %s", key, name, b.name), method, fill(map[string]string{name: b.raw}), token, "application/json", []byte("{}"))
				}
			case "query":
				for _, b := range queryBad {
					call(fmt.Sprintf("%s ?%s %s", key, name, b.name), method, fill(nil)+"?"+name+"="+b.raw, token, "application/json", []byte("{}"))
				}
				if isInt(prm.Value.Schema) {
					nums := numBad
					if m := prm.Value.Schema.Value.Max; m != nil && *m < 1<<31 {
						nums = append(nums, "2147483648", fmt.Sprint(*m+1))
					}
					for _, n := range nums {
						call(fmt.Sprintf("%s ?%s=%s", key, name, n), method, fill(nil)+"?"+name+"="+url.QueryEscape(n), token, "application/json", []byte("{}"))
					}
				}
			}
		}
		if op.RequestBody == nil || op.RequestBody.Value.Content.Get("application/json") == nil {
			continue
		}
		schema := op.RequestBody.Value.Content.Get("application/json").Schema.Value
		for name, prop := range schema.Properties {
			p := prop.Value
			switch {
			case p.Type.Is("string"):
				for _, b := range []struct {
					name string
					body []byte
				}{
					{"NUL", []byte(`{"` + name + `":"a\u0000b"}`)},
					{"invalid UTF-8", []byte("{\"" + name + "\":\"a\xff\xfeb\"}")},
					{"control", []byte(`{"` + name + `":"a\u0007b"}`)},
				} {
					call(fmt.Sprintf("%s body .%s %s", key, name, b.name), method, fill(nil), token, "application/json", b.body)
				}
			case p.Type.Is("integer"):
				for _, n := range []string{"-1", "0", "2147483648", "9223372036854775808", "1e30", "1.5"} {
					call(fmt.Sprintf("%s body .%s=%s", key, name, n), method, fill(nil), token, "application/json", []byte(`{"`+name+`":`+n+`}`))
				}
			case p.Type.Is("array") && p.Items != nil && p.Items.Value.Type.Is("string"):
				for _, b := range []struct{ name, body string }{
					{"NUL item", `{"` + name + `":["a\u0000b"]}`},
					{"10,000 items", `{"` + name + `":[` + strings.Repeat(`"x",`, 9999) + `"x"]}`},
					{"oversize item", `{"` + name + `":["` + strings.Repeat("x", 100_000) + `"]}`},
				} {
					call(fmt.Sprintf("%s body .%s %s", key, name, b.name), method, fill(nil), token, "application/json", []byte(b.body))
				}
			}
		}
		// Oversize: the whole body over the API's limit.
		call(key+" body over 1 MiB", method, fill(nil), token, "application/json", []byte(`{"x":"`+strings.Repeat("x", 1<<20)+`"}`))
	}
	// The fields of the operations a field-by-field body would not reach.
	long := strings.Repeat("长", 1000) // 3,000 bytes
	for _, c := range []struct{ what, method, path, token, body string }{
		{"agent name of 900 KB", "POST", "/api/v1/agents", adminToken, `{"id":"huge","accounts":["` + testAppID + `"],"max_sessions":1,"name":"` + strings.Repeat("n", 900_000) + `"}`},
		{"agent with 10,000 skills", "POST", "/api/v1/agents", adminToken, `{"id":"skills","accounts":["` + testAppID + `"],"max_sessions":1,"skills":[` + strings.Repeat(`"s",`, 9999) + `"s"]}`},
		{"agent skill with a comma", "POST", "/api/v1/agents", adminToken, `{"id":"comma","accounts":["` + testAppID + `"],"max_sessions":1,"skills":["a,b"]}`},
		{"max_sessions 2^31", "POST", "/api/v1/agents", adminToken, `{"id":"big","accounts":["` + testAppID + `"],"max_sessions":2147483648}`},
		{"weight 1001", "PATCH", "/api/v1/agents/ann", adminToken, `{"weight":1001}`},
		{"max_sessions 2^31 on update", "PATCH", "/api/v1/agents/ann", adminToken, `{"max_sessions":2147483648}`},
		{"NUL in a name on update", "PATCH", "/api/v1/agents/ann", adminToken, `{"name":"a\u0000"}`},
		{"text over WeChat's limit", "POST", "/api/v1/sessions/" + sid + "/messages", ann, `{"content":"` + long + `"}`},
		{"text of zero-width spaces", "POST", "/api/v1/sessions/" + sid + "/messages", ann, `{"content":"\u200b\u200b\u200b"}`},
		{"text of white space", "POST", "/api/v1/sessions/" + sid + "/messages", ann, `{"content":" \n\t\u3000"}`},
		{"text with a NUL", "POST", "/api/v1/sessions/" + sid + "/messages", ann, `{"content":"hi \u0000"}`},
		{"#transfer to a skill nobody has", "POST", "/api/v1/sessions/" + sid + "/messages", ann, `{"content":"#transfer nosuch"}`},
		{"transfer {}", "POST", "/api/v1/sessions/" + sid + "/transfer", ann, `{}`},
		{"transfer to a skill nobody has", "POST", "/api/v1/sessions/" + sid + "/transfer", ann, `{"skill":"nosuch"}`},
		{"transfer to nobody", "POST", "/api/v1/sessions/" + sid + "/transfer", ann, `{"to_agent":"nobody"}`},
		{"transfer to oneself", "POST", "/api/v1/sessions/" + sid + "/transfer", ann, `{"to_agent":"ann"}`},
		{"sessions by an unknown state", "GET", "/api/v1/sessions?state=sleeping", adminToken, ""},
		{"the websocket without an upgrade", "GET", "/api/v1/agent/ws", ann, ""},
	} {
		call(c.what, c.method, c.path, c.token, "application/json", []byte(c.body))
	}
	image := func(what, filename string, data []byte) {
		var form bytes.Buffer
		mw := multipart.NewWriter(&form)
		part, _ := mw.CreateFormFile("image", filename)
		part.Write(data)
		mw.Close()
		call(what, "POST", "/api/v1/sessions/"+sid+"/images", ann, mw.FormDataContentType(), form.Bytes())
	}
	image("a 0-byte image", "empty.png", nil)
	image("a script named .jpg", "evil.jpg", []byte("#!/bin/sh\nrm -rf /\n"))
	image("an HTML page named .png", "page.png", []byte("<html><script>alert(1)</script></html>"))

	fails := 0
	for _, r := range results {
		var body struct{ Error string }
		err := json.Unmarshal([]byte(r.body), &body)
		switch {
		case r.status < 400 || r.status >= 500:
			t.Errorf("%s = %d %.200s, want 4xx", r.what, r.status, r.body)
			fails++
		case err != nil || body.Error == "" || strings.Contains(body.Error, "\n"):
			t.Errorf("%s = %d %.200q, want a one-line JSON reason", r.what, r.status, r.body)
			fails++
		}
	}
	t.Logf("%d abusive requests over %d operations, %d not a 4xx with a reason", len(results), len(ops), fails)
	if strings.Contains(logs.String(), `"level":"ERROR","msg":"request failed"`) {
		t.Error("the log has a failed request (a 5xx)")
	}
	if _, out := apiCall(t, base, "GET", "/api/v1/agents/ann", adminToken, ""); out["agent"].(map[string]any)["weight"] != float64(1) {
		t.Errorf("an abusive request changed ann: %v", out)
	}

	// Callbacks: a raw NUL and invalid UTF-8 are a real user's message,
	// accepted with U+FFFD in their place.
	post("nul \x00 here", 2)
	post("bad \xff\xfe bytes", 3)
	// A poison entry straight into the events stream: PostgreSQL refuses it.
	poison, _ := json.Marshal(map[string]any{"type": "message.received", "session": sid, "account": testAppID, "openid": user,
		"state": "serving", "at": time.Now().UnixMilli(), "message": map[string]any{"id": "poison-1", "type": "text", "content": "poison \x00"}})
	if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: prefix + "events", Values: map[string]any{"type": "message.received", "event": string(poison)}}).Err(); err != nil {
		t.Fatal(err)
	}
	// A normal message after all of it.
	if status, out := apiCall(t, base, "POST", "/api/v1/sessions/"+sid+"/messages", ann, `{"content":"after the abuse"}`); status != 202 {
		t.Fatalf("normal message = %d %v", status, out)
	}
	count := func(q string, args ...any) int {
		var n int
		if err := pool.QueryRow(ctx, q, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	waitFor(t, "the normal message and the made-safe callbacks to be archived", func() bool {
		return count(`SELECT count(*) FROM messages WHERE session_id = $1 AND content = 'after the abuse'`, sid) == 1 &&
			count(`SELECT count(*) FROM messages WHERE session_id = $1 AND content IN ('nul `+"\uFFFD"+` here', 'bad `+"\uFFFD"+` bytes')`, sid) == 2
	})
	waitFor(t, "the dead-letter stream to hold the poison entry", func() bool {
		_, out := apiCall(t, base, "GET", "/api/v1/deadletters", adminToken, "")
		list, _ := out["deadletters"].([]any)
		for _, d := range list {
			d := d.(map[string]any)
			if d["stream"] == "events" && strings.Contains(fmt.Sprint(d["error"]), "0x00") {
				return true
			}
		}
		return false
	})
	if n := count(`SELECT count(*) FROM messages WHERE msg_id = 'poison-1'`); n != 0 {
		t.Errorf("the poison entry was archived %d times", n)
	}
}
