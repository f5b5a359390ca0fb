// Package agentws is the agents' WebSocket, GET /api/v1/agent/ws: it pushes
// to every connected agent the events the engine and the outbox publish on
// the Redis channel <prefix>agent:<id>:events, whichever replica published
// them. Agents act over REST; the socket only carries events down (and
// answers the client's pings).
//
// Fan-out. Each replica holds one Redis Pub/Sub connection with one
// PSUBSCRIBE <prefix>agent:*:events, made (and confirmed) before NewHub
// returns, and hands each message to the local connections of its agent
// (every tab an agent has open). The alternative, SUBSCRIBE/UNSUBSCRIBE per
// connected agent, would bring each replica only its own agents' events, but
// a connection would have to wait for its own confirmation before it could
// promise not to miss an event, and subscription churn races with
// reconnects. With one pattern every replica reads every agent event and
// drops those it has no connection for: one map look-up each, and Redis
// pays one pattern match per publish per replica. That is cheap for the
// event rates of a customer-service team (thousands a second); when
// replicas × events become significant, per-agent SUBSCRIBE is the change.
//
// Lifecycle of a connection (after gotify/server): one writer goroutine per
// connection takes the events from a bounded FIFO buffer, so events go out
// in the order they were published; every write has a deadline; a ping
// every PingEvery must be answered within WriteTimeout or the connection is
// closed. The fan-out never blocks: a connection whose buffer is full is
// taken out of the fan-out at once and told to resync (a final
// {"type":"resync","reason":"too slow"} frame if it can still take one,
// then close status 1013, try again later); the client reconnects and
// fetches its sessions over REST. If the Pub/Sub connection itself breaks,
// go-redis re-subscribes and every connection gets a resync frame, since
// events may have been lost meanwhile. Close is idempotent.
//
// Admins. The same endpoint with an admin token (ServeAdmin) carries every
// event of every account: what the events stream <prefix>events receives
// (the session scripts, the outbox and the helpdesk append every event
// there). A Hub reads the stream while it holds an admin connection, from
// its end as the first one opened, and hands each entry to its admin
// connections only; with none it reads nothing, so events cost no replica
// anything when nobody watches (the engine once published each on a
// channel that every replica received, which cost a surge a tenth of its
// rate).
package agentws

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/session"
	"github.com/kfgate/kfgate/internal/stream"
)

