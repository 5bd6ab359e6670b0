package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// DeliveryReport is what came back about one outbox row after the relay
// took it: a delivery report (DSN) that arrived at the row's bounce
// address, or the relay's own refusal of the recipient at RCPT. Reports
// that could not be attributed to a row (table bounces, outbox_id NULL)
// belong to no row.
type DeliveryReport struct {
	ID        int64  `json:"id"`
	Kind      string `json:"kind"`             // BounceFailed | BounceDelayed
	Via       string `json:"via"`              // verp (a report to the row's bounce address) | relay (refused at RCPT)
	Recipient string `json:"recipient"`        // the address the report says failed
	Status    string `json:"status,omitempty"` // enhanced status code, "5.1.1"
	Reason    string `json:"reason,omitempty"` // user_unknown, mailbox_full, delayed, ...
	Detail    string `json:"detail,omitempty"` // the remote answer, where known
	Permanent bool   `json:"permanent"`
	// Counted: the report counted against the recipient's address (a
	// hard bounce when permanent), by the gateway's rule.
	Counted bool `json:"counted"`
	// MessageID is the stored report mail (GET /api/v1/messages/{id}/raw);
	// 0 for a refusal at RCPT, which is no mail.
	MessageID int64     `json:"message_id,omitempty"`
	RawURL    string    `json:"raw_url,omitempty"` // filled in by the HTTP API
	At        time.Time `json:"at"`
}

// statusWhere is the WHERE clause of ListOutbox for a status: bounced
// and sent are told apart by the failure reports of the rows.
func statusWhere(status string) (string, []any) {
	const failed = `EXISTS (SELECT 1 FROM bounces b WHERE b.outbox_id = o.id AND b.kind = 'failed' AND b.via <> 'relay')`
	switch status {
	case "":
		return `WHERE 1 = 1`, nil
	case OutboxSent:
		return `WHERE o.status = 'sent' AND NOT ` + failed, nil
	case OutboxBounced:
		return `WHERE o.status = 'sent' AND ` + failed, nil
	}
	return `WHERE o.status = ?`, []any{status}
}

// attachReports reads the reports of rows (one query) and sets each
// row's Bounce and Delayed to its latest of each kind; a sent row with a
// failure report reads as bounced. The relay's refusal shows on a dead
// row only: a row tried again since is pending or went out.
func (s *Store) attachReports(ctx context.Context, rows []OutboxMail) error {
	if len(rows) == 0 {
		return nil
	}
	byID := make(map[int64]*OutboxMail, len(rows))
	args := make([]any, 0, len(rows))
	for i := range rows {
		byID[rows[i].ID] = &rows[i]
		args = append(args, rows[i].ID)
	}
	q := `SELECT id, outbox_id, kind, via, recipient, status, reason, detail, permanent, counted,
		COALESCE(message_id, 0), created_at FROM bounces
		WHERE outbox_id IN (?` + strings.Repeat(`, ?`, len(args)-1) + `) ORDER BY id`
	reports, err := queryAll(ctx, s.r, scanReport, q, args...)
	if err != nil {
		return fmt.Errorf("delivery reports: %w", err)
	}
	for _, r := range reports {
		m := byID[r.outbox]
		rep := r.DeliveryReport
		if rep.Kind == BounceDelayed {
			m.Delayed = &rep
			continue
		}
		if rep.Via == "relay" && m.Status != OutboxDead {
			continue // refused once, and tried again since
		}
		m.Bounce = &rep
		if m.Status == OutboxSent {
			m.Status = OutboxBounced
		}
	}
	return nil
}

type reportRow struct {
	DeliveryReport
	outbox int64
}

func scanReport(row scanner) (reportRow, error) {
	var r reportRow
	var at int64
	var outbox sql.NullInt64
	err := row.Scan(&r.ID, &outbox, &r.Kind, &r.Via, &r.Recipient, &r.Status, &r.Reason, &r.Detail, &r.Permanent,
		&r.Counted, &r.MessageID, &at)
	r.outbox, r.At = outbox.Int64, fromMS(at)
	return r, err
}
