// Package agents is everything about the people who answer: their durable
// records (who they are, which accounts they serve, their skills, weight
// and capacity, their role, the hash of their bearer token and of their
// password) and the Team that manages them for the API and the console.
// The records have two implementations of one Records interface:
// PostgreSQL (table agents, see migrations/00001_agents.sql and
// 00003_people.sql) and, for deployments without PostgreSQL, Redis.
//
// An agent's status and load are not kept here: they change all the time
// and live in the engine's routing view in Redis. The records here are the
// truth the routing view is rebuilt from.
//
// Deleting an agent is a soft delete: the record stays (the archive's
// sessions and messages keep naming the agent) but is gone from Get, List
// and Update, and its token stops working. Creating an agent whose id was
// deleted revives the id as a new record with the new settings; creating
// one whose id is in use is a conflict.
package agents

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"regexp"

	"github.com/kfgate/kfgate/internal/kf"
)

// Records is the durable registry of agents. Status, Load and LastAssigned of a
// kf.Agent are neither stored nor returned.
type Records interface {
	// Create adds an agent, with tokenHash (HashToken of its token; nil for
	// none). A conflict if a live agent has the id or another agent the
	// token or the kf_account; a deleted id is revived.
	Create(ctx context.Context, a kf.Agent, tokenHash []byte) error
	// Get returns the agent; not found if it does not exist or was deleted.
	Get(ctx context.Context, id string) (kf.Agent, error)
	// List returns the agents that are not deleted, sorted by id (bytewise).
	List(ctx context.Context) ([]kf.Agent, error)
	// Update sets the name, accounts, skills, weight, max_sessions, role,
	// disabled and kf_account of the agent a.ID; not found if it does not
	// exist or was deleted; a conflict if another live agent has the
	// kf_account.
	Update(ctx context.Context, a kf.Agent) error
	// Delete soft-deletes the agent and revokes its token; not found if it
	// does not exist or was deleted.
	Delete(ctx context.Context, id string) error
	// SetTokenHash replaces the agent's token hash; nil revokes the token.
	// A conflict if another agent has the hash.
	SetTokenHash(ctx context.Context, id string, hash []byte) error
	// ByTokenHash returns the agent whose token hashes to hash; not found
	// (401 for an API caller) if none does.
	ByTokenHash(ctx context.Context, hash []byte) (kf.Agent, error)
	// SetPassword replaces the agent's password hash (HashPassword's PHC
	// string; "" removes the password).
	SetPassword(ctx context.Context, id, hash string) error
	// Credentials returns the agent and its password hash ("" when it has
	// none); not found if it does not exist or was deleted.
	Credentials(ctx context.Context, id string) (kf.Agent, string, error)
}

var (
	_ Records = (*Postgres)(nil)
	_ Records = (*Redis)(nil)
)

// TokenPrefix starts every agent token, so that a leaked one is
// recognisable (by a secret scanner, in a log, in a chat).
const TokenPrefix = "kfa_"

// NewToken returns a new agent bearer token: TokenPrefix and 32 random
// bytes in unpadded base64url.
func NewToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// HashToken returns the SHA-256 of token: what the registry keeps. A token
// has 256 random bits, so a plain hash (no salt, no slow KDF) is enough to
// make a stolen table useless, and lets a request find its agent by the
// hash in one indexed lookup.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// reID is what an agent id may be: it is part of Redis keys and channel
// names (…agent:<id>:events), so no ':' and no spaces. Package team and the
// config check the same.
var reID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// check returns what makes a unfit to store: what the schema and the Redis
// key layout need. The finer rules (known accounts, at least one) are the
// caller's.
func check(a kf.Agent) error {
	switch {
	case !reID.MatchString(a.ID):
		return kf.Errorf(kf.KindInvalid, "bad_agent", "agent id must be 1 to 64 letters, digits, '_' or '-'")
	case a.Weight < 1:
		return kf.Errorf(kf.KindInvalid, "bad_agent", "weight must be at least 1")
	case a.MaxSessions < 1:
		return kf.Errorf(kf.KindInvalid, "bad_agent", "max_sessions must be at least 1")
	case a.Role != "" && !a.Role.Valid():
		return kf.Errorf(kf.KindInvalid, "bad_agent", "role must be agent, supervisor or admin")
	}
	if field, why := kf.AgentProblem(a); field != "" {
		return kf.Errorf(kf.KindInvalid, "bad_agent", "%s %s", field, why)
	}
	return nil
}

// checkHash returns an error unless hash is nil or a SHA-256.
func checkHash(hash []byte) error {
	if hash != nil && len(hash) != sha256.Size {
		return kf.Errorf(kf.KindInvalid, "bad_token_hash", "a token hash is %d bytes (got %d)", sha256.Size, len(hash))
	}
	return nil
}

// record is a with only the fields the registry keeps, and non-nil lists.
func record(a kf.Agent) kf.Agent {
	return kf.Agent{
		ID:          a.ID,
		Name:        a.Name,
		Accounts:    nonNil(a.Accounts),
		Skills:      nonNil(a.Skills),
		Weight:      a.Weight,
		MaxSessions: a.MaxSessions,
		Role:        cmp.Or(a.Role, kf.RoleAgent),
		Disabled:    a.Disabled,
		KfAccount:   a.KfAccount,
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func notFound(id string) error {
	return kf.Errorf(kf.KindNotFound, "no_agent", "no agent %q", id)
}

var (
	errExists     = kf.Errorf(kf.KindConflict, "agent_exists", "an agent with this id exists")
	errTokenInUse = kf.Errorf(kf.KindConflict, "token_in_use", "another agent has this token")
	// errKfAccountInUse: one live agent per kf account, so that a kf
	// account's replies and its transcript name one agent.
	errKfAccountInUse = kf.Errorf(kf.KindConflict, "kf_account_in_use", "another agent has this kf_account")
	errNoToken        = kf.Errorf(kf.KindNotFound, "no_token", "no agent has this token")
)

// wrap turns a failure of the database into an error: unavailable when the
// database could not be reached, otherwise internal, named by op.
func wrap(op string, err error) error {
	var ke *kf.Error
	if errors.As(err, &ke) {
		return err
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return kf.Wrap(kf.KindUnavailable, "registry_unavailable", err, "agents: "+op)
	}
	return kf.Wrap(kf.KindInternal, "registry", err, "agents: "+op)
}
