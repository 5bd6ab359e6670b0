package gateway

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/casegate/casegate/mailparse"
	"github.com/casegate/casegate/store"
)

// Complaints (feedback reports, RFC 5965): a mailbox provider tells us
// that a recipient marked our mail as spam. Anyone can write one, so a
// complaint counts only under the rule bounces follow: it must name one
// of our notifications exactly, by its bounce address (the report came to
// it, or its Original-Mail-From is it) with a MAC that checks. Then the
// person who complained is that notification's recipient, whatever the
// report says of them (providers often hide the address), and gets no
// more mail until an agent clears the address. Any other complaint is
// stored and counts nothing. A complaint is never a bounce and never
// opens a case.

// ingestComplaint stores a feedback report and applies the rule above.
func (g *Gateway) ingestComplaint(ctx context.Context, tx *store.Tx, in *inbound, c *mailparse.Complaint) (Result, error) {
	in.step("complaint", "yes", fmt.Sprintf("%s feedback report (%s)", c.Format, orDash(c.FeedbackType)))
	row, err := g.complaintTarget(ctx, tx, in, c)
	if err != nil {
		return Result{}, err
	}
	if row == nil {
		in.step("complaint", "unattributed", "names no notification of ours by its bounce address: counts nothing")
		return g.storeOnly(ctx, tx, in, store.OutcomeIgnored, nil)
	}
	in.step("complaint", "attributed", fmt.Sprintf("outbox %d (%s to %s)", row.ID, row.Template, row.Recipient))
	res, err := g.storeOnly(ctx, tx, in, store.OutcomeBounce, nil)
	if err != nil {
		return res, err
	}
	newly, err := tx.RecordComplaint(ctx, store.Bounce{OutboxID: row.ID, MessageID: res.MessageID, Recipient: row.Recipient,
		Status: c.FeedbackType, Via: "verp", Detail: c.UserAgent})
	if err != nil {
		return res, err
	}
	if newly {
		g.logAfter(tx, slog.LevelWarn, "address marked undeliverable: its owner reported our mail as spam", "address", row.Recipient, "outbox_id", row.ID)
	}
	in.step("complaint", "undeliverable", row.Recipient+" gets no more mail until an agent clears it")
	if cs, err := g.rowCase(ctx, tx, row); err != nil {
		return res, err
	} else if cs != nil {
		res.Case = cs.Number
		body := fmt.Sprintf("%s reported our %s as spam; the address gets no more mail until an agent clears it "+
			"(casegate addresses clear)", row.Recipient, row.Template)
		if _, err := tx.AddActivity(ctx, cs.ID, store.Activity{Kind: "delivery", Public: false, MessageID: res.MessageID, Body: body}); err != nil {
			return res, err
		}
	}
	res.Trace = in.trace
	return res, nil
}

// complaintTarget finds the notification a complaint is about: by the
// bounce address the report came to, else by the reported mail's
// envelope sender, which was that bounce address.
func (g *Gateway) complaintTarget(ctx context.Context, tx *store.Tx, in *inbound, c *mailparse.Complaint) (*store.OutboxMail, error) {
	row, err := g.verpTarget(ctx, tx, in)
	if err != nil || row != nil || c.OriginalMailFrom == "" {
		return row, err
	}
	return g.verpRow(ctx, tx, []string{c.OriginalMailFrom})
}
