package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Case states (SPEC §2).
const (
	StateNew          = "new"
	StateOpen         = "open"
	StateAwaitingInfo = "awaiting_info"
	StateOnHold       = "on_hold"
	StateResolved     = "resolved"
	StateClosed       = "closed"
)

// Contact is the person a case is for.
type Contact struct {
	ID            int64     `json:"-"`
	Email         string    `json:"email"`
	Name          string    `json:"name,omitempty"`
	Account       string    `json:"account,omitempty"`
	Undeliverable bool      `json:"undeliverable,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
}

// Case is one support case.
type Case struct {
	ID           int64      `json:"-"`
	Number       string     `json:"number"`
	Kind         string     `json:"kind"`
	State        string     `json:"state"`
	Contact      Contact    `json:"contact"`
	Account      string     `json:"account,omitempty"`
	Subject      string     `json:"subject"`
	Description  string     `json:"description,omitempty"`
	Priority     string     `json:"priority"`
	Impact       string     `json:"impact,omitempty"`
	AffectedItem string     `json:"affected_item,omitempty"`
	CustomerRef  string     `json:"customer_ref,omitempty"`
	Assignee     string     `json:"assignee,omitempty"`
	LinkedCase   string     `json:"linked_case,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
	ResolvedAt   *time.Time `json:"resolved_at,omitempty"`
	ClosedAt     *time.Time `json:"closed_at,omitempty"`
	Resolutions  int        `json:"-"` // times resolved; binds signed links to one resolution
}

// NewCase is what opening a case needs.
type NewCase struct {
	Prefix      string // case number prefix, e.g. "CS"
	Kind        string
	ContactID   int64
	Account     string
	Subject     string
	Description string
	Priority    string
	LinkedTo    int64 // the closed case this one continues, or 0
	// Contact and LinkedNumber, when given (Contact.ID == ContactID; the
	// number of LinkedTo), make up the new case CreateCase returns
	// without reading it back.
	Contact      Contact
	LinkedNumber string
}

// caseColumns is the SELECT list that scanCase reads.
const caseColumns = `c.id, c.number, c.kind, c.state, c.account, c.subject, c.description,
	c.priority, c.impact, c.affected_item, c.customer_ref, c.assignee,
	COALESCE(l.number, ''), c.created_at, c.updated_at, c.resolved_at, c.closed_at, c.resolutions,
	p.id, p.email, p.name, p.account, p.undeliverable, p.created_at`

const caseFrom = ` FROM cases c JOIN contacts p ON p.id = c.contact_id LEFT JOIN cases l ON l.id = c.linked_case_id `

type scanner interface{ Scan(...any) error }

func scanCase(row scanner) (Case, error) {
	var c Case
	var created, updated, pCreated int64
	var resolved, closed sql.NullInt64
	err := row.Scan(&c.ID, &c.Number, &c.Kind, &c.State, &c.Account, &c.Subject, &c.Description,
		&c.Priority, &c.Impact, &c.AffectedItem, &c.CustomerRef, &c.Assignee,
		&c.LinkedCase, &created, &updated, &resolved, &closed, &c.Resolutions,
		&c.Contact.ID, &c.Contact.Email, &c.Contact.Name, &c.Contact.Account, &c.Contact.Undeliverable, &pCreated)
	if errors.Is(err, sql.ErrNoRows) {
		return c, ErrNotFound
	}
	if err != nil {
		return c, err
	}
	c.CreatedAt, c.UpdatedAt, c.Contact.CreatedAt = fromMS(created), fromMS(updated), fromMS(pCreated)
	c.ResolvedAt, c.ClosedAt = nullTime(resolved), nullTime(closed)
	return c, nil
}

// UpsertContact returns the contact for email, creating it, and filling in
// a missing name or account.
func (tx *Tx) UpsertContact(ctx context.Context, email, name, account string) (Contact, error) {
	var c Contact
	var created int64
	// A known contact's row is written only when it gains a name or an
	// account it lacked: rewriting it unchanged for every mail would dirty
	// its page (SQLite) or leave a dead row version (PostgreSQL). When
	// nothing changes the upsert returns no row and the contact is read.
	err := tx.tx.QueryRowContext(ctx, `INSERT INTO contacts (email, name, account, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (email) DO UPDATE SET
			name = CASE WHEN contacts.name = '' THEN excluded.name ELSE contacts.name END,
			account = CASE WHEN contacts.account = '' THEN excluded.account ELSE contacts.account END
		WHERE (contacts.name = '' AND excluded.name <> '') OR (contacts.account = '' AND excluded.account <> '')
		RETURNING id, email, name, account, undeliverable, created_at`,
		email, name, account, ms(tx.Now)).
		Scan(&c.ID, &c.Email, &c.Name, &c.Account, &c.Undeliverable, &created)
	if errors.Is(err, sql.ErrNoRows) {
		err = tx.tx.QueryRowContext(ctx, `SELECT id, email, name, account, undeliverable, created_at FROM contacts WHERE email = ?`, email).
			Scan(&c.ID, &c.Email, &c.Name, &c.Account, &c.Undeliverable, &created)
	}
	if err != nil {
		return Contact{}, fmt.Errorf("upsert contact: %w", err)
	}
	c.CreatedAt = fromMS(created)
	return c, nil
}

