package gateway

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/casegate/casegate/store"
)

// A full disk, made real with SQLite's page limit (SQLITE_FULL), is named
// on every path: 452 4.3.1, API 503 insufficient_storage, /healthz
// degraded, one ERROR a minute; everything works again once there is
// room. The file-system variant (ENOSPC on a small tmpfs) is the
// end-to-end test of cmd/casegate.
func TestStorageFull(t *testing.T) {
	e := newOpsEnv(t, Protection{})
	ctx := context.Background()
	addr, _ := serveSMTP(t, e.g, SMTPConfig{MaxMessageBytes: 4 << 20})
	send := func(n int) error {
		return smtpSend(t, addr, fmt.Sprintf("erin%d@customer.example", n), []string{"support@support.test"},
			mannersMail(n, strings.Repeat("The scanner jams on every page.\r\n", 10000)))
	}
	if err := send(1); err != nil {
		t.Fatal(err)
	}
	// The limit cannot go below the database's size: 1 means "as it is".
	// PostgreSQL's disk_full is raised by triggers instead.
	fill, free := `PRAGMA max_page_count = 1`, `PRAGMA max_page_count = 1073741823`
	if e.st.Backend() == store.BackendPostgres {
		fill = `CREATE FUNCTION disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN RAISE EXCEPTION 'could not extend file' USING ERRCODE = 'disk_full'; END $$;
			CREATE TRIGGER disk_full BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION disk_full();
			CREATE TRIGGER disk_full BEFORE INSERT ON activities FOR EACH ROW EXECUTE FUNCTION disk_full()`
		free = `DROP TRIGGER disk_full ON messages; DROP TRIGGER disk_full ON activities`
	}
	if err := e.st.Exec(ctx, fill); err != nil {
		t.Fatal(err)
	}

	for n := 2; n <= 4; n++ {
		code, enh := smtpCode(t, send(n))
		if code != 452 || enh != (smtp.EnhancedCode{4, 3, 1}) {
			t.Fatalf("mail %d on a full disk: %d %v, want 452 4.3.1", n, code, enh)
		}
	}
	_, err := e.g.Comment(ctx, "CS0000001", strings.Repeat("Replaced the roller.\n", 20000), true, Actor{Email: "grace@agents.test"})
	if !e.g.NoteStorage("api", err) { // as the HTTP API notes it (package web)
		t.Fatalf("a comment on a full disk: %v, want a full disk", err)
	}
	health, _ := e.g.Health(ctx)
	if health["status"] != "degraded" || health["storage"] != "full" || !strings.Contains(fmt.Sprint(health["storage_reason"]), "disk") {
		t.Fatalf("/healthz on a full disk: %v", health)
	}
	if n := strings.Count(e.logs.String(), "level=ERROR"); n != 1 {
		t.Fatalf("%d ERROR lines for four failures within a minute, want 1:\n%s", n, e.logs.String())
	}
	e.clock.Advance(time.Minute)
	if code, _ := smtpCode(t, send(5)); code != 452 {
		t.Fatalf("a minute later: %d, want 452", code)
	}
	if n := strings.Count(e.logs.String(), "level=ERROR"); n != 2 {
		t.Fatalf("%d ERROR lines a minute later, want 2:\n%s", n, e.logs.String())
	}
	if !strings.Contains(e.logs.String(), "failures_since_last_report=3") {
		t.Errorf("the second report does not count the failures in between:\n%s", e.logs.String())
	}

	// Space again: the same mail is taken, and health is back.
	if err := e.st.Exec(ctx, free); err != nil {
		t.Fatal(err)
	}
	if err := send(2); err != nil {
		t.Fatalf("after space was freed: %v", err)
	}
	if health, _ := e.g.Health(ctx); health["status"] != "ok" || health["storage"] != "ok" {
		t.Fatalf("/healthz after space was freed: %v", health)
	}
	if cases, msgs, _ := countRows(t, e.st); cases != 2 || msgs != 2 {
		t.Fatalf("%d cases, %d messages; want the first mail and the retried one", cases, msgs)
	}
}