// Options configures a Hub. Redis and Heartbeat are required.
type Options struct {
	Redis  redis.UniversalClient
	Prefix string // the engine's key prefix; channels are <Prefix>agent:<id>:events

	// Heartbeat keeps the agent present; it is called when the socket
	// opens and every HeartbeatEvery while it stays open.
	Heartbeat      func(ctx context.Context, agentID string) error
	HeartbeatEvery time.Duration // default 30 s

	SendBuffer   int           // events queued per connection before it is dropped; default 256
	WriteTimeout time.Duration // deadline of one write, and of a pong; default 10 s
	PingEvery    time.Duration // default 25 s

	// OriginPatterns are the browser origins allowed besides the server's
	// own (coder/websocket AcceptOptions.OriginPatterns).
	OriginPatterns []string
	// Registerer, if set, gets the kfgate_agent_connections gauge.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Hub is one replica's set of agent WebSockets (GET /api/v1/agent/ws,
// through Serve).
type Hub struct {
	opts     Options
	log      *slog.Logger
	pubsub   *redis.PubSub
	head     string // channel name before the agent ID: <prefix>agent:
	events   string // the events stream: <prefix>events
	loopDone chan struct{}
	gauge    prometheus.Gauge
	// resyncs counts connections told to resync, by reason: slow (dropped
	// for falling behind) or lost (Redis Pub/Sub reconnected; one per
	// connection).
	resyncs *prometheus.CounterVec

	mu     sync.RWMutex
	conns  map[string]map[*conn]struct{} // by agent ID
	closed bool
	// stopTail ends the reading of the events stream for the admins'
	// connections; nil while none is open.
	stopTail func()
	wg       sync.WaitGroup // one per connection being served
}

const tail = ":events"

// admins is the key of the admins' connections in Hub.conns (no agent id
// holds a NUL).
const admins = "\x00admins"

// NewHub subscribes to the agents' channels and returns the Hub once Redis
// has confirmed the subscription, so that a connection accepted afterwards
// misses no event published after its upgrade.
func NewHub(ctx context.Context, o Options) (*Hub, error) {
	if o.Redis == nil || o.Heartbeat == nil {
		return nil, errors.New("agentws: Redis and Heartbeat are required")
	}
	if o.HeartbeatEvery <= 0 {
		o.HeartbeatEvery = 30 * time.Second
	}
	if o.SendBuffer <= 0 {
		o.SendBuffer = 256
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.PingEvery <= 0 {
		o.PingEvery = 25 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Hub{
		opts:     o,
		log:      o.Logger.With("component", "agentws"),
		head:     o.Prefix + "agent:",
		events:   o.Prefix + session.EventsStream,
		loopDone: make(chan struct{}),
		conns:    make(map[string]map[*conn]struct{}),
		gauge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kfgate_agent_connections",
			Help: "Agent WebSocket connections open on this replica.",
		}),
		resyncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kfgate_agent_ws_resyncs_total",
			Help: "Agent WebSockets told to resync, by reason: slow (dropped for falling behind), lost (events lost in a Redis reconnection).",
		}, []string{"reason"}),
	}
	if o.Registerer != nil {
		if err := o.Registerer.Register(h.gauge); err != nil {
			return nil, fmt.Errorf("agentws: register metrics: %w", err)
		}
		if err := o.Registerer.Register(h.resyncs); err != nil {
			o.Registerer.Unregister(h.gauge)
			return nil, fmt.Errorf("agentws: register metrics: %w", err)
		}
	}
	h.pubsub = o.Redis.PSubscribe(ctx, globEscape(h.head)+"*"+tail)
	confirm := func() error {
		msg, err := h.pubsub.Receive(ctx)
		if err == nil {
			if _, ok := msg.(*redis.Subscription); !ok {
				err = fmt.Errorf("unexpected %T", msg)
			}
		}
		return err
	}
	if err := confirm(); err != nil {
		_ = h.pubsub.Close()
		if o.Registerer != nil {
			o.Registerer.Unregister(h.gauge)
			o.Registerer.Unregister(h.resyncs)
		}
		return nil, kf.Wrap(kf.KindUnavailable, "redis", fmt.Errorf("agentws: psubscribe: %w", err), "redis unavailable")
	}
	go h.run(h.pubsub.ChannelWithSubscriptions(redis.WithChannelSize(1024)))
	return h, nil
}

// globEscape quotes the characters PSUBSCRIBE treats as a pattern.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// run hands each published event to the agent's local connections until
// the subscription is closed.
func (h *Hub) run(ch <-chan any) {
	defer close(h.loopDone)
	for m := range ch {
		switch m := m.(type) {
		case *redis.Message:
			agent, okHead := strings.CutPrefix(m.Channel, h.head)
			if agent, okTail := strings.CutSuffix(agent, tail); okHead && okTail {
				if m.Payload == string(frameRevoked) {
					h.revoke(agent)
					continue
				}
				h.deliver(agent, []byte(m.Payload))
			}
		case *redis.Subscription:
			// Only a re-subscription after a broken connection gets here (the
			// first confirmation was read in NewHub): what was published in
			// between is lost.
			if m.Kind == "psubscribe" {
				h.log.Warn("the agents' event subscription was lost and is back")
				h.resyncs.WithLabelValues("lost").Add(float64(h.Connections()))
				h.deliver("", frameResyncLost)
			}
		}
	}
}

// deliver queues event for every local connection of agent, or for every
// connection if agent is "". It never blocks: a connection whose buffer is
// full is dropped.
func (h *Hub) deliver(agent string, event []byte) {
	var slow []*conn
	offer := func(set map[*conn]struct{}) {
		for c := range set {
			select {
			case c.send <- event:
			default:
				slow = append(slow, c)
			}
		}
	}
	h.mu.RLock()
	if agent != "" {
		offer(h.conns[agent])
	} else {
		for _, set := range h.conns {
			offer(set)
		}
	}
	h.mu.RUnlock()
	for _, c := range slow {
		c.stop(stopSlow)
	}
}

// Revoke closes the agent's WebSockets on every replica: it publishes on
// the agent's channel the frame that tells each replica's Hub to send it
// and close the agent's connections (1008, policy violation). The caller
// has made the agent's token stop working first, so the agent cannot
// simply reconnect.
func Revoke(ctx context.Context, rdb redis.Cmdable, prefix, agentID string) error {
	err := rdb.Publish(ctx, prefix+"agent:"+agentID+tail, frameRevoked).Err()
	if err != nil {
		return kf.Wrap(kf.KindUnavailable, "redis", fmt.Errorf("agentws: revoke: %w", err), "redis unavailable")
	}
	return nil
}

