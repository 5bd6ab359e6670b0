package gateway

import (
	"context"
	"fmt"
	"strings"

	"github.com/casegate/casegate/store"
	"github.com/casegate/casegate/templates"
)

// openCase opens a new case for the message: for a first mail, for a
// stranger writing into someone else's case, or for a reply to a closed
// case (linked is then the case it continues).
func (g *Gateway) openCase(ctx context.Context, tx *store.Tx, in *inbound, linked *store.Case) (Result, error) {
	m := in.msg
	email, name := m.From.Email, m.From.Name
	if email == "" {
		email = in.env.From
	}
	if email == "" {
		in.step("case", "no_sender", "no From and no envelope sender: nobody to open a case for")
		return g.storeOnly(ctx, tx, in, store.OutcomeIgnored, nil)
	}
	contact, err := tx.UpsertContact(ctx, email, name, g.account(email))
	if err != nil {
		return Result{}, err
	}
	nc := store.NewCase{
		Prefix: g.cfg.CasePrefix, Kind: in.kind, ContactID: contact.ID, Account: contact.Account,
		Subject: caseSubject(m.Topic), Description: m.Visible,
	}
	if linked != nil {
		nc.LinkedTo = linked.ID
	}
	if m.Signals.Priority == "high" {
		// A hint only: the sender's client said high; agents decide from
		// there, and no mail can make a case urgent.
		nc.Priority = "high"
		in.step("priority", "high", "X-Priority/Importance high: taken as a hint")
	}
	c, err := tx.CreateCase(ctx, nc)
	if err != nil {
		return Result{}, err
	}
	res := Result{Outcome: store.OutcomeNewCase, Case: c.Number}
	if linked != nil {
		res.LinkedTo = linked.Number
	}
	in.step("case", "new", c.Number)
	auto := m.Signals.AutoReply
	if auto {
		in.step("auto_reply", "yes", m.Signals.AutoReason+": no confirmation")
	}
	if res.MessageID, err = g.insertMessage(ctx, tx, in, c.ID, store.OutcomeNewCase); err != nil {
		return res, err
	}
	added, err := g.addOpeningWatchers(ctx, tx, in, c, linked)
	if err != nil {
		return res, err
	}
	res.Trace = in.trace
	if auto {
		return res, nil
	}
	return res, g.notifyOpened(ctx, tx, in, c, linked, added)
}

// caseSubject is the subject a new case gets.
func caseSubject(topic string) string {
	topic = sanitizeLine(topic)
	if topic == "" {
		return "(no subject)"
	}
	return topic
}

// sanitizeLine removes control characters (CR and LF among them) so a
// value can never break out of a header or a log line.
func sanitizeLine(s string) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s))
}

// addOpeningWatchers makes the Cc recipients of the opening mail watchers
// (never our own addresses, never the contact), and for a case continuing a
// closed one, that case's watchers too. It returns the watchers added.
func (g *Gateway) addOpeningWatchers(ctx context.Context, tx *store.Tx, in *inbound, c store.Case, linked *store.Case) ([]recipient, error) {
	var cands []recipient
	for _, a := range in.msg.Cc {
		cands = append(cands, recipient{Email: a.Email, Name: a.Name, Role: "watcher"})
	}
	if linked != nil && linked.State == store.StateClosed {
		ws, err := tx.Watchers(ctx, linked.ID)
		if err != nil {
			return nil, err
		}
		for _, w := range ws {
			cands = append(cands, recipient{Email: w.Email, Name: w.Name, Role: "watcher"})
		}
	}
	var added []recipient
	for _, r := range cands {
		if r.Email == "" || !strings.Contains(r.Email, "@") || g.isOwn(r.Email) || strings.EqualFold(r.Email, c.Contact.Email) {
			continue
		}
		ok, err := tx.AddWatcher(ctx, c.ID, r.Email, sanitizeLine(r.Name), c.Contact.Email)
		if err != nil {
			return nil, err
		}
		if ok {
			added = append(added, r)
			in.step("watcher", "added", r.Email)
		}
	}
	return added, nil
}

// notifyOpened queues the confirmation to the contact and the watcher
// notices.
func (g *Gateway) notifyOpened(ctx context.Context, tx *store.Tx, in *inbound, c store.Case, linked *store.Case, watchers []recipient) error {
	data := templates.Data{Body: in.msg.Visible}
	ws, err := tx.Watchers(ctx, c.ID)
	if err != nil {
		return err
	}
	for _, w := range ws {
		data.Watchers = append(data.Watchers, templates.Person{Name: w.Name, Email: w.Email, Role: "watcher"})
	}
	tpl := "case_created"
	if linked != nil && linked.State == store.StateClosed {
		tpl, data.Case.OldNumber = "case_created_from_closed", linked.Number
	}
	contact := recipient{Email: c.Contact.Email, Name: c.Contact.Name, Role: "contact"}
	if err := g.enqueue(ctx, tx, c, tpl, []recipient{contact}, data, in.msg.MessageID); err != nil {
		return err
	}
	return g.enqueue(ctx, tx, c, "watcher_added", watchers, data, in.msg.MessageID)
}

// setState moves a case and records the change on its thread.
func (g *Gateway) setState(ctx context.Context, tx *store.Tx, c *store.Case, to, actor, note string) error {
	from := c.State
	if err := tx.SetState(ctx, c.ID, to); err != nil {
		return fmt.Errorf("case %s: %w", c.Number, err)
	}
	c.State = to
	body := from + " → " + to
	if note != "" {
		body += ": " + note
	}
	_, err := tx.AddActivity(ctx, c.ID, store.Activity{Kind: "state", Actor: actor, Public: true, Body: body})
	return err
}
