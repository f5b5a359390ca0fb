package agentws

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/kfgate/kfgate/internal/kf"
)

// Frames the server sends of its own (events are sent as published).
var (
	framePong       = []byte(`{"type":"pong"}`)
	frameResyncSlow = []byte(`{"type":"resync","reason":"too slow"}`)
	frameResyncLost = []byte(`{"type":"resync","reason":"events may have been lost"}`)
	// frameRevoked is both the control message on the agent's channel and
	// the last frame the agent gets: its token was revoked or replaced, or
	// the agent deleted.
	frameRevoked = []byte(`{"type":"access.revoked"}`)
)

// maxClientFrame bounds what a client may send: a ping is a dozen bytes.
const maxClientFrame = 4 << 10

// stopReason is why a connection ends; it decides the last frames.
type stopReason int

const (
	stopGone     stopReason = iota // the peer closed or broke, a write or a pong timed out
	stopSlow                       // the send buffer overflowed
	stopShutdown                   // Hub.Close
	stopRevoked                    // the agent's access was revoked (Revoke)
)

// conn is one agent WebSocket.
type conn struct {
	hub   *Hub
	agent string
	send  chan []byte   // the FIFO buffer between the fan-out and the writer
	quit  chan struct{} // closed by stop
	once  sync.Once
	why   stopReason // written before quit is closed
	ws    atomic.Pointer[websocket.Conn]
	raw   net.Conn // under ws, set before ws
}

// stop takes c out of the fan-out at once and tells its writer to close the
// socket; the first reason wins.
func (c *conn) stop(why stopReason) {
	c.once.Do(func() {
		if why == stopSlow {
			c.hub.resyncs.WithLabelValues("slow").Inc()
		}
		c.why = why
		c.hub.remove(c)
		close(c.quit)
	})
}

// closeNow cuts the socket without a close handshake.
func (c *conn) closeNow() {
	if ws := c.ws.Load(); ws != nil {
		_ = c.raw.Close() // a close handshake in progress would not yield to CloseNow
		_ = ws.CloseNow()
	}
}

// Serve turns the request into the agent's WebSocket (GET
// /api/v1/agent/ws); the caller has authenticated the agent. An error
// means the request was refused before the upgrade and nothing was
// written: the caller answers it (its one error mapping). The connection
// joins the fan-out before the upgrade response is written, so it misses
// nothing published after the client sees it; a client should therefore
// fetch its sessions over REST after the socket opens, not before.
func (h *Hub) Serve(w http.ResponseWriter, r *http.Request, agent kf.Agent) error {
	return h.serve(w, r, agent.ID)
}

// ServeAdmin turns the request into an admin's WebSocket: every event of
// every account, as the events stream receives them. The caller has
// authenticated the admin; an admin's socket is no agent's presence.
func (h *Hub) ServeAdmin(w http.ResponseWriter, r *http.Request) error {
	return h.serve(w, r, admins)
}

func (h *Hub) serve(w http.ResponseWriter, r *http.Request, who string) error {
	if !IsUpgrade(r) {
		return kf.Errorf(kf.KindUpgradeRequired, "not_websocket", "this endpoint takes a WebSocket upgrade")
	}
	c := &conn{hub: h, agent: who, send: make(chan []byte, h.opts.SendBuffer), quit: make(chan struct{})}
	name := who
	if who == admins {
		name = "admin"
	}
	if !h.add(c) {
		return kf.Errorf(kf.KindUnavailable, "shutting_down", "server shutting down")
	}
	defer h.wg.Done()
	if who == admins {
		if err := h.followAll(r.Context()); err != nil {
			c.stop(stopGone)
			return kf.Wrap(kf.KindUnavailable, "redis", err, "redis unavailable")
		}
	}
	hw := &hijackWatch{ResponseWriter: w}
	ws, err := websocket.Accept(hw, r, &websocket.AcceptOptions{OriginPatterns: h.opts.OriginPatterns})
	if err != nil { // Accept has answered the request
		c.stop(stopGone)
		h.log.Info("agent websocket refused", "agent", name, "err", err)
		return nil
	}
	c.raw = hw.conn
	c.ws.Store(ws)
	ws.SetReadLimit(maxClientFrame)
	h.log.Info("agent connected", "agent", name)
	start := time.Now()

	ctx, cancel := context.WithCancel(r.Context())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); c.readLoop(ctx, ws) }()
	go func() { defer wg.Done(); c.keepAlive(ctx, ws) }()
	c.writeLoop(ctx, ws)
	cancel() // ends the reader's Read and the keep-alive
	wg.Wait()
	h.log.Info("agent disconnected", "agent", name, "reason", c.why.String(),
		"duration", time.Since(start).Round(time.Millisecond))
	return nil
}

func (r stopReason) String() string {
	switch r {
	case stopSlow:
		return "too_slow"
	case stopShutdown:
		return "shutdown"
	case stopRevoked:
		return "revoked"
	}
	return "gone"
}

