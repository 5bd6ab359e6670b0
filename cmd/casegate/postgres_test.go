package main

import (
	"net"
	"os"
	"strings"
	"testing"

	"github.com/casegate/casegate/store/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// closedPostgresURL is a PostgreSQL URL on a loopback port nobody
// listens on.
func closedPostgresURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "postgres://casegate@" + addr + "/casegate?sslmode=disable"
}

// Pipe mode on PostgreSQL: 0 when stored, 0 for the duplicate, 75 while
// the database cannot be reached or its URL is missing, so the MTA keeps
// the mail.
func TestIngestOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	config := writeConfig(t, dir, "data_dir: data\ndatabase:\n  driver: postgres\n  url_env: CASEGATE_TEST_PIPE_DB\n")
	if code, out := runIngest(t, config, pipeMail, "CASEGATE_TEST_PIPE_DB="); code != 75 || !strings.Contains(out, "CASEGATE_TEST_PIPE_DB") {
		t.Fatalf("no database URL: exit %d, want 75\n%s", code, out)
	}
	if code, out := runIngest(t, config, pipeMail, "CASEGATE_TEST_PIPE_DB="+closedPostgresURL(t)); code != 75 {
		t.Fatalf("database unreachable: exit %d, want 75\n%s", code, out)
	}
	url := pgtest.Database(t)
	if code, out := runIngest(t, config, pipeMail, "CASEGATE_TEST_PIPE_DB="+url); code != 0 || !strings.Contains(out, "new_case: CS") {
		t.Fatalf("new mail: exit %d\n%s", code, out)
	}
	if code, out := runIngest(t, config, pipeMail, "CASEGATE_TEST_PIPE_DB="+url); code != 0 || !strings.Contains(out, "duplicate") {
		t.Fatalf("duplicate: exit %d\n%s", code, out)
	}
}
