package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/casegate/casegate/store"
)

// The customer's side of the case rules, for the pages. A Customer is a
// person known by an address she proved she reads: she followed a signed
// link mailed to it, or a sign-in link (signin.go). What she may do on a
// case follows from her role on it, as for mail:
//
//	contact   read, comment, watchers, accept/reject/close, survey, open a new case about a closed one
//	watcher   read, comment
//	account   read only, where Config.SharedAccounts lists the case's account
//
// A closed case is read-only for everyone.

// Case roles of a customer.
const (
	RoleContact = "contact"
	RoleWatcher = "watcher"
	RoleAccount = "account"
)

// ErrForbidden is an action the customer's role on the case does not
// allow, or a case that is not hers (reported as not found to the page).
var ErrForbidden = errors.New("not allowed")

// Customer acts on cases as one person.
type Customer struct {
	g     *Gateway
	Email string
	// Scope, when set, is the one case a signed case link opens: the
	// customer sees and acts on that case only.
	Scope string
}

// AsCustomer is the person at email. scope limits her to one case ("" for
// a signed-in person, who sees all of hers).
func (g *Gateway) AsCustomer(email, scope string) *Customer {
	return &Customer{g: g, Email: strings.ToLower(strings.TrimSpace(email)), Scope: strings.ToUpper(scope)}
}

// WithClient marks ctx as the handling of a request from the client at
// addr: every notification it causes counts against that client's
// hourly budget (budget.go), as a mail's do against its source.
func WithClient(ctx context.Context, addr netip.Addr) context.Context {
	if !addr.IsValid() {
		return ctx
	}
	addr = addr.Unmap()
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return withSource(ctx, "ip:"+p.String())
	}
	return withSource(ctx, "ip:"+addr.String())
}

// Cases lists the customer's cases, newest first: where she is the
// contact or a watcher, and her account's where it shares them; after
// and limit page as in store.CaseFilter.
func (cu *Customer) Cases(ctx context.Context, after int64, limit int) ([]store.Case, error) {
	acct := ""
	if a := cu.g.account(cu.Email); a != "" && slices.Contains(cu.g.rules().SharedAccounts, a) {
		acct = a
	}
	return cu.g.store.PersonCases(ctx, cu.Email, acct, after, limit)
}

// Role is the customer's role on c: RoleContact, RoleWatcher, RoleAccount,
// or "" when the case is not hers.
func (cu *Customer) Role(ctx context.Context, c store.Case) (string, error) {
	if cu.Scope != "" && !strings.EqualFold(cu.Scope, c.Number) {
		return "", nil
	}
	if strings.EqualFold(c.Contact.Email, cu.Email) {
		return RoleContact, nil
	}
	ws, err := cu.g.store.Watchers(ctx, c.ID)
	if err != nil {
		return "", err
	}
	for _, w := range ws {
		if strings.EqualFold(w.Email, cu.Email) {
			return RoleWatcher, nil
		}
	}
	if cu.Scope == "" && c.Account != "" && slices.Contains(cu.g.rules().SharedAccounts, c.Account) &&
		cu.g.account(cu.Email) == c.Account {
		return RoleAccount, nil
	}
	return "", nil
}

// CustomerCase is a case as a customer sees it: no internal notes, no
// decision traces, no raw mails.
type CustomerCase struct {
	store.Case
	Role        string
	Watchers    []store.Watcher
	Attachments []store.Attachment
	Thread      []ActivityView // public entries only; messages without headers or trace
	Survey      *store.Survey
}

// View reads a case of the customer's. A case that is not hers is
// store.ErrNotFound, the same as one that does not exist.
func (cu *Customer) View(ctx context.Context, number string) (CustomerCase, error) {
	c, role, err := cu.caseFor(ctx, number)
	if err != nil {
		return CustomerCase{}, err
	}
	d, err := cu.g.CaseDetail(ctx, c.Number)
	if err != nil {
		return CustomerCase{}, err
	}
	v := CustomerCase{Case: d.Case, Role: role, Watchers: d.Watchers, Survey: d.Survey}
	shown := map[int64]bool{}
	for _, a := range d.Activity {
		if !a.Public {
			continue
		}
		if a.Message != nil {
			m := *a.Message
			m.Headers, m.Decision, m.RawURL = nil, nil, ""
			m.EnvelopeFrom, m.EnvelopeTo = "", nil
			a.Message = &m
			shown[m.ID] = true
		}
		v.Thread = append(v.Thread, a)
	}
	for _, a := range d.Attachments {
		if shown[a.MessageID] && !a.Inline {
			v.Attachments = append(v.Attachments, a.Attachment)
		}
	}
	return v, nil
}

// Attachment reads an attachment the customer may download: one of a
// public mail of a case of hers.
func (cu *Customer) Attachment(ctx context.Context, number string, id int64) (store.Attachment, error) {
	v, err := cu.View(ctx, number)
	if err != nil {
		return store.Attachment{}, err
	}
	for _, a := range v.Attachments {
		if a.ID == id {
			return cu.g.store.AttachmentByID(ctx, id)
		}
	}
	return store.Attachment{}, fmt.Errorf("attachment %d: %w", id, store.ErrNotFound)
}

