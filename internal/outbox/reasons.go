package outbox

import (
	"fmt"

	"github.com/kfgate/kfgate/internal/kf"
)

// outcome is why a message failed, as the status event shows it: a code
// for machines, a reason for the agent and WeChat's errcode (0 if none).
type outcome struct {
	code    string
	reason  string
	errcode int
	// quota is how the quota view changes (finish.lua): "" none, "zero"
	// when WeChat says the window or quota is gone, "refund" when WeChat
	// refused the send without counting it.
	quota string
}

// refusals are WeChat's custom/send refusals (docs/wechat.md, "Error codes") that kfgate
// names; any other errcode is "wechat_<code>" with WeChat's errmsg.
var refusals = map[int]outcome{
	45015: {code: "window_closed", quota: "zero",
		reason: "the user's reply window is closed: 48 h after their last message, 1 min after a click, follow or scan, or they unsubscribed (45015)"},
	45047: {code: "quota_exhausted", quota: "zero",
		reason: "the reply quota of the user's window is used up: 5 sends per user message, 3 per click, follow or scan (45047)"},
	43004: {code: "unsubscribed", quota: "zero", reason: "the user does not follow the account (43004)"},
	40003: {code: "invalid_openid", quota: "zero", reason: "the openid is not a follower of this account (40003)"},
	45002: {code: "content_too_long", quota: "refund", reason: "the message is too long (45002)"},
	44004: {code: "empty_content", quota: "refund", reason: "the text is empty (44004)"},
	45008: {code: "too_many_articles", quota: "refund", reason: "a news message takes one article (45008)"},
	45009: {code: "daily_quota", quota: "refund", reason: "the account's daily custom/send quota is used up: sent after midnight, China time (45009)"},
	45011: {code: "minute_quota", quota: "refund", reason: "the account sent too fast for WeChat: sent in the next minute (45011)"},
	40007: {code: "invalid_media", quota: "refund", reason: "the media_id is unknown or expired (40007)"},
	40033: {code: "invalid_characters", quota: "refund", reason: "the request held \\uXXXX characters (40033)"},
	65401: {code: "invalid_kf_account", quota: "refund", reason: "the kf_account is not one of the account's (65401)"},
	70000: {code: "minor_protection", quota: "refund", reason: "WeChat blocked the message to protect minors (70000)"},
}

// refusal returns the outcome of WeChat's errcode with its errmsg.
func refusal(code int, msg string) outcome {
	if o, ok := refusals[code]; ok {
		o.errcode = code
		return o
	}
	return outcome{code: fmt.Sprintf("wechat_%d", code), errcode: code, quota: "refund",
		reason: fmt.Sprintf("WeChat refused the message (%d): %s", code, msg)}
}

// exhausted is the outcome of a message whose retries ran out. The last
// attempt may have reached WeChat, so the reserved unit is not given back.
func exhausted(attempts int, last error) outcome {
	return outcome{code: "retries_exhausted", errcode: codeOf(last),
		reason: fmt.Sprintf("WeChat could not be reached after %d attempts", attempts)}
}

// invalid is the outcome of an entry that is no message kfgate can send.
func invalid(err error) outcome {
	return outcome{code: "invalid_message", quota: "refund", reason: "the message cannot be sent: " + err.Error()}
}

// precheckError is the *kf.Error Enqueue returns for a message refused by
// the pre-check.
func precheckError(code string) error {
	o := refusals[45015]
	kind := kf.KindConflict // the user's state forbids it now; a new user message reopens it
	if code == "quota_exhausted" {
		o, kind = refusals[45047], kf.KindRateLimited
	}
	return &kf.Error{Kind: kind, Code: o.code, Msg: o.reason}
}
