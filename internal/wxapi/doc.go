// Package wxapi is kfgate's client of WeChat's server API
// (api.weixin.qq.com): shared access tokens (Tokens) and the
// customer-service calls (Client) of docs/wechat.md ("Customer-service API" to "Hosts and failover").
//
// The package talks HTTP itself rather than through silenceper/wechat/v2:
// that SDK's HTTP helpers use a global http.Client, hardcode the
// api.weixin.qq.com host (no configurable base URL, no failover to
// api2.weixin.qq.com) and take no context.Context, and its
// CustomerMessage has no customservice.kf_account. The JSON shapes here
// follow the SDK's officialaccount/message types and docs/wechat.md, "Customer-service API", as
// wxapi's own types, so no SDK type crosses the package line.
//
// Every call takes ctx first and the appid of the official account it acts
// for; the access_token is looked up (and shared across replicas) by Tokens.
// A call answered 40001, 42001 or 40014 re-reads the shared token, refreshing
// it once if it is still the stale one, and is retried once (docs/wechat.md, "Access tokens": never
// force_refresh as a reaction).
//
// Errors: a WeChat errcode comes back as *Error (Code, Msg); a network error
// or an HTTP 5xx from every host as *TransportError. Retryable and
// Permanent sort them for the outbox: -1, 45011 and transport failures are
// worth retrying with backoff, every other errcode (45015, 45047, 43004,
// 40003, 45009 …) is not.
package wxapi
