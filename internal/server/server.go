// Package server is kfgate's HTTP surface: the routes, the health and
// metrics endpoints, and the one function that turns an error into a
// status code, a JSON body, a metric label and a log line. It is the only
// package that imports chi.
package server

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kfgate/kfgate/internal/callback"
	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/metrics"
)

// Options are what the server is built from.
type Options struct {
	Logger   *slog.Logger
	Metrics  *metrics.Metrics
	Callback *callback.Handler
	// Checks are what /readyz reports: Redis and this replica's
	// components (required), PostgreSQL (reported only).
	Checks []Check
	// Draining, when it returns true, makes /readyz answer 503: the
	// replica has been told to stop and is waiting for the load balancer
	// to notice before it stops accepting.
	Draining func() bool
	// Team serves /api/v1 (agents); nil leaves the API out.
	Team Team
	Desk Desk // the session calls of /api/v1; nil leaves them out
	// Live reads the live conversations (with Desk).
	Live        Conversations
	AdminTokens []string
	// AgentWS serves GET /api/v1/agent/ws once the server has
	// authenticated the agent.
	AgentWS AgentSocket
	// Archive serves the session history calls; nil without PostgreSQL.
	Archive Archive
	// Accounts lists the configured accounts with their token health.
	Accounts func(ctx context.Context) ([]Account, error)
	// WeChatWaiting, if set, gives WeChat's own queue (getwaitcase) of an
	// account whose agents work in WeChat's tool, shown beside kfgate's
	// queue; ok false for an account in kfgate mode.
	WeChatWaiting func(ctx context.Context, account string) (w WeChatWaiting, ok bool, err error)
	// Media serves the media users sent; nil leaves /api/v1/media out.
	Media MediaLibrary
	// Users reads and changes users at WeChat; with UserSessions (the
	// engine) and FollowUps (the desk) it serves /api/v1/users; nil leaves
	// it out. History (the archive, nil without PostgreSQL) adds their
	// past sessions and /api/v1/search.
	Users        Customers
	UserSessions UserSessions
	FollowUps    FollowUps
	History      History
	// Tools serves canned replies, notes and labels; nil leaves them out.
	Tools Tools
	// SignIns keeps the console's sign-in sessions; nil: no console
	// sign-in (bearer tokens only).
	SignIns SignIns
	// Console serves the web console at /; nil leaves it out.
	Console http.Handler
	// AuthFailures is how many refused credentials a client address may
	// have in a minute before its API calls get 429; default 20.
	AuthFailures int
	// DeadLetters serves /api/v1/deadletters; nil leaves them out.
	DeadLetters DeadLetters
	// Audit records the admins' actions and serves /api/v1/audit; nil
	// records nothing.
	Audit AuditLog
	// UserData exports and erases a user's data (admin); nil leaves
	// /api/v1/users/{account}/{openid}/export and its DELETE out.
	UserData UserData
	// KfAccounts manages the accounts' WeChat kf accounts (admin); nil
	// leaves /api/v1/accounts/{account}/kf out.
	KfAccounts KfAccounts
	// TrustedProxies are the peers whose X-Real-IP / X-Forwarded-For name
	// the client for the failed-auth limit; nil: DefaultTrustedProxies.
	TrustedProxies []netip.Prefix
}

type server struct {
	log          *slog.Logger
	metrics      *metrics.Metrics
	cb           *callback.Handler
	ready        *readiness
	team         Team
	desk         Desk
	live         Conversations
	archive      Archive
	accounts     func(ctx context.Context) ([]Account, error)
	wxWaiting    func(ctx context.Context, account string) (WeChatWaiting, bool, error)
	media        MediaLibrary
	users        Customers
	userSessions UserSessions
	followUps    FollowUps
	history      History
	tools        Tools
	adminHashes  [][sha256.Size]byte
	authLimit    *authLimit
	signins      SignIns
	dead         DeadLetters
	trusted      []netip.Prefix
	audit        AuditLog
	userData     UserData
	kfAccounts   KfAccounts
}

