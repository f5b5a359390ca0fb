// Package compose_test checks deploy/compose/compose.yaml without Docker:
// every file it mounts exists, every image is pinned, host ports do not
// clash, what a service depends on is a service, the build context has its
// Dockerfile, the kfgate configuration it mounts loads and points at the
// stack's own services, and Prometheus scrapes the replicas it runs.
package compose_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/kfgate/kfgate/internal/config"
)

type service struct {
	Image       string
	Build       *struct{ Context, Dockerfile string }
	Volumes     []string
	Ports       []string
	DependsOn   any `yaml:"depends_on"`
	Command     []string
	Environment map[string]string
}

func load(t *testing.T) map[string]service {
	t.Helper()
	raw, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Services map[string]service
		Volumes  map[string]any
	}
	if err := yaml.Unmarshal(raw, &f); err != nil { // resolves the x-kfgate anchor
		t.Fatal(err)
	}
	for name, s := range f.Services {
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if !strings.HasPrefix(src, ".") {
				if _, ok := f.Volumes[src]; !ok {
					t.Errorf("%s: volume %s is not declared", name, src)
				}
			}
		}
	}
	return f.Services
}

func TestComposeReferences(t *testing.T) {
	services := load(t)
	for _, want := range []string{"kfgate-1", "kfgate-2", "redis", "postgres", "nginx", "prometheus", "grafana", "wechat"} {
		if _, ok := services[want]; !ok {
			t.Errorf("no service %s", want)
		}
	}
	hostPorts := map[string]string{}
	for name, s := range services {
		if s.Image == "" || !strings.Contains(s.Image, ":") || strings.HasSuffix(s.Image, ":latest") {
			t.Errorf("%s: image %q is not pinned to a tag", name, s.Image)
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, ".") {
				if _, err := os.Stat(src); err != nil {
					t.Errorf("%s mounts %s: %v", name, src, err)
				}
			}
		}
		for _, p := range s.Ports {
			host, _, _ := strings.Cut(p, ":")
			if other, dup := hostPorts[host]; dup {
				t.Errorf("host port %s used by %s and %s", host, name, other)
			}
			hostPorts[host] = name
		}
		var deps []string
		switch d := s.DependsOn.(type) {
		case []any:
			for _, x := range d {
				deps = append(deps, x.(string))
			}
		case map[string]any:
			for x := range d {
				deps = append(deps, x)
			}
		}
		for _, d := range deps {
			if _, ok := services[d]; !ok {
				t.Errorf("%s depends on %s, which is not a service", name, d)
			}
		}
		if s.Build != nil {
			if _, err := os.Stat(filepath.Join(s.Build.Context, s.Build.Dockerfile)); err != nil {
				t.Errorf("%s builds from %v: %v", name, s.Build, err)
			}
		}
	}
	if !slices.Contains(services["redis"].Command, "--appendonly") {
		t.Error("redis runs without its append-only file")
	}
}

// The configuration the replicas mount loads, and names the stack's Redis
// and simulator; the PostgreSQL URL the replicas get names its PostgreSQL.
func TestComposeKfgateConfig(t *testing.T) {
	services := load(t)
	k := services["kfgate-1"]
	env := func(key string) string { return k.Environment[key] }
	var environ []string
	for key, v := range k.Environment {
		environ = append(environ, key+"="+v)
	}
	cfg, err := config.Load("kfgate.yaml", env, environ)
	if err != nil {
		t.Fatal(err)
	}
	for what, url := range map[string]string{"redis": cfg.Redis.URL, "wechat": cfg.WeChat.APIBase, "postgres": cfg.Postgres.URL} {
		if !strings.Contains(url, "//"+what+":") && !strings.Contains(url, "@"+what+":") {
			t.Errorf("%s URL %q does not name the service %s", what, url, what)
		}
	}
	if cfg.ShutdownTimeout.Seconds() >= 30 {
		t.Errorf("shutdown_timeout %v does not fit the 30s stop_grace_period", cfg.ShutdownTimeout)
	}
	raw, err := os.ReadFile("prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"kfgate-1:8080", "kfgate-2:8080"} {
		if !strings.Contains(string(raw), target) {
			t.Errorf("prometheus.yml does not scrape %s", target)
		}
	}
	raw, err = os.ReadFile("nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"kfgate-1:8080", "kfgate-2:8080"} {
		if !strings.Contains(string(raw), target) {
			t.Errorf("nginx.conf does not balance over %s", target)
		}
	}
}
