package server_test

import (
	"context"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"go.yaml.in/yaml/v3"

	"github.com/kfgate/kfgate/internal/archive"
	"github.com/kfgate/kfgate/internal/audit"
	"github.com/kfgate/kfgate/internal/customer"
	"github.com/kfgate/kfgate/internal/desk"
	"github.com/kfgate/kfgate/internal/helpdesk"
	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/kfaccounts"
	"github.com/kfgate/kfgate/internal/media"
	"github.com/kfgate/kfgate/internal/server"
	"github.com/kfgate/kfgate/internal/signin"
	"github.com/kfgate/kfgate/internal/stream"
	"github.com/kfgate/kfgate/internal/userdata"
)

// docs/openapi.yaml describes exactly the /api/v1 routes of the router:
// every route is documented and every documented operation is routed.
func TestOpenAPIMatchesRouter(t *testing.T) {
	data, err := os.ReadFile("../../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(data, &spec); err != nil {
		t.Fatalf("docs/openapi.yaml: %v", err)
	}
	var documented []string
	for path, ops := range spec.Paths {
		for method := range ops {
			if method != "parameters" {
				documented = append(documented, strings.ToUpper(method)+" "+path)
			}
		}
	}
	f := newAPI(t)
	h := server.New(server.Options{Logger: f.log, Metrics: f.metrics, Callback: f.cb, Team: f.team, Desk: &desk.Desk{}, Live: f.eng,
		Archive: &archive.Reader{}, AgentWS: noSocket{}, AdminTokens: []string{"x"}, DeadLetters: &stream.DeadLetter{}, Audit: &audit.Log{}, UserData: &userdata.Service{},
		Media: &media.Library{}, Users: &customer.Service{}, UserSessions: f.eng, FollowUps: &desk.Desk{},
		History: &archive.Reader{}, Tools: &helpdesk.Service{}, KfAccounts: &kfaccounts.Service{},
		Accounts: func(context.Context) ([]server.Account, error) { return nil, nil }, SignIns: signin.New(nil, "", time.Hour)})
	var routed []string
	err = chi.Walk(h.(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if strings.HasPrefix(route, "/api/v1/") {
			routed = append(routed, method+" "+strings.TrimSuffix(route, "/"))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(documented)
	slices.Sort(routed)
	for _, r := range routed {
		if !slices.Contains(documented, r) {
			t.Errorf("%s is routed but not in docs/openapi.yaml", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(routed, d) {
			t.Errorf("%s is in docs/openapi.yaml but not routed", d)
		}
	}
	if len(routed) < 10 {
		t.Errorf("only %d routes found under /api/v1", len(routed))
	}
}

// noSocket stands in for the agents' WebSocket where only routes matter.
type noSocket struct{}

func (noSocket) Serve(http.ResponseWriter, *http.Request, kf.Agent) error {
	return kf.Errorf(kf.KindUnavailable, "no_socket", "no WebSocket here")
}

func (noSocket) ServeAdmin(http.ResponseWriter, *http.Request) error {
	return kf.Errorf(kf.KindUnavailable, "no_socket", "no WebSocket here")
}
