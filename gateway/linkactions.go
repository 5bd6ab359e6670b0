package gateway

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/casegate/casegate/store"
)

// The actions behind signed links in mails (links.go signs them). A page
// that shows a link asks InspectLink what the link will do and offers a
// button; only the button calls FollowLink, so mail scanners that follow
// every link change nothing.

// ErrBadLink is a link that was forged, damaged, made with another key,
// or made for someone or something it does not apply to.
var ErrBadLink = errors.New("this link is not valid")

// LinkStaleError is a genuine link that no longer applies (the case moved
// on, the survey was rated); Why says so in words for the person.
type LinkStaleError struct{ Why string }

func (e *LinkStaleError) Error() string { return e.Why }

// LinkInfo is what a signed link will do, in words for the confirmation
// page.
type LinkInfo struct {
	Case     string // the case number
	Email    string // whom the link was made for
	Question string // "Close case CS0000042?"
	Button   string // the label of the button that acts
}

// InspectLink verifies token and says what following it would do. It
// changes nothing. The error is ErrBadLink, a *LinkStaleError, or a
// failure to read the case.
func (g *Gateway) InspectLink(ctx context.Context, token string) (LinkInfo, error) {
	l, c, err := g.openLink(ctx, token)
	if err == nil {
		err = g.linkApplies(ctx, l, c)
	}
	if err != nil {
		return LinkInfo{}, err
	}
	v := LinkInfo{Case: c.Number, Email: l.Email, Button: "Confirm"}
	switch {
	case l.Action == linkAccept:
		v.Question, v.Button = "Accept the resolution and close case "+c.Number+"?", "Yes, close the case"
	case l.Action == linkReject:
		v.Question, v.Button = "Reject the resolution and reopen case "+c.Number+"?", "Reopen the case"
	case l.Action == linkClose:
		v.Question, v.Button = "Close case "+c.Number+"?", "Close the case"
	case l.Action == linkUnsubscribe:
		v.Question, v.Button = "Stop receiving updates of case "+c.Number+" at "+l.Email+"?", "Unsubscribe"
	case strings.HasPrefix(l.Action, linkUnwatch):
		v.Question, v.Button = "Remove "+strings.TrimPrefix(l.Action, linkUnwatch)+" from the watch list of case "+c.Number+"?", "Remove"
	case strings.HasPrefix(l.Action, linkRate):
		v.Question, v.Button = fmt.Sprintf("Rate case %s with %s out of 5?", c.Number, strings.TrimPrefix(l.Action, linkRate)), "Send my rating"
	}
	return v, nil
}

// FollowLink performs the action of a signed link, in the case's
// transaction, and says what was done. Errors as InspectLink's, and
// store.ErrAlreadyRated for a survey rated meanwhile.
func (g *Gateway) FollowLink(ctx context.Context, token string) (LinkInfo, string, error) {
	l, c, err := g.openLink(ctx, token)
	if err != nil {
		return LinkInfo{}, "", err
	}
	var done string
	_, err = g.onCase(ctx, c.Number, func(tx *store.Tx, c *store.Case) error {
		if err := g.linkApplies(ctx, l, *c); err != nil {
			return err
		}
		var err error
		done, err = g.actOnLink(ctx, tx, l, c)
		return err
	})
	return LinkInfo{Case: c.Number, Email: l.Email}, done, err
}

// openLink verifies a token and loads its case.
func (g *Gateway) openLink(ctx context.Context, token string) (link, store.Case, error) {
	l, err := g.verifyLink(token)
	if err != nil {
		return l, store.Case{}, err
	}
	c, err := g.store.CaseByNumber(ctx, l.Case)
	if errors.Is(err, store.ErrNotFound) {
		return l, c, ErrBadLink
	}
	return l, c, err
}

// linkApplies checks that a genuine link still means what it meant when it
// was sent.
func (g *Gateway) linkApplies(ctx context.Context, l link, c store.Case) error {
	isContact := strings.EqualFold(l.Email, c.Contact.Email)
	switch {
	case l.Action == linkAccept || l.Action == linkReject || l.Action == linkClose:
		if !isContact {
			return ErrBadLink
		}
		if c.State != store.StateResolved || resolutionGen(c) != l.Gen {
			return &LinkStaleError{Why: fmt.Sprintf("This link no longer applies: case %s is %s now.", c.Number, HumanState(c.State))}
		}
	case strings.HasPrefix(l.Action, linkRate):
		if _, err := strconv.Atoi(strings.TrimPrefix(l.Action, linkRate)); err != nil || !isContact {
			return ErrBadLink
		}
		s, err := g.store.Survey(ctx, c.ID)
		if err != nil {
			return &LinkStaleError{Why: "There is no survey for case " + c.Number + "."}
		}
		if s.RatedAt != nil {
			return &LinkStaleError{Why: fmt.Sprintf("Case %s was already rated %d out of 5. Thank you!", c.Number, s.Rating)}
		}
	case l.Action == linkUnsubscribe:
	case strings.HasPrefix(l.Action, linkUnwatch):
		if !isContact {
			return ErrBadLink
		}
		if c.State == store.StateClosed {
			return &LinkStaleError{Why: "Case " + c.Number + " is closed and can no longer be changed."}
		}
	default:
		return ErrBadLink
	}
	return nil
}

// actOnLink performs a link's action inside the case's transaction and
// says what was done.
func (g *Gateway) actOnLink(ctx context.Context, tx *store.Tx, l link, c *store.Case) (string, error) {
	actor := Actor{Email: l.Email}
	switch {
	case l.Action == linkAccept:
		return "Thank you! Case " + c.Number + " is closed.", g.transition(ctx, tx, c, store.StateClosed, byContact, actor, "accepted by the contact", "")
	case l.Action == linkClose:
		return "Case " + c.Number + " is closed.", g.transition(ctx, tx, c, store.StateClosed, byContact, actor, "closed by the contact", "")
	case l.Action == linkReject:
		return "Case " + c.Number + " is open again; an analyst will look at it.", g.transition(ctx, tx, c, store.StateOpen, byContact, actor, "resolution rejected", "")
	case l.Action == linkUnsubscribe || strings.HasPrefix(l.Action, linkUnwatch):
		who := l.Email
		if strings.HasPrefix(l.Action, linkUnwatch) {
			who = strings.TrimPrefix(l.Action, linkUnwatch)
		}
		err := g.removeWatcher(ctx, tx, c, who, actor)
		if errors.Is(err, store.ErrNotFound) {
			err = nil
		}
		return who + " no longer receives updates of case " + c.Number + ".", err
	}
	n, _ := strconv.Atoi(strings.TrimPrefix(l.Action, linkRate))
	if err := tx.RateSurvey(ctx, c.ID, n, "", "link"); err != nil {
		return "", err
	}
	_, err := tx.AddActivity(ctx, c.ID, store.Activity{Kind: "survey", Actor: l.Email, Body: fmt.Sprintf("rated %d/5", n)})
	return fmt.Sprintf("Thank you for rating case %s with %d out of 5!", c.Number, n), err
}

// HumanState is a state as people read it: "awaiting info".
func HumanState(s string) string { return strings.ReplaceAll(s, "_", " ") }
