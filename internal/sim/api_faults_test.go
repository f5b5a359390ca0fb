package sim

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestFaultErrorRate(t *testing.T) {
	h := newHarness(t, APIOptions{})
	tok := h.token(appA, secretA)
	h.interact(appA, "o_u", InteractMessage)

	tests := []struct {
		name               string
		faults             Faults
		sendWant, listWant int
	}{
		{"none", Faults{}, 0, 0},
		{"every call, default code", Faults{ErrorRate: 1}, -1, -1},
		{"every call, 45011", Faults{ErrorRate: 1, ErrCode: 45011}, 45011, 45011},
		{"one path", Faults{ErrorRate: 1, ErrCode: 45011, ErrPath: pathSend}, 45011, 0},
		{"rate 0", Faults{ErrorRate: 0, ErrCode: 45011}, 0, 0},
	}
	for _, tt := range tests {
		if err := h.api.SetFaults(tt.faults); err != nil {
			t.Fatal(err)
		}
		h.interact(appA, "o_u", InteractMessage) // a fresh count of 5
		a := h.post(pathSend, tok, `{"touser":"o_u","msgtype":"text","text":{"content":"x"}}`)
		wantCode(t, tt.name+": send", a, tt.sendWant)
		if tt.sendWant == -1 && !strings.HasPrefix(a.str("errmsg"), "system error rid: ") {
			t.Errorf("%s: errmsg %q", tt.name, a.str("errmsg"))
		}
		wantCode(t, tt.name+": getkflist", h.get(kfListPath, tok), tt.listWant)
	}
	if got := h.api.Received(appA, "o_u"); len(got) != 2 {
		t.Errorf("%d messages received, want 2 (faulted sends are not sent)", len(got))
	}

	// A rate of one half fails about half the calls.
	_ = h.api.SetFaults(Faults{ErrorRate: 0.5, ErrPath: kfListPath})
	failed := 0
	for range 400 {
		if h.get(kfListPath, tok).code() == -1 {
			failed++
		}
	}
	if failed < 120 || failed > 280 {
		t.Errorf("rate 0.5: %d of 400 failed", failed)
	}

	for _, bad := range []Faults{{ErrorRate: 1.5}, {ErrorRate: -0.1}, {Latency: -time.Second}, {OutageMode: "smoke"}} {
		if err := h.api.SetFaults(bad); err == nil {
			t.Errorf("SetFaults(%+v) succeeded", bad)
		}
	}
}

func TestFaultLatency(t *testing.T) {
	h := newHarness(t, APIOptions{})
	tok := h.token(appA, secretA)
	_ = h.api.SetFaults(Faults{Latency: 80 * time.Millisecond})
	t0 := time.Now()
	wantCode(t, "slow call", h.get(kfListPath, tok), 0)
	if d := time.Since(t0); d < 80*time.Millisecond {
		t.Errorf("call took %v, want ≥ 80ms", d)
	}
	_ = h.api.SetFaults(Faults{})
	t0 = time.Now()
	h.get(kfListPath, tok)
	if d := time.Since(t0); d > 60*time.Millisecond {
		t.Errorf("call took %v without latency", d)
	}
}

