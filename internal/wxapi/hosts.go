package wxapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The API hosts of docs/wechat.md, "Hosts and failover": api.weixin.qq.com routes to the nearest
// access point; api2.weixin.qq.com is WeChat's "异地容灾" host, to use when
// the first is unreachable.
const (
	DefaultBaseURL   = "https://api.weixin.qq.com"
	DefaultBackupURL = "https://api2.weixin.qq.com"
)

// maxAnswer bounds a WeChat JSON answer; the largest, getmsglist with
// 10 000 records, stays well under it.
const maxAnswer = 16 << 20

// hosts sends one request to the primary base URL and, on a network error or
// an HTTP 5xx, to the backup. A WeChat errcode comes with HTTP 200 and is
// never a reason to fail over (docs/wechat.md, "Hosts and failover").
//
// Failover after a request was sent (a timeout, a reset while reading the
// answer) may run the call twice; for custom/send that can mean a
// duplicate message, which the at-least-once outbox accepts.
type hosts struct {
	bases []string
	hc    *http.Client
}

// newHosts returns the hosts for base and backup ("" → the defaults);
// backup equal to base means no failover.
func newHosts(base, backup string, hc *http.Client) (*hosts, error) {
	if base == "" {
		base = DefaultBaseURL
	}
	if backup == "" {
		backup = DefaultBackupURL
	}
	h := &hosts{hc: hc}
	if h.hc == nil {
		h.hc = &http.Client{Timeout: 10 * time.Second}
	}
	for _, b := range []string{base, backup} {
		u, err := url.Parse(b)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("wxapi: base URL %q is not an http(s) URL", b)
		}
		b = strings.TrimSuffix(b, "/")
		if len(h.bases) == 0 || h.bases[0] != b {
			h.bases = append(h.bases, b)
		}
	}
	return h, nil
}

// request is one HTTP request to WeChat; body is kept in memory so the
// request can be sent again to the backup host or with a fresh token.
type request struct {
	method string
	path   string
	query  url.Values
	ctype  string // Content-Type of body
	body   []byte
}

// do sends req to each host in turn until one answers with a status below
// 500, and returns that answer's body.
func (h *hosts) do(ctx context.Context, req request) ([]byte, error) {
	b, _, err := h.doType(ctx, req)
	return b, err
}

// doType is do that also returns the answer's Content-Type.
func (h *hosts) doType(ctx context.Context, req request) ([]byte, string, error) {
	target := req.path
	if len(req.query) > 0 {
		target += "?" + req.query.Encode()
	}
	var last error
	for _, base := range h.bases {
		b, ctype, err := h.once(ctx, base, target, req)
		if err == nil {
			return b, ctype, nil
		}
		if ctx.Err() != nil {
			return nil, "", fmt.Errorf("%w: %w", errCanceled, ctx.Err())
		}
		last = err
	}
	return nil, "", last
}

func (h *hosts) once(ctx context.Context, base, target string, req request) ([]byte, string, error) {
	var body io.Reader
	if req.body != nil {
		body = bytes.NewReader(req.body)
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, base+target, body)
	if err != nil {
		return nil, "", &TransportError{Host: base, Path: req.path, Err: stripURL(err)}
	}
	if req.ctype != "" {
		hr.Header.Set("Content-Type", req.ctype)
	}
	resp, err := h.hc.Do(hr)
	if err != nil {
		return nil, "", &TransportError{Host: base, Path: req.path, Err: stripURL(err)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if resp.StatusCode >= 500 {
		return nil, "", &TransportError{Host: base, Path: req.path, Status: resp.StatusCode}
	}
	if err != nil {
		return nil, "", &TransportError{Host: base, Path: req.path, Status: resp.StatusCode, Err: stripURL(err)}
	}
	return b, resp.Header.Get("Content-Type"), nil
}

// stripURL drops the *url.Error wrapper of an http.Client error: its text
// holds the full URL, and with it the access_token or the AppSecret.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
