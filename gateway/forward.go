package gateway

import (
	"context"
	"fmt"
	"strings"

	"github.com/casegate/casegate/store"
)

// Forwards into the system. An agent who forwards a customer's mail to a
// support address (inline, as the common clients write it, or with the
// original attached) means "open a case for this customer": the case is
// the original sender's, who is its contact and gets the confirmation;
// the agent is recorded as who opened it, and the agent's own lines above
// the forward become an internal note. It is the operation an agent uses
// in the console to open a case on behalf of a customer (OpenCase).
//
// Only an authenticated agent mail may do this (in.agent): a forged agent
// From could otherwise make us mail anyone it names. Any other forwarded
// mail is a mail like others: its sender's case, its full text (the
// forward included) the description.

// agentForward opens the case of the customer an authenticated agent's
// mail forwards; ok is false when the mail is no such forward.
func (g *Gateway) agentForward(ctx context.Context, tx *store.Tx, in *inbound) (Result, bool, error) {
	f := in.msg.Forwarded
	if !in.agent || f == nil || f.From.Email == "" {
		return Result{}, false, nil
	}
	customer := strings.ToLower(f.From.Email)
	if g.isAgent(customer) || g.isOwn(customer) || !cleanAddress(customer) {
		in.step("forward", "not_a_customer", customer+" is an agent's or our own address: the agent's own case")
		return Result{}, false, nil
	}
	agent := Actor{Email: strings.ToLower(in.msg.From.Email), Name: in.msg.From.Name}
	subject := sanitizeLine(f.Subject)
	if subject == "" {
		subject = caseSubject(in.msg.Topic)
	}
	in.step("forward", "agent", fmt.Sprintf("%s forwarded a mail of %s (%s): a case for the customer", agent.Email, customer, f.Style))
	c, err := g.openFor(ctx, tx, OpenRequest{Subject: subject, Description: f.Text, Kind: in.kind},
		recipient{Email: customer, Name: f.From.Name, Role: "contact"}, subject, nil, agent)
	if err != nil {
		return Result{}, true, err
	}
	in.step("case", "new", c.Number)
	in.quiet = true // the forward is on the case as the agent's mail, not as the customer's words
	id, err := g.insertMessage(ctx, tx, in, c.ID, store.OutcomeNewCase)
	if err != nil {
		return Result{}, true, err
	}
	if note := strings.TrimSpace(f.Note); note != "" {
		if _, err := tx.AddActivity(ctx, c.ID, store.Activity{Kind: "comment", Actor: agent.Email, Public: false,
			Body: note, MessageID: id}); err != nil {
			return Result{}, true, err
		}
	}
	return Result{Outcome: store.OutcomeNewCase, Case: c.Number, MessageID: id, Trace: in.trace}, true, nil
}
