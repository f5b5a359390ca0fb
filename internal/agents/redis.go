package agents

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/kf"
)

// Redis is the registry for deployments without PostgreSQL. It is only as
// durable as the Redis it is in: with no persistence (AOF or RDB), or with
// the embedded Redis-protocol server, a restart loses every agent created
// through the admin API and every token issued.
//
// Keys, under the prefix:
//
//	registry:<id>          hash: name, accounts and skills (JSON arrays),
//	                       weight, max_sessions, role, disabled ("1" or "0"),
//	                       token_hash (hex; absent when none), password_hash
//	                       (PHC string; absent when none), kf_account (absent when none),
//	                       created_at, updated_at, deleted_at (absent
//	                       unless deleted; times in Unix ms)
//	registry:token:<hex>   string: the id of the agent whose token has that hash
//	registry:kf:<kf acct>  string: the id of the agent with that kf account
//	registry:index:live    sorted set, every score 0: the ids not deleted, in
//	                       byte order
//
// Ids have no ':', so no id's key is one of the others. Each change is one
// Lua script; like the engine's scripts they compute the keys they touch,
// so they need one Redis, not a cluster.
type Redis struct {
	rdb    redis.Cmdable
	prefix string
	now    func() time.Time
}

// NewRedis returns the registry in rdb under the key prefix.
func NewRedis(rdb redis.Cmdable, prefix string) *Redis {
	return &Redis{rdb: rdb, prefix: prefix, now: time.Now}
}

// common starts every script: R is the prefix of the registry's keys,
// live(key) whether key holds an agent that is not deleted.
const common = `
local R = ARGV[1] .. 'registry:'
local function live(key)
  return redis.call('EXISTS', key) == 1 and redis.call('HEXISTS', key, 'deleted_at') == 0
end
`

// setKf (in the scripts below) gives the agent id the kf account kf ("":
// none), dropping its old one: the hash's kf_account and the index
// registry:kf:<kf account> → id. It answers false when another live agent
// has kf.
const setKf = `
local function setKf(key, id, kf)
  if kf ~= '' then
    local owner = redis.call('GET', R .. 'kf:' .. kf)
    if owner and owner ~= id and live(R .. owner) then return false end
  end
  local old = redis.call('HGET', key, 'kf_account')
  if old and old ~= kf and redis.call('GET', R .. 'kf:' .. old) == id then
    redis.call('DEL', R .. 'kf:' .. old)
  end
  if kf == '' then
    redis.call('HDEL', key, 'kf_account')
  else
    redis.call('HSET', key, 'kf_account', kf)
    redis.call('SET', R .. 'kf:' .. kf, id)
  end
  return true
end
`

// ARGV: prefix, id, name, accounts, skills, weight, max_sessions, role, disabled, kf_account, token hex (empty for none), now.
var createScript = redis.NewScript(common + setKf + `
local id, tok, now = ARGV[2], ARGV[11], ARGV[12]
local key = R .. id
if live(key) then return 'exists' end
if tok ~= '' and redis.call('EXISTS', R .. 'token:' .. tok) == 1 then return 'token_in_use' end
local kf = ARGV[10]
if kf ~= '' then
  local owner = redis.call('GET', R .. 'kf:' .. kf)
  if owner and owner ~= id and live(R .. owner) then return 'kf_in_use' end
end
redis.call('DEL', key)
redis.call('HSET', key, 'name', ARGV[3], 'accounts', ARGV[4], 'skills', ARGV[5],
  'weight', ARGV[6], 'max_sessions', ARGV[7], 'role', ARGV[8], 'disabled', ARGV[9],
  'created_at', now, 'updated_at', now)
setKf(key, id, kf)
if tok ~= '' then
  redis.call('HSET', key, 'token_hash', tok)
  redis.call('SET', R .. 'token:' .. tok, id)
end
redis.call('ZADD', R .. 'index:live', 0, id)
return 'ok'
`)

// ARGV: prefix, id, name, accounts, skills, weight, max_sessions, role, disabled, kf_account, now.
var updateScript = redis.NewScript(common + setKf + `
local key = R .. ARGV[2]
if not live(key) then return 'not_found' end
if not setKf(key, ARGV[2], ARGV[10]) then return 'kf_in_use' end
redis.call('HSET', key, 'name', ARGV[3], 'accounts', ARGV[4], 'skills', ARGV[5],
  'weight', ARGV[6], 'max_sessions', ARGV[7], 'role', ARGV[8], 'disabled', ARGV[9],
  'updated_at', ARGV[11])
return 'ok'
`)

// ARGV: prefix, id, password hash (empty: none), now.
var setPasswordScript = redis.NewScript(common + `
local key = R .. ARGV[2]
if not live(key) then return 'not_found' end
if ARGV[3] == '' then
  redis.call('HDEL', key, 'password_hash')
else
  redis.call('HSET', key, 'password_hash', ARGV[3])
end
redis.call('HSET', key, 'updated_at', ARGV[4])
return 'ok'
`)

