package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// MailboxLease says which instance polls a mailbox, and until when its
// lease runs unless renewed.
type MailboxLease struct {
	Owner string
	Until time.Time
}

// acquireMailboxSQL takes a mailbox's lease for ?2 until ?3: a new lease,
// a renewal of ?2's own, or one whose time ran out (?4 is now). Another
// instance's live lease is left alone.
const acquireMailboxSQL = `INSERT INTO mailbox_leases (mailbox, owner, expires_at, acquired_at) VALUES (?1, ?2, ?3, ?4)
	ON CONFLICT (mailbox) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at,
	acquired_at = CASE WHEN mailbox_leases.owner = excluded.owner THEN mailbox_leases.acquired_at ELSE excluded.acquired_at END
	WHERE mailbox_leases.owner = excluded.owner OR mailbox_leases.expires_at <= ?4`

// AcquireMailbox takes the lease on mailbox for instance, until now +
// lease, or renews the lease instance holds; the lease of another
// instance is taken over only once it ran out. It returns the lease as it
// stands: instance holds the mailbox when Owner is instance.
func (s *Store) AcquireMailbox(ctx context.Context, mailbox, instance string, lease time.Duration) (MailboxLease, error) {
	var l MailboxLease
	err := s.Write(ctx, func(tx *Tx) error {
		if _, err := tx.tx.ExecContext(ctx, acquireMailboxSQL, mailbox, instance, ms(tx.Now.Add(lease)), ms(tx.Now)); err != nil {
			return err
		}
		var until int64
		if err := tx.tx.QueryRowContext(ctx, `SELECT owner, expires_at FROM mailbox_leases WHERE mailbox = ?`, mailbox).
			Scan(&l.Owner, &until); err != nil {
			return err
		}
		l.Until = fromMS(until)
		return nil
	})
	if err != nil {
		return MailboxLease{}, fmt.Errorf("lease of mailbox %s: %w", mailbox, err)
	}
	return l, nil
}

// ReleaseMailbox gives up instance's lease on mailbox, so that another
// instance may take the mailbox at once; a lease held by another instance
// is left alone.
func (s *Store) ReleaseMailbox(ctx context.Context, mailbox, instance string) error {
	return s.Write(ctx, func(tx *Tx) error {
		if _, err := tx.tx.ExecContext(ctx, `DELETE FROM mailbox_leases WHERE mailbox = ? AND owner = ?`, mailbox, instance); err != nil {
			return fmt.Errorf("release mailbox %s: %w", mailbox, err)
		}
		return nil
	})
}

// MailboxLeaseOf returns mailbox's lease as it stands; ErrNotFound when
// no instance holds it.
func (s *Store) MailboxLeaseOf(ctx context.Context, mailbox string) (MailboxLease, error) {
	var l MailboxLease
	var until int64
	err := s.r.QueryRowContext(ctx, `SELECT owner, expires_at FROM mailbox_leases WHERE mailbox = ?`, mailbox).Scan(&l.Owner, &until)
	if errors.Is(err, sql.ErrNoRows) {
		return l, fmt.Errorf("lease of mailbox %s: %w", mailbox, ErrNotFound)
	}
	if err != nil {
		return l, fmt.Errorf("lease of mailbox %s: %w", mailbox, err)
	}
	l.Until = fromMS(until)
	return l, nil
}
