package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/casegate/casegate/mailparse"
	"github.com/casegate/casegate/store"
)

// Bounce handling (SPEC §3 step 3). A report is stored without a case of
// its own and, where it can be told, noted on the case it reports on.
//
// One rule decides what counts towards making an address undeliverable,
// because a delivery report is the easiest mail to forge: every
// notification's References carries the case's earlier Message-IDs, so
// every watcher knows the contact's. A report counts only when
//  1. it arrives at the VERP bounce address of an outbox row
//     (bounces+ID-MAC@hostname, verp.go), which nobody can make without the
//     key,
//  2. it names that row's recipient as the address that failed, and
//  3. it gives an address-level reason (addressGone): the address does not
//     exist or no longer takes mail.
//
// Our relay's own permanent refusal of a row's recipient at RCPT meets
// conditions 1 and 2 by itself and counts under condition 3 the same way
// (reports.go). A delay warning is no failure and counts nothing.
//
// It then counts as a hard bounce of that recipient, once per row; at
// Protection.HardBounceLimit hard bounces the address is undeliverable and
// suppressed gets it no mail until an agent clears it. Everything else — a
// report quoting one of our Message-IDs, a report for another recipient, a
// full mailbox, a policy refusal, a delay — is recorded (table bounces and
// the decision trace) and counts nothing.

// notAReport is the reason of a mail sent to one of our bounce addresses
// that is no delivery report (a vacation notice answering the return path,
// as RFC 3834 §4 tells responders to): stored, never answered.
const notAReport = "not_a_report"

