package gateway

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/casegate/casegate/store"
)

const (
	erased    = "alice@customer.example"
	bystander = "bob@customer.example"
)

// traces lists every table and column of the database at loc (a SQLite
// file or a PostgreSQL URL) holding s, in any ASCII case, BLOBs too: a
// query over the schema, so a table or column added later is searched as
// well.
func traces(t *testing.T, loc, s string) []string {
	t.Helper()
	pg := strings.HasPrefix(loc, "postgres://")
	driver, dsn := "sqlite", "file:"+loc+"?mode=ro"
	schema := `SELECT m.name, c.name, c.type FROM sqlite_master m, pragma_table_info(m.name) c WHERE m.type = 'table'`
	if pg {
		driver, dsn = "pgx", loc
		schema = `SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = current_schema()`
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(schema)
	if err != nil {
		t.Fatal(err)
	}
	type column struct{ table, name, typ string }
	var cols []column
	tables := map[string]bool{}
	for rows.Next() {
		var c column
		if err := rows.Scan(&c.table, &c.name, &c.typ); err != nil {
			t.Fatal(err)
		}
		cols, tables[c.table] = append(cols, c), true
	}
	rows.Close()
	if len(tables) < 15 || len(cols) < 100 {
		t.Fatalf("the schema query saw %d tables and %d columns only", len(tables), len(cols))
	}
	var found []string
	for _, c := range cols {
		q := fmt.Sprintf(`SELECT count(*) FROM %q WHERE instr(lower(CAST(%q AS TEXT)), ?) > 0`, c.table, c.name)
		switch {
		case pg && c.typ == "bytea":
			q = fmt.Sprintf(`SELECT count(*) FROM %q WHERE position($1 in lower(encode(%q, 'escape'))) > 0`, c.table, c.name)
		case pg:
			q = fmt.Sprintf(`SELECT count(*) FROM %q WHERE strpos(lower(CAST(%q AS TEXT)) COLLATE "C", $1) > 0`, c.table, c.name)
		}
		var n int
		if err := db.QueryRow(q, strings.ToLower(s)).Scan(&n); err != nil {
			t.Fatalf("%s.%s: %v", c.table, c.name, err)
		}
		if n > 0 {
			found = append(found, fmt.Sprintf("%s.%s (%d rows)", c.table, c.name, n))
		}
	}
	return found
}

// contacts forget leaves no trace of the address in any table and column,
// keeps the cases (numbers, states, the other people, the agents' words),
// and an old mail of the person delivered again is not taken in, while a
// new mail of theirs is.
func TestForgetLeavesNoTrace(t *testing.T) {
	e := newOpsEnv(t, Protection{MaxReceivedHops: 3})
	ctx := context.Background()
	first := "From: Alice Example <" + erased + ">\nTo: support@support.test\nCc: Bob <" + bystander + ">\n" +
		"Subject: Alice's printer is broken\nMessage-ID: <alice.1@customer.example>\nMIME-Version: 1.0\n" +
		"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nMy printer shows E42. Alice, +41 79 000 00 00\n" +
		"--b\nContent-Type: text/plain; name=photo.txt\nContent-Disposition: attachment; filename=alice-photo.txt\n\n" +
		"a picture of " + erased + "'s desk\n--b--\n"
	if res := e.ingest(t, erased, []string{"support@support.test"}, first); res.Case != "CS0000001" {
		t.Fatalf("Alice's case: %+v", res)
	}
	// Bob's own case, with Alice in Cc: she is a watcher there.
	if res := e.ingest(t, bystander, []string{"support@support.test"}, "From: Bob <"+bystander+">\nTo: support@support.test\n"+
		"Cc: Alice Example <"+erased+">\nSubject: VPN drops\nMessage-ID: <bob.1@customer.example>\n\n"+
		"Alice ("+erased+") sees it too.\n"); res.Case != "CS0000002" {
		t.Fatalf("Bob's case: %+v", res)
	}
	reply(t, e.g, erased, "CS0000002", "alice.2@customer.example", "Still down here. -- Alice")
	if _, err := e.g.Comment(ctx, "CS0000001", "Called "+erased+", the fuser is ordered.", true, Actor{Email: agent}); err != nil {
		t.Fatal(err)
	}
	verp := sentEnv(t, e)
	var toAlice int64
	for _, m := range e.outboxAll(t) {
		if m.Recipient == erased && toAlice == 0 {
			toAlice = m.ID
		}
	}
	e.ingest(t, "", []string{verp[toAlice]}, dsn(1, erased, "5.2.2", ""))
	// A notification to her still pending, and quarantined mail from her.
	if _, err := e.g.Comment(ctx, "CS0000002", "Rebooted the gateway.", true, Actor{Email: agent}); err != nil {
		t.Fatal(err)
	}
	hops := strings.Repeat("Received: from a by b; Mon, 23 Nov 2026 09:00:00 +0000\n", 4)
	if res := e.ingest(t, erased, []string{"support@support.test"}, hops+"From: "+erased+"\nTo: support@support.test\n"+
		"Subject: loop\nMessage-ID: <alice.3@customer.example>\n\nround\n"); res.Outcome != OutcomeQuarantined {
		t.Fatalf("quarantine: %+v", res)
	}
	if found := traces(t, e.path, erased); len(found) < 10 {
		t.Fatalf("before the erasure the address is in only %v", found)
	}

	out, err := e.g.Forget(ctx, "Alice@Customer.Example", "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("erased: %+v", out)
	if found := traces(t, e.path, erased); len(found) > 0 {
		t.Fatalf("after the erasure the address is still in %v", found)
	}
	logs := e.logs.String()
	if i := strings.Index(logs, "personal data erased"); i < 0 || strings.Contains(logs[i:], erased) {
		t.Errorf("the erasure is not logged, or with the address:\n%s", logs[max(i, 0):])
	}
	// Her two mails and the report on a notification to her, with the
	// attachment of her first mail and the two parts of the report.
	if out.Messages != 3 || out.Attachments != 3 || out.Quarantine != 1 || out.Watchers != 1 || out.Outbox == 0 ||
		strings.Join(out.Cases, " ") != "CS0000001 CS0000002" || out.Already {
		t.Errorf("erased %+v", out)
	}

	// The cases stay, with their numbers, states and other people.
	c1, err := e.g.CaseDetail(ctx, "CS0000001")
	if err != nil {
		t.Fatal(err)
	}
	if c1.State != store.StateOpen || !strings.HasPrefix(c1.Contact.Email, "forgotten-") || c1.Subject != store.ErasedText ||
		len(c1.Watchers) != 1 || c1.Watchers[0].Email != bystander {
		t.Errorf("case 1 after the erasure: state %s, contact %s, subject %q, watchers %+v", c1.State, c1.Contact.Email, c1.Subject, c1.Watchers)
	}
	if msg := c1.Activity[0].Message; msg == nil || msg.Purged != store.PurgedErased || msg.Visible != "" {
		t.Errorf("her first mail: %+v", c1.Activity[0])
	} else if m, err := e.g.Message(ctx, msg.ID); err != nil || len(m.Raw) != 0 || m.Purged != store.PurgedErased {
		t.Errorf("her raw mail: %d bytes, purged %q, %v", len(m.Raw), m.Purged, err)
	}
	c2, _ := e.g.CaseDetail(ctx, "CS0000002")
	if c2.Contact.Email != bystander || c2.Subject != "VPN drops" || len(c2.Watchers) != 0 {
		t.Errorf("Bob's case: %s %q %+v", c2.Contact.Email, c2.Subject, c2.Watchers)
	}
	if last := c2.Activity[len(c2.Activity)-1]; last.Kind != "erasure" || last.Public {
		t.Errorf("the erasure is not noted on Bob's case: %+v", last)
	}
	for _, m := range e.outboxAll(t) {
		if strings.HasPrefix(m.Recipient, "forgotten-") {
			t.Errorf("a notification to the tombstone: %+v", m)
		}
	}

	// Her old mails delivered again are not taken in, byte for byte or
	// with another trace header; a new mail of hers is.
	cases := func() int {
		cs, _ := e.st.ListCases(ctx, store.CaseFilter{})
		return len(cs)
	}
	n := cases()
	for _, raw := range []string{first, "Received: from mx2 by mx; Tue, 24 Nov 2026 09:00:00 +0000\n" + first, hops + "From: " + erased +
		"\nTo: support@support.test\nSubject: loop\nMessage-ID: <alice.3@customer.example>\n\nround\n"} {
		if res := e.ingest(t, erased, []string{"support@support.test"}, raw); res.Outcome != OutcomeForgotten || res.MessageID != 0 {
			t.Errorf("an old mail again: %+v", res)
		}
	}
	if q, _ := e.st.ListQuarantine(ctx, 0); cases() != n || len(q) != 0 {
		t.Errorf("an old mail was taken in: %d cases, %d quarantined", cases(), len(q))
	}
	if res := e.ingest(t, erased, []string{"support@support.test"}, "From: "+erased+"\nTo: support@support.test\n"+
		"Subject: Hello again\nMessage-ID: <alice.4@customer.example>\n\nNew printer, new trouble.\n"); res.Outcome != store.OutcomeNewCase {
		t.Errorf("a new mail from her: %+v", res)
	}
	if out, err := e.g.Forget(ctx, erased, "test"); err != nil || !out.Already || out.Messages != 1 {
		t.Errorf("a second erasure: %+v, %v", out, err)
	}
}
