package agents

import (
	"context"
	"errors"
	"slices"

	"github.com/kfgate/kfgate/internal/kf"
)

// Live is the engine's routing view of the agents.
type Live interface {
	PutAgent(ctx context.Context, a kf.Agent) error
	RemoveAgent(ctx context.Context, id string) error
	ReleaseAgent(ctx context.Context, id string) error
	Agents(ctx context.Context) ([]kf.Agent, error)
	SetStatus(ctx context.Context, id string, status kf.AgentStatus) error
	Heartbeat(ctx context.Context, id string) (kf.AgentStatus, error)
	AgentSessions(ctx context.Context, id string) ([]kf.Session, error)
}

// Team manages the agents of one kfgate deployment: their records, their
// bearer tokens (issued once, kept only as a hash), and their live routing
// view in the engine (status, load, sessions). The admin and agent APIs go
// through it.
type Team struct {
	records  Records
	live     Live
	accounts []string // appids an agent may serve
	// revoked closes an agent's open connections on every replica
	// (agentws.Revoke); nil: none to close.
	revoked func(ctx context.Context, id string) error
}

// OnRevoke sets what closes an agent's open connections (its WebSockets,
// on every replica) once its access ends: its token revoked or replaced,
// or the agent deleted.
func (s *Team) OnRevoke(fn func(ctx context.Context, id string) error) { s.revoked = fn }

func (s *Team) closeConnections(ctx context.Context, id string) error {
	if s.revoked == nil {
		return nil
	}
	return s.revoked(ctx, id)
}

// NewTeam returns the Team for the configured accounts.
func NewTeam(records Records, live Live, accounts []string) *Team {
	return &Team{records: records, live: live, accounts: accounts}
}

