package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/kfgate/kfgate/internal/kf"
)

// Agents are simulated agents connected to a kfgate's WebSocket, for the
// load run to measure how long a user's message takes to reach an agent.
type Agents struct {
	base, admin string
	ids         []string
	conns       []*websocket.Conn

	mu  sync.Mutex
	got map[string]time.Time // MsgId → when an agent received it
	wg  sync.WaitGroup
}

// StartAgents creates n agents for accounts with the admin API of the
// kfgate at base, brings them online and connects their WebSockets.
func StartAgents(ctx context.Context, base, adminToken string, accounts []string, n int) (*Agents, error) {
	a := &Agents{base: strings.TrimRight(base, "/"), admin: adminToken, got: map[string]time.Time{}}
	run := time.Now().Format("150405")
	acct, _ := json.Marshal(accounts)
	for i := range n {
		id := fmt.Sprintf("sim-agent-%s-%d", run, i)
		var created struct{ Token string }
		if err := a.call(ctx, "POST", "/api/v1/agents", adminToken,
			fmt.Sprintf(`{"id":%q,"accounts":%s,"max_sessions":%d}`, id, acct, kf.MaxAgentLoad), &created); err != nil {
			a.Close()
			return nil, fmt.Errorf("create agent: %w", err)
		}
		a.ids = append(a.ids, id)
		if err := a.call(ctx, "PUT", "/api/v1/agent/status", created.Token, `{"status":"online"}`, nil); err != nil {
			a.Close()
			return nil, fmt.Errorf("agent online: %w", err)
		}
		ws, _, err := websocket.Dial(ctx, strings.Replace(a.base, "http", "ws", 1)+"/api/v1/agent/ws?token="+created.Token, nil)
		if err != nil {
			a.Close()
			return nil, fmt.Errorf("agent websocket: %w", err)
		}
		ws.SetReadLimit(1 << 20)
		a.conns = append(a.conns, ws)
		a.wg.Go(func() { a.read(ws) })
	}
	return a, nil
}

// read records when each user message reaches the agent.
func (a *Agents) read(ws *websocket.Conn) {
	for {
		_, data, err := ws.Read(context.Background())
		if err != nil {
			return
		}
		var ev struct {
			Type    string `json:"type"`
			Message struct {
				ID string `json:"id"`
			} `json:"message"`
		}
		if json.Unmarshal(data, &ev) == nil && ev.Type == "message.received" && ev.Message.ID != "" {
			a.mu.Lock()
			a.got[ev.Message.ID] = time.Now()
			a.mu.Unlock()
		}
	}
}

// Received returns when an agent received the message with this MsgId.
func (a *Agents) Received(msgID string) (time.Time, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t, ok := a.got[msgID]
	return t, ok
}

// Close disconnects the agents and deletes them.
func (a *Agents) Close() {
	for _, ws := range a.conns {
		_ = ws.Close(websocket.StatusNormalClosure, "load run over")
	}
	a.wg.Wait()
	for _, id := range a.ids {
		_ = a.call(context.Background(), "DELETE", "/api/v1/agents/"+id, a.admin, "", nil)
	}
}

func (a *Agents) call(ctx context.Context, method, path, token, body string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e struct{ Error string }
		_ = json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&e)
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, e.Error)
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}