// bounceOf returns the bounce a message is, or nil (SPEC §3 step 3). It
// first applies the RFC 3834 sender rules (see markAutomatic), so whatever
// follows never answers a machine.
func (g *Gateway) bounceOf(in *inbound) *mailparse.Bounce {
	// An out-of-office says it is one (Auto-Submitted: auto-replied and
	// the like) and comes from a person's address; it is often sent with
	// the null sender to our bounce address, and is no delivery report.
	selfDeclared := in.msg.Signals.AutoReply && !automaticAddress(in.msg.From.Email)
	g.markAutomatic(in)
	if b := in.msg.Signals.Bounce; b != nil {
		return b
	}
	if selfDeclared {
		in.step("bounce", "no", "an auto-reply ("+in.msg.Signals.AutoReason+"), not a delivery report")
		return nil
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

// ingestBounce stores a bounce, attributes it, and counts it against the
// recipient when the rule above says so; a report that arrived at a
// notification's bounce address is noted on that notification's case.
func (g *Gateway) ingestBounce(ctx context.Context, tx *store.Tx, in *inbound, b *mailparse.Bounce) (Result, error) {
	if b.Reason == notAReport {
		in.step("bounce", "no", "sent to our bounce address but no delivery report: ignored")
		return g.storeOnly(ctx, tx, in, store.OutcomeIgnored, nil)
	}
	in.step("bounce", "yes", fmt.Sprintf("%s %s %s", b.Reason, b.Recipient, b.Status))
	row, err := g.verpTarget(ctx, tx, in)
	if err != nil {
		return Result{}, err
	}
	delayed := b.Delayed
	reason, detail := reportReason(b)
	rec := store.Bounce{Recipient: b.Recipient, Status: b.Status, Permanent: b.Permanent, Kind: store.BounceFailed,
		Reason: reason, Detail: detail}
	if delayed {
		rec.Kind = store.BounceDelayed
	}
	var c *store.Case
	if row != nil {
		in.step("bounce", "attributed", fmt.Sprintf("bounce address → outbox %d (%s to %s)", row.ID, row.Template, row.Recipient))
		rec.OutboxID, rec.Via = row.ID, "verp"
		if delayed {
			in.step("bounce", "delayed", fmt.Sprintf("a delay warning, not a failed delivery: noted on outbox %d, counts nothing", row.ID))
		} else {
			rec.Counts = g.bounceCounts(in, b, row)
		}
		if c, err = g.rowCase(ctx, tx, row); err != nil {
			return Result{}, err
		}
	} else if rec.Via, err = g.unverifiedBounce(ctx, tx, in, b); err != nil {
		return Result{}, err
	}
	res, err := g.storeOnly(ctx, tx, in, store.OutcomeBounce, nil)
	if err != nil {
		return res, err
	}
	rec.MessageID = res.MessageID
	addr, undeliverable, err := tx.RecordBounce(ctx, rec, g.protection().HardBounceLimit)
	if err != nil {
		return res, err
	}
	if undeliverable {
		in.step("bounce", "undeliverable", fmt.Sprintf("%s after %d hard bounces", addr.Email, addr.HardBounces))
		g.logAfter(tx, slog.LevelWarn, "address marked undeliverable", "address", addr.Email, "hard_bounces", addr.HardBounces, "status", b.Status)
	}
	res.Trace = in.trace
	if c == nil {
		return res, nil
	}
	res.Case = c.Number
	return res, g.noteBounce(ctx, tx, c, res.MessageID, row, b, delayed, addr, undeliverable)
}

// bounceCounts applies conditions 2 and 3 of the rule to a report that
// arrived at row's bounce address, and says in the trace why it does not
// count when it does not.
func (g *Gateway) bounceCounts(in *inbound, b *mailparse.Bounce, row *store.OutboxMail) bool {
	switch {
	case !strings.EqualFold(b.Recipient, row.Recipient):
		in.step("bounce", "not_counted", fmt.Sprintf("the report names %q, not %s, the recipient of outbox %d",
			b.Recipient, row.Recipient, row.ID))
		return false
	case !b.Permanent:
		in.step("bounce", "temporary", "a temporary failure: counted as a soft bounce only")
		return true
	case !addressGone(b):
		in.step("bounce", "not_counted", fmt.Sprintf("status %s is no address-level reason", orDash(b.Status)))
		return false
	}
	return true
}

// addressGone reports whether a permanent failure says that the address
// itself does not exist or no longer takes mail (RFC 3463): 5.1.x, bad
// destination mailbox or system address (but 5.1.7 and 5.1.8, which are
// about the sender), 5.2.1 mailbox disabled, and 5.4.4 no route to the
// domain. A full mailbox (5.2.2), a size limit, a policy or spam refusal
// (5.7.x) say nothing about the address.
func addressGone(b *mailparse.Bounce) bool {
	if !b.Permanent {
		return false
	}
	// The parser's reason for the failed recipient, from the status, the
	// SMTP reply and the diagnostic text (user_unknown, host_unknown,
	// has_moved ...), where the report names them.
	for _, r := range b.Recipients {
		if strings.EqualFold(r.Address, b.Recipient) && r.Reason != "" {
			return r.AddressGone()
		}
	}
	s := b.Status
	switch {
	case s == "5.1.7" || s == "5.1.8":
		return false
	case strings.HasPrefix(s, "5.1."), s == "5.2.1", s == "5.4.4":
		return true
	}
	return false
}

// unverifiedBounce traces what a report that did not come to a bounce
// address claims: a quoted Message-ID of ours, or nothing we know. It
// counts nothing and is noted on no case.
func (g *Gateway) unverifiedBounce(ctx context.Context, tx *store.Tx, in *inbound, b *mailparse.Bounce) (string, error) {
	if b.OriginalMessageID == "" {
		in.step("bounce", "unattributed", "not sent to a bounce address of ours and no original Message-ID: counts nothing")
		return "", nil
	}
	_, _, err := tx.CaseByThreadIDs(ctx, []string{b.OriginalMessageID})
	switch {
	case err == nil:
		in.step("bounce", "unverified", b.OriginalMessageID+" is ours, but anyone who had a mail of the case may quote it: "+
			"only a report to the bounce address counts")
		return "message_id", nil
	case errors.Is(err, store.ErrNotFound):
		in.step("bounce", "unattributed", b.OriginalMessageID+" is no mail of ours: counts nothing")
		return "", nil
	}
	return "", err
}

// rowCase is the case of an outbox row, nil when it has none.
func (g *Gateway) rowCase(ctx context.Context, tx *store.Tx, row *store.OutboxMail) (*store.Case, error) {
	if row.CaseID == 0 {
		return nil, nil
	}
	c, err := tx.CaseByID(ctx, row.CaseID)
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// noteBounce writes the failed delivery of row on the case's activity
// thread (internal: for agents, not mailed to anyone).
func (g *Gateway) noteBounce(ctx context.Context, tx *store.Tx, c *store.Case, msgID int64, row *store.OutboxMail,
	b *mailparse.Bounce, delayed bool, addr store.AddressStatus, undeliverable bool) error {
	what := "permanent"
	if !b.Permanent {
		what = "temporary"
	}
	body := fmt.Sprintf("delivery of %s to %s failed (%s, %s)", row.Template, row.Recipient, what, orDash(b.Status))
	switch {
	case delayed:
		body = fmt.Sprintf("delivery of %s to %s is delayed (%s): the mail may still arrive", row.Template, row.Recipient,
			orDash(b.Status))
	case !strings.EqualFold(b.Recipient, row.Recipient):
		body = fmt.Sprintf("a delivery report on %s to %s names %q instead (%s, %s); it counts nothing",
			row.Template, row.Recipient, b.Recipient, what, orDash(b.Status))
	}
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