// ARGV: prefix, id, now.
var deleteScript = redis.NewScript(common + `
local id, now = ARGV[2], ARGV[3]
local key = R .. id
if not live(key) then return 'not_found' end
local tok = redis.call('HGET', key, 'token_hash')
if tok then
  redis.call('DEL', R .. 'token:' .. tok)
  redis.call('HDEL', key, 'token_hash')
end
local kf = redis.call('HGET', key, 'kf_account')
if kf and redis.call('GET', R .. 'kf:' .. kf) == id then redis.call('DEL', R .. 'kf:' .. kf) end
redis.call('HSET', key, 'deleted_at', now, 'updated_at', now)
redis.call('ZREM', R .. 'index:live', id)
return 'ok'
`)

// ARGV: prefix, id, token hex (empty: revoke), now.
var setTokenScript = redis.NewScript(common + `
local id, new, now = ARGV[2], ARGV[3], ARGV[4]
local key = R .. id
if not live(key) then return 'not_found' end
if new ~= '' then
  local owner = redis.call('GET', R .. 'token:' .. new)
  if owner and owner ~= id then return 'token_in_use' end
end
local old = redis.call('HGET', key, 'token_hash')
if old then redis.call('DEL', R .. 'token:' .. old) end
if new == '' then
  redis.call('HDEL', key, 'token_hash')
else
  redis.call('HSET', key, 'token_hash', new)
  redis.call('SET', R .. 'token:' .. new, id)
end
redis.call('HSET', key, 'updated_at', now)
return 'ok'
`)

// ARGV: prefix, token hex. Returns {id, field, value, …} or nil. The
// agent's own token_hash is checked too, so a token index entry that
// outlived its agent's token could not authenticate anyone.
var byTokenScript = redis.NewScript(common + `
local id = redis.call('GET', R .. 'token:' .. ARGV[2])
if not id then return false end
local key = R .. id
if not live(key) or redis.call('HGET', key, 'token_hash') ~= ARGV[2] then return false end
local h = redis.call('HGETALL', key)
table.insert(h, 1, id)
return h
`)

func (r *Redis) key(id string) string { return r.prefix + "registry:" + id }

func (r *Redis) stamp() string { return strconv.FormatInt(r.now().UnixMilli(), 10) }

// settings returns the script arguments for a's settings: name, accounts,
// skills, weight, max_sessions, role, disabled, kf_account.
func settings(a kf.Agent) []any {
	a = record(a)
	accounts, _ := json.Marshal(a.Accounts) // []string always encodes
	skills, _ := json.Marshal(a.Skills)
	disabled := "0"
	if a.Disabled {
		disabled = "1"
	}
	return []any{a.Name, accounts, skills, a.Weight, a.MaxSessions, string(a.Role), disabled, a.KfAccount}
}

// run runs a script that answers 'ok' or the name of a refusal.
func (r *Redis) run(ctx context.Context, op, id string, s *redis.Script, args ...any) error {
	res, err := s.Run(ctx, r.rdb, nil, append([]any{r.prefix}, args...)...).Text()
	if err != nil {
		return wrap(op, err)
	}
	switch res {
	case "ok":
		return nil
	case "exists":
		return errExists
	case "token_in_use":
		return errTokenInUse
	case "kf_in_use":
		return errKfAccountInUse
	case "not_found":
		return notFound(id)
	}
	return wrap(op, fmt.Errorf("unexpected script result %q", res))
}

// Create adds the agent or revives a deleted id.
func (r *Redis) Create(ctx context.Context, a kf.Agent, tokenHash []byte) error {
	if err := check(a); err != nil {
		return err
	}
	if err := checkHash(tokenHash); err != nil {
		return err
	}
	args := append([]any{a.ID}, settings(a)...)
	args = append(args, hex.EncodeToString(tokenHash), r.stamp())
	return r.run(ctx, "create", a.ID, createScript, args...)
}

// Get returns the agent id.
func (r *Redis) Get(ctx context.Context, id string) (kf.Agent, error) {
	if !reID.MatchString(id) { // not an agent's key: registry:token:…
		return kf.Agent{}, notFound(id)
	}
	h, err := r.rdb.HGetAll(ctx, r.key(id)).Result()
	if err != nil {
		return kf.Agent{}, wrap("get", err)
	}
	a, ok, err := parse(id, h)
	if err != nil {
		return kf.Agent{}, wrap("get", err)
	}
	if !ok {
		return kf.Agent{}, notFound(id)
	}
	return a, nil
}

