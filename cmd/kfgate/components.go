package main

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kfgate/kfgate/internal/server"
)

// components are the parts of a replica that run beside the HTTP server
// (the engine, the scheduler, the outbox, the archive, the stream trimmer),
// each in a goroutine of its own. They start in the order they are added
// and stop in the same order, one after the other, each stop logged: the
// engine first, since the outbox sends what it queues, and the archive
// last, since it writes what both produce.
type components struct {
	log  *slog.Logger
	list []*component
	once sync.Once
}

type component struct {
	name    string
	cancel  context.CancelFunc
	done    chan struct{}
	running atomic.Bool
	err     error // what run returned, once done is closed
}

// start runs run in a goroutine until stop. A component that returns
// before it is stopped has failed: it is logged and its readiness check
// fails from then on.
func (cs *components) start(ctx context.Context, name string, run func(ctx context.Context) error) {
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c := &component{name: name, cancel: cancel, done: make(chan struct{})}
	c.running.Store(true)
	cs.list = append(cs.list, c)
	go func() {
		defer close(c.done)
		c.err = run(cctx)
		c.running.Store(false)
		if cctx.Err() == nil {
			cs.log.Error("component stopped unexpectedly", "component", name, "err", c.err)
		}
	}()
}

// attach adds a component started elsewhere: stop calls cancel, then wait.
// Its readiness check passes until it is stopped.
func (cs *components) attach(name string, cancel context.CancelFunc, wait func()) {
	c := &component{name: name, cancel: func() { cancel(); wait() }, done: make(chan struct{})}
	c.running.Store(true)
	close(c.done)
	cs.list = append(cs.list, c)
}

// checks are the components' readiness checks: each passes while its
// component runs.
func (cs *components) checks() []server.Check {
	out := make([]server.Check, 0, len(cs.list))
	for _, c := range cs.list {
		out = append(out, server.Check{Name: c.name, Fn: func(context.Context) error {
			if !c.running.Load() {
				return errors.New(c.name + " is not running")
			}
			return nil
		}})
	}
	return out
}

// stop stops the components in order, waiting for each. It may be called
// more than once; the first call does the work.
func (cs *components) stop() {
	cs.once.Do(func() {
		for _, c := range cs.list {
			start := time.Now()
			c.cancel()
			<-c.done
			if c.err != nil && !errors.Is(c.err, context.Canceled) {
				cs.log.Error("stopped with an error", "component", c.name, "err", c.err, "took", time.Since(start).String())
				continue
			}
			cs.log.Info("stopped", "component", c.name, "took", time.Since(start).String())
		}
	})
}
