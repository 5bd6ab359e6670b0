package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Copying a SQLite database into an empty PostgreSQL one, for a gateway
// that outgrows one machine:
//
//   - Both stores are opened (and so migrated) by the same binary; the
//     copy refuses to run unless they applied the same migrations and the
//     destination holds no row.
//   - The source is read in one read transaction, a consistent snapshot
//     even if a gateway still wrote to it (it should be stopped: mail it
//     takes in afterwards is not copied).
//   - Everything is written in one PostgreSQL transaction: the
//     destination ends up with all of it or none of it. Tables are filled
//     in the order of their foreign keys, rows in SQLite's rowid order,
//     with their ids; the identity sequences then continue after the
//     highest id, or after SQLite's AUTOINCREMENT counter where that is
//     higher, so no case number is ever handed out again.
//   - Each table is verified afterwards: its row count and a checksum of
//     every row's values, independent of order, on both sides. Text that
//     PostgreSQL cannot hold (NUL bytes, invalid UTF-8) is stored cleaned,
//     and checksummed cleaned on both sides; raw mail and attachments are
//     bytea and copied byte for byte.

// TableCopy is what Copy did with one table.
type TableCopy struct {
	Table    string `json:"table"`
	Rows     int64  `json:"rows"`
	Checksum string `json:"checksum"` // SHA-256 based, equal on both sides
}

// ErrNotEmpty is Copy's answer when the destination already has rows.
var ErrNotEmpty = errors.New("the destination database is not empty")

// CopyTo copies every row of s, a SQLite store, into dst, an empty
// PostgreSQL store, and verifies each table.
func (s *Store) CopyTo(ctx context.Context, dst *Store) ([]TableCopy, error) {
	if s.d.name != BackendSQLite || dst.d.name != BackendPostgres {
		return nil, fmt.Errorf("copy: from SQLite to PostgreSQL only, not %s to %s", s.d.name, dst.d.name)
	}
	src, err := s.r.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("copy: %w", err)
	}
	defer src.Rollback()
	tables, err := copyPlan(ctx, src, dst)
	if err != nil {
		return nil, fmt.Errorf("copy: %w", err)
	}
	out := make([]TableCopy, len(tables))
	err = dst.Write(ctx, func(tx *Tx) error {
		for i, t := range tables {
			n, sum, err := copyRows(ctx, src, tx.tx, t)
			if err != nil {
				return fmt.Errorf("table %s: %w", t.name, err)
			}
			out[i] = TableCopy{Table: t.name, Rows: n, Checksum: sum}
		}
		return resetSequences(ctx, src, tx.tx, tables)
	})
	if err != nil {
		return nil, fmt.Errorf("copy: %w", err)
	}
	for i, t := range tables {
		n, sum, err := checksum(ctx, dst.r, t)
		if err != nil {
			return out, fmt.Errorf("copy: verify %s: %w", t.name, err)
		}
		if n != out[i].Rows || sum != out[i].Checksum {
			return out, fmt.Errorf("copy: verify %s: %d rows with checksum %s in PostgreSQL, %d with %s in SQLite",
				t.name, n, sum, out[i].Rows, out[i].Checksum)
		}
	}
	return out, nil
}

// copyTable is one table to copy: its name and the columns of the source.
type copyTable struct {
	name    string
	columns []string
	boolean map[string]bool // columns that are booleans in PostgreSQL
}