// CreateCase inserts a new case in state new and gives it the next number.
func (tx *Tx) CreateCase(ctx context.Context, nc NewCase) (Case, error) {
	var linked any
	if nc.LinkedTo != 0 {
		linked = nc.LinkedTo
	}
	if nc.Priority == "" {
		nc.Priority = "normal"
	}
	// The number is made of the id, so the id is taken first and the row
	// inserted with both: one statement, and no placeholder number to
	// write into the unique index and take out again.
	var id int64
	if err := tx.tx.QueryRowContext(ctx, tx.tx.d.nextCaseID).Scan(&id); err != nil {
		return Case{}, fmt.Errorf("create case: next id: %w", err)
	}
	number := FormatNumber(nc.Prefix, id)
	_, err := tx.tx.ExecContext(ctx, `INSERT INTO cases (id, number, kind, state, contact_id, account, subject, description,
		priority, linked_case_id, created_at, updated_at) VALUES (?, ?, ?, 'new', ?, ?, ?, ?, ?, ?, ?, ?)`,
		id, number, nc.Kind, nc.ContactID, nc.Account, nc.Subject, nc.Description, nc.Priority, linked, ms(tx.Now), ms(tx.Now))
	if err != nil {
		return Case{}, fmt.Errorf("create case %s: %w", number, err)
	}
	tx.memo.newCase(id)
	if nc.Contact.ID == 0 || nc.Contact.ID != nc.ContactID || (nc.LinkedTo != 0) != (nc.LinkedNumber != "") {
		return tx.CaseByID(ctx, id)
	}
	// The row as inserted.
	now := fromMS(ms(tx.Now))
	return Case{
		ID: id, Number: number, Kind: nc.Kind, State: StateNew, Contact: nc.Contact,
		Account: tx.text(nc.Account), Subject: tx.text(nc.Subject), Description: tx.text(nc.Description),
		Priority: nc.Priority, LinkedCase: nc.LinkedNumber, CreatedAt: now, UpdatedAt: now,
	}, nil
}

// FormatNumber is the case number for a sequence value: prefix and at
// least 7 digits.
func FormatNumber(prefix string, seq int64) string {
	return fmt.Sprintf("%s%07d", prefix, seq)
}

// CaseByID reads a case inside the transaction.
func (tx *Tx) CaseByID(ctx context.Context, id int64) (Case, error) {
	c, err := scanCase(tx.tx.QueryRowContext(ctx, `SELECT `+caseColumns+caseFrom+`WHERE c.id = ?`+tx.tx.d.lockCase, id))
	if err != nil {
		return c, fmt.Errorf("case %d: %w", id, err)
	}
	return c, nil
}

// CaseByNumber reads a case inside the transaction.
func (tx *Tx) CaseByNumber(ctx context.Context, number string) (Case, error) {
	return caseByNumber(ctx, tx.tx, tx.tx.d.lockCase, number)
}

// CaseByNumber reads a case.
func (s *Store) CaseByNumber(ctx context.Context, number string) (Case, error) {
	return caseByNumber(ctx, s.r, "", number)
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// caseByNumber reads a case; lock is the dialect's lockCase inside a
// write transaction, "" outside.
func caseByNumber(ctx context.Context, q querier, lock, number string) (Case, error) {
	c, err := scanCase(q.QueryRowContext(ctx, `SELECT `+caseColumns+caseFrom+`WHERE c.number = ?`+lock, strings.ToUpper(number)))
	if err != nil {
		return c, fmt.Errorf("case %s: %w", number, err)
	}
	return c, nil
}

// SetState moves a case to state, stamping resolved_at/closed_at. The
// rules of which transitions are legal are the gateway's.
func (tx *Tx) SetState(ctx context.Context, caseID int64, state string) error {
	now := ms(tx.Now)
	var resolved, closed any
	resolutions := 0
	switch state {
	case StateResolved:
		resolved, resolutions = now, 1
	case StateClosed:
		closed = now
	}
	_, err := tx.tx.ExecContext(ctx, `UPDATE cases SET state = ?, updated_at = ?,
		resolved_at = COALESCE(?, resolved_at), resolutions = resolutions + ?, closed_at = COALESCE(?, closed_at)
		WHERE id = ?`, state, now, resolved, resolutions, closed, caseID)
	if err != nil {
		return fmt.Errorf("set state %s: %w", state, err)
	}
	return nil
}

// Touch records that a case changed.
func (tx *Tx) Touch(ctx context.Context, caseID int64) error {
	if tx.memo.fresh[caseID] {
		return nil // created or touched already in this transaction: updated_at is Now
	}
	_, err := tx.tx.ExecContext(ctx, `UPDATE cases SET updated_at = ? WHERE id = ?`, ms(tx.Now), caseID)
	if err == nil {
		tx.memo.markFresh(caseID)
	}
	return err
}

// CaseFilter selects cases for ListCases.
type CaseFilter struct {
	State   string
	Kind    string
	Contact string
	Limit   int   // 0 = all
	After   int64 // cursor: cases with a smaller id than this (newest first); 0 = start
}

// ListCases returns cases newest first.
func (s *Store) ListCases(ctx context.Context, f CaseFilter) ([]Case, error) {
	where, args := []string{"1=1"}, []any{}
	if f.State != "" {
		where, args = append(where, "c.state = ?"), append(args, f.State)
	}
	if f.Kind != "" {
		where, args = append(where, "c.kind = ?"), append(args, f.Kind)
	}
	if f.Contact != "" {
		where, args = append(where, "p.email = ?"), append(args, f.Contact)
	}
	if f.After > 0 {
		where, args = append(where, "c.id < ?"), append(args, f.After)
	}
	q := `SELECT ` + caseColumns + caseFrom + `WHERE ` + strings.Join(where, " AND ") + ` ORDER BY c.id DESC`
	q += limitClause(f.Limit)
	out, err := queryAll(ctx, s.r, scanCase, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list cases: %w", err)
	}
	return out, nil
}
