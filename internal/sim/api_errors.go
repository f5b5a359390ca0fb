package sim

import (
	"bytes"
	"encoding/json"
	"time"
)

// wxError is a WeChat error answer: {"errcode":code,"errmsg":"… rid: …"}.
type wxError struct{ code int }

// errf returns the error answer with WeChat's errcode code.
func errf(code int) *wxError { return &wxError{code: code} }

// errorBody is WeChat's error JSON; the success answer of most APIs is
// errorBody{0, "ok"} (docs/wechat.md, "Customer-service API").
type errorBody struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// okBody is the answer of an API that returns nothing else (docs/wechat.md, "Customer-service API").
var okBody = errorBody{ErrCode: 0, ErrMsg: "ok"}

// fail renders the error answer for code. Every errmsg ends with
// " rid: <id>" like WeChat's current answers (docs/wechat.md, "Error codes", last paragraph).
func (a *API) fail(code int, now time.Time) errorBody {
	msg, known := errmsgs[code]
	if !known {
		msg = "simulated error"
	}
	return errorBody{ErrCode: code, ErrMsg: msg + " rid: " + rid(now)}
}

// errmsgs are WeChat's English errmsgs (docs/wechat.md, "Error codes", and
// WeChat's global error-code page). Codes marked "sim" are not on that
// page of ours; they are the simulator's choice where it is silent, taken
// from WeChat's global error-code table.
var errmsgs = map[int]string{
	-1:    "system error",
	40001: "invalid credential, access_token is invalid or not latest",
	40002: "invalid grant_type",
	40003: "invalid openid",
	40004: "invalid media type",
	40007: "invalid media_id",     // sim: unknown or expired media_id in custom/send
	40008: "invalid message type", // sim: unknown msgtype
	40009: "invalid image size",   // sim: avatar over 5 MB
	40013: "invalid appid",        // docs/wechat.md, "Error codes"
	40032: "invalid openid list size",
	40033: "invalid charset. please check your request, if include \\uxxxx will create fail!",
	40066: "invalid url",               // sim: a path that is no API
	40125: "invalid appsecret",         // docs/wechat.md, "Error codes"
	41001: "access_token missing",      // docs/wechat.md, "Error codes"
	41002: "appid missing",             // sim: token request without appid
	41004: "appsecret missing",         // sim: token request without secret
	41005: "media data missing",        // sim: multipart without field "media"
	42001: "access_token expired",      // docs/wechat.md, "Error codes"
	43002: "require POST method",       // sim: a POST API called with another method
	43004: "require subscribe",         // docs/wechat.md, "Error codes"
	44002: "empty post data",           // sim: a POST API with an empty body
	44003: "empty news data",           // sim: news without articles
	44004: "empty content",             // docs/wechat.md, "Error codes"
	45002: "content size out of limit", // docs/wechat.md, "Error codes"
	45008: "article size out of limit", // docs/wechat.md, "Customer-service API" and "Error codes"
	45009: "reach max api daily quota limit",
	45011: "api minute-quota reach limit mustslower retry next minute",
	45015: "response out of time limit or subscription is canceled",
	45047: "out of response count limit",
	45059: "tag count of a user out of limit", // user tags: 20 at most
	45157: "tag name already exists",
	45158: "tag name too long",
	45159: "invalid tag id",
	45072: "command invalid",                                     // docs/wechat.md, "Customer-service API"
	45080: "no interaction with the user in the last 30 seconds", // docs/wechat.md, "Customer-service API"
	45081: "already typing",                                      // docs/wechat.md, "Customer-service API"
	47001: "data format error",
	65400: "please enable new custom service, or wait for a while if you have enabled",
	65401: "invalid custom service account",
	65402: "the custom service account is not bound to a wechat id",
	65403: "invalid nickname",
	65404: "invalid custom service account format",
	65405: "the number of custom service accounts reached the limit",
	65406: "custom service account already exists",
	65407: "the wechat id is already a worker of this account",
	65408: "an invitation was already sent to this wechat id",
	65409: "invalid wechat id",
	65410: "the wechat id is bound to too many accounts",
	65411: "the custom service account has a pending invitation",
	65412: "the custom service account is already bound to a wechat id",
	65413: "no session for this user",
	65414: "the user is being served by another custom service account",
	65415: "the custom service account is offline",
	65416: "invalid query parameter",
	65417: "query time range exceeds the limit",
}

// decodeJSON parses the JSON body of a customer-service call (docs/wechat.md,
// "Customer-service API") into v, as WeChat checks one: empty →
// 44002; a \uXXXX escape → 40033 ("不能包含\uxxxx 格式的字符", docs/wechat.md, "Customer-service API"); not JSON of
// the expected shape → 47001 "data format error".
func decodeJSON(body []byte, v any) *wxError {
	if len(bytes.TrimSpace(body)) == 0 {
		return errf(44002)
	}
	if hasUnicodeEscape(body) {
		return errf(40033)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return errf(47001)
	}
	return nil
}

// hasUnicodeEscape reports whether a JSON text holds a \uXXXX escape, such as
// the \u003c that Go's json.Marshal writes for '<' unless SetEscapeHTML(false).
// An escaped backslash followed by a u ("\\u") is no escape.
func hasUnicodeEscape(b []byte) bool {
	for i := 0; i+1 < len(b); i++ {
		if b[i] == '\\' {
			if b[i+1] == 'u' {
				return true
			}
			i++ // skip the escaped character
		}
	}
	return false
}