// copyPlan lists the tables to copy in foreign-key order, after checking
// that both sides have the same schema version and dst has no row.
func copyPlan(ctx context.Context, src *sql.Tx, dst *Store) ([]copyTable, error) {
	var srcNames, dstNames []string
	if err := collect(ctx, src, &srcNames, `SELECT name FROM schema_migrations ORDER BY name`); err != nil {
		return nil, err
	}
	if err := collect(ctx, dst.r, &dstNames, `SELECT name FROM schema_migrations ORDER BY name`); err != nil {
		return nil, err
	}
	if strings.Join(srcNames, ",") != strings.Join(dstNames, ",") {
		return nil, fmt.Errorf("the databases are at different schema versions: %v and %v", srcNames, dstNames)
	}
	var tables []string
	if err := collect(ctx, src, &tables, `SELECT name FROM sqlite_master WHERE type = 'table'
		AND name NOT LIKE 'sqlite%' AND name <> 'schema_migrations' ORDER BY name`); err != nil {
		return nil, err
	}
	order, err := fkOrder(ctx, dst, tables)
	if err != nil {
		return nil, err
	}
	var plan []copyTable
	for _, name := range order {
		var n int64
		if err := dst.r.QueryRowContext(ctx, `SELECT count(*) FROM `+name).Scan(&n); err != nil {
			return nil, err
		}
		if n > 0 {
			return nil, fmt.Errorf("%w: table %s has %d rows", ErrNotEmpty, name, n)
		}
		t := copyTable{name: name, boolean: map[string]bool{}}
		if err := collect(ctx, src, &t.columns, `SELECT name FROM pragma_table_info(?) ORDER BY cid`, name); err != nil {
			return nil, err
		}
		var bools []string
		if err := collect(ctx, dst.r, &bools, `SELECT column_name FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = ? AND data_type = 'boolean'`, name); err != nil {
			return nil, err
		}
		for _, b := range bools {
			t.boolean[b] = true
		}
		plan = append(plan, t)
	}
	return plan, nil
}

