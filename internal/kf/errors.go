package kf

import (
	"errors"
	"fmt"
)

// Kind classifies an error for every layer: the HTTP server maps a Kind to a
// status code in one place, and callers test for one with errors.Is.
type Kind uint8

// The kinds of error kfgate distinguishes.
const (
	KindInternal        Kind = iota // a bug or an unexpected failure: 500, no detail shown
	KindInvalid                     // malformed input: 400
	KindUnauthorized                // no or bad credentials for the API: 401
	KindForbidden                   // a WeChat signature or appid that does not match, or the wrong role: 403
	KindNotFound                    // 404
	KindMethod                      // method not allowed: 405
	KindConflict                    // 409
	KindTooLarge                    // body over the limit: 413
	KindRateLimited                 // 429
	KindUnavailable                 // a dependency (Redis, PostgreSQL) is down: 503
	KindUpgradeRequired             // a plain request to a WebSocket endpoint: 426
)

var kindNames = [...]string{"internal", "invalid", "unauthorized", "forbidden", "not found",
	"method not allowed", "conflict", "too large", "rate limited", "unavailable", "upgrade required"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Error is an error with a Kind, a short machine-readable Code (a metric
// label such as "bad_signature") and a one-line message safe to show the
// client. Err, if set, is the cause; it is logged, never shown.
type Error struct {
	Kind Kind
	Code string
	Msg  string
	Err  error
}

// Errorf returns an *Error of the given kind and code with a formatted message.
func Errorf(kind Kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Msg: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error of the given kind and code that carries err as its cause.
func Wrap(kind Kind, code string, err error, msg string) *Error {
	return &Error{Kind: kind, Code: code, Msg: msg, Err: err}
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, kf.KindX) hold for an *Error of kind X.
func (e *Error) Is(target error) bool {
	var k kindError
	if errors.As(target, &k) {
		return Kind(k) == e.Kind
	}
	return false
}

type kindError Kind

func (k kindError) Error() string { return Kind(k).String() }

// Sentinels for errors.Is: errors.Is(err, kf.ErrNotFound).
var (
	ErrInvalid      error = kindError(KindInvalid)
	ErrUnauthorized error = kindError(KindUnauthorized)
	ErrForbidden    error = kindError(KindForbidden)
	ErrNotFound     error = kindError(KindNotFound)
	ErrConflict     error = kindError(KindConflict)
	ErrTooLarge     error = kindError(KindTooLarge)
	ErrRateLimited  error = kindError(KindRateLimited)
	ErrUnavailable  error = kindError(KindUnavailable)
)

// KindOf returns the Kind of err: the kind of the first *Error in its chain,
// or KindInternal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	var k kindError
	if errors.As(err, &k) {
		return Kind(k)
	}
	return KindInternal
}
