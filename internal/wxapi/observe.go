package wxapi

import (
	"strconv"
	"strings"
	"time"
)

// Observer is told of every call kfgate makes to WeChat, token fetches
// included (where the common setup errors show: 40164, the caller's IP not
// on the account's whitelist; 40125, a wrong AppSecret): the account, the
// API (its path without /cgi-bin/, e.g. "message/custom/send",
// "stable_token"), the outcome ("0", WeChat's errcode, or "transport" when
// WeChat gave no answer: a network error, HTTP 5xx, an unreadable body)
// and how long it took, failover included. It must be quick and safe for
// concurrent use. The metrics count calls with it
// (kfgate_wechat_api_calls_total, kfgate_wechat_api_duration_seconds).
type Observer func(account, api, errcode string, d time.Duration)

// APIName is the api label of a path: "/cgi-bin/message/custom/send" →
// "message/custom/send".
func APIName(path string) string {
	return strings.TrimPrefix(strings.TrimPrefix(path, "/cgi-bin/"), "/")
}

// ErrCode is the errcode label of a call's outcome.
func ErrCode(err error) string {
	switch {
	case err == nil:
		return "0"
	case Code(err) != 0:
		return strconv.Itoa(Code(err))
	}
	return "transport"
}

func (o Observer) call(account, path string, start time.Time, err error) {
	if o != nil {
		o(account, APIName(path), ErrCode(err), time.Since(start))
	}
}

// code is call for an answer already decoded: errcode as WeChat gave it.
func (o Observer) code(account, path string, start time.Time, errcode int) {
	if o != nil {
		o(account, APIName(path), strconv.Itoa(errcode), time.Since(start))
	}
}
