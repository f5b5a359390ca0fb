package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// debugServer serves Go's profiler (net/http/pprof) on debug.listen, a
// listener and a mux of its own: the public server's router never has
// these routes, whatever the package registers on http.DefaultServeMux.
type debugServer struct {
	srv  *http.Server
	addr string
	done chan struct{}
	log  *slog.Logger
}

// startDebug listens on addr and serves the profiles until stop.
func startDebug(addr string, log *slog.Logger) (*debugServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("debug.listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/", pprof.Index) // the index and every named profile (heap, goroutine, …)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	d := &debugServer{
		// No write timeout: a CPU profile or a trace streams for as many
		// seconds as asked (?seconds=30).
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)},
		addr: ln.Addr().String(),
		done: make(chan struct{}),
		log:  log,
	}
	if host, _, _ := net.SplitHostPort(d.addr); !net.ParseIP(host).IsLoopback() {
		log.Warn("debug.listen is not a loopback address: the profiles show the process's internals; keep the port private", "addr", d.addr)
	}
	log.Info("debug listening", "addr", d.addr, "path", "/debug/pprof/")
	go func() {
		defer close(d.done)
		if err := d.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error("debug server stopped", "err", err)
		}
	}()
	return d, nil
}

// stop lets requests in flight finish for up to timeout (a profile being
// taken is cut short then), and waits for the server.
func (d *debugServer) stop(timeout time.Duration) {
	if d == nil {
		return
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := d.srv.Shutdown(ctx); err != nil {
		_ = d.srv.Close()
	}
	<-d.done
	d.log.Info("stopped", "component", "debug", "took", time.Since(start).String())
}
