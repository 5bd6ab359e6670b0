package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// What the pages keep: one-time sign-in links and sessions (migration
// 0008), the cases of one person, and the change of a case's contact.

// Login is a one-time sign-in link.
type Login struct {
	Kind      string // customer | agent
	Email     string
	ExpiresAt time.Time
	UsedAt    *time.Time
}

// CreateLogin keeps a sign-in link by the hash of its token, valid for
// ttl; it also forgets the links and sessions that expired.
func (tx *Tx) CreateLogin(ctx context.Context, tokenHash, kind, email string, ttl time.Duration) error {
	now := ms(tx.Now)
	for _, q := range []string{`DELETE FROM web_logins WHERE expires_at < ?`, `DELETE FROM web_sessions WHERE expires_at < ?`} {
		if _, err := tx.tx.ExecContext(ctx, q, now); err != nil {
			return fmt.Errorf("create login: %w", err)
		}
	}
	_, err := tx.tx.ExecContext(ctx, `INSERT INTO web_logins (token_hash, kind, email, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
		tokenHash, kind, email, now, ms(tx.Now.Add(ttl)))
	if err != nil {
		return fmt.Errorf("create login: %w", err)
	}
	return nil
}

// LoginByHash reads a sign-in link (used or not, expired or not);
// ErrNotFound when there is none.
func (s *Store) LoginByHash(ctx context.Context, tokenHash string) (Login, error) {
	var l Login
	var expires int64
	var used sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT kind, email, expires_at, used_at FROM web_logins WHERE token_hash = ?`, tokenHash).
		Scan(&l.Kind, &l.Email, &expires, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return l, ErrNotFound
	}
	if err != nil {
		return l, fmt.Errorf("login: %w", err)
	}
	l.ExpiresAt, l.UsedAt = fromMS(expires), nullTime(used)
	return l, nil
}

// UseLogin marks a sign-in link used and starts a session for its person,
// in one transaction: a link works once, and only before it expires
// (ErrNotFound otherwise).
func (s *Store) UseLogin(ctx context.Context, tokenHash, sessionHash string, ttl time.Duration) (Login, error) {
	var l Login
	err := s.Write(ctx, func(tx *Tx) error {
		now := ms(tx.Now)
		res, err := tx.tx.ExecContext(ctx, `UPDATE web_logins SET used_at = ? WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?`,
			now, tokenHash, now)
		if err != nil {
			return fmt.Errorf("use login: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return fmt.Errorf("use login: %w", ErrNotFound)
		}
		var expires int64
		if err := tx.tx.QueryRowContext(ctx, `SELECT kind, email, expires_at FROM web_logins WHERE token_hash = ?`, tokenHash).
			Scan(&l.Kind, &l.Email, &expires); err != nil {
			return fmt.Errorf("use login: %w", err)
		}
		l.ExpiresAt = fromMS(expires)
		return tx.CreateSession(ctx, sessionHash, l.Kind, l.Email, ttl)
	})
	return l, err
}

// Session is a signed-in person on the pages.
type Session struct {
	Kind      string // customer | agent
	Email     string
	ExpiresAt time.Time
}

// CreateSession keeps a session by the hash of its cookie, for ttl.
func (tx *Tx) CreateSession(ctx context.Context, idHash, kind, email string, ttl time.Duration) error {
	_, err := tx.tx.ExecContext(ctx, `INSERT INTO web_sessions (id_hash, kind, email, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
		idHash, kind, email, ms(tx.Now), ms(tx.Now.Add(ttl)))
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// SessionByHash reads a session that has not expired; ErrNotFound
// otherwise.
func (s *Store) SessionByHash(ctx context.Context, idHash string) (Session, error) {
	var ss Session
	var expires int64
	err := s.r.QueryRowContext(ctx, `SELECT kind, email, expires_at FROM web_sessions WHERE id_hash = ? AND expires_at > ?`,
		idHash, ms(s.now())).Scan(&ss.Kind, &ss.Email, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return ss, ErrNotFound
	}
	if err != nil {
		return ss, fmt.Errorf("session: %w", err)
	}
	ss.ExpiresAt = fromMS(expires)
	return ss, nil
}

// DeleteSession ends a session (signing out).
func (s *Store) DeleteSession(ctx context.Context, idHash string) error {
	return s.Write(ctx, func(tx *Tx) error {
		_, err := tx.tx.ExecContext(ctx, `DELETE FROM web_sessions WHERE id_hash = ?`, idHash)
		return err
	})
}

// PersonCases lists the cases of one person, newest first: where email is
// the contact or a watcher, and, when account is not empty, the cases of
// that account. after (a case id, 0 = from the newest) and limit page.
func (s *Store) PersonCases(ctx context.Context, email, account string, after int64, limit int) ([]Case, error) {
	if limit <= 0 {
		limit = 50
	}
	q := `SELECT ` + caseColumns + caseFrom + `WHERE (p.email = ? OR c.id IN (SELECT w.case_id FROM watchers w WHERE w.email = ?)
		OR (? <> '' AND c.account = ?)) AND (? = 0 OR c.id < ?) ORDER BY c.id DESC LIMIT ?`
	out, err := queryAll(ctx, s.r, scanCase, q, email, email, account, account, after, after, limit)
	if err != nil {
		return nil, fmt.Errorf("person cases: %w", err)
	}
	return out, nil
}

// SetContact makes contactID the contact of a case, with its account.
func (tx *Tx) SetContact(ctx context.Context, caseID, contactID int64, account string) error {
	_, err := tx.tx.ExecContext(ctx, `UPDATE cases SET contact_id = ?, account = ?, updated_at = ? WHERE id = ?`,
		contactID, account, ms(tx.Now), caseID)
	if err != nil {
		return fmt.Errorf("set contact: %w", err)
	}
	return nil
}