// revoke stops every local connection of agent.
func (h *Hub) revoke(agent string) {
	h.mu.RLock()
	var all []*conn
	for c := range h.conns[agent] {
		all = append(all, c)
	}
	h.mu.RUnlock()
	for _, c := range all {
		c.stop(stopRevoked)
	}
	if len(all) > 0 {
		h.log.Info("agent access revoked; its websockets are closed", "agent", agent, "connections", len(all))
	}
}

// add registers c for its agent's events; it fails once the Hub is closed.
func (h *Hub) add(c *conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	set := h.conns[c.agent]
	if set == nil {
		set = make(map[*conn]struct{})
		h.conns[c.agent] = set
	}
	set[c] = struct{}{}
	h.wg.Add(1)
	h.gauge.Inc()
	return true
}

// followAll starts reading the events stream for an admin connection,
// unless the Hub reads it already: from the stream's last entry now, so
// that the connection misses nothing appended once it is open. The end is
// read before taking h.mu, which every delivery on this replica takes.
func (h *Hub) followAll(ctx context.Context) error {
	h.mu.RLock()
	running := h.stopTail != nil
	h.mu.RUnlock()
	if running {
		return nil
	}
	last := "0-0"
	ends, err := h.opts.Redis.XRevRangeN(ctx, h.events, "+", "-", 1).Result()
	if err != nil {
		return fmt.Errorf("agentws: the end of %s: %w", h.events, err)
	}
	if len(ends) > 0 {
		last = ends[0].ID
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopTail != nil || h.closed {
		// Another admin's connection started it meanwhile, from an end
		// read before this one opens; or the Hub is closing.
		return nil
	}
	tctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.tail(tctx, last) }()
	h.stopTail = func() { cancel(); <-done }
	return nil
}

// tail hands every entry of the events stream after last to the admins'
// connections until ctx ends. A failed read is tried again from the same
// entry: the stream keeps what a pause would have missed (it is trimmed
// only of entries an hour old that every group has read).
func (h *Hub) tail(ctx context.Context, last string) {
	for ctx.Err() == nil {
		res, err := h.opts.Redis.XRead(ctx, &redis.XReadArgs{Streams: []string{h.events, last}, Count: 500, Block: 2 * time.Second}).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				h.log.Warn("reading the events stream for the admins failed", "err", err)
				stream.Sleep(ctx, time.Second)
			}
			continue
		}
		for _, st := range res {
			for _, m := range st.Messages {
				if body, ok := m.Values["event"].(string); ok {
					h.deliver(admins, []byte(body))
				}
				last = m.ID
			}
		}
	}
}

// unfollowAll stops reading the events stream once no admin connection
// is left (in the background: the caller holds h.mu, which deliver takes).
func (h *Hub) unfollowAll() {
	if h.stopTail == nil || len(h.conns[admins]) > 0 {
		return
	}
	go h.stopTail()
	h.stopTail = nil
}

// remove takes c out of the fan-out; it may be called more than once.
func (h *Hub) remove(c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	set := h.conns[c.agent]
	if _, ok := set[c]; !ok {
		return
	}
	delete(set, c)
	if len(set) == 0 {
		delete(h.conns, c.agent)
	}
	h.gauge.Dec()
	if c.agent == admins {
		h.unfollowAll()
	}
}

// Connections returns the number of connections open on this replica.
func (h *Hub) Connections() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	n := 0
	for _, set := range h.conns {
		n += len(set)
	}
	return n
}

// Close stops the subscription and closes every connection with status
// 1001 (going away), then waits for them until ctx is done, when it cuts
// those left. New connections are refused with 503. Close may be called
// more than once.
func (h *Hub) Close(ctx context.Context) error {
	h.mu.Lock()
	first := !h.closed
	h.closed = true
	var all []*conn
	for _, set := range h.conns {
		for c := range set {
			all = append(all, c)
		}
	}
	stopTail := h.stopTail
	h.stopTail = nil
	h.mu.Unlock()
	if stopTail != nil {
		stopTail()
	}
	if first {
		_ = h.pubsub.Close()
		<-h.loopDone
		if h.opts.Registerer != nil {
			h.opts.Registerer.Unregister(h.gauge)
			h.opts.Registerer.Unregister(h.resyncs)
		}
	}
	for _, c := range all {
		c.stop(stopShutdown)
	}
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		for _, c := range all {
			c.closeNow()
		}
		<-done
		return ctx.Err()
	}
}
