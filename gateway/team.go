package gateway

import (
	"context"
	"strings"

	"github.com/casegate/casegate/store"
	"github.com/casegate/casegate/templates"
)

// Agents hear of new work by mail: Config.TeamAddress (a list or a shared
// mailbox of the agents) gets a mail for every new case and for every
// customer reply on a case nobody is assigned to, with a link to the case
// in the console. The mail's Reply-To is the case's, like every
// notification's, so an agent who answers it from an agents: address
// answers the customer under the agent-mail rules (agentmail.go).

// notifyTeam mails the team address about c, when one is configured.
func (g *Gateway) notifyTeam(ctx context.Context, tx *store.Tx, c store.Case, tpl string, data templates.Data, inReplyTo string) error {
	team := g.rules().TeamAddress
	if team == "" {
		return nil
	}
	return g.enqueue(ctx, tx, c, tpl, []recipient{{Email: team, Role: "team"}}, data, inReplyTo)
}

// teamHearsReply tells the team of a customer's reply with content on a
// case nobody is assigned to.
func (g *Gateway) teamHearsReply(ctx context.Context, tx *store.Tx, in *inbound, c store.Case) error {
	body := strings.TrimSpace(in.msg.Visible)
	if c.Assignee != "" || body == "" || in.agent || c.State == store.StateClosed {
		return nil
	}
	actor := templates.Person{Name: in.msg.From.Name, Email: in.msg.From.Email}
	return g.notifyTeam(ctx, tx, c, "team_case_updated", templates.Data{Actor: actor, Body: body}, in.msg.MessageID)
}

// caseOf is the template view of a case.
func caseOf(c store.Case) templates.Case {
	return templates.Case{Number: c.Number, Subject: c.Subject, State: c.State, Kind: c.Kind, Priority: c.Priority, Assignee: c.Assignee}
}
