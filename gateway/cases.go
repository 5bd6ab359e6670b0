package gateway

import (
	"context"
	"fmt"
	"strings"

	"github.com/casegate/casegate/store"
	"github.com/casegate/casegate/templates"
)

// openCase opens a new case for the message: for a first mail, or for a
// stranger writing into someone else's case (linked is then that case).
// A stranger's case is linked for the agents, but discloses nothing of the
// other case: no watchers carried over, a plain confirmation.
func (g *Gateway) openCase(ctx context.Context, tx *store.Tx, in *inbound, linked *store.Case) (Result, error) {
	return g.newCase(ctx, tx, in, linked, false)
}

// followUp opens the case that continues closed for one of its own people
// (contact, watcher, agent): it carries the closed case's watchers over,
// and the confirmation names both numbers (SPEC §2).
func (g *Gateway) followUp(ctx context.Context, tx *store.Tx, in *inbound, closed store.Case) (Result, error) {
	return g.newCase(ctx, tx, in, &closed, true)
}

func (g *Gateway) newCase(ctx context.Context, tx *store.Tx, in *inbound, linked *store.Case, follow bool) (Result, error) {
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
		Prefix: g.cfg.CasePrefix, Kind: in.kind, ContactID: contact.ID, Contact: contact, Account: contact.Account,
		// A new case is about the mail's whole text, a forwarded mail or
		// an old thread in it included: the quote cut is for replies.
		Subject: caseSubject(m.Topic), Description: g.derive(in).description,
	}
	if linked != nil {
		nc.LinkedTo, nc.LinkedNumber = linked.ID, linked.Number
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
	var carried *store.Case
	if follow {
		carried = linked
	}
	notify, err := g.addOpeningWatchers(ctx, tx, in, c, carried)
	if err != nil {
		return res, err
	}
	res.Trace = in.trace
	if auto {
		return res, nil
	}
	return res, g.notifyOpened(ctx, tx, in, c, carried, notify)
}

// The description a case opened by mail keeps is the start of the mail's
// full text, for lists and search; the whole of it is the message's,
// which CaseDetail shows.
const (
	descriptionMaxLines = 100
	descriptionMaxBytes = 4 << 10
)

// caseDescription is the description a case opened by a mail with the
// full text text keeps.
func caseDescription(text string) string {
	return excerpt(text, descriptionMaxLines, descriptionMaxBytes)
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
// (never our own addresses, never the contact; at most
// Protection.MaxWatchersPerMail of them), and for a follow-up of a closed
// case, that case's watchers too. It returns the watchers to send the
// "watcher_added" notice: the carried-over watchers, and those of the Cc
// that the notice policy for the mail allows (amplify.go).
func (g *Gateway) addOpeningWatchers(ctx context.Context, tx *store.Tx, in *inbound, c store.Case, closed *store.Case) ([]recipient, error) {
	var notify []recipient
	err := g.addCc(in, c, func(r recipient) (bool, error) {
		added, err := tx.AddWatcher(ctx, c.ID, r.Email, sanitizeLine(r.Name), c.Contact.Email)
		if added && g.mayNotifyWatcher(in, r) {
			notify = append(notify, r)
		}
		return added, err
	})
	if err != nil || closed == nil {
		return notify, err
	}
	ws, err := tx.Watchers(ctx, closed.ID)
	if err != nil {
		return nil, err
	}
	for _, w := range ws {
		if !g.mayWatch(w.Email, c) {
			continue
		}
		added, err := tx.AddWatcher(ctx, c.ID, w.Email, sanitizeLine(w.Name), c.Contact.Email)
		if err != nil {
			return nil, err
		}
		if added {
			in.step("watcher", "carried", w.Email+" watched "+closed.Number)
			notify = append(notify, recipient{Email: w.Email, Name: w.Name, Role: "watcher"})
		}
	}
	return notify, nil
}

// mayWatch reports whether addr may be put on c's watch list: an address,
// not one of ours, not the contact.
func (g *Gateway) mayWatch(addr string, c store.Case) bool {
	return addr != "" && strings.Contains(addr, "@") && !g.isOwn(addr) && !strings.EqualFold(addr, c.Contact.Email)
}

// notifyOpened queues the confirmation to the contact and the watcher
// notices. The confirmation of a follow-up names the closed case it
// continues; any other names no other case.
func (g *Gateway) notifyOpened(ctx context.Context, tx *store.Tx, in *inbound, c store.Case, closed *store.Case, watchers []recipient) error {
	data := templates.Data{Body: g.derive(in).quote}
	ws, err := tx.Watchers(ctx, c.ID)
	if err != nil {
		return err
	}
	for _, w := range ws {
		data.Watchers = append(data.Watchers, templates.Person{Name: w.Name, Email: w.Email, Role: "watcher"})
	}
	tpl := "case_created"
	if closed != nil {
		tpl, data.Case.OldNumber = "case_created_from_closed", closed.Number
	}
	contact := recipient{Email: c.Contact.Email, Name: c.Contact.Name, Role: "contact"}
	if err := g.enqueue(ctx, tx, c, tpl, []recipient{contact}, data, in.msg.MessageID); err != nil {
		return err
	}
	// The notice carries nothing of the mail's text: it goes to people who
	// did not write to us.
	actor := templates.Person{Name: c.Contact.Name, Email: c.Contact.Email, Role: "contact"}
	if err := g.enqueue(ctx, tx, c, "watcher_added", watchers, templates.Data{Actor: actor}, in.msg.MessageID); err != nil {
		return err
	}
	return g.notifyTeam(ctx, tx, c, "team_new_case", templates.Data{Actor: actor, Body: data.Body}, in.msg.MessageID)
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