// check returns what is wrong with a, the first problem only.
func (s *Team) check(a kf.Agent) error {
	switch {
	case !reID.MatchString(a.ID):
		return kf.Errorf(kf.KindInvalid, "bad_agent", "id must be 1 to 64 letters, digits, '_' or '-'")
	case len(a.Accounts) == 0:
		return kf.Errorf(kf.KindInvalid, "bad_agent", "accounts must name at least one account")
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
	for _, appid := range a.Accounts {
		if !slices.Contains(s.accounts, appid) {
			return kf.Errorf(kf.KindInvalid, "bad_agent", "%q is not a configured account", appid)
		}
	}
	return nil
}

// Create adds an agent, offline, and returns it with its bearer token: the
// only time the token is shown.
func (s *Team) Create(ctx context.Context, a kf.Agent) (kf.Agent, string, error) {
	if a.Weight == 0 {
		a.Weight = 1
	}
	if a.Name == "" {
		a.Name = a.ID
	}
	if a.Role == "" {
		a.Role = kf.RoleAgent
	}
	if err := s.check(a); err != nil {
		return kf.Agent{}, "", err
	}
	token, err := NewToken()
	if err != nil {
		return kf.Agent{}, "", err
	}
	if err := s.records.Create(ctx, a, HashToken(token)); err != nil {
		return kf.Agent{}, "", err
	}
	a.Status = kf.AgentOffline
	if err := s.live.PutAgent(ctx, a); err != nil {
		return kf.Agent{}, "", err
	}
	return a, token, nil
}

// Declare makes sure the agents of the configuration file exist, with the
// file's settings; their tokens and status are left as they are.
func (s *Team) Declare(ctx context.Context, declared []kf.Agent) error {
	for _, a := range declared {
		err := s.records.Update(ctx, a)
		if errors.Is(err, kf.ErrNotFound) {
			err = s.records.Create(ctx, a, nil)
		}
		if err != nil {
			return err
		}
	}
	return s.Sync(ctx)
}

// Sync puts every recorded agent into the routing view (at start: the
// records are the truth; Redis may have lost them).
func (s *Team) Sync(ctx context.Context) error {
	all, err := s.records.List(ctx)
	if err != nil {
		return err
	}
	for _, a := range all {
		a.Status = "" // keep what the routing view has
		if err := s.live.PutAgent(ctx, a); err != nil {
			return err
		}
	}
	return nil
}

// List returns every agent with its status and load.
func (s *Team) List(ctx context.Context) ([]kf.Agent, error) {
	all, err := s.records.List(ctx)
	if err != nil {
		return nil, err
	}
	live, err := s.live.Agents(ctx)
	if err != nil {
		return nil, err
	}
	for i := range all {
		all[i].Status = kf.AgentOffline
		if j := slices.IndexFunc(live, func(l kf.Agent) bool { return l.ID == all[i].ID }); j >= 0 {
			all[i].Status, all[i].Load, all[i].LastAssigned = live[j].Status, live[j].Load, live[j].LastAssigned
		}
	}
	return all, nil
}

// Get returns one agent with its status and load.
func (s *Team) Get(ctx context.Context, id string) (kf.Agent, error) {
	all, err := s.List(ctx)
	if err != nil {
		return kf.Agent{}, err
	}
	if i := slices.IndexFunc(all, func(a kf.Agent) bool { return a.ID == id }); i >= 0 {
		return all[i], nil
	}
	return kf.Agent{}, kf.Errorf(kf.KindNotFound, "no_agent", "no agent %q", id)
}

// Patch is a partial update of an agent; nil fields stay as they are.
type Patch struct {
	Name        *string   `json:"name"`
	Accounts    *[]string `json:"accounts"`
	Skills      *[]string `json:"skills"`
	Weight      *int      `json:"weight"`
	MaxSessions *int      `json:"max_sessions"`
	Role        *kf.Role  `json:"role"`
	Disabled    *bool     `json:"disabled"`
	// KfAccount "" removes the agent's kf account.
	KfAccount *string `json:"kf_account"`
}

// Update changes an agent's settings; more capacity takes waiting users at once.
func (s *Team) Update(ctx context.Context, id string, p Patch) (kf.Agent, error) {
	a, err := s.records.Get(ctx, id)
	if err != nil {
		return kf.Agent{}, err
	}
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&a.Name, p.Name)
	if p.Accounts != nil {
		a.Accounts = *p.Accounts
	}
	if p.Skills != nil {
		a.Skills = *p.Skills
	}
	if p.Weight != nil {
		a.Weight = *p.Weight
	}
	if p.MaxSessions != nil {
		a.MaxSessions = *p.MaxSessions
	}
	if p.Role != nil {
		if !p.Role.Valid() {
			return kf.Agent{}, kf.Errorf(kf.KindInvalid, "bad_agent", "role must be agent, supervisor or admin")
		}
		a.Role = *p.Role
	}
	if p.Disabled != nil {
		a.Disabled = *p.Disabled
	}
	set(&a.KfAccount, p.KfAccount)
	if err := s.check(a); err != nil {
		return kf.Agent{}, err
	}
	if err := s.records.Update(ctx, a); err != nil {
		return kf.Agent{}, err
	}
	if a.Disabled {
		// Someone disabled takes no new users; the ones they serve are
		// theirs until a supervisor moves them.
		if err := s.live.SetStatus(ctx, id, kf.AgentOffline); err != nil {
			return kf.Agent{}, err
		}
	}
	a.Status = ""
	if err := s.live.PutAgent(ctx, a); err != nil {
		return kf.Agent{}, err
	}
	return s.Get(ctx, id)
}

// Delete removes an agent and revokes its token; its users are
// transferred and its WebSockets closed, at once.
func (s *Team) Delete(ctx context.Context, id string) error {
	if err := s.records.Delete(ctx, id); err != nil {
		return err
	}
	if err := s.live.RemoveAgent(ctx, id); err != nil {
		return err
	}
	return s.closeConnections(ctx, id)
}

// NewToken issues a new bearer token for the agent, replacing the old one.
func (s *Team) NewToken(ctx context.Context, id string) (string, error) {
	token, err := NewToken()
	if err != nil {
		return "", err
	}
	if err := s.records.SetTokenHash(ctx, id, HashToken(token)); err != nil {
		return "", err
	}
	// Connections opened with the old token end; the agent reconnects
	// with the new one, its sessions untouched.
	if err := s.closeConnections(ctx, id); err != nil {
		return "", err
	}
	return token, nil
}

// Revoke makes the agent's token stop working, at once and everywhere: the
// agent goes offline (until it sets its status with a new token), its
// users are transferred as when it is deleted, and its WebSockets close
// on every replica.
func (s *Team) Revoke(ctx context.Context, id string) error {
	if err := s.records.SetTokenHash(ctx, id, nil); err != nil {
		return err
	}
	if err := s.live.ReleaseAgent(ctx, id); err != nil {
		return err
	}
	return s.closeConnections(ctx, id)
}

