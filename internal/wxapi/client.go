package wxapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"time"
	"unicode/utf8"
)

// TokenSource gives a Client the access_token of an account; *Tokens is one.
type TokenSource interface {
	// Token returns appid's current token.
	Token(ctx context.Context, appid string) (string, error)
	// Invalidate reports that WeChat rejected stale and returns the token
	// to retry with.
	Invalidate(ctx context.Context, appid, stale string) (string, error)
}

var _ TokenSource = (*Tokens)(nil)

// Options configure a Client.
type Options struct {
	// Tokens gives the access_tokens. Required.
	Tokens TokenSource
	// BaseURL is WeChat's API host (DefaultBaseURL when empty; the
	// simulator in tests); BackupURL the host to fail over to on network
	// errors and HTTP 5xx (DefaultBackupURL when empty; BaseURL itself for
	// no failover).
	BaseURL, BackupURL string
	// HTTPClient sends the calls. Default: one with a 10 s timeout.
	HTTPClient *http.Client
	// Observe, if set, is told of every call (see Observer).
	Observe Observer
}

// Client calls WeChat's customer-service APIs (docs/wechat.md, "Customer-service API") for any account
// Tokens knows. Safe for concurrent use.
type Client struct {
	tokens  TokenSource
	hosts   *hosts
	observe Observer
}

// New returns a Client.
func New(o Options) (*Client, error) {
	if o.Tokens == nil {
		return nil, errors.New("wxapi: Options.Tokens is nil")
	}
	h, err := newHosts(o.BaseURL, o.BackupURL, o.HTTPClient)
	if err != nil {
		return nil, err
	}
	return &Client{tokens: o.Tokens, hosts: h, observe: o.Observe}, nil
}

// errorAnswer is the errcode/errmsg every answer may carry.
type errorAnswer struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// call sends req for appid with its access_token and decodes the answer
// into out (if not nil). An answer 40001/42001/40014 makes it ask Tokens for
// a fresh token and send req once more.
func (c *Client) call(ctx context.Context, appid string, req request, out any) error {
	op := req.path
	tok, err := c.tokens.Token(ctx, appid)
	if err != nil {
		return fmt.Errorf("wxapi %s: %w", op, err)
	}
	q := maps.Clone(req.query)
	if q == nil {
		q = url.Values{}
	}
	req.query = q
	for retried := false; ; retried = true {
		q.Set("access_token", tok)
		start := time.Now()
		raw, err := c.hosts.do(ctx, req)
		if err != nil {
			c.observe.call(appid, op, start, err)
			return fmt.Errorf("wxapi %s: %w", op, err)
		}
		var ea errorAnswer
		if err := json.Unmarshal(raw, &ea); err != nil {
			err = &TransportError{Path: req.path, Status: http.StatusOK, Err: err}
			c.observe.call(appid, op, start, err)
			return fmt.Errorf("wxapi %s: %w", op, err)
		}
		c.observe.code(appid, op, start, ea.ErrCode)
		if ea.ErrCode != 0 {
			if tokenRejected(ea.ErrCode) && !retried {
				if tok, err = c.tokens.Invalidate(ctx, appid, tok); err != nil {
					return fmt.Errorf("wxapi %s: after errcode %d: %w", op, ea.ErrCode, err)
				}
				continue
			}
			return fmt.Errorf("wxapi %s: %w", op, &Error{Code: ea.ErrCode, Msg: ea.ErrMsg})
		}
		if out != nil {
			if err := json.Unmarshal(raw, out); err != nil {
				return fmt.Errorf("wxapi %s: %w", op, &TransportError{Path: req.path, Status: http.StatusOK, Err: err})
			}
		}
		return nil
	}
}

// postJSON calls a POST API with v as its JSON body.
func (c *Client) postJSON(ctx context.Context, appid, path string, v, out any) error {
	body, err := encodeJSON(v)
	if err != nil {
		return fmt.Errorf("wxapi %s: %w", path, err)
	}
	return c.call(ctx, appid, request{method: http.MethodPost, path: path, ctype: "application/json; charset=utf-8", body: body}, out)
}

// get calls a GET API.
func (c *Client) get(ctx context.Context, appid, path string, q url.Values, out any) error {
	return c.call(ctx, appid, request{method: http.MethodGet, path: path, query: q}, out)
}

// encodeJSON renders v as WeChat wants it: UTF-8 text with no \uXXXX escape
// at all, since WeChat rejects any with 40033 (docs/wechat.md, "Customer-service API"). SetEscapeHTML(false)
// keeps <, > and & raw, but encoding/json still escapes U+2028, U+2029,
// invalid UTF-8 (as \ufffd) and control characters; unescape turns the
// first ones back into raw UTF-8 and drops the control characters, which
// no chat message needs.
func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return unescape(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))), nil
}

// unescape replaces every \uXXXX escape of a JSON text by the character
// itself, or drops it for a control character; "\\u" (an escaped backslash
// then u) is left alone.
func unescape(b []byte) []byte {
	if !bytes.Contains(b, []byte(`\u`)) {
		return b
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' || i+1 == len(b) {
			out = append(out, b[i])
			continue
		}
		if b[i+1] != 'u' || i+6 > len(b) {
			out = append(out, b[i], b[i+1])
			i++
			continue
		}
		r, err := strconv.ParseUint(string(b[i+2:i+6]), 16, 16)
		if err != nil { // cannot happen in encoding/json's output
			out = append(out, b[i], b[i+1])
			i++
			continue
		}
		if r >= 0x20 {
			out = utf8.AppendRune(out, rune(r))
		}
		i += 5
	}
	return out
}
