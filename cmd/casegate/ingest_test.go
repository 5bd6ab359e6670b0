package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/casegate/casegate/store"
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
	if code, out := runIngest(t, config, pipeMail+strings.Repeat("x", 5000)); code != 65 || !strings.HasPrefix(out, "5.3.4 ") {
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

// runIngestArgs runs `casegate ingest` on the real binary with args.
func runIngestArgs(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(casegateBinary(t), append([]string{"ingest"}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("ingest: %v", err)
	}
	return code, out.String(), errOut.String()
}

func TestParseIngestArgs(t *testing.T) {
	check := func(args string, want ingestArgs) {
		t.Helper()
		got, err := parseIngestArgs(strings.Fields(strings.ReplaceAll(args, "''", "\x00")))
		for i := range got.to {
			got.to[i] = strings.ReplaceAll(got.to[i], "\x00", "")
		}
		got.from = strings.ReplaceAll(got.from, "\x00", "")
		if err != nil {
			t.Errorf("%s: %v", args, err)
			return
		}
		if got.config != want.config || got.from != want.from || got.fromGiven != want.fromGiven ||
			got.json != want.json || strings.Join(got.to, " ") != strings.Join(want.to, " ") {
			t.Errorf("%s:\n got %+v\nwant %+v", args, got, want)
		}
	}
	check("--to a@x b@x", ingestArgs{to: []string{"a@x", "b@x"}})
	check("--to=a@x --to=b@x", ingestArgs{to: []string{"a@x", "b@x"}})
	check("-to a@x -to b@x c@x", ingestArgs{to: []string{"a@x", "b@x", "c@x"}})
	check("--config /etc/c.yaml --from s@x --to a@x b@x --json", ingestArgs{config: "/etc/c.yaml", from: "s@x", fromGiven: true, to: []string{"a@x", "b@x"}, json: true})
	check("--to a@x --from=", ingestArgs{to: []string{"a@x"}, fromGiven: true})
	check("--from '' --to a@x", ingestArgs{fromGiven: true, to: []string{"a@x"}})
	check("--config=c.yaml --to a@x", ingestArgs{config: "c.yaml", to: []string{"a@x"}})
	check("", ingestArgs{})

	for _, bad := range [][]string{
		{"--tp", "a@x"}, {"--to"}, {"--to", "--json"}, {"a@x"}, {"--from"}, {"--json=yes"},
		{"--to", "a@x", "--", "b@x"}, {"--to", "not-an-address"}, {"--to="}, {"-x"},
	} {
		if _, err := parseIngestArgs(bad); err == nil || errors.Is(err, flag.ErrHelp) {
			t.Errorf("%q accepted", bad)
		}
	}
}

// Postfix's pipe: several recipients after --to (a follow-up to the
// plus address threads although another recipient comes first), the
// null sender in every spelling is a delivery report, an argument it does
// not understand keeps the mail queued (75, logged at ERROR), and a mail
// over the limit is 5.3.4 with the limit in bytes.
func TestIngestPipeArguments(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	config := writeConfig(t, dir, "data_dir: data\nsmtp:\n  max_message_bytes: 4096\n")
	data := filepath.Join(dir, "data")
	mail := func(id, body string) string {
		return "From: Carol <carol@customer.example>\nTo: support@localhost\nSubject: Badge reader\nMessage-ID: <" + id +
			"@customer.example>\n\n" + body + "\n"
	}
	ingest := func(stdin string, args ...string) (int, string, string) {
		t.Helper()
		return runIngestArgs(t, stdin, append([]string{"--config", config}, args...)...)
	}
	if code, out, errOut := ingest(mail("a.1", "Door 2 is dead."), "--from", "carol@customer.example", "--to", "support@localhost"); code != 0 || !strings.Contains(out, "new_case: CS0000001") {
		t.Fatalf("first mail: exit %d\n%s%s", code, out, errOut)
	}
	for i, args := range [][]string{
		{"--from", "carol@customer.example", "--to", "orders@localhost", "support+CS0000001@localhost"},
		{"--from=carol@customer.example", "--to=orders@localhost", "--to=support+CS0000001@localhost"},
	} {
		code, out, errOut := ingest(mail(fmt.Sprintf("a.%d", i+2), "Still dead."), args...)
		if code != 0 || !strings.Contains(out, "reply: CS0000001") {
			t.Errorf("follow-up %v: exit %d, want a reply on CS0000001\n%s%s", args, code, out, errOut)
		}
	}
	for i, from := range []string{"", "<>", "MAILER-DAEMON"} {
		code, out, errOut := ingest(mail(fmt.Sprintf("dsn.%d", i), "Delivery failed."), "--from", from, "--to", "support@localhost")
		if code != 0 || !strings.Contains(out, "bounce: message") {
			t.Errorf("--from %q: exit %d, want a bounce\n%s%s", from, code, out, errOut)
		}
	}
	before := countMessagesIn(t, data)
	code, out, errOut := ingest(mail("typo.1", "x"), "--from", "carol@customer.example", "--tp", "support@localhost")
	if code != 75 || !strings.Contains(errOut, `"level":"ERROR"`) || !strings.Contains(errOut, `--tp`) {
		t.Errorf("an argument not understood: exit %d, want 75 and an ERROR naming it\n%s%s", code, out, errOut)
	}
	if n := countMessagesIn(t, data); n != before {
		t.Errorf("the mail with a bad argument was stored")
	}
	code, _, errOut = ingest(mail("big.1", strings.Repeat("x", 5000)), "--from", "carol@customer.example", "--to", "support@localhost")
	if code != 65 || !strings.HasPrefix(errOut, "5.3.4 ") || !strings.Contains(errOut, "4096 bytes") || strings.Contains(errOut, "max_message_bytes") {
		t.Errorf("over the limit: exit %d, stderr %q; want 65 and 5.3.4 with the limit in bytes, no config key", code, errOut)
	}
	st := openTestStore(t, data)
	cases, err := st.ListCases(context.Background(), store.CaseFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) != 1 {
		t.Errorf("%d cases, want 1: follow-ups thread and reports open none", len(cases))
	}
	outbox, err := st.ListOutbox(context.Background(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	confirmations := 0
	for _, m := range outbox {
		if m.Template == "case_created" {
			confirmations++
		}
	}
	if confirmations != 1 {
		t.Errorf("%d confirmations queued, want 1: a delivery report is never answered", confirmations)
	}
}

// openTestStore opens the database under dataDir for the test to read.
func openTestStore(t *testing.T, dataDir string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(dataDir, "casegate.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// classify takes the same null-sender decision as pipe mode: an empty --from
// is a delivery report, no --from is an unknown sender.
func TestClassifyNullSender(t *testing.T) {
	conf := writeConfig(t, t.TempDir(), "data_dir: data\n")
	raw := "From: carol@customer.example\nTo: support@localhost\nSubject: Undelivered\nMessage-ID: <n1@customer.example>\n\nx\n"
	outcome := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := run(context.Background(), append([]string{"classify", "--config", conf, "--json"}, args...), strings.NewReader(raw), &out, &errOut); code != 0 {
			t.Fatalf("classify %v: exit %d\n%s", args, code, errOut.String())
		}
		var v struct {
			Decision struct {
				Outcome string `json:"outcome"`
			} `json:"decision"`
		}
		if err := json.Unmarshal(out.Bytes(), &v); err != nil {
			t.Fatal(err)
		}
		return v.Decision.Outcome
	}
	for _, from := range []string{"", "<>", "MAILER-DAEMON"} {
		if got := outcome("--from", from); got != "bounce" {
			t.Errorf("classify --from %q: %s, want bounce", from, got)
		}
	}
	if got := outcome(); got != "new_case" {
		t.Errorf("classify without --from: %s, want new_case", got)
	}
}

// A large mail on a pipe goes through the spool directory, as over SMTP,
// and is stored byte for byte; the spool is empty afterwards. A spool
// that cannot be written keeps large mails with the MTA (75), never
// small ones.
func TestIngestLargeMailThroughSpool(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	config := writeConfig(t, dir, "data_dir: data\nsmtp:\n  max_message_bytes: 8000000\n")
	data := filepath.Join(dir, "data")
	var body strings.Builder
	for i := 0; body.Len() < 2<<20; i++ {
		fmt.Fprintf(&body, "Line %06d of the log the customer pasted.\n", i)
	}
	big := strings.Replace(pipeMail, "pipe.1@", "pipe.big@", 1) + body.String()
	if code, out := runIngest(t, config, big); code != 0 || !strings.Contains(out, "new_case") {
		t.Fatalf("large mail: exit %d\n%s", code, out)
	}
	st := openTestStore(t, data)
	m, err := st.Message(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if string(m.Raw) != big {
		t.Errorf("stored %d raw bytes of %d, equal %v", len(m.Raw), len(big), string(m.Raw) == big)
	}
	spool := filepath.Join(data, "spool")
	if left, err := os.ReadDir(spool); err != nil || len(left) != 0 {
		t.Errorf("%d files left in the spool (%v)", len(left), err)
	}

	if err := os.RemoveAll(spool); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(spool, []byte("a file where the spool should be"), 0o600); err != nil {
		t.Fatal(err)
	}
	second := strings.Replace(big, "pipe.big@", "pipe.big2@", 1)
	if code, out := runIngest(t, config, second); code != 75 || !strings.HasPrefix(out, "4.3.") {
		t.Errorf("no spool: exit %d, want 75\n%s", code, out)
	}
	if code, out := runIngest(t, config, pipeMail); code != 0 {
		t.Errorf("a small mail without a spool: exit %d\n%s", code, out)
	}
	if n := countMessagesIn(t, data); n != 2 {
		t.Errorf("%d messages stored, want 2", n)
	}
}
