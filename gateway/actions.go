package gateway

import (
	"context"
	"fmt"
	"strings"

	"github.com/casegate/casegate/store"
	"github.com/casegate/casegate/templates"
)

// Actor is who acts on a case through the API, the CLI, a link or a mail.
type Actor struct {
	Email string
	Name  string
}

// ErrNotFound is returned for an unknown case.
var ErrNotFound = store.ErrNotFound

// onCase runs fn on the case number in one write transaction and returns
// the case as it is afterwards.
func (g *Gateway) onCase(ctx context.Context, number string, fn func(tx *store.Tx, c *store.Case) error) (store.Case, error) {
	var c store.Case
	err := g.store.Write(ctx, func(tx *store.Tx) error {
		var err error
		if c, err = tx.CaseByNumber(ctx, number); err != nil {
			return err
		}
		if err := fn(tx, &c); err != nil {
			return err
		}
		c, err = tx.CaseByID(ctx, c.ID)
		return err
	})
	if err != nil {
		return store.Case{}, err
	}
	g.kick()
	return c, nil
}

// Transition moves a case as an agent asks (API, CLI, agent mail).
func (g *Gateway) Transition(ctx context.Context, number, to, note string, actor Actor) (store.Case, error) {
	return g.onCase(ctx, number, func(tx *store.Tx, c *store.Case) error {
		return g.transition(ctx, tx, c, to, byAgent, actor, note, "")
	})
}

// transition applies one row of the state machine and queues its
// notifications; inReplyTo is the mail that caused it, if any.
func (g *Gateway) transition(ctx context.Context, tx *store.Tx, c *store.Case, to, by string, actor Actor, note, inReplyTo string) error {
	t, err := lookupTransition(c.State, to, by)
	if err != nil {
		return err
	}
	if to == store.StateResolved && strings.TrimSpace(note) == "" {
		return fmt.Errorf("%w: resolving a case needs a resolution note", ErrInvalid)
	}
	from := c.State
	if err := g.setState(ctx, tx, c, to, actor.Email, note); err != nil {
		return err
	}
	if *c, err = tx.CaseByID(ctx, c.ID); err != nil {
		return err
	}
	if t.tpl != "" {
		data := templates.Data{Note: note, Case: templates.Case{OldState: from}}
		if err := g.notifyEvent(ctx, tx, *c, t.tpl, actor, data, inReplyTo); err != nil {
			return err
		}
	}
	if to == store.StateClosed {
		return g.sendSurvey(ctx, tx, *c, inReplyTo)
	}
	return nil
}

// Comment adds an agent comment. A public comment is mailed to the contact
// and the watchers; on a new case it is the pick-up.
func (g *Gateway) Comment(ctx context.Context, number, body string, public bool, actor Actor) (store.Case, error) {
	if strings.TrimSpace(body) == "" {
		return store.Case{}, fmt.Errorf("%w: empty comment", ErrInvalid)
	}
	return g.onCase(ctx, number, func(tx *store.Tx, c *store.Case) error {
		return g.comment(ctx, tx, c, body, public, actor, "")
	})
}

func (g *Gateway) comment(ctx context.Context, tx *store.Tx, c *store.Case, body string, public bool, actor Actor, inReplyTo string) error {
	if c.State == store.StateClosed {
		return &IllegalTransitionError{From: c.State, To: c.State, By: byAgent}
	}
	if _, err := tx.AddActivity(ctx, c.ID, store.Activity{Kind: "comment", Actor: actor.Email, Public: public, Body: body}); err != nil {
		return err
	}
	if !public {
		return nil
	}
	data := templates.Data{Body: body}
	if c.State == store.StateNew {
		if err := g.setState(ctx, tx, c, store.StateOpen, actor.Email, "picked up"); err != nil {
			return err
		}
		return g.notifyEvent(ctx, tx, *c, "case_picked_up", actor, data, inReplyTo)
	}
	return g.notifyEvent(ctx, tx, *c, "case_comment", actor, data, inReplyTo)
}

// Update changes the agent-set fields. Assigning a new case picks it up.
func (g *Gateway) Update(ctx context.Context, number string, p store.CasePatch, actor Actor) (store.Case, error) {
	if p.Priority != nil && !validPriority(*p.Priority) {
		return store.Case{}, fmt.Errorf("%w: priority %q must be low, normal, high or urgent", ErrInvalid, *p.Priority)
	}
	if p.Assignee != nil && strings.TrimSpace(*p.Assignee) != "" {
		// The assignee is mailed about the case: an address, never
		// anything else.
		_, addr, err := g.suppliedAddress("assignee", *p.Assignee)
		if err != nil {
			return store.Case{}, err
		}
		p.Assignee = &addr
	} else if p.Assignee != nil {
		empty := ""
		p.Assignee = &empty
	}
	return g.onCase(ctx, number, func(tx *store.Tx, c *store.Case) error {
		if c.State == store.StateClosed {
			return &IllegalTransitionError{From: c.State, To: c.State, By: byAgent}
		}
		if err := tx.PatchCase(ctx, c.ID, p); err != nil {
			return err
		}
		var changes []string
		if p.Assignee != nil {
			changes = append(changes, "assignee "+*p.Assignee)
		}
		if p.Priority != nil {
			changes = append(changes, "priority "+*p.Priority)
		}
		if p.Impact != nil {
			changes = append(changes, "impact "+*p.Impact)
		}
		if _, err := tx.AddActivity(ctx, c.ID, store.Activity{Kind: "update", Actor: actor.Email, Public: false,
			Body: strings.Join(changes, ", ")}); err != nil {
			return err
		}
		if p.Assignee != nil && *p.Assignee != "" && c.State == store.StateNew {
			fresh, err := tx.CaseByID(ctx, c.ID)
			if err != nil {
				return err
			}
			*c = fresh
			return g.transition(ctx, tx, c, store.StateOpen, byAgent, actor, "picked up by "+*p.Assignee, "")
		}
		return nil
	})
}