// caseFor loads a case of the customer's and her role on it.
func (cu *Customer) caseFor(ctx context.Context, number string) (store.Case, string, error) {
	c, err := cu.g.store.CaseByNumber(ctx, number)
	if err != nil {
		return c, "", err
	}
	role, err := cu.Role(ctx, c)
	if err != nil {
		return c, "", err
	}
	if role == "" {
		return c, "", fmt.Errorf("case %s: %w", strings.ToUpper(number), store.ErrNotFound)
	}
	return c, role, nil
}

// act runs fn on a case of the customer's in one transaction, when her
// role is one of roles.
func (cu *Customer) act(ctx context.Context, number string, roles []string, fn func(tx *store.Tx, c *store.Case, role string) error) error {
	_, role, err := cu.caseFor(ctx, number)
	if err != nil {
		return err
	}
	if !slices.Contains(roles, role) {
		return fmt.Errorf("%w: a %s of case %s may not do this", ErrForbidden, role, strings.ToUpper(number))
	}
	_, err = cu.g.onCase(ctx, number, func(tx *store.Tx, c *store.Case) error {
		if c.State == store.StateClosed {
			return &IllegalTransitionError{From: c.State, To: c.State, By: byContact}
		}
		return fn(tx, c, role)
	})
	return err
}

func (cu *Customer) actor() Actor { return Actor{Email: cu.Email} }

// Accept accepts the resolution of a resolved case and closes it (the
// contact only).
func (cu *Customer) Accept(ctx context.Context, number string) error {
	return cu.act(ctx, number, []string{RoleContact}, func(tx *store.Tx, c *store.Case, _ string) error {
		return cu.g.transition(ctx, tx, c, store.StateClosed, byContact, cu.actor(), "accepted by the contact", "")
	})
}

// Reject rejects the resolution of a resolved case and reopens it, with
// the reason as the note (the contact only).
func (cu *Customer) Reject(ctx context.Context, number, reason string) error {
	note := "resolution rejected" + prefixed(": ", strings.TrimSpace(reason))
	return cu.act(ctx, number, []string{RoleContact}, func(tx *store.Tx, c *store.Case, _ string) error {
		return cu.g.transition(ctx, tx, c, store.StateOpen, byContact, cu.actor(), note, "")
	})
}

// Close closes the case at any time, whatever its state (the contact
// only). The survey follows.
func (cu *Customer) Close(ctx context.Context, number string) error {
	return cu.act(ctx, number, []string{RoleContact}, func(tx *store.Tx, c *store.Case, _ string) error {
		return cu.g.transition(ctx, tx, c, store.StateClosed, byContact, cu.actor(), "closed by the contact", "")
	})
}

// AddWatcher puts an address on the watch list (the contact only).
func (cu *Customer) AddWatcher(ctx context.Context, number, email string) error {
	name, addr, err := cu.g.suppliedAddress("watcher", email)
	if err != nil {
		return err
	}
	return cu.act(ctx, number, []string{RoleContact}, func(tx *store.Tx, c *store.Case, _ string) error {
		_, err := cu.g.addWatcher(ctx, tx, c, recipient{Email: addr, Name: name, Role: "watcher"}, cu.actor(), "", nil)
		return err
	})
}

// RemoveWatcher takes an address off the watch list (the contact only).
func (cu *Customer) RemoveWatcher(ctx context.Context, number, email string) error {
	return cu.act(ctx, number, []string{RoleContact}, func(tx *store.Tx, c *store.Case, _ string) error {
		return cu.g.removeWatcher(ctx, tx, c, strings.TrimSpace(email), cu.actor())
	})
}

// Rate stores the survey rating 1–5 of a closed case (the contact only,
// once).
func (cu *Customer) Rate(ctx context.Context, number string, rating int, comment string) error {
	if rating < 1 || rating > 5 {
		return fmt.Errorf("%w: a rating is 1 to 5", ErrInvalid)
	}
	c, role, err := cu.caseFor(ctx, number)
	if err != nil {
		return err
	}
	if role != RoleContact {
		return fmt.Errorf("%w: only the contact rates case %s", ErrForbidden, c.Number)
	}
	comment = strings.TrimSpace(comment)
	return cu.g.store.Write(ctx, func(tx *store.Tx) error {
		if err := tx.RateSurvey(ctx, c.ID, rating, comment, "page"); err != nil {
			return err
		}
		_, err := tx.AddActivity(ctx, c.ID, store.Activity{Kind: "survey", Actor: cu.Email,
			Body: fmt.Sprintf("rated %d/5", rating) + prefixed(": ", comment)})
		return err
	})
}

// OpenAbout opens a new case about a closed one (the contact only): it is
// linked to it, carries its watchers over, and the confirmation names
// both numbers.
func (cu *Customer) OpenAbout(ctx context.Context, number, subject, description string) (store.Case, error) {
	c, role, err := cu.caseFor(ctx, number)
	if err != nil {
		return c, err
	}
	if role != RoleContact {
		return c, fmt.Errorf("%w: only the contact opens a new case about %s", ErrForbidden, c.Number)
	}
	if c.State != store.StateClosed {
		return c, fmt.Errorf("%w: case %s is not closed; comment on it instead", ErrInvalid, c.Number)
	}
	if strings.TrimSpace(subject) == "" {
		subject = c.Subject
	}
	return cu.g.OpenCase(ctx, OpenRequest{Contact: c.Contact.Email, Subject: subject, Description: description,
		Kind: c.Kind, LinkedTo: c.Number}, Actor{Email: cu.Email, Name: c.Contact.Name})
}
