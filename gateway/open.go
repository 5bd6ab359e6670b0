package gateway

import (
	"context"
	"fmt"
	"strings"

	"github.com/casegate/casegate/store"
	"github.com/casegate/casegate/templates"
)

// OpenRequest is a case opened on behalf of a customer: by an agent in
// the console or the API, by an integration, or by the customer herself
// on a page.
type OpenRequest struct {
	Contact     string   // the customer's address ("Name <addr>" too): the case's contact, who gets the mails
	Subject     string   // required
	Description string   // what the case is about
	Kind        string   // case | order; "" = case
	Priority    string   // low | normal | high | urgent; "" = normal
	Impact      string   // free text
	Watchers    []string // addresses to put on the watch list
	// LinkedTo is the case this one is about ("" = none). A case opened
	// about a closed one by one of its people continues it: the closed
	// case's watchers are carried over and the confirmation names both.
	LinkedTo string
}

// OpenCase opens a case for req.Contact on behalf of actor. The contact
// gets the confirmation (with the link to the case page), each watcher
// the notice that they were added, and the team address the new case;
// the thread records who opened it for whom. An invalid request wraps
// ErrInvalid; an unknown LinkedTo is store.ErrNotFound.
func (g *Gateway) OpenCase(ctx context.Context, req OpenRequest, actor Actor) (store.Case, error) {
	name, email, err := g.suppliedAddress("contact", req.Contact)
	if err != nil {
		return store.Case{}, err
	}
	subject := sanitizeLine(req.Subject)
	switch {
	case subject == "":
		return store.Case{}, fmt.Errorf("%w: a subject is required", ErrInvalid)
	case req.Kind != "" && req.Kind != "case" && req.Kind != "order":
		return store.Case{}, fmt.Errorf("%w: kind %q must be case or order", ErrInvalid, req.Kind)
	case req.Priority != "" && !validPriority(req.Priority):
		return store.Case{}, fmt.Errorf("%w: priority %q must be low, normal, high or urgent", ErrInvalid, req.Priority)
	}
	var watchers []recipient
	for _, w := range req.Watchers {
		if strings.TrimSpace(w) == "" {
			continue
		}
		wn, wa, err := g.suppliedAddress("watcher", w)
		if err != nil {
			return store.Case{}, err
		}
		watchers = append(watchers, recipient{Email: wa, Name: wn, Role: "watcher"})
	}
	var c store.Case
	err = g.store.Write(ctx, func(tx *store.Tx) error {
		var err error
		c, err = g.openFor(ctx, tx, req, recipient{Email: email, Name: name, Role: "contact"}, subject, watchers, actor)
		return err
	})
	if err != nil {
		return store.Case{}, err
	}
	g.kick()
	g.log.Info("case opened on behalf of a customer", "case", c.Number, "contact", email, "by", actor.Email)
	return c, nil
}

func (g *Gateway) openFor(ctx context.Context, tx *store.Tx, req OpenRequest, contact recipient, subject string,
	watchers []recipient, actor Actor) (store.Case, error) {
	var linked *store.Case
	if req.LinkedTo != "" {
		l, err := tx.CaseByNumber(ctx, req.LinkedTo)
		if err != nil {
			return store.Case{}, err
		}
		linked = &l
	}
	p, err := tx.UpsertContact(ctx, contact.Email, contact.Name, g.account(contact.Email))
	if err != nil {
		return store.Case{}, err
	}
	kind := req.Kind
	if kind == "" {
		kind = "case"
	}
	nc := store.NewCase{Prefix: g.cfg.CasePrefix, Kind: kind, ContactID: p.ID, Contact: p, Account: p.Account,
		Subject: subject, Description: strings.TrimSpace(req.Description), Priority: req.Priority}
	if linked != nil {
		nc.LinkedTo, nc.LinkedNumber = linked.ID, linked.Number
	}
	c, err := tx.CreateCase(ctx, nc)
	if err != nil {
		return c, err
	}
	if impact := sanitizeLine(req.Impact); impact != "" {
		if err := tx.PatchCase(ctx, c.ID, store.CasePatch{Impact: &impact}); err != nil {
			return c, err
		}
	}
	how := "opened by " + actor.Email + " on behalf of " + contact.Email
	if strings.EqualFold(actor.Email, contact.Email) {
		how = "opened by the contact " + contact.Email + " on the case page"
	}
	if linked != nil {
		how += ", about " + linked.Number
	}
	if _, err := tx.AddActivity(ctx, c.ID, store.Activity{Kind: "opened", Actor: actor.Email, Public: false, Body: how}); err != nil {
		return c, err
	}
	notify, err := g.openingWatchers(ctx, tx, c, watchers, linked, actor)
	if err != nil {
		return c, err
	}
	if c, err = tx.CaseByID(ctx, c.ID); err != nil {
		return c, err
	}
	return c, g.notifyOpenedFor(ctx, tx, c, linked, notify, actor)
}

