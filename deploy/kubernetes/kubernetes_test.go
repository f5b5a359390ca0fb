// Package kubernetes_test decodes every manifest of deploy/kubernetes
// strictly (an unknown or misspelt field fails) into the Kubernetes API's
// own types, checks that kustomization.yaml names exactly the files there
// are, and that the Deployment's probes and shutdown fit kfgate's: /healthz
// and /readyz, a termination grace above the preStop sleep plus
// shutdown_timeout. The ServiceMonitor's type belongs to the Prometheus
// Operator, not to k8s.io/api: it is decoded into a small struct of the
// fields used.
package kubernetes_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"

	"github.com/kfgate/kfgate/internal/config"
)

type serviceMonitor struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		JobLabel string `json:"jobLabel"`
		Selector struct {
			MatchLabels map[string]string `json:"matchLabels"`
		} `json:"selector"`
		Endpoints []struct {
			Port     string `json:"port"`
			Path     string `json:"path"`
			Interval string `json:"interval"`
		} `json:"endpoints"`
	} `json:"spec"`
}

type kustomization struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Namespace  string            `json:"namespace"`
	Labels     []map[string]any  `json:"labels"`
	Resources  []string          `json:"resources"`
	ConfigMaps []configMapSource `json:"configMapGenerator"`
}

type configMapSource struct {
	Name  string   `json:"name"`
	Files []string `json:"files"`
}

func decode(t *testing.T, file string, into any) {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(raw, into); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

func TestManifests(t *testing.T) {
	var k kustomization
	decode(t, "kustomization.yaml", &k)
	files, _ := filepath.Glob("*.yaml")
	listed := append(slices.Clone(k.Resources), "kustomization.yaml")
	for _, c := range k.ConfigMaps {
		listed = append(listed, c.Files...)
	}
	slices.Sort(listed)
	if !slices.Equal(files, listed) {
		t.Errorf("files %v, kustomization names %v", files, listed)
	}

	var dep appsv1.Deployment
	decode(t, "deployment.yaml", &dep)
	var svc corev1.Service
	decode(t, "service.yaml", &svc)
	var sec corev1.Secret
	decode(t, "secret.example.yaml", &sec)
	var pdb policyv1.PodDisruptionBudget
	decode(t, "pdb.yaml", &pdb)
	var hpa autoscalingv2.HorizontalPodAutoscaler
	decode(t, "hpa.yaml", &hpa)
	var sm serviceMonitor
	decode(t, "servicemonitor.yaml", &sm)

	for file, kind := range map[string]string{"deployment.yaml": dep.Kind + " " + dep.APIVersion, "service.yaml": svc.Kind + " " + svc.APIVersion,
		"secret.example.yaml": sec.Kind + " " + sec.APIVersion, "pdb.yaml": pdb.Kind + " " + pdb.APIVersion,
		"hpa.yaml": hpa.Kind + " " + hpa.APIVersion, "servicemonitor.yaml": sm.Kind + " " + sm.APIVersion} {
		want := map[string]string{"deployment.yaml": "Deployment apps/v1", "service.yaml": "Service v1", "secret.example.yaml": "Secret v1",
			"pdb.yaml": "PodDisruptionBudget policy/v1", "hpa.yaml": "HorizontalPodAutoscaler autoscaling/v2",
			"servicemonitor.yaml": "ServiceMonitor monitoring.coreos.com/v1"}[file]
		if kind != want {
			t.Errorf("%s is %q, want %q", file, kind, want)
		}
	}

	// The selectors agree: the Service, the budget, the monitor and the
	// autoscaler all find the Deployment's pods.
	podLabels := dep.Spec.Template.Labels
	for what, sel := range map[string]map[string]string{"deployment": dep.Spec.Selector.MatchLabels, "service": svc.Spec.Selector,
		"pdb": pdb.Spec.Selector.MatchLabels, "servicemonitor": sm.Spec.Selector.MatchLabels} {
		for k, v := range sel {
			if podLabels[k] != v && (what != "servicemonitor" || svc.Labels[k] != v) {
				t.Errorf("%s selects %s=%s, which the pods do not carry", what, k, v)
			}
		}
	}
	if hpa.Spec.ScaleTargetRef.Name != dep.Name || hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas < 2 {
		t.Errorf("the autoscaler targets %q from %v replicas", hpa.Spec.ScaleTargetRef.Name, hpa.Spec.MinReplicas)
	}
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Path != "/metrics" || sm.Spec.Endpoints[0].Port != svc.Spec.Ports[0].Name {
		t.Errorf("the monitor scrapes %+v", sm.Spec.Endpoints)
	}

	// The container: probes on kfgate's endpoints, the port they name, the
	// configuration mounted where args says, and a shutdown that fits.
	c := dep.Spec.Template.Spec.Containers[0]
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Error("readiness must ask /readyz and liveness /healthz")
	}
	if c.Ports[0].Name != c.ReadinessProbe.HTTPGet.Port.StrVal || svc.Spec.Ports[0].TargetPort.StrVal != c.Ports[0].Name {
		t.Error("the probes and the Service do not name the container's port")
	}
	var cfg *config.Config
	for _, m := range c.VolumeMounts {
		if slices.Contains(c.Args, m.MountPath+"/kfgate.yaml") {
			env := map[string]string{}
			for key, v := range sec.StringData {
				env[key] = v
			}
			var environ []string
			for key, v := range env {
				environ = append(environ, key+"="+v)
			}
			var err error
			if cfg, err = config.Load("kfgate.yaml", func(key string) string { return env[key] }, environ); err != nil {
				t.Fatalf("kfgate.yaml with the example Secret: %v", err)
			}
		}
	}
	if cfg == nil {
		t.Fatal("the configuration is not mounted where args reads it")
	}
	if !strings.HasPrefix(cfg.Postgres.URL, "postgres://") || !strings.HasPrefix(cfg.Redis.URL, "redis://") {
		t.Errorf("the Secret does not give the Redis and PostgreSQL URLs: %q %q", cfg.Redis.URL, cfg.Postgres.URL)
	}
	grace := dep.Spec.Template.Spec.TerminationGracePeriodSeconds
	sleep := int64(0)
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
		sleep = c.Lifecycle.PreStop.Sleep.Seconds
	}
	if sleep == 0 || grace == nil || *grace < sleep+int64(cfg.ShutdownTimeout.Seconds())+5 {
		t.Errorf("terminationGracePeriodSeconds %v does not cover the preStop sleep (%ds) + shutdown_timeout (%v) + margin",
			grace, sleep, cfg.ShutdownTimeout)
	}
}
