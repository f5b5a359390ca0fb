package engine

import (
	"context"
	"slices"

	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/routing"
)

// CheckTransfer says why a transfer an agent or an admin asks for cannot
// be done, before anything moves: a target agent that does not exist or
// does not serve the session's account, the agent that serves it already,
// or a skill no agent of the account has (the user would wait in a queue
// nobody serves). nil means the transfer may go ahead; whether the target
// has room is the transfer's own answer.
func (e *Engine) CheckTransfer(ctx context.Context, s kf.Session, to, skill string) error {
	agents, err := e.agents(ctx, true)
	if err != nil {
		return err
	}
	if to != "" {
		i := slices.IndexFunc(agents, func(a routing.Agent) bool { return a.ID == to })
		switch {
		case i < 0:
			return kf.Errorf(kf.KindNotFound, "no_agent", "no agent %q", truncate(to))
		case !slices.Contains(agents[i].Accounts, s.Account):
			return kf.Errorf(kf.KindInvalid, "agent_not_on_account", "agent %q does not serve account %s", truncate(to), s.Account)
		case to == s.Agent:
			return kf.Errorf(kf.KindInvalid, "same_agent", "agent %q serves the session already", truncate(to))
		}
		return nil
	}
	if skill == "" {
		return nil
	}
	if !slices.ContainsFunc(agents, func(a routing.Agent) bool {
		return slices.Contains(a.Accounts, s.Account) && slices.Contains(a.Skills, skill)
	}) {
		return kf.Errorf(kf.KindNotFound, "no_skill", "no agent of account %s has skill %q", s.Account, truncate(skill))
	}
	return nil
}
