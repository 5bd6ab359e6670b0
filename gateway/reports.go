package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/casegate/casegate/gateway/outbound"
	"github.com/casegate/casegate/mailparse"
	"github.com/casegate/casegate/store"
)

// What the outbox shows of a notification after the relay took it (SPEC
// §4, "the outbox tells the truth"). Every report attributed to an outbox
// row is kept with it (table bounces) and read back by the outbox views:
//
//   - a failure — a report at the row's bounce address that the mail did
//     not arrive — makes a sent row read bounced, with the report's status,
//     reason and a link to the stored report;
//   - a delay warning (DSN action delayed, RFC 3464 §2.3.3) is no failed
//     delivery: the row stays sent, the warning is noted on it as delayed,
//     and it counts nothing against the address;
//   - a relay that refuses the recipient at RCPT with a permanent answer
//     makes the row a dead letter, as any 5xx does, and the refusal is
//     weighed like a report by the rule of bounce.go: with an
//     address-level status (550 5.1.1 and the like) it counts as a hard
//     bounce of that recipient, once per row; any other refusal (5.7.1
//     policy, or no enhanced status code at all) is recorded and counts
//     nothing.

// reportReason is why a report says the delivery failed, and the remote
// answer: those of the recipient it names (mailparse's per-recipient
// reason), else what the status code says.
func reportReason(b *mailparse.Bounce) (reason, detail string) {
	for _, r := range b.Recipients {
		if strings.EqualFold(r.Address, b.Recipient) && r.Reason != "" {
			return string(r.Reason), r.Diagnostic
		}
	}
	return failureReason(b.Status, b.Delayed), ""
}

// failureReason names why a delivery failed from its enhanced status code
// (RFC 3463), in the vocabulary of mailparse.BounceReason: user_unknown,
// host_unknown, has_moved, not_accept, suspended, mailbox_full,
// message_too_big, rejected, expired, system_error, network_error,
// content_error, security_error, undefined; delayed for a warning.
func failureReason(status string, delayed bool) string {
	if delayed {
		return "delayed"
	}
	if len(status) < 5 || status[1] != '.' || (status[0] != '4' && status[0] != '5') {
		return "undefined"
	}
	detail := status[2:]
	if r, ok := statusReasons[detail]; ok {
		if status[0] == '4' && (r == "user_unknown" || r == "host_unknown") {
			return "undefined" // a temporary "no such user" is a lookup that failed
		}
		return r
	}
	switch {
	case strings.HasPrefix(detail, "3."), strings.HasPrefix(detail, "5."):
		return "system_error"
	case strings.HasPrefix(detail, "4."):
		return "network_error"
	case strings.HasPrefix(detail, "6."):
		return "content_error"
	case strings.HasPrefix(detail, "7."):
		return "security_error"
	}
	return "undefined"
}

// statusReasons are the reasons of the subject and detail of a status
// code ("1.1" of "5.1.1") that say more than their subject.
var statusReasons = map[string]string{
	"1.0": "user_unknown", "1.1": "user_unknown", "1.2": "host_unknown", "1.3": "user_unknown",
	"1.6": "has_moved", "1.7": "rejected", "1.8": "rejected", "1.10": "not_accept",
	"2.1": "suspended", "2.2": "mailbox_full", "2.3": "message_too_big",
	"3.4": "message_too_big", "4.4": "host_unknown", "4.7": "expired",
}

// NoteRefusal weighs the relay's permanent refusal of m's recipient at
// RCPT like a delivery report on m (see above and bounce.go): recorded on
// the row, counted as a hard bounce when its status is address-level,
// noted on the case. The pool calls it before it records the attempt as a
// permanent failure.
func (o *Outbox) NoteRefusal(ctx context.Context, m store.OutboxMail, r outbound.Refusal) error {
	err := o.g.store.Write(ctx, func(tx *store.Tx) error { return o.g.relayRefused(ctx, tx, m, r) })
	if err != nil {
		return o.g.temporary("relay refusal", err)
	}
	return nil
}

// relayRefused records a refusal at RCPT of row m's recipient.
func (g *Gateway) relayRefused(ctx context.Context, tx *store.Tx, m store.OutboxMail, r outbound.Refusal) error {
	b := &mailparse.Bounce{Recipient: m.Recipient, Status: r.Status, Permanent: true}
	rec := store.Bounce{OutboxID: m.ID, Recipient: m.Recipient, Status: r.Status, Permanent: true, Via: "relay",
		Kind: store.BounceFailed, Reason: failureReason(r.Status, false), Detail: r.Text, Counts: addressGone(b)}
	addr, undeliverable, err := tx.RecordBounce(ctx, rec, g.protection().HardBounceLimit)
	if err != nil {
		return err
	}
	about := []any{"outbox_id", m.ID, "case", m.CaseNumber, "to", m.Recipient, "status", r.Status}
	body := fmt.Sprintf("the relay refused %s to %s for good (%s)", m.Template, m.Recipient, refusalText(r))
	switch {
	case !rec.Counts:
		body += "; no address-level reason: it counts nothing"
		g.logAfter(tx, slog.LevelInfo, "relay refused a recipient; no address-level reason, not counted", about...)
	case undeliverable:
		body += fmt.Sprintf("; %s is now undeliverable after %d hard bounces and gets no more mail until an agent clears it",
			addr.Email, addr.HardBounces)
		g.logAfter(tx, slog.LevelWarn, "address marked undeliverable", append(about, "address", addr.Email, "hard_bounces", addr.HardBounces)...)
	default:
		body += "; counted as a hard bounce"
		g.logAfter(tx, slog.LevelInfo, "relay refused a recipient; counted as a hard bounce", append(about, "hard_bounces", addr.HardBounces)...)
	}
	if m.CaseID == 0 {
		return nil
	}
	_, err = tx.AddActivity(ctx, m.CaseID, store.Activity{Kind: "delivery", Public: false, Body: body})
	return err
}

// refusalText is the relay's answer for a person to read.
func refusalText(r outbound.Refusal) string {
	if r.Text != "" {
		return r.Text
	}
	return fmt.Sprintf("%d %s", r.Code, orDash(r.Status))
}