// openingWatchers puts the requested watchers on the new case c and, for
// a case about a closed one, that case's watchers; it returns those to
// tell.
func (g *Gateway) openingWatchers(ctx context.Context, tx *store.Tx, c store.Case, ws []recipient, linked *store.Case, actor Actor) ([]recipient, error) {
	if linked != nil && linked.State == store.StateClosed {
		old, err := tx.Watchers(ctx, linked.ID)
		if err != nil {
			return nil, err
		}
		for _, w := range old {
			ws = append(ws, recipient{Email: w.Email, Name: w.Name, Role: "watcher"})
		}
	}
	var added []recipient
	for _, w := range ws {
		if !g.mayWatch(w.Email, c) {
			continue
		}
		ok, err := tx.AddWatcher(ctx, c.ID, w.Email, sanitizeLine(w.Name), actor.Email)
		if err != nil {
			return nil, err
		}
		if ok {
			added = append(added, w)
		}
	}
	return added, nil
}

// notifyOpenedFor queues the confirmation to the contact, the watcher
// notices and the team's mail about the new case.
func (g *Gateway) notifyOpenedFor(ctx context.Context, tx *store.Tx, c store.Case, linked *store.Case, watchers []recipient, actor Actor) error {
	data := templates.Data{Body: excerpt(c.Description, 25, 2000)}
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
	if err := g.enqueue(ctx, tx, c, tpl, []recipient{contact}, data, ""); err != nil {
		return err
	}
	by := templates.Person{Name: actor.Name, Email: actor.Email}
	if err := g.enqueue(ctx, tx, c, "watcher_added", watchers, templates.Data{Actor: by}, ""); err != nil {
		return err
	}
	return g.notifyTeam(ctx, tx, c, "team_new_case", templates.Data{Actor: by, Body: data.Body}, "")
}

// ChangeContact makes contact the contact of a case (an agent's action).
// The new contact gets the case's mails from now on and is told so; the
// previous contact stays on the case as a watcher, so she still hears of
// it and can take herself off with one click.
func (g *Gateway) ChangeContact(ctx context.Context, number, contact string, actor Actor) (store.Case, error) {
	name, email, err := g.suppliedAddress("contact", contact)
	if err != nil {
		return store.Case{}, err
	}
	return g.onCase(ctx, number, func(tx *store.Tx, c *store.Case) error {
		if c.State == store.StateClosed {
			return &IllegalTransitionError{From: c.State, To: c.State, By: byAgent}
		}
		old := c.Contact
		if strings.EqualFold(old.Email, email) {
			return nil
		}
		p, err := tx.UpsertContact(ctx, email, name, g.account(email))
		if err != nil {
			return err
		}
		if err := tx.SetContact(ctx, c.ID, p.ID, p.Account); err != nil {
			return err
		}
		if _, err := tx.RemoveWatcher(ctx, c.ID, email); err != nil {
			return err
		}
		if _, err := tx.AddWatcher(ctx, c.ID, old.Email, old.Name, actor.Email); err != nil {
			return err
		}
		if _, err := tx.AddActivity(ctx, c.ID, store.Activity{Kind: "contact", Actor: actor.Email, Public: true,
			Body: "contact changed from " + old.Email + " to " + email + "; " + old.Email + " watches the case"}); err != nil {
			return err
		}
		if *c, err = tx.CaseByID(ctx, c.ID); err != nil {
			return err
		}
		to := recipient{Email: email, Name: p.Name, Role: "contact"}
		return g.enqueue(ctx, tx, *c, "contact_changed", []recipient{to}, templates.Data{Actor: person(actor)}, "")
	})
}
