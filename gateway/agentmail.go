package gateway

import (
	"context"
	"errors"
	"strings"

	"github.com/casegate/casegate/store"
)

// agentCommand is one "#word argument" line at the top of an agent's mail.
type agentCommand struct {
	name string // state | assign | internal
	arg  string
}

// agentCommands splits an agent's visible reply into its leading command
// lines (SPEC §5: "#state resolved", "#assign me", "#internal") and the
// text after them.
func agentCommands(visible string) ([]agentCommand, string) {
	var cmds []agentCommand
	rest := strings.TrimSpace(visible)
	for rest != "" {
		first, after, _ := strings.Cut(rest, "\n")
		line := strings.TrimSpace(first)
		if line == "" && len(cmds) > 0 {
			rest = after
			continue
		}
		word, arg, _ := strings.Cut(strings.TrimPrefix(line, "#"), " ")
		word = strings.ToLower(word)
		if !strings.HasPrefix(line, "#") || (word != "state" && word != "assign" && word != "internal") {
			break
		}
		cmds = append(cmds, agentCommand{name: word, arg: strings.TrimSpace(arg)})
		rest = after
	}
	return cmds, strings.TrimSpace(rest)
}

// agentMail handles a reply from an agent address: its text becomes a
// comment (public unless #internal), and its command lines act on the
// case. A refused command is recorded on the case, never a reason to
// refuse the mail.
func (g *Gateway) agentMail(ctx context.Context, tx *store.Tx, in *inbound, c store.Case) (Result, error) {
	actor := Actor{Email: in.msg.From.Email, Name: in.msg.From.Name}
	cmds, body := agentCommands(in.msg.Visible)
	in.quiet = true
	in.step("agent_mail", "yes", actor.Email)
	public, assign, state := true, "", ""
	for _, cmd := range cmds {
		switch cmd.name {
		case "internal":
			public = false
		case "assign":
			assign = cmd.arg
			if assign == "" || strings.EqualFold(assign, "me") {
				assign = actor.Email
			}
		case "state":
			state = strings.ToLower(cmd.arg)
		}
	}
	res, err := g.storeOnly(ctx, tx, in, store.OutcomeReply, &c)
	if err != nil {
		return res, err
	}
	if assign != "" {
		_, addr, err := g.suppliedAddress("assignee", assign)
		if err != nil {
			in.step("agent_mail", "refused", err.Error())
			assign = ""
			if _, err := tx.AddActivity(ctx, c.ID, store.Activity{Kind: "comment", Actor: actor.Email, Public: false,
				Body: "command refused: " + strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": ")}); err != nil {
				return res, err
			}
		} else {
			assign = addr
		}
	}
	if assign != "" {
		if err := tx.PatchCase(ctx, c.ID, store.CasePatch{Assignee: &assign}); err != nil {
			return res, err
		}
		in.step("agent_mail", "assigned", assign)
		c.Assignee = assign
	}
	switch {
	case state != "":
		err = g.transition(ctx, tx, &c, state, byAgent, actor, body, in.msg.MessageID)
	case body != "":
		err = g.comment(ctx, tx, &c, body, public, actor, in.msg.MessageID)
	case assign != "" && c.State == store.StateNew:
		err = g.transition(ctx, tx, &c, store.StateOpen, byAgent, actor, "picked up by "+assign, in.msg.MessageID)
	}
	var illegal *IllegalTransitionError
	if errors.As(err, &illegal) || errors.Is(err, ErrInvalid) {
		in.step("agent_mail", "refused", err.Error())
		_, err = tx.AddActivity(ctx, c.ID, store.Activity{Kind: "comment", Actor: actor.Email, Public: false,
			Body: "command refused: " + err.Error() + prefixed("\n\n", body)})
	}
	res.Trace = in.trace
	return res, err
}
