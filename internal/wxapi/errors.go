package wxapi

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/kfgate/kfgate/internal/kf"
)

// Error is a WeChat error answer: {"errcode":Code,"errmsg":Msg} with a
// non-zero Code (docs/wechat.md, "Error codes"). Msg is WeChat's text, usually ending in
// " rid: …"; it carries no secret.
type Error struct {
	Code int
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("wechat errcode %d: %s", e.Code, e.Msg) }

// The errcodes that say the access_token of the call is no good: invalid or
// not the latest (40001), expired (42001), malformed (40014).
func tokenRejected(code int) bool { return code == 40001 || code == 42001 || code == 40014 }

// Retryable reports whether the same call may succeed later: -1 "system
// busy", 45011 the minute quota, and the token codes 40001/42001/40014 (the
// client already retried once with a fresh token; a later attempt re-reads
// the shared one).
func (e *Error) Retryable() bool {
	return e.Code == -1 || e.Code == 45011 || tokenRejected(e.Code)
}

// Permanent reports whether retrying the same call is pointless: every
// errcode that is not Retryable, among them 45015 (window closed or
// unsubscribed), 45047 (reply quota used up), 43004 (not subscribed), 40003
// (bad openid), 45002 (too long), 44004 (empty), 45008 (too many
// articles), 40007/40008 (bad media/msgtype), 45009 (daily quota, until
// midnight), 40033 (\uXXXX) and the 65xxx kf codes. An unknown code counts
// as permanent: parking a message beats retrying it for ever.
func (e *Error) Permanent() bool { return e.Code != 0 && !e.Retryable() }

// Unwrap maps the errcode onto a kf error kind, so errors.Is(err,
// kf.ErrRateLimited) and kf.KindOf work on a WeChat error.
func (e *Error) Unwrap() error {
	switch e.Code {
	case 45009, 45011, 45047:
		return kf.ErrRateLimited
	case -1:
		return kf.ErrUnavailable
	case 40001, 42001, 40014, 41001, 40013, 40125, 40164, 40243, 48001:
		return kf.ErrUnauthorized
	case 65401, 65413:
		return kf.ErrNotFound
	case 65406, 65407, 65408, 65411, 65412, 65414:
		return kf.ErrConflict
	}
	return kf.ErrInvalid
}

// TransportError is a call that got no WeChat answer from any host: a
// network error, an HTTP 5xx or a body that is not WeChat's JSON. It never
// holds the request URL, whose query carries the access_token or secret.
type TransportError struct {
	Host   string // the last host tried
	Path   string
	Status int   // the HTTP status, 0 for a network error
	Err    error // the cause, if any
}

func (e *TransportError) Error() string {
	switch {
	case e.Status != 0 && e.Err != nil:
		return fmt.Sprintf("%s%s: HTTP %d: %v", e.Host, e.Path, e.Status, e.Err)
	case e.Status != 0:
		return fmt.Sprintf("%s%s: HTTP %d %s", e.Host, e.Path, e.Status, http.StatusText(e.Status))
	}
	return fmt.Sprintf("%s%s: %v", e.Host, e.Path, e.Err)
}

// Unwrap gives the cause and kf.ErrUnavailable.
func (e *TransportError) Unwrap() []error {
	if e.Err == nil {
		return []error{kf.ErrUnavailable}
	}
	return []error{kf.ErrUnavailable, e.Err}
}

// Retryable reports whether err, from a Client or Tokens call, may succeed
// if the call is made again later: a Retryable *Error or a
// *TransportError. A canceled context is not retryable here: the caller
// gave up.
func Retryable(err error) bool {
	if err == nil || errors.Is(err, errCanceled) {
		return false
	}
	var we *Error
	if errors.As(err, &we) {
		return we.Retryable()
	}
	var te *TransportError
	return errors.As(err, &te)
}

// Permanent reports whether err is a WeChat answer that a retry cannot
// change (see (*Error).Permanent).
func Permanent(err error) bool {
	var we *Error
	return errors.As(err, &we) && we.Permanent()
}

// Code returns the WeChat errcode in err's chain, or 0.
func Code(err error) int {
	var we *Error
	if errors.As(err, &we) {
		return we.Code
	}
	return 0
}

// errCanceled marks a call abandoned because its context ended.
var errCanceled = errors.New("wxapi: context done")