// Authenticate returns the agent whose bearer token this is.
func (s *Team) Authenticate(ctx context.Context, token string) (kf.Agent, error) {
	if token == "" {
		return kf.Agent{}, kf.Errorf(kf.KindUnauthorized, "no_token", "missing bearer token")
	}
	a, err := s.records.ByTokenHash(ctx, HashToken(token))
	if errors.Is(err, kf.ErrNotFound) || err == nil && a.Disabled {
		return kf.Agent{}, kf.Errorf(kf.KindUnauthorized, "bad_token", "invalid token")
	}
	return a, err
}

// errBadCredentials is the one answer to a failed sign-in, whatever
// failed: the name, the password, or the person being disabled.
var errBadCredentials = kf.Errorf(kf.KindUnauthorized, "bad_credentials", "wrong name or password")

// Disconnect closes the person's open connections (their WebSockets, on
// every replica): after an admin resets their password or disables them,
// or they sign out everywhere.
func (s *Team) Disconnect(ctx context.Context, id string) error { return s.closeConnections(ctx, id) }

// SignIn returns the person with this id and password. An unknown id
// costs one hash, as a wrong password does.
func (s *Team) SignIn(ctx context.Context, id, password string) (kf.Agent, error) {
	a, hash, err := s.records.Credentials(ctx, id)
	if errors.Is(err, kf.ErrNotFound) {
		CheckPassword(dummyHash(), password)
		return kf.Agent{}, errBadCredentials
	}
	if err != nil {
		return kf.Agent{}, err
	}
	if hash == "" {
		hash = dummyHash()
	}
	if !CheckPassword(hash, password) || a.Disabled || hash == dummyHash() {
		return kf.Agent{}, errBadCredentials
	}
	return a, nil
}

// Person returns the record of a person who may act (not disabled):
// what a signed-in request is checked against.
func (s *Team) Person(ctx context.Context, id string) (kf.Agent, error) {
	a, err := s.records.Get(ctx, id)
	if errors.Is(err, kf.ErrNotFound) || err == nil && a.Disabled {
		return kf.Agent{}, kf.Errorf(kf.KindUnauthorized, "signed_out", "signed out")
	}
	return a, err
}

// SetPassword sets a person's password (an admin's reset, or a new
// person's first).
func (s *Team) SetPassword(ctx context.Context, id, password string) error {
	if err := CheckNewPassword(password); err != nil {
		return err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return err
	}
	return s.records.SetPassword(ctx, id, hash)
}

// ChangePassword sets a person's own password, given the current one.
func (s *Team) ChangePassword(ctx context.Context, id, old, password string) error {
	if err := CheckNewPassword(password); err != nil {
		return err
	}
	_, hash, err := s.records.Credentials(ctx, id)
	if err != nil {
		return err
	}
	if hash == "" || !CheckPassword(hash, old) {
		return kf.Errorf(kf.KindForbidden, "wrong_password", "the current password is wrong")
	}
	return s.SetPassword(ctx, id, password)
}

// DeclarePassword gives a person declared in the configuration file its
// password from the file, unless it has one already (changed since by the
// person, or an admin): the file's is only the first.
func (s *Team) DeclarePassword(ctx context.Context, id, password string) error {
	_, hash, err := s.records.Credentials(ctx, id)
	if err != nil || hash != "" {
		return err
	}
	return s.SetPassword(ctx, id, password)
}

// SetStatus sets the agent's status (online, away, offline).
func (s *Team) SetStatus(ctx context.Context, id string, status kf.AgentStatus) error {
	switch status {
	case kf.AgentOnline, kf.AgentAway, kf.AgentOffline:
	default:
		return kf.Errorf(kf.KindInvalid, "bad_status", "status must be online, away or offline")
	}
	return s.live.SetStatus(ctx, id, status)
}

// Heartbeat keeps the agent present; it returns the agent's status.
func (s *Team) Heartbeat(ctx context.Context, id string) (kf.AgentStatus, error) {
	return s.live.Heartbeat(ctx, id)
}

// Sessions returns the live sessions the agent serves.
func (s *Team) Sessions(ctx context.Context, id string) ([]kf.Session, error) {
	return s.live.AgentSessions(ctx, id)
}
