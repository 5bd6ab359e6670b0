package store

import (
	"context"
	"fmt"
	"testing"
)

// The same statement run again while its first rows are still open (same
// connection: one transaction) reads its own rows; both results are whole.
func TestStatementCacheNestedUse(t *testing.T) {
	st := openTest(t)
	ctx := context.Background()
	for _, e := range []string{"a@x.example", "b@x.example", "c@x.example"} {
		newCase(t, st, e)
	}
	const q = `SELECT email FROM contacts WHERE id >= ? ORDER BY id`
	err := st.Write(ctx, func(tx *Tx) error {
		for round := 0; round < 3; round++ {
			outer, err := tx.tx.QueryContext(ctx, q, 1)
			if err != nil {
				return err
			}
			var got []string
			for outer.Next() {
				var e string
				if err := outer.Scan(&e); err != nil {
					return err
				}
				inner, err := queryAll(ctx, tx.tx, func(r scanner) (string, error) {
					var s string
					return s, r.Scan(&s)
				}, q, 2)
				if err != nil {
					return err
				}
				got = append(got, fmt.Sprintf("%s:%d", e, len(inner)))
			}
			if err := outer.Close(); err != nil {
				return err
			}
			if fmt.Sprint(got) != "[a@x.example:2 b@x.example:2 c@x.example:2]" {
				t.Errorf("round %d: %v", round, got)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A connection keeps at most stmtCacheSize statements, and statements
// cached before and after evictions still answer.
func TestStatementCacheBounded(t *testing.T) {
	st := openTest(t)
	ctx := context.Background()
	conn, err := st.w.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i := 0; i < stmtCacheSize+50; i++ {
		var n int
		if err := conn.QueryRowContext(ctx, fmt.Sprintf("SELECT %d + ?", i), 1).Scan(&n); err != nil || n != i+1 {
			t.Fatalf("statement %d: %d %v", i, n, err)
		}
	}
	err = conn.Raw(func(dc any) error {
		c, ok := dc.(*cachingConn)
		if !ok {
			return fmt.Errorf("driver connection is a %T", dc)
		}
		if len(c.stmts) > stmtCacheSize {
			t.Errorf("%d statements cached, at most %d expected", len(c.stmts), stmtCacheSize)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
