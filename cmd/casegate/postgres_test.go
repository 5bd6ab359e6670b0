package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/casegate/casegate/store/pgtest"
)

// TestMain stops the PostgreSQL cluster the tests started (pgtest) at the
// end. It also turns HTTP keep-alive off for the tests' clients: each
// test's gateway listens on a new loopback port, which the kernel may
// hand out again to a later test, and a pooled connection to a gateway
// that has closed would fail a request that cannot be retried (POST,
// PATCH) with "connection reset by peer".
func TestMain(m *testing.M) {
	http.DefaultTransport.(*http.Transport).DisableKeepAlives = true
	os.Exit(pgtest.Main(m))
}

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

const attachmentMail = "From: Carol <carol@customer.example>\r\nTo: support@localhost\r\nSubject: Logs attached\r\n" +
	"Message-ID: <logs.1@customer.example>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
	"--b\r\nContent-Type: text/plain\r\n\r\nThe logs of last night.\r\n" +
	"--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=app.log\r\n" +
	"Content-Transfer-Encoding: base64\r\n\r\nAAECAwQFBgc=\r\n--b--\r\n"

// `casegate db copy --to postgres` moves a gateway's SQLite database, with
// cases, messages, attachments, outbox rows and quarantine, into an empty
// PostgreSQL database, which the same commands then read; a second copy
// into it is refused.
func TestDBCopyCLI(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	sqliteCfg := writeConfig(t, dir, "data_dir: data\n")
	cli := func(stdin string, args ...string) (int, string) {
		t.Helper()
		var out bytes.Buffer
		code := run(ctx, args, strings.NewReader(stdin), &out, &out)
		return code, out.String()
	}
	for _, in := range []string{attachmentMail, pipeMail, "\x00\x01 no mail at all"} {
		if code, out := cli(in, "ingest", "--config", sqliteCfg, "--from", "carol@customer.example", "--to", "support@localhost"); code != 0 {
			t.Fatalf("ingest: exit %d\n%s", code, out)
		}
	}
	t.Setenv("CASEGATE_TEST_COPY_DB", pgtest.Database(t))
	code, out := cli("", "db", "copy", "--to", "postgres", "--config", sqliteCfg, "--url-env", "CASEGATE_TEST_COPY_DB")
	if code != 0 || !strings.Contains(out, "checksum match") {
		t.Fatalf("db copy: exit %d\n%s", code, out)
	}
	for _, table := range []string{"cases", "messages", "attachments", "outbox", "quarantine"} {
		if !regexp.MustCompile(`(?m)^` + table + ` +[1-9]`).MatchString(out) {
			t.Errorf("no %s copied:\n%s", table, out)
		}
	}

	pgDir := filepath.Join(dir, "pg")
	if err := os.Mkdir(pgDir, 0o755); err != nil {
		t.Fatal(err)
	}
	pgCfg := writeConfig(t, pgDir, "data_dir: data\ndatabase:\n  driver: postgres\n  url_env: CASEGATE_TEST_COPY_DB\n")
	if code, out := cli("", "cases", "show", "CS0000001", "--config", pgCfg); code != 0 || !strings.Contains(out, "app.log") {
		t.Fatalf("cases show on PostgreSQL: exit %d\n%s", code, out)
	}
	if code, out := cli("", "cases", "list", "--config", pgCfg); code != 0 || !strings.Contains(out, "CS0000002") {
		t.Fatalf("cases list on PostgreSQL: exit %d\n%s", code, out)
	}
	if code, out := cli("", "quarantine", "list", "--config", pgCfg); code != 0 || !strings.Contains(out, "no_header") {
		t.Fatalf("quarantine list on PostgreSQL: exit %d\n%s", code, out)
	}
	if code, out := cli("", "outbox", "list", "--config", pgCfg); code != 0 || !strings.Contains(out, "case_created") {
		t.Fatalf("outbox list on PostgreSQL: exit %d\n%s", code, out)
	}
	if code, out := cli("", "backup", "--config", pgCfg, filepath.Join(dir, "backup.db")); code == 0 || !strings.Contains(out, "pg_dump") {
		t.Fatalf("backup of a PostgreSQL database: exit %d\n%s", code, out)
	}
	if code, out := cli("", "db", "copy", "--to", "postgres", "--config", sqliteCfg, "--url-env", "CASEGATE_TEST_COPY_DB"); code == 0 || !strings.Contains(out, "not empty") {
		t.Fatalf("second copy: exit %d\n%s", code, out)
	}
}