// writeLoop is the connection's only writer of data frames: it sends the
// buffered frames in order until stop, then says goodbye as the reason
// asks.
func (c *conn) writeLoop(ctx context.Context, ws *websocket.Conn) {
	for {
		select { // a stopped connection sends nothing more from its buffer
		case <-c.quit:
			c.finish(ctx, ws)
			return
		default:
		}
		select {
		case <-c.quit:
			c.finish(ctx, ws)
			return
		case b := <-c.send:
			if err := c.write(ctx, ws, b); err != nil {
				c.stop(stopGone)
				_ = ws.CloseNow()
				return
			}
		}
	}
}

// write sends one text frame within the write timeout; a write that times
// out closes the socket (coder/websocket does so when ctx expires).
func (c *conn) write(ctx context.Context, ws *websocket.Conn, b []byte) error {
	ctx, cancel := context.WithTimeout(ctx, c.hub.opts.WriteTimeout)
	defer cancel()
	return ws.Write(ctx, websocket.MessageText, b)
}

// finish closes the socket after stop. A slow client gets the resync frame
// if it can still take it within the write timeout, then 1013 (try again
// later); on shutdown, 1001 (going away), "reconnect": the load balancer
// sends the new connection to another replica. A peer that does not answer
// the close within the write timeout is cut.
func (c *conn) finish(ctx context.Context, ws *websocket.Conn) {
	switch c.why {
	case stopSlow:
		if c.write(ctx, ws, frameResyncSlow) == nil {
			c.closeWithin(ws, websocket.StatusTryAgainLater, "too slow: resync")
		}
	case stopShutdown:
		c.closeWithin(ws, websocket.StatusGoingAway, "this replica is shutting down: reconnect")
	case stopRevoked:
		if c.write(ctx, ws, frameRevoked) == nil {
			c.closeWithin(ws, websocket.StatusPolicyViolation, "access revoked")
		}
		_ = ws.CloseNow()
	default:
		_ = ws.CloseNow()
	}
}

// closeWithin runs the close handshake, which coder/websocket bounds at 5 s
// to write and 5 s to hear back, within the write timeout instead.
func (c *conn) closeWithin(ws *websocket.Conn, code websocket.StatusCode, reason string) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = ws.Close(code, reason)
	}()
	t := time.NewTimer(c.hub.opts.WriteTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		c.closeNow()
		<-done
	}
}

// hijackWatch keeps the connection Accept hijacks, so that a close
// handshake stuck on a peer that reads nothing can be cut.
type hijackWatch struct {
	http.ResponseWriter
	conn net.Conn
}

func (h *hijackWatch) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	h.conn = c
	return c, brw, err
}

func (h *hijackWatch) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// readLoop answers the client's frames (through the writer, in order) and
// notices when the peer goes; it must run for pongs to be read.
func (c *conn) readLoop(ctx context.Context, ws *websocket.Conn) {
	for {
		typ, data, err := ws.Read(ctx)
		if err != nil {
			c.stop(stopGone)
			return
		}
		select {
		case c.send <- answer(typ, data):
		default:
			c.stop(stopSlow)
			return
		}
	}
}

// answer is the reply to one client frame: pong to a ping or heartbeat,
// an error frame to anything else (agents act over REST).
func answer(typ websocket.MessageType, data []byte) []byte {
	var f struct {
		Type string `json:"type"`
	}
	if typ != websocket.MessageText || json.Unmarshal(data, &f) != nil || f.Type == "" {
		return errorFrame(`frames must be JSON objects with a "type"`)
	}
	switch f.Type {
	case "ping", "heartbeat":
		return framePong
	}
	if len(f.Type) > 40 {
		f.Type = f.Type[:40] + "…"
	}
	return errorFrame(fmt.Sprintf("unknown frame type %q: this socket only answers ping; act over the REST API", f.Type))
}

func errorFrame(msg string) []byte {
	b, _ := json.Marshal(struct {
		Type  string `json:"type"`
		Error string `json:"error"`
	}{"error", msg})
	return b
}

// keepAlive keeps the agent present while the socket is open, and pings
// the client: a pong not back within the write timeout means a dead peer.
func (c *conn) keepAlive(ctx context.Context, ws *websocket.Conn) {
	o := c.hub.opts
	heartbeat := func() {
		if c.agent == admins {
			return // an admin's socket is no agent's presence
		}
		hctx, cancel := context.WithTimeout(ctx, o.WriteTimeout)
		defer cancel()
		if err := o.Heartbeat(hctx, c.agent); err != nil && ctx.Err() == nil {
			c.hub.log.Warn("an agent's heartbeat failed", "agent", c.agent, "err", err)
		}
	}
	heartbeat()
	hb := time.NewTicker(o.HeartbeatEvery)
	defer hb.Stop()
	ping := time.NewTicker(o.PingEvery)
	defer ping.Stop()
	for {
		select {
		case <-c.quit:
			return
		case <-ctx.Done():
			return
		case <-hb.C:
			heartbeat()
		case <-ping.C:
			pctx, cancel := context.WithTimeout(ctx, o.WriteTimeout)
			err := ws.Ping(pctx)
			cancel()
			if err != nil {
				c.stop(stopGone)
				return
			}
		}
	}
}

// IsUpgrade reports whether r asks for a WebSocket (Upgrade: websocket).
func IsUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}
