// Package openapitest validates real HTTP responses of kfgate's API against
// docs/openapi.yaml, for tests: the status must be one the operation
// documents, and the body must match that response's schema. Tests send
// their API calls through Client, so every end-to-end test checks the
// document as a side effect, and a response the document does not describe
// fails the test that got it.
package openapitest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
)

// Doc is docs/openapi.yaml, loaded and validated.
type Doc struct {
	spec *openapi3.T

	mu      sync.Mutex
	checked map[string]int // "operationId status" → responses validated
}

var (
	loadOnce sync.Once
	loaded   *Doc
	loadErr  error
)

// Load returns the repository's docs/openapi.yaml, found from the test's
// directory upwards. The document itself must be valid OpenAPI.
func Load(t testing.TB) *Doc {
	t.Helper()
	loadOnce.Do(func() {
		path, err := find("docs/openapi.yaml")
		if err != nil {
			loadErr = err
			return
		}
		loader := openapi3.NewLoader()
		spec, err := loader.LoadFromFile(path)
		if err != nil {
			loadErr = fmt.Errorf("%s: %w", path, err)
			return
		}
		if err := spec.Validate(context.Background()); err != nil {
			loadErr = fmt.Errorf("%s is not valid OpenAPI: %w", path, err)
			return
		}
		loaded = &Doc{spec: spec, checked: map[string]int{}}
	})
	if loadErr != nil {
		t.Fatal(loadErr)
	}
	return loaded
}

// find looks for rel in the working directory and its parents.
func find(rel string) (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, rel)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%s not found above the test's directory", rel)
		}
		dir = parent
	}
}

// route finds the documented operation of method and path, matching the
// document's path templates segment by segment ({id} matches one segment).
func (d *Doc) route(method, path string) (*routers.Route, error) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	for tmpl, item := range d.spec.Paths.Map() {
		tsegs := strings.Split(strings.Trim(tmpl, "/"), "/")
		if len(tsegs) != len(segs) {
			continue
		}
		params := map[string]string{}
		match := true
		for i, ts := range tsegs {
			switch {
			case strings.HasPrefix(ts, "{") && strings.HasSuffix(ts, "}") && segs[i] != "":
				params[ts[1:len(ts)-1]] = segs[i]
			case ts != segs[i]:
				match = false
			}
			if !match {
				break
			}
		}
		if !match {
			continue
		}
		op := item.GetOperation(method)
		if op == nil {
			return nil, fmt.Errorf("%s %s: the document has %s but no %s on it", method, path, tmpl, method)
		}
		return &routers.Route{Spec: d.spec, Path: tmpl, PathItem: item, Method: method, Operation: op}, nil
	}
	return nil, fmt.Errorf("%s %s: no path of the document matches", method, path)
}

// Check validates one response to req: its status is documented for the
// operation, and its body matches the schema of that status.
func (d *Doc) Check(req *http.Request, status int, header http.Header, body []byte) error {
	route, err := d.route(req.Method, req.URL.Path)
	if err != nil {
		return err
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, Route: route},
		Status:                 status,
		Header:                 header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(req.Context(), in); err != nil {
		return fmt.Errorf("%s %s → %d %s: not as docs/openapi.yaml says (%s): %v", req.Method, req.URL.Path, status, truncate(body), route.Operation.OperationID, err)
	}
	d.mu.Lock()
	d.checked[fmt.Sprintf("%s %d", route.Operation.OperationID, status)]++
	d.mu.Unlock()
	return nil
}

// Checked returns how many responses of operationId with status were
// validated so far.
func (d *Doc) Checked(operationID string, status int) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.checked[fmt.Sprintf("%s %d", operationID, status)]
}

// Operations lists the document's operations as "METHOD path" → operationId.
func (d *Doc) Operations() map[string]string {
	out := map[string]string{}
	for path, item := range d.spec.Paths.Map() {
		for method, op := range item.Operations() {
			out[method+" "+path] = op.OperationID
		}
	}
	return out
}

// Client returns an HTTP client whose every response to an /api/v1 call is
// validated; a response the document does not describe fails t. WebSocket
// upgrades pass unchecked.
func (d *Doc) Client(t testing.TB) *http.Client {
	return &http.Client{Transport: &transport{t: t, doc: d, next: http.DefaultTransport}}
}

type transport struct {
	t    testing.TB
	doc  *Doc
	next http.RoundTripper
}

func (tr *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := tr.next.RoundTrip(req)
	if err != nil || !strings.HasPrefix(req.URL.Path, "/api/v1/") || resp.StatusCode == http.StatusSwitchingProtocols {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err := tr.doc.Check(req, resp.StatusCode, resp.Header, body); err != nil {
		tr.t.Errorf("%v", err)
	}
	return resp, nil
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}
