package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"
)

// runIngest runs `casegate ingest` on the real binary and returns its exit
// code and output.
func runIngest(t *testing.T, config, stdin string, env ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(casegateBinary(t), "ingest", "--config", config, "--from", "carol@customer.example", "--to", "support@localhost")
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String()
	}
	t.Fatalf("ingest: %v", err)
	return -1, ""
}

const pipeMail = `From: Carol <carol@customer.example>
To: support@localhost
Subject: Badge reader broken
Message-ID: <pipe.1@customer.example>

The badge reader at door 2 does not react.
`

func countMessagesIn(t *testing.T, dataDir string) int {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dataDir, "casegate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM messages`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Pipe mode's exit codes (SPEC §3.3): 0 stored (new, duplicate,
// quarantined), 65 for input that can never be accepted, 75 when the
// database is locked or unavailable, so the MTA keeps the mail.
func TestIngestExitCodes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	config := writeConfig(t, dir, "data_dir: data\nsmtp:\n  max_message_bytes: 4096\n")
	data := filepath.Join(dir, "data")

	if code, out := runIngest(t, config, pipeMail); code != 0 || !strings.Contains(out, "new_case: CS0000001") {
		t.Fatalf("new mail: exit %d\n%s", code, out)
	}
	if code, out := runIngest(t, config, pipeMail); code != 0 || !strings.Contains(out, "duplicate") {
		t.Fatalf("duplicate: exit %d\n%s", code, out)
	}
	if code, out := runIngest(t, config, "\x00\x01\x02 not a mail"); code != 0 || !strings.Contains(out, "quarantined") {
		t.Fatalf("garbage is quarantined, a successful store: exit %d\n%s", code, out)
	}
	if code, out := runIngest(t, config, " \n\n"); code != 65 {
		t.Fatalf("empty input: exit %d, want 65\n%s", code, out)
	}
	if code, out := runIngest(t, config, pipeMail+strings.Repeat("x", 5000)); code != 65 {
		t.Fatalf("over max_message_bytes: exit %d, want 65\n%s", code, out)
	}

	// Another process holds the write lock: 75, nothing stored.
	db, err := sql.Open("sqlite", filepath.Join(data, "casegate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	second := strings.Replace(pipeMail, "pipe.1@", "pipe.2@", 1)
	if code, out := runIngest(t, config, second, "CASEGATE_DB_BUSY_TIMEOUT=200ms"); code != 75 {
		t.Fatalf("database locked: exit %d, want 75\n%s", code, out)
	}
	if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if n := countMessagesIn(t, data); n != 1 {
		t.Fatalf("%d messages stored, want 1", n)
	}
	// The MTA retries once the lock is gone.
	if code, out := runIngest(t, config, second, "CASEGATE_DB_BUSY_TIMEOUT=200ms"); code != 0 {
		t.Fatalf("retry after the lock: exit %d\n%s", code, out)
	}

	// The database cannot be opened at all: 75.
	broken := t.TempDir()
	if err := os.WriteFile(filepath.Join(broken, "data"), []byte("a file where the data directory should be"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := writeConfig(t, broken, "data_dir: data\n")
	if code, out := runIngest(t, bad, pipeMail); code != 75 {
		t.Fatalf("database unavailable: exit %d, want 75\n%s", code, out)
	}
}
