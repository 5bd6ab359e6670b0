package gateway

import (
	"context"
	"errors"

	"github.com/casegate/casegate/store"
)

// Every notification to a contact or watcher carries a link to the case
// page, signed for that recipient and that case (links.go). The link is
// the person's key to that one case: whoever holds it reads the case as
// the recipient and acts with the recipient's role (portal.go), for as
// long as the recipient has that role; it opens no other case, and signs
// nobody in to the rest of the person's cases.

// OpenCaseLink verifies a case page link and returns the customer it
// stands for, limited to its case. ErrBadLink when it is not a genuine
// case link, or its case is gone, or its recipient no longer has a role
// on the case.
func (g *Gateway) OpenCaseLink(ctx context.Context, token string) (*Customer, string, error) {
	l, err := g.verifyLink(token)
	if err != nil || l.Action != linkView {
		return nil, "", ErrBadLink
	}
	c, err := g.store.CaseByNumber(ctx, l.Case)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", ErrBadLink
	}
	if err != nil {
		return nil, "", err
	}
	cu := g.AsCustomer(l.Email, c.Number)
	role, err := cu.Role(ctx, c)
	if err != nil {
		return nil, "", err
	}
	if role == "" {
		return nil, "", ErrBadLink
	}
	return cu, c.Number, nil
}

// CaseLink is the case page link of number for email, as the mails carry
// it (for tests and for the console's "copy the customer's link").
func (g *Gateway) CaseLink(number, email string) string { return g.caseURL(number, email) }
