package server

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/kfgate/kfgate/internal/audit"
	"github.com/kfgate/kfgate/internal/kf"
)

// AuditLog records admins' actions and lists them (*audit.Log in Redis,
// *audit.Postgres).
type AuditLog interface {
	Record(ctx context.Context, e audit.Entry) error
	List(ctx context.Context, q audit.Query) ([]audit.Entry, string, error)
}

// audited records an admin's call in the audit log once it is answered:
// every call that changes something (not GET or HEAD) and every export of
// a user's data. Reads are not recorded.
func (s *server) audited(next http.Handler, actor string) http.Handler {
	if s.audit == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && !strings.HasSuffix(r.URL.Path, "/export") {
			next.ServeHTTP(w, r)
			return
		}
		rec := &codeRecorder{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(rec, r)
		rc := chi.RouteContext(r.Context())
		action, target := r.Method+" "+r.URL.Path, ""
		if rc != nil {
			if p := rc.RoutePattern(); p != "" {
				action = r.Method + " " + p
			}
			var parts []string
			for i, k := range rc.URLParams.Keys {
				if k != "*" && i < len(rc.URLParams.Values) {
					parts = append(parts, k+"="+rc.URLParams.Values[i])
				}
			}
			slices.Sort(parts)
			target = strings.Join(parts, " ")
		}
		e := audit.Entry{At: time.Now(), Actor: actor, Action: action, Target: target,
			From: clientIP(r, s.trusted), Status: rec.code}
		if err := s.audit.Record(context.WithoutCancel(r.Context()), e); err != nil {
			s.log.Error("audit record failed", "action", action, "target", target, "err", err)
		}
	})
}

// codeRecorder keeps the status a handler answered.
type codeRecorder struct {
	http.ResponseWriter
	code int
}

func (c *codeRecorder) WriteHeader(code int) {
	c.code = code
	c.ResponseWriter.WriteHeader(code)
}

func (c *codeRecorder) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// listAudit serves GET /api/v1/audit: the admins' actions, newest first,
// filtered by ?actor=&action=&from=&to= (RFC 3339) and paged by ?before=.
func (s *server) listAudit(w http.ResponseWriter, r *http.Request) {
	var err error
	v := r.URL.Query()
	q := audit.Query{Before: v.Get("before"), Actor: v.Get("actor"), Action: v.Get("action"), Limit: 100}
	if q.Before != "" && !audit.ValidID(q.Before) {
		err = kf.Errorf(kf.KindInvalid, "bad_query", "before must be an audit id such as 1700000000000-0 or 42")
	}
	if x := v.Get("limit"); err == nil && x != "" {
		if q.Limit, err = strconv.Atoi(x); err != nil || q.Limit < 1 || q.Limit > 500 {
			err = kf.Errorf(kf.KindInvalid, "bad_query", "limit must be 1 to 500")
		}
	}
	for _, f := range []struct {
		key string
		dst *time.Time
	}{{"from", &q.From}, {"to", &q.To}} {
		if x := v.Get(f.key); err == nil && x != "" {
			if *f.dst, err = time.Parse(time.RFC3339, x); err != nil {
				err = kf.Errorf(kf.KindInvalid, "bad_query", "%s must be an RFC 3339 time", f.key)
			}
		}
	}
	var list []audit.Entry
	var next string
	if err == nil {
		list, next, err = s.audit.List(r.Context(), q)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if list == nil {
		list = []audit.Entry{}
	}
	out := map[string]any{"entries": list}
	if next != "" {
		out["next_before"] = next
	}
	writeJSON(w, http.StatusOK, out)
}