// TestFaultOutage: during an outage the client sees a network error (or a
// 503); after its window the API works again.
func TestFaultOutage(t *testing.T) {
	h := newHarness(t, APIOptions{})
	tok := h.token(appA, secretA)
	tests := []struct {
		name   string
		faults Faults
	}{
		{"on/off", Faults{Outage: true}},
		{"window", Faults{OutageFrom: start, OutageUntil: start.Add(time.Minute)}},
		{"window with only an end", Faults{OutageUntil: start.Add(time.Minute)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.clock.Set(start)
			_ = h.api.SetFaults(tt.faults)
			for _, path := range []string{kfListPath + "?access_token=" + tok, "/cgi-bin/token?grant_type=client_credential&appid=" + appA + "&secret=" + secretA} {
				resp, err := h.srv.Client().Get(h.srv.URL + path)
				if err == nil {
					resp.Body.Close()
					t.Fatalf("GET %s during an outage: %s, want a network error", path, resp.Status)
				}
			}
			resp, err := h.srv.Client().Post(h.srv.URL+pathSend+"?access_token="+tok, "application/json", strings.NewReader(`{"touser":"o"}`))
			if err == nil {
				resp.Body.Close()
				t.Fatalf("POST during an outage: %s, want a network error", resp.Status)
			}
			// The simulator's own endpoints still answer.
			if st := h.api.Stats(); st.Calls[kfListPath] == 0 {
				t.Error("calls during an outage are not counted")
			}
			if tt.faults.Outage {
				_ = h.api.SetFaults(Faults{})
			} else {
				h.clock.Add(time.Minute)
			}
			wantCode(t, "after the outage", h.get(kfListPath, tok), 0)
		})
	}

	t.Run("503", func(t *testing.T) {
		_ = h.api.SetFaults(Faults{Outage: true, OutageMode: Outage503})
		resp, err := h.srv.Client().Get(h.srv.URL + kfListPath + "?access_token=" + tok)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("status %d, want 503", resp.StatusCode)
		}
		_ = h.api.SetFaults(Faults{})
	})
}

func TestFaultDailyQuotaExhausted(t *testing.T) {
	h := newHarness(t, APIOptions{})
	tok := h.token(appA, secretA)
	h.interact(appA, "o_u", InteractMessage)
	_ = h.api.SetFaults(Faults{DailyQuotaExhausted: true})
	a := h.post(pathSend, tok, `{"touser":"o_u","msgtype":"text","text":{"content":"x"}}`)
	wantCode(t, "send", a, 45009)
	if !strings.HasPrefix(a.str("errmsg"), "reach max api daily quota limit rid: ") {
		t.Errorf("errmsg %q", a.str("errmsg"))
	}
	wantCode(t, "other APIs", h.get(kfListPath, tok), 0)
	_ = h.api.SetFaults(Faults{})
	wantCode(t, "send after", h.post(pathSend, tok, `{"touser":"o_u","msgtype":"text","text":{"content":"x"}}`), 0)
}

// TestSimFaultsEndpoint sets and reads the faults over HTTP.
func TestSimFaultsEndpoint(t *testing.T) {
	h := newHarness(t, APIOptions{})
	body := `{"error_rate":0.25,"errcode":45011,"error_path":"/cgi-bin/message/custom/send","latency":"150ms",` +
		`"outage":false,"outage_from":"2026-03-02T10:00:00+08:00","outage_until":"2026-03-02T10:01:00+08:00","outage_mode":"503","daily_quota_exhausted":true}`
	resp, err := h.srv.Client().Post(h.srv.URL+"/sim/faults", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /sim/faults: %s", resp.Status)
	}
	want := Faults{ErrorRate: 0.25, ErrCode: 45011, ErrPath: pathSend, Latency: 150 * time.Millisecond,
		OutageFrom: start, OutageUntil: start.Add(time.Minute), OutageMode: Outage503, DailyQuotaExhausted: true}
	if d := cmp.Diff(want, h.api.Faults()); d != "" {
		t.Errorf("faults (-want +got):\n%s", d)
	}

	resp, err = h.srv.Client().Get(h.srv.URL + "/sim/faults")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var got Faults
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("GET /sim/faults %s: %v", b, err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("GET /sim/faults (-want +got):\n%s", d)
	}

	for _, bad := range []string{`{"error_rate":2}`, `{"latency":"soon"}`, `{"outage_mode":"x"}`, `not json`} {
		resp, err := h.srv.Client().Post(h.srv.URL+"/sim/faults", "application/json", strings.NewReader(bad))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("POST /sim/faults %s: %s, want 400", bad, resp.Status)
		}
	}
	if h.api.Faults().ErrorRate != 0.25 {
		t.Error("a bad POST changed the faults")
	}
	resp, _ = h.srv.Client().Post(h.srv.URL+"/sim/faults", "application/json", strings.NewReader(`{}`))
	resp.Body.Close()
	if d := cmp.Diff(Faults{}, h.api.Faults()); d != "" {
		t.Errorf("after {}: %s", d)
	}
}