// fkOrder sorts tables so that every table comes after the tables its
// foreign keys point at (PostgreSQL's catalog says which).
func fkOrder(ctx context.Context, dst *Store, tables []string) ([]string, error) {
	rows, err := dst.r.QueryContext(ctx, `SELECT cl.relname, ref.relname FROM pg_constraint c
		JOIN pg_class cl ON cl.oid = c.conrelid JOIN pg_class ref ON ref.oid = c.confrelid
		JOIN pg_namespace ns ON ns.oid = cl.relnamespace
		WHERE c.contype = 'f' AND ns.nspname = current_schema()`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	deps := map[string][]string{}
	for rows.Next() {
		var t, ref string
		if err := rows.Scan(&t, &ref); err != nil {
			return nil, err
		}
		if t != ref {
			deps[t] = append(deps[t], ref)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	known := map[string]bool{}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	var all []string
	if err := collect(ctx, dst.r, &all, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`); err != nil {
		return nil, err
	}
	for _, t := range all {
		known[t] = true
	}
	var order []string
	done := map[string]bool{}
	var visit func(t string, depth int) error
	visit = func(t string, depth int) error {
		if done[t] {
			return nil
		}
		if depth > len(tables) {
			return fmt.Errorf("foreign keys of %s form a cycle", t)
		}
		for _, ref := range deps[t] {
			if err := visit(ref, depth+1); err != nil {
				return err
			}
		}
		done[t] = true
		order = append(order, t)
		return nil
	}
	sorted := append([]string(nil), tables...)
	sort.Strings(sorted)
	for _, t := range sorted {
		if !known[t] {
			return nil, fmt.Errorf("table %s is not in the PostgreSQL schema", t)
		}
		if err := visit(t, 0); err != nil {
			return nil, err
		}
	}
	want := map[string]bool{}
	for _, t := range tables {
		want[t] = true
	}
	out := order[:0]
	for _, t := range order {
		if want[t] {
			out = append(out, t)
		}
	}
	return out, nil
}

// copyRows copies one table's rows in rowid order and returns their
// count and checksum.
func copyRows(ctx context.Context, src *sql.Tx, dst *txConn, t copyTable) (int64, string, error) {
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(t.columns)), ", ")
	ins, err := dst.PrepareContext(ctx, `INSERT INTO `+t.name+` (`+strings.Join(t.columns, ", ")+`) VALUES (`+marks+`)`)
	if err != nil {
		return 0, "", err
	}
	defer ins.Close()
	rows, err := src.QueryContext(ctx, `SELECT `+strings.Join(t.columns, ", ")+` FROM `+t.name+` ORDER BY rowid`)
	if err != nil {
		return 0, "", err
	}
	defer rows.Close()
	var sum rowSum
	vals := make([]any, len(t.columns))
	ptrs := make([]any, len(t.columns))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return 0, "", err
		}
		args := make([]any, len(vals))
		for i, v := range vals {
			args[i] = v
			if n, ok := v.(int64); ok && t.boolean[t.columns[i]] {
				args[i] = n != 0
			}
		}
		if _, err := ins.ExecContext(ctx, args...); err != nil {
			return 0, "", err
		}
		sum.add(vals)
	}
	if err := rows.Err(); err != nil {
		return 0, "", err
	}
	return sum.n, sum.String(), nil
}

// checksum reads a copied table back from PostgreSQL.
func checksum(ctx context.Context, q querier, t copyTable) (int64, string, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+strings.Join(t.columns, ", ")+` FROM `+t.name)
	if err != nil {
		return 0, "", err
	}
	defer rows.Close()
	var sum rowSum
	vals := make([]any, len(t.columns))
	ptrs := make([]any, len(t.columns))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return 0, "", err
		}
		sum.add(vals)
	}
	return sum.n, sum.String(), rows.Err()
}

// resetSequences makes every identity column continue after the highest
// id copied, or after SQLite's AUTOINCREMENT counter where it is higher.
func resetSequences(ctx context.Context, src *sql.Tx, dst *txConn, tables []copyTable) error {
	for _, t := range tables {
		var cols []string
		if err := collect(ctx, dst, &cols, `SELECT column_name FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = ? AND is_identity = 'YES'`, t.name); err != nil {
			return err
		}
		for _, col := range cols {
			var next sql.NullInt64
			if err := dst.QueryRowContext(ctx, `SELECT max(`+col+`) FROM `+t.name).Scan(&next); err != nil {
				return err
			}
			if col == "id" {
				var seq sql.NullInt64
				err := src.QueryRowContext(ctx, `SELECT seq FROM sqlite_sequence WHERE name = ?`, t.name).Scan(&seq)
				if err != nil && !errors.Is(err, sql.ErrNoRows) && !strings.Contains(err.Error(), "no such table") {
					return err
				}
				if seq.Valid && seq.Int64 > next.Int64 {
					next = seq
				}
			}
			if !next.Valid || next.Int64 < 1 {
				continue
			}
			if _, err := dst.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence(?, ?), ?)`, t.name, col, next.Int64); err != nil {
				return fmt.Errorf("sequence of %s.%s: %w", t.name, col, err)
			}
		}
	}
	return nil
}

// rowSum is an order-independent checksum of rows: the count and the sum
// of each row's SHA-256 (first 16 bytes, as two 64-bit halves).
type rowSum struct {
	n      int64
	hi, lo uint64
}

// add counts one row. Values are taken the same way from both engines:
// integers and booleans as numbers, text (cleaned as PostgreSQL stores
// it) and bytes as bytes.
func (r *rowSum) add(vals []any) {
	h := sha256.New()
	var b [8]byte
	for _, v := range vals {
		switch x := v.(type) {
		case nil:
			h.Write([]byte{0})
		case int64:
			h.Write([]byte{1})
			binary.BigEndian.PutUint64(b[:], uint64(x))
			h.Write(b[:])
		case bool:
			h.Write([]byte{1})
			binary.BigEndian.PutUint64(b[:], map[bool]uint64{false: 0, true: 1}[x])
			h.Write(b[:])
		case string:
			s := cleanString(x)
			h.Write([]byte{2})
			binary.BigEndian.PutUint64(b[:], uint64(len(s)))
			h.Write(b[:])
			h.Write([]byte(s))
		case []byte:
			h.Write([]byte{2})
			binary.BigEndian.PutUint64(b[:], uint64(len(x)))
			h.Write(b[:])
			h.Write(x)
		default:
			fmt.Fprintf(h, "\x03%T:%v", x, x)
		}
	}
	sum := h.Sum(nil)
	r.n++
	r.hi += binary.BigEndian.Uint64(sum[:8])
	r.lo += binary.BigEndian.Uint64(sum[8:16])
}

func (r *rowSum) String() string { return fmt.Sprintf("%016x%016x", r.hi, r.lo) }

// collect appends the first column of every row of a query to out.
func collect(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, out *[]string, query string, args ...any) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return err
		}
		*out = append(*out, s)
	}
	return rows.Err()
}
