package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/routing"
	"github.com/kfgate/kfgate/internal/session"
)

// CommandKind is what an agent's "#" command asks for.
type CommandKind string

// The agent commands; each does what the matching API call does.
const (
	CmdTransfer CommandKind = "transfer" // #transfer <agent|skill>
	CmdClose    CommandKind = "close"    // #close
	CmdQueue    CommandKind = "queue"    // #queue
	CmdHelp     CommandKind = "help"     // #help
)

// Command is a parsed agent command.
type Command struct {
	Kind   CommandKind
	Target string // #transfer: an agent id or a skill
}

// Help is the answer to #help and to a command kfgate does not know.
const Help = "commands: #transfer <agent|skill> hands the user over; #close ends the session; " +
	"#queue shows who waits; #help shows this; start a message with ## to send a literal #"

// ParseCommand reads an agent's message. It returns ok false for a message
// to pass on to the user: one not starting with "#", or starting with "##"
// (text is then the message with one "#" removed). A "#" word kfgate does
// not know is an invalid error whose message is the help text.
func ParseCommand(message string) (cmd Command, text string, ok bool, err error) {
	if !strings.HasPrefix(message, "#") {
		return Command{}, message, false, nil
	}
	if strings.HasPrefix(message, "##") {
		return Command{}, message[1:], false, nil
	}
	fields := strings.Fields(message[1:])
	if len(fields) == 0 {
		return Command{}, "", true, kf.Errorf(kf.KindInvalid, "bad_command", "empty command; %s", Help)
	}
	kind := CommandKind(strings.ToLower(fields[0]))
	args := fields[1:]
	switch kind {
	case CmdTransfer:
		if len(args) != 1 {
			return Command{}, "", true, kf.Errorf(kf.KindInvalid, "bad_command", "usage: #transfer <agent|skill>")
		}
		return Command{Kind: kind, Target: args[0]}, "", true, nil
	case CmdClose, CmdQueue, CmdHelp:
		if len(args) != 0 {
			return Command{}, "", true, kf.Errorf(kf.KindInvalid, "bad_command", "#%s takes no arguments", kind)
		}
		return Command{Kind: kind}, "", true, nil
	}
	return Command{}, "", true, kf.Errorf(kf.KindInvalid, "bad_command", "unknown command #%s; %s", truncate(fields[0]), Help)
}

func truncate(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}

// RunCommand carries out an agent's command on the session of (account, openid),
// which must be the agent's own, and returns the line to show the agent.
func (e *Engine) RunCommand(ctx context.Context, agent, account, openid string, cmd Command) (string, error) {
	if cmd.Kind == CmdHelp {
		return Help, nil
	}
	s, err := e.store.Session(ctx, account, openid)
	if err != nil {
		return "", err
	}
	if s.Agent != agent {
		return "", kf.Errorf(kf.KindForbidden, "not_your_session", "the session is not yours")
	}
	switch cmd.Kind {
	case CmdClose:
		if _, err := e.Close(ctx, account, openid, s.ID, "agent:"+agent, "command"); err != nil {
			return "", err
		}
		return "session closed", nil
	case CmdQueue:
		q, err := e.store.Queue(ctx, account, s.Skill)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%d waiting", len(q)), nil
	case CmdTransfer:
		to, skill := "", cmd.Target
		agents, err := e.agents(ctx, true)
		if err != nil {
			return "", err
		}
		if slices.ContainsFunc(agents, func(a routing.Agent) bool { return a.ID == cmd.Target }) {
			to, skill = cmd.Target, s.Skill
		}
		if err := e.CheckTransfer(ctx, s, to, skill); err != nil {
			return "", err
		}
		got, err := e.Transfer(ctx, account, openid, to, skill, "agent:"+agent, "command")
		if errors.Is(err, session.ErrConflict) {
			return "", kf.Errorf(kf.KindConflict, "agent_unavailable", "%s cannot take the user now", cmd.Target)
		}
		if err != nil {
			return "", err
		}
		if got == "" {
			return "transferred to the " + skill + " queue", nil
		}
		return "transferred to " + got, nil
	}
	return "", kf.Errorf(kf.KindInvalid, "bad_command", "%s", Help)
}
