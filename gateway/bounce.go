package gateway

import (
	"context"
	"errors"
	"fmt"

	"github.com/casegate/casegate/mailparse"
	"github.com/casegate/casegate/store"
)

// Bounce handling (SPEC §3 step 3). A bounce is attributed, most exact
// first, to:
//  1. the outbox row its VERP address names (bounces+ID-MAC@hostname),
//  2. the outbox row whose Message-ID it quotes,
//  3. the case that Message-ID threads to.
//
// It is stored without a case of its own and noted on the case it reports
// on. Only a permanent bounce attributed to an outbox row (1 or 2) counts
// as a hard bounce of that row's recipient, once per row: a report nobody
// can tie to a mail we sent, or one forged to make an address
// undeliverable, changes nothing. At Protection.HardBounceLimit hard
// bounces the address is undeliverable: suppressed delivers it no mail
// until an agent clears it.

// notAReport is the reason of a mail sent to one of our bounce addresses
// that is no delivery report (a vacation notice answering the return path,
// as RFC 3834 §4 tells responders to): stored, never answered.
const notAReport = "not_a_report"

// bounceOf returns the bounce a message is, or nil (SPEC §3 step 3). It
// first applies the RFC 3834 sender rules (see markAutomatic), so whatever
// follows never answers a machine.
func (g *Gateway) bounceOf(in *inbound) *mailparse.Bounce {
	g.markAutomatic(in)
	if b := in.msg.Signals.Bounce; b != nil {
		return b
	}
	if in.env.nullSender() {
		return &mailparse.Bounce{Reason: "null_sender"}
	}
	for _, rcpt := range in.env.To {
		if g.isBounceAddress(rcpt) {
			return &mailparse.Bounce{Reason: notAReport}
		}
	}
	return nil
}

// ingestBounce stores a bounce, attributes it to the notification it
// reports on, marks that delivery failed on the case's activity and counts
// a hard bounce against the recipient.
func (g *Gateway) ingestBounce(ctx context.Context, tx *store.Tx, in *inbound, b *mailparse.Bounce) (Result, error) {
	if b.Reason == notAReport {
		in.step("bounce", "no", "sent to our bounce address but no delivery report: ignored")
		return g.storeOnly(ctx, tx, in, store.OutcomeIgnored, nil)
	}
	in.step("bounce", "yes", fmt.Sprintf("%s %s %s", b.Reason, b.Recipient, b.Status))
	row, via, err := g.bounceRow(ctx, tx, in, b)
	if err != nil {
		return Result{}, err
	}
	c, err := g.bounceCase(ctx, tx, in, b, row)
	if err != nil {
		return Result{}, err
	}
	res, err := g.storeOnly(ctx, tx, in, store.OutcomeBounce, nil)
	if err != nil {
		return res, err
	}
	rec := store.Bounce{MessageID: res.MessageID, Recipient: b.Recipient, Status: b.Status, Permanent: b.Permanent, Via: via}
	if row != nil {
		rec.OutboxID, rec.Recipient = row.ID, row.Recipient
	} else {
		rec.Recipient = "" // unattributed: counts against nobody
	}
	addr, undeliverable, err := tx.RecordBounce(ctx, rec, g.protection().HardBounceLimit)
	if err != nil {
		return res, err
	}
	if undeliverable {
		in.step("bounce", "undeliverable", fmt.Sprintf("%s after %d hard bounces", addr.Email, addr.HardBounces))
		g.log.Warn("address marked undeliverable", "address", addr.Email, "hard_bounces", addr.HardBounces, "status", b.Status)
	}
	res.Trace = in.trace
	if c == nil {
		return res, nil
	}
	res.Case = c.Number
	return res, g.noteBounce(ctx, tx, c, res.MessageID, row, b, addr, undeliverable)
}

// bounceRow finds the outbox row a bounce reports on, and how.
func (g *Gateway) bounceRow(ctx context.Context, tx *store.Tx, in *inbound, b *mailparse.Bounce) (*store.OutboxMail, string, error) {
	row, err := g.verpTarget(ctx, tx, in)
	if err != nil {
		return nil, "", err
	}
	if row != nil {
		in.step("bounce", "attributed", fmt.Sprintf("bounce address → outbox %d (%s to %s)", row.ID, row.Template, row.Recipient))
		return row, "verp", nil
	}
	if b.OriginalMessageID == "" {
		return nil, "", nil
	}
	m, err := tx.OutboxByMessageID(ctx, b.OriginalMessageID)
	switch {
	case err == nil:
		in.step("bounce", "attributed", fmt.Sprintf("%s → outbox %d (%s to %s)", b.OriginalMessageID, m.ID, m.Template, m.Recipient))
		return &m, "message_id", nil
	case errors.Is(err, store.ErrNotFound):
		return nil, "", nil
	}
	return nil, "", err
}

// bounceCase is the case a bounce reports on: its outbox row's, else the
// case the quoted Message-ID threads to; nil when none.
func (g *Gateway) bounceCase(ctx context.Context, tx *store.Tx, in *inbound, b *mailparse.Bounce, row *store.OutboxMail) (*store.Case, error) {
	if row != nil && row.CaseID != 0 {
		c, err := tx.CaseByID(ctx, row.CaseID)
		if err != nil {
			return nil, err
		}
		return &c, nil
	}
	if b.OriginalMessageID == "" {
		in.step("bounce", "unattributed", "no bounce address and no original Message-ID")
		return nil, nil
	}
	c, _, err := tx.CaseByThreadIDs(ctx, []string{b.OriginalMessageID})
	switch {
	case err == nil:
		in.step("bounce", "case", b.OriginalMessageID+" → "+c.Number)
		return &c, nil
	case errors.Is(err, store.ErrNotFound):
		in.step("bounce", "unattributed", b.OriginalMessageID+" is no mail of ours")
		return nil, nil
	}
	return nil, err
}

// noteBounce writes the failed delivery on the case's activity thread
// (internal: for agents, not mailed to anyone).
func (g *Gateway) noteBounce(ctx context.Context, tx *store.Tx, c *store.Case, msgID int64, row *store.OutboxMail,
	b *mailparse.Bounce, addr store.AddressStatus, undeliverable bool) error {
	what := "permanent"
	if !b.Permanent {
		what = "temporary"
	}
	rcpt, tpl := b.Recipient, ""
	if row != nil {
		rcpt, tpl = row.Recipient, " of "+row.Template
	}
	body := fmt.Sprintf("delivery%s to %s failed (%s, %s)", tpl, rcpt, what, orDash(b.Status))
	if undeliverable {
		body += fmt.Sprintf("; %s is now undeliverable after %d hard bounces and gets no more mail until an agent clears it",
			addr.Email, addr.HardBounces)
	}
	_, err := tx.AddActivity(ctx, c.ID, store.Activity{Kind: "delivery", Public: false, MessageID: msgID, Body: body})
	return err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
