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

// AuditLog records admins' actions and lists them (*audit.Log).
type AuditLog interface {
	Record(ctx context.Context, e audit.Entry) error
	List(ctx context.Context, before string, limit int) ([]audit.Entry, string, error)
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

// listAudit serves GET /api/v1/audit: the admins' actions, newest first.
func (s *server) listAudit(w http.ResponseWriter, r *http.Request) {
	var err error
	before := r.URL.Query().Get("before")
	if before != "" && !audit.ValidID(before) {
		err = kf.Errorf(kf.KindInvalid, "bad_query", "before must be an audit id such as 1700000000000-0")
	}
	limit := 100
	if v := r.URL.Query().Get("limit"); err == nil && v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 500 {
			err = kf.Errorf(kf.KindInvalid, "bad_query", "limit must be 1 to 500")
		}
	}
	var list []audit.Entry
	var next string
	if err == nil {
		list, next, err = s.audit.List(r.Context(), before, limit)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := map[string]any{"entries": list}
	if next != "" {
		out["next_before"] = next
	}
	writeJSON(w, http.StatusOK, out)
}