func validPriority(p string) bool {
	switch p {
	case "low", "normal", "high", "urgent":
		return true
	}
	return false
}

// AddWatcher puts email on a case's watch list.
func (g *Gateway) AddWatcher(ctx context.Context, number, email string, actor Actor) (store.Case, error) {
	name, addr, err := g.suppliedAddress("watcher", email)
	if err != nil {
		return store.Case{}, err
	}
	return g.onCase(ctx, number, func(tx *store.Tx, c *store.Case) error {
		_, err := g.addWatcher(ctx, tx, c, recipient{Email: addr, Name: name, Role: "watcher"}, actor, "", nil)
		return err
	})
}

// addWatcher puts r on c's watch list and tells them, unless notify (nil:
// always) says not to. It reports whether r was added.
func (g *Gateway) addWatcher(ctx context.Context, tx *store.Tx, c *store.Case, r recipient, actor Actor, inReplyTo string,
	notify func(recipient) bool) (bool, error) {
	if c.State == store.StateClosed {
		return false, &IllegalTransitionError{From: c.State, To: c.State, By: byAgent}
	}
	if !g.mayWatch(r.Email, *c) {
		return false, nil
	}
	added, err := tx.AddWatcher(ctx, c.ID, r.Email, sanitizeLine(r.Name), actor.Email)
	if err != nil || !added {
		return false, err
	}
	if _, err := tx.AddActivity(ctx, c.ID, store.Activity{Kind: "watcher", Actor: actor.Email, Public: true,
		Body: "added " + r.Email}); err != nil {
		return false, err
	}
	if notify != nil && !notify(r) {
		return true, nil
	}
	return true, g.enqueue(ctx, tx, *c, "watcher_added", []recipient{r}, templates.Data{Actor: person(actor)}, inReplyTo)
}

// RemoveWatcher takes email off a case's watch list.
func (g *Gateway) RemoveWatcher(ctx context.Context, number, email string, actor Actor) (store.Case, error) {
	return g.onCase(ctx, number, func(tx *store.Tx, c *store.Case) error {
		return g.removeWatcher(ctx, tx, c, email, actor)
	})
}

func (g *Gateway) removeWatcher(ctx context.Context, tx *store.Tx, c *store.Case, email string, actor Actor) error {
	removed, err := tx.RemoveWatcher(ctx, c.ID, email)
	if err != nil {
		return err
	}
	if !removed {
		return fmt.Errorf("watcher %s: %w", email, store.ErrNotFound)
	}
	_, err = tx.AddActivity(ctx, c.ID, store.Activity{Kind: "watcher", Actor: actor.Email, Public: true, Body: "removed " + email})
	return err
}

// sendSurvey opens the satisfaction survey of a closed case and mails it
// to the contact, when the policy asks for surveys.
func (g *Gateway) sendSurvey(ctx context.Context, tx *store.Tx, c store.Case, inReplyTo string) error {
	if !g.rules().Survey {
		return nil
	}
	if _, err := tx.Survey(ctx, c.ID); err == nil {
		return nil // one survey per case
	}
	if err := tx.OpenSurvey(ctx, c.ID); err != nil {
		return err
	}
	contact := recipient{Email: c.Contact.Email, Name: c.Contact.Name, Role: "contact"}
	return g.enqueue(ctx, tx, c, "case_survey", []recipient{contact}, templates.Data{}, inReplyTo)
}

// notifyEvent mails an event to the case's participants (contact,
// watchers and, for replies, the assignee), never to the actor.
func (g *Gateway) notifyEvent(ctx context.Context, tx *store.Tx, c store.Case, tpl string, actor Actor, data templates.Data, inReplyTo string) error {
	// The assignee hears of what the case's people do; agents, the API
	// and the scheduler act on the agents' side.
	byCustomer := strings.Contains(actor.Email, "@") && !g.isAgent(actor.Email)
	rcpts, err := g.participants(ctx, tx, c, byCustomer)
	if err != nil {
		return err
	}
	data.Actor = person(actor)
	return g.enqueue(ctx, tx, c, tpl, without(rcpts, actor.Email), data, inReplyTo)
}

// participants are the contact, the watchers and, if asked, the assignee.
func (g *Gateway) participants(ctx context.Context, tx *store.Tx, c store.Case, withAssignee bool) ([]recipient, error) {
	rcpts := []recipient{{Email: c.Contact.Email, Name: c.Contact.Name, Role: "contact"}}
	ws, err := tx.Watchers(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	for _, w := range ws {
		rcpts = append(rcpts, recipient{Email: w.Email, Name: w.Name, Role: "watcher"})
	}
	if withAssignee && strings.Contains(c.Assignee, "@") {
		rcpts = append(rcpts, recipient{Email: c.Assignee, Role: "agent"})
	}
	return rcpts, nil
}

// without drops email (the actor) from rcpts, and duplicates.
func without(rcpts []recipient, email string) []recipient {
	seen := map[string]bool{strings.ToLower(email): true}
	out := rcpts[:0:0]
	for _, r := range rcpts {
		k := strings.ToLower(r.Email)
		if !seen[k] {
			seen[k] = true
			out = append(out, r)
		}
	}
	return out
}

func person(a Actor) templates.Person {
	return templates.Person{Email: a.Email, Name: a.Name}
}