// List reads the index, then every agent in one pipeline; one deleted
// between the two reads is left out.
func (r *Redis) List(ctx context.Context) ([]kf.Agent, error) {
	ids, err := r.rdb.ZRange(ctx, r.prefix+"registry:index:live", 0, -1).Result()
	if err != nil {
		return nil, wrap("list", err)
	}
	if len(ids) == 0 {
		return []kf.Agent{}, nil
	}
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	_, err = r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, r.key(id))
		}
		return nil
	})
	if err != nil {
		return nil, wrap("list", err)
	}
	all := make([]kf.Agent, 0, len(ids))
	for i, id := range ids {
		a, ok, err := parse(id, cmds[i].Val())
		if err != nil {
			return nil, wrap("list", err)
		}
		if ok {
			all = append(all, a)
		}
	}
	return all, nil
}

// Update sets the agent's settings.
func (r *Redis) Update(ctx context.Context, a kf.Agent) error {
	if err := check(a); err != nil {
		return err
	}
	args := append([]any{a.ID}, settings(a)...)
	return r.run(ctx, "update", a.ID, updateScript, append(args, r.stamp())...)
}

// Delete marks the agent deleted and drops its token.
func (r *Redis) Delete(ctx context.Context, id string) error {
	if !reID.MatchString(id) {
		return notFound(id)
	}
	return r.run(ctx, "delete", id, deleteScript, id, r.stamp())
}

// SetTokenHash sets or (nil) drops the agent's token hash.
func (r *Redis) SetTokenHash(ctx context.Context, id string, hash []byte) error {
	if err := checkHash(hash); err != nil {
		return err
	}
	if !reID.MatchString(id) {
		return notFound(id)
	}
	return r.run(ctx, "set token", id, setTokenScript, id, hex.EncodeToString(hash), r.stamp())
}

// ByTokenHash returns the agent with the token hash, in one round trip.
func (r *Redis) ByTokenHash(ctx context.Context, hash []byte) (kf.Agent, error) {
	if len(hash) == 0 {
		return kf.Agent{}, errNoToken
	}
	res, err := byTokenScript.Run(ctx, r.rdb, nil, r.prefix, hex.EncodeToString(hash)).StringSlice()
	if errors.Is(err, redis.Nil) {
		return kf.Agent{}, errNoToken
	}
	if err != nil {
		return kf.Agent{}, wrap("by token", err)
	}
	h := make(map[string]string, len(res)/2)
	for i := 1; i+1 < len(res); i += 2 {
		h[res[i]] = res[i+1]
	}
	a, ok, err := parse(res[0], h)
	if err != nil {
		return kf.Agent{}, wrap("by token", err)
	}
	if !ok {
		return kf.Agent{}, errNoToken
	}
	return a, nil
}

// SetPassword sets or ("") drops the agent's password hash.
func (r *Redis) SetPassword(ctx context.Context, id, hash string) error {
	if !reID.MatchString(id) {
		return notFound(id)
	}
	return r.run(ctx, "set password", id, setPasswordScript, id, hash, r.stamp())
}

// Credentials returns the agent and its password hash.
func (r *Redis) Credentials(ctx context.Context, id string) (kf.Agent, string, error) {
	if !reID.MatchString(id) {
		return kf.Agent{}, "", notFound(id)
	}
	h, err := r.rdb.HGetAll(ctx, r.key(id)).Result()
	if err != nil {
		return kf.Agent{}, "", wrap("credentials", err)
	}
	a, ok, err := parse(id, h)
	if err != nil {
		return kf.Agent{}, "", wrap("credentials", err)
	}
	if !ok {
		return kf.Agent{}, "", notFound(id)
	}
	return a, h["password_hash"], nil
}

// parse returns the agent in the hash h of id, and false if h holds none
// (empty, or deleted).
func parse(id string, h map[string]string) (kf.Agent, bool, error) {
	if len(h) == 0 {
		return kf.Agent{}, false, nil
	}
	if _, deleted := h["deleted_at"]; deleted {
		return kf.Agent{}, false, nil
	}
	a := kf.Agent{ID: id, Name: h["name"], Role: kf.Role(h["role"]), Disabled: h["disabled"] == "1", KfAccount: h["kf_account"]}
	var err error
	if a.Weight, err = strconv.Atoi(h["weight"]); err != nil {
		return kf.Agent{}, false, fmt.Errorf("agent %q: weight: %w", id, err)
	}
	if a.MaxSessions, err = strconv.Atoi(h["max_sessions"]); err != nil {
		return kf.Agent{}, false, fmt.Errorf("agent %q: max_sessions: %w", id, err)
	}
	if err := json.Unmarshal([]byte(h["accounts"]), &a.Accounts); err != nil {
		return kf.Agent{}, false, fmt.Errorf("agent %q: accounts: %w", id, err)
	}
	if err := json.Unmarshal([]byte(h["skills"]), &a.Skills); err != nil {
		return kf.Agent{}, false, fmt.Errorf("agent %q: skills: %w", id, err)
	}
	return record(a), true, nil
}
