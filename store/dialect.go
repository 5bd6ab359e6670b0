package store

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Backends.
const (
	BackendSQLite   = "sqlite"
	BackendPostgres = "postgres"
)

// dialect is everything that differs between the backends in the SQL the
// store sends. The store's statements are written once, with `?`
// placeholders (`?N` where a value repeats), in SQL both engines run;
// the few spellings that cannot be shared live here.
type dialect struct {
	name string
	// numbered: placeholders are rewritten to $1, $2, … (PostgreSQL).
	numbered bool
	// cleanText: string arguments are made valid UTF-8 without NUL
	// bytes, which PostgreSQL's text refuses and SQLite keeps (mail
	// headers and bodies carry both); the raw bytes are kept unchanged
	// in the bytea/BLOB columns.
	cleanText bool
	// lockCase is appended to a SELECT of a case (alias c) inside a
	// write transaction: on PostgreSQL it locks the case row, so two
	// instances working on one case take turns and the second sees what
	// the first committed. SQLite has one writer and needs nothing.
	lockCase string
	// skipLocked is appended to the select of the outbox rows to claim
	// (claim.go): on PostgreSQL it locks them, and skips the rows another
	// instance's claim has locked, so instances claiming at once never
	// pick the same row and never wait for each other. SQLite's single
	// writer claims one batch at a time.
	skipLocked string
	// nextCaseID is the query for the id the next case row takes, so the
	// row is inserted with its number at once. SQLite's AUTOINCREMENT
	// keeps the highest id ever given in sqlite_sequence (one row per
	// such table), which the single writer reads inside its transaction;
	// PostgreSQL draws from the identity's sequence, safe with any number
	// of instances inserting at once.
	nextCaseID string
}

var (
	sqliteDialect = dialect{name: BackendSQLite,
		nextCaseID: `SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'cases'), 0) + 1`}
	postgresDialect = dialect{name: BackendPostgres, numbered: true, cleanText: true, lockCase: " FOR UPDATE OF c",
		skipLocked: " FOR UPDATE OF o SKIP LOCKED", nextCaseID: `SELECT nextval(pg_get_serial_sequence('cases', 'id'))`}
)

// query rewrites a statement for the backend.
func (d dialect) query(q string) string {
	if !d.numbered {
		return q
	}
	return rebind(q)
}

// args adapts the arguments of a statement for the backend.
func (d dialect) args(args []any) []any {
	if !d.cleanText {
		return args
	}
	var out []any
	for i, a := range args {
		s, ok := a.(string)
		if !ok || cleanString(s) == s {
			continue
		}
		if out == nil {
			out = append([]any(nil), args...)
		}
		out[i] = cleanString(s)
	}
	if out == nil {
		return args
	}
	return out
}

// cleanString makes s valid UTF-8 without NUL bytes.
func cleanString(s string) string {
	if utf8.ValidString(s) && !strings.ContainsRune(s, 0) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}

// rebind turns the placeholders `?` and `?N` into PostgreSQL's `$N`,
// leaving string literals, quoted identifiers and comments alone. A bare
// `?` takes the number after the previous placeholder.
func rebind(q string) string {
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'' || c == '"':
			j := i + 1
			for j < len(q) && q[j] != c {
				j++
			}
			b.WriteString(q[i:min(j+1, len(q))])
			i = j
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			j := strings.IndexByte(q[i:], '\n')
			if j < 0 {
				j = len(q) - i
			}
			b.WriteString(q[i : i+j])
			i += j - 1
		case c == '?':
			j := i + 1
			for j < len(q) && q[j] >= '0' && q[j] <= '9' {
				j++
			}
			if j > i+1 {
				v, _ := strconv.Atoi(q[i+1 : j])
				n = v
				b.WriteString("$" + q[i+1:j])
				i = j - 1
				continue
			}
			n++
			b.WriteString("$" + strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// conn is a pool that speaks the store's SQL: reads, and the statements
// outside the case model.
type conn struct {
	db *sql.DB
	d  dialect
}

// QueryContext runs a query.
func (c *conn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return c.db.QueryContext(ctx, c.d.query(query), c.d.args(args)...)
}

// QueryRowContext runs a one-row query.
func (c *conn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return c.db.QueryRowContext(ctx, c.d.query(query), c.d.args(args)...)
}

// ExecContext runs a statement.
func (c *conn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return c.db.ExecContext(ctx, c.d.query(query), c.d.args(args)...)
}