// New returns the HTTP handler of kfgate.
func New(o Options) http.Handler {
	s := &server{log: o.Logger, metrics: o.Metrics, cb: o.Callback, ready: newReadiness(o.Checks, o.Draining, o.Metrics, o.Logger),
		team: o.Team, desk: o.Desk, live: o.Live, archive: o.Archive, accounts: o.Accounts, wxWaiting: o.WeChatWaiting, media: o.Media,
		users: o.Users, userSessions: o.UserSessions, followUps: o.FollowUps, history: o.History, tools: o.Tools, dead: o.DeadLetters, trusted: o.TrustedProxies, signins: o.SignIns, audit: o.Audit, userData: o.UserData, kfAccounts: o.KfAccounts,
		authLimit: newAuthLimit(cmp.Or(o.AuthFailures, 20), time.Minute)}
	if s.trusted == nil {
		s.trusted = DefaultTrustedProxies
	}
	for _, t := range o.AdminTokens {
		s.adminHashes = append(s.adminHashes, sha256.Sum256([]byte(t)))
	}
	r := chi.NewRouter()
	r.Use(middleware.Recoverer)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, kf.Errorf(kf.KindNotFound, "not_found", "no such path"))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, kf.Errorf(kf.KindMethod, "method_not_allowed", "method %s not allowed", r.Method))
	})
	r.HandleFunc("/wechat/{appid}", s.callback)
	r.Get("/healthz", s.healthz)
	r.Get("/readyz", s.readyz)
	if o.Team != nil {
		// API calls get a request id (in their error log lines and the
		// X-Request-Id answer); callbacks do without, to stay lean.
		r.With(middleware.RequestID, echoRequestID, s.guard, s.checkInput).Route("/api/v1", func(r chi.Router) {
			s.routes(r)
			if o.AgentWS != nil {
				r.Get("/agent/ws", s.agentSocket(o.AgentWS))
			}
		})
	}
	if o.Console != nil {
		r.Get("/", o.Console.ServeHTTP)
		r.Get("/assets/*", o.Console.ServeHTTP)
	}
	r.Handle("/metrics", promhttp.HandlerFor(o.Metrics.Registry, promhttp.HandlerOpts{Registry: o.Metrics.Registry}))
	return r
}

func (s *server) callback(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	appid := chi.URLParam(r, "appid")
	result, err := s.cb.Serve(w, r, appid)
	if err != nil {
		result = s.writeError(w, r, err)
	}
	label := appid
	if !s.cb.Known(appid) {
		label = "unknown"
	}
	s.metrics.CallbackRequests.WithLabelValues(label, result).Inc()
	s.metrics.CallbackDuration.WithLabelValues(label, result).Observe(time.Since(start).Seconds())
}

// healthz says the process is up and serving HTTP; it checks nothing else,
// so an orchestrator restarts kfgate only when kfgate itself is stuck.
func (s *server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

var statusOf = map[kf.Kind]int{
	kf.KindInternal:     http.StatusInternalServerError,
	kf.KindInvalid:      http.StatusBadRequest,
	kf.KindUnauthorized: http.StatusUnauthorized,
	kf.KindForbidden:    http.StatusForbidden,
	kf.KindNotFound:     http.StatusNotFound,
	kf.KindMethod:       http.StatusMethodNotAllowed,
	kf.KindConflict:     http.StatusConflict,
	kf.KindTooLarge:     http.StatusRequestEntityTooLarge,
	kf.KindRateLimited:  http.StatusTooManyRequests,
	kf.KindUnavailable:  http.StatusServiceUnavailable,

	kf.KindUpgradeRequired: http.StatusUpgradeRequired,
}

// writeError is the one place an error becomes a response: the status of
// its kind (kf.KindOf: a *kf.Error, or an error that unwraps to a kind,
// such as WeChat's errcodes), a one-line JSON body, a log line, and the
// metric label it returns. A server-side failure shows no internal text to
// the client.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) string {
	kind := kf.KindOf(err)
	code, msg := "internal", "internal error"
	if e, ok := errors.AsType[*kf.Error](err); ok {
		code, msg = e.Code, e.Msg
	} else if kind != kf.KindInternal {
		// An error that only unwraps to a kind (a WeChat errcode): its
		// text is safe to show (WeChat's errmsg carries no secret).
		code, msg = strings.ReplaceAll(kind.String(), " ", "_"), err.Error()
	}
	status := statusOf[kind]
	if status >= 500 {
		msg = http.StatusText(status)
		if kind == kf.KindInternal {
			msg = "internal error"
		}
	}
	switch kind {
	case kf.KindUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="kfgate"`)
	case kf.KindUpgradeRequired:
		w.Header().Set("Upgrade", "websocket")
		w.Header().Set("Connection", "Upgrade")
	}
	switch {
	case status >= 500:
		s.log.Error("request failed", "request_id", middleware.GetReqID(r.Context()), "method", r.Method, "path", r.URL.Path,
			"status", status, "code", code, "err", err)
	default:
		s.log.Info("request rejected", "request_id", middleware.GetReqID(r.Context()), "method", r.Method, "path", r.URL.Path,
			"status", status, "code", code, "reason", msg)
	}
	writeJSON(w, status, map[string]string{"error": msg})
	return code
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// echoRequestID answers with the request's id (X-Request-Id: Nginx's
// $request_id when it sets one, else chi's), so that a client's report and
// kfgate's log line can be matched.
func echoRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id := middleware.GetReqID(r.Context()); id != "" {
			w.Header().Set(middleware.RequestIDHeader, id)
		}
		next.ServeHTTP(w, r)
	})
}
