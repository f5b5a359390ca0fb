package kf

import "time"

// State is where a conversation stands. A session lives from the first
// message of a user who has none until it closes; a later message opens a
// new one.
//
//	(none) ──message──▶ waiting ──capacity──▶ serving ──transfer──▶ transferring ──▶ serving … ──▶ closed
//	                    └──────────────────────┴────────────────────────┴──close / idle / unsubscribe──▶ closed
type State string

// The states of a session.
const (
	StateWaiting      State = "waiting"      // queued: no agent can take the user yet
	StateServing      State = "serving"      // one agent serves the user
	StateTransferring State = "transferring" // handed to another agent or skill group that has no room yet
	StateClosed       State = "closed"
)

// Session is one conversation of a user with an official account.
type Session struct {
	ID        string    `json:"id"`
	Account   string    `json:"account"` // appid
	OpenID    string    `json:"openid"`
	State     State     `json:"state"`
	Agent     string    `json:"agent,omitempty"` // serving agent; empty while waiting or transferring
	Skill     string    `json:"skill,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// AgentStatus is an agent's availability.
type AgentStatus string

// Agent statuses. Only online agents get new sessions; an away agent keeps
// the sessions it has.
const (
	AgentOnline  AgentStatus = "online"
	AgentAway    AgentStatus = "away"
	AgentOffline AgentStatus = "offline"
)

// Agent is a person who answers users, for one or several accounts.
type Agent struct {
	ID          string      `json:"id"`
	Name        string      `json:"name"`
	Accounts    []string    `json:"accounts"` // appids it serves
	Skills      []string    `json:"skills,omitempty"`
	Weight      int         `json:"weight"`
	MaxSessions int         `json:"max_sessions"`
	Status      AgentStatus `json:"status"`
	Load        int         `json:"load"` // sessions it serves now
	// LastAssigned is when it last got a session: among equally loaded
	// agents, the one idle longest goes first.
	LastAssigned time.Time `json:"last_assigned,omitzero"`
	// Rating is its satisfaction score, 1–5, from its latest survey
	// answers; 0 = not rated yet.
	Rating float64 `json:"rating,omitempty"`
	// Role is what the person may do in the console and the API: an
	// agent serves users; a supervisor also sees everything and takes
	// over, transfers or closes any session; an admin does everything.
	Role Role `json:"role,omitempty"`
	// Disabled people cannot sign in, and their tokens stop working.
	Disabled bool `json:"disabled,omitempty"`
	// KfAccount is the WeChat customer-service account (prefix@the
	// account's WeChat ID) the agent answers as: its replies carry
	// customservice.kf_account, so the user sees that account's nickname
	// and avatar. Empty: the official account's own name. A kf account
	// belongs to one official account, so an agent with one serves
	// exactly one account.
	KfAccount string `json:"kf_account,omitempty"`
}

// Role is a person's role.
type Role string

// The roles, from the least to the most allowed.
const (
	RoleAgent      Role = "agent"
	RoleSupervisor Role = "supervisor"
	RoleAdmin      Role = "admin"
)

// Valid reports whether r is one of the roles.
func (r Role) Valid() bool { return r == RoleAgent || r == RoleSupervisor || r == RoleAdmin }

// Sees reports whether the role reads every session and agent (supervisor
// and admin).
func (r Role) Sees() bool { return r == RoleSupervisor || r == RoleAdmin }

// Event types delivered to agents and to the archive: the "type" of every
// entry of the events stream (docs/events.md describes each).
const (
	EventSessionAssigned    = "session.assigned"
	EventSessionQueued      = "session.queued"
	EventSessionTransferred = "session.transferred"
	EventSessionClosed      = "session.closed"
	EventMessageReceived    = "message.received"
	EventSessionWarned      = "session.warned"
	EventSurveyAnswered     = "survey.answered"
	EventMessageStatus      = "message.status" // an outbound message queued, sent or failed
	EventNoteAdded          = "note.added"     // an agent's note on a session (never sent to the user)
)
