package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/casegate/casegate/gateway"
	"github.com/casegate/casegate/gateway/gatewaytest"
	"github.com/casegate/casegate/gateway/rspamdtest"
	"github.com/casegate/casegate/store"
)

func helpdeskMail(n int) string {
	return fmt.Sprintf("From: Frank <frank@customer.example>\nTo: helpdesk@localhost\nSubject: Laptop %d\n"+
		"Message-ID: <laptop.%d@customer.example>\n\nPlease replace laptop %d.\n", n, n, n)
}

const reloadBase = "data_dir: data\nsmtp:\n  listen: %s\nhttp:\n  listen: %s\n"

// runReloadable runs serve in process on the config file at path, logging
// to logs, for a test to rewrite the file and reload.
func runReloadable(t *testing.T, path string, logs io.Writer) *Main {
	t.Helper()
	cfg, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	m := &Main{Config: cfg, ConfigPath: path, Log: slog.New(slog.NewTextHandler(logs, nil))}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// Reload in process: a new address, agent and template override take
// effect at once; keys that need a restart are named; a broken file is
// refused and the running rules stay.
func TestReloadConfig(t *testing.T) {
	dir := t.TempDir()
	base := fmt.Sprintf(reloadBase, "127.0.0.1:0", "127.0.0.1:0")
	path := writeConfig(t, dir, base)
	logs := &gatewaytest.LogBuffer{}
	m := runReloadable(t, path, logs)
	if err := sendMail(t, m.SMTPAddr, "frank@customer.example", []string{"helpdesk@localhost"}, helpdeskMail(1)); err == nil {
		t.Fatal("helpdesk@ accepted before it was configured")
	}

	tpl := filepath.Join(dir, "tpl")
	if err := os.Mkdir(tpl, 0o755); err != nil {
		t.Fatal(err)
	}
	override := "Hello from the reloaded template, case {{.Case.Number}}.\n"
	if err := os.WriteFile(filepath.Join(tpl, "case_created.txt"), []byte(override), 0o644); err != nil {
		t.Fatal(err)
	}
	writeConfig(t, dir, base+"addresses:\n  - {address: support@localhost, kind: case}\n  - {address: helpdesk@localhost, kind: order}\n"+
		"agents: [\"@agents.example\"]\ntemplates_dir: tpl\nhostname: other.example\n")
	if err := m.Reload(); err != nil {
		t.Fatal(err)
	}
	mustSend(t, m.SMTPAddr, "frank@customer.example", []string{"helpdesk@localhost"}, helpdeskMail(1))
	c, err := m.Store.CaseByNumber(context.Background(), "CS0000001")
	if err != nil || c.Kind != "order" {
		t.Fatalf("mail to the reloaded address: %+v %v, want an order", c, err)
	}
	waitUntil(t, 10*time.Second, "the confirmation in the Maildir", func() bool {
		files, _ := filepath.Glob(filepath.Join(m.Config.DataDir, "maildir", "new", "*"))
		for _, f := range files {
			if b, _ := os.ReadFile(f); bytes.Contains(b, []byte("Hello from the reloaded template, case CS0000001.")) {
				return true
			}
		}
		return false
	})
	if l := logs.String(); !strings.Contains(l, "take effect only after a restart") || !strings.Contains(l, "hostname") {
		t.Errorf("the hostname change, which needs a restart, is not named:\n%s", l)
	}

	for name, broken := range map[string]func(){
		"yaml":  func() { writeConfig(t, dir, base+"addresses: [oops\n") },
		"value": func() { writeConfig(t, dir, base+"policy:\n  unknown_sender: maybe\n") },
		"template": func() {
			writeConfig(t, dir, base+"templates_dir: tpl\n")
			writeFile(t, tpl, "case_closed.txt", "{{.Case.Number")
		},
	} {
		broken()
		if err := m.Reload(); err == nil {
			t.Errorf("%s: a broken file was accepted", name)
		}
		if !strings.Contains(logs.String(), "reload refused") {
			t.Errorf("%s: the refusal is not logged", name)
		}
		if err := sendMail(t, m.SMTPAddr, "frank@customer.example", []string{"helpdesk@localhost"}, helpdeskMail(2)); err != nil {
			t.Fatalf("%s: after a refused reload the running config changed: %v", name, err)
		}
	}
}

func writeFile(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// runCLI runs the binary with args and returns exit code and output.
func runCLI(t *testing.T, args ...string) (int, string) {
	t.Helper()
	out, err := exec.Command(casegateBinary(t), args...).CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &ee):
		return ee.ExitCode(), string(out)
	}
	t.Fatalf("%v: %v", args, err)
	return 0, ""
}

// The real binary: `casegate reload` and SIGHUP reach the running serve
// through its pid file; a bad file is refused before serve is disturbed;
// `casegate backup` copies the database while serve runs, and the copy
// restores.
func TestReloadAndBackupOfRunningServe(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary")
	}
	dir := t.TempDir()
	smtpAddr := freePort(t)
	base := fmt.Sprintf(reloadBase, smtpAddr, freePort(t))
	config := writeConfig(t, dir, base)
	logs := &gatewaytest.LogBuffer{}
	serve := exec.Command(casegateBinary(t), "serve", "--config", config)
	serve.Stderr = logs
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- serve.Wait() }()
	t.Cleanup(func() {
		serve.Process.Kill()
		<-exited
	})
	waitUntil(t, 15*time.Second, "serve's SMTP listener", func() bool {
		return sendMail(t, smtpAddr, "x@customer.example", nil, "") != nil && strings.Contains(logs.String(), "casegate serving")
	})
	mustSend(t, smtpAddr, "carol@customer.example", []string{"support@localhost"}, pipeMail)

	backup := filepath.Join(dir, "backup.db")
	if code, out := runCLI(t, "backup", "--config", config, backup); code != 0 || !strings.Contains(out, "written to") {
		t.Fatalf("backup: exit %d\n%s", code, out)
	}
	if code, out := runCLI(t, "backup", "--config", config, backup); code == 0 || !strings.Contains(out, "exists") {
		t.Errorf("backup over an existing file: exit %d\n%s", code, out)
	}

	writeConfig(t, dir, base+"addresses:\n  - {address: support@localhost, kind: case}\n  - {address: helpdesk@localhost, kind: case}\n")
	if code, out := runCLI(t, "reload", "--config", config); code != 0 || !strings.Contains(out, "asked casegate serve (pid") {
		t.Fatalf("reload: exit %d\n%s", code, out)
	}
	waitUntil(t, 10*time.Second, "helpdesk@ accepted after the reload", func() bool {
		return sendMail(t, smtpAddr, "frank@customer.example", []string{"helpdesk@localhost"}, helpdeskMail(1)) == nil
	})

	if code, out := runCLI(t, "reload", "--check", "--config", config); code != 0 || !strings.Contains(out, "is a valid configuration") {
		t.Errorf("reload --check of a good file: exit %d\n%s", code, out)
	}
	writeConfig(t, dir, base+"addresses:\n  - {address: nobody, kind: case}\n")
	if code, out := runCLI(t, "reload", "--check", "--config", config); code != 1 || !strings.Contains(out, "addresses[0].address") {
		t.Errorf("reload --check of a bad file: exit %d, want 1 naming the key\n%s", code, out)
	}
	if code, out := runCLI(t, "reload", "--config", config); code != 1 || !strings.Contains(out, "addresses[0].address") {
		t.Errorf("reload of a bad file: exit %d, want 1 naming the key\n%s", code, out)
	}
	if err := serve.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the refusal in serve's log", func() bool {
		return strings.Contains(logs.String(), "reload refused")
	})
	if err := sendMail(t, smtpAddr, "frank@customer.example", []string{"helpdesk@localhost"}, helpdeskMail(2)); err != nil {
		t.Fatalf("the refused file changed the running config: %v", err)
	}

	// Stopped, serve leaves no pid file, and reload says nobody runs.
	serve.Process.Signal(syscall.SIGTERM)
	if err := <-exited; err != nil {
		t.Fatalf("serve exited with %v\n%s", err, logs)
	}
	exited <- nil
	if _, err := os.Stat(filepath.Join(dir, "data", pidFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pid file left behind: %v", err)
	}
	writeConfig(t, dir, base)
	if code, out := runCLI(t, "reload", "--config", config); code != 1 || !strings.Contains(out, "no casegate serve is running") {
		t.Errorf("reload without serve: exit %d\n%s", code, out)
	}

	// Restore: the backup as the database of a data_dir.
	restored := filepath.Join(dir, "restored")
	if err := os.Mkdir(restored, 0o750); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, restored, "casegate.db", string(b))
	st := openTestStore(t, restored)
	cases, err := st.ListCases(context.Background(), store.CaseFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) != 1 || cases[0].Number != "CS0000001" {
		t.Fatalf("restored database holds %v, want CS0000001 only (taken before the helpdesk mails)", cases)
	}
}

// A reload reads the DKIM key file again: after a key rotation the next
// notification is signed with the new key and selector, and a key file
// that does not load is refused with the running key kept.
func TestReloadRotatesDKIMKey(t *testing.T) {
	dir := t.TempDir()
	records := map[string]string{}
	newKey := func(selector string) {
		pemKey, record, err := gateway.GenerateDKIMKey("ed25519")
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, dir, selector+".pem", string(pemKey))
		records[selector+"._domainkey.localhost"] = record
	}
	config := func(selector string) string {
		return writeConfig(t, dir, fmt.Sprintf(reloadBase, "127.0.0.1:0", "127.0.0.1:0")+
			fmt.Sprintf("dkim:\n  domain: localhost\n  selector: %s\n  key_file: %s.pem\n", selector, selector))
	}
	newKey("old")
	path := config("old")
	logs := &gatewaytest.LogBuffer{}
	m := runReloadable(t, path, logs)

	// signedBy sends a new case and returns the selector that signed its
	// confirmation, after checking the signature against the published
	// records.
	seen := map[string]bool{}
	signedBy := func(n int) string {
		t.Helper()
		mustSend(t, m.SMTPAddr, "frank@customer.example", []string{"support@localhost"},
			fmt.Sprintf("From: Frank <frank@customer.example>\nTo: support@localhost\nSubject: Printer %d\n"+
				"Message-ID: <printer.%d@customer.example>\n\nThe printer jams.\n", n, n))
		var mail []byte
		waitUntil(t, 10*time.Second, "the confirmation in the Maildir", func() bool {
			files, _ := filepath.Glob(filepath.Join(m.Config.DataDir, "maildir", "new", "*"))
			for _, f := range files {
				if seen[f] {
					continue
				}
				seen[f] = true
				mail, _ = os.ReadFile(f)
				return true
			}
			return false
		})
		verifs, err := dkim.VerifyWithOptions(bytes.NewReader(mail), &dkim.VerifyOptions{
			LookupTXT: func(name string) ([]string, error) {
				if r, ok := records[name]; ok {
					return []string{r}, nil
				}
				return nil, fmt.Errorf("no record at %s", name)
			},
		})
		if err != nil || len(verifs) != 1 || verifs[0].Err != nil {
			t.Fatalf("confirmation %d: %v %+v\n%s", n, err, verifs, mail)
		}
		for _, s := range []string{"old", "new"} {
			if bytes.Contains(mail, []byte("s="+s+";")) {
				return s
			}
		}
		t.Fatalf("confirmation %d names no known selector:\n%s", n, mail)
		return ""
	}
	if s := signedBy(1); s != "old" {
		t.Fatalf("signed by %s before the reload", s)
	}
	newKey("new")
	config("new")
	if err := m.Reload(); err != nil {
		t.Fatal(err)
	}
	if s := signedBy(2); s != "new" {
		t.Fatalf("signed by %s after the rotation", s)
	}
	writeFile(t, dir, "new.pem", "not a key\n")
	if err := m.Reload(); err == nil {
		t.Fatal("a key file that does not load was accepted")
	}
	if !strings.Contains(logs.String(), "dkim.key_file") {
		t.Errorf("the refusal does not name dkim.key_file:\n%s", logs.String())
	}
	if s := signedBy(3); s != "new" {
		t.Fatalf("signed by %s after a refused reload", s)
	}
	if l := logs.String(); strings.Contains(l, "only after a restart") {
		t.Errorf("the key change is reported as needing a restart:\n%s", l)
	}
}

// auth.trusted_relays takes effect on reload: the relay added is exempt
// from the connections per address at once, without a restart.
func TestReloadTrustedRelays(t *testing.T) {
	dir := t.TempDir()
	base := fmt.Sprintf(reloadBase, "127.0.0.1:0", "127.0.0.1:0")
	limit := "smtp:\n  listen: 127.0.0.1:0\n  max_connections_per_ip: 1\n"
	base = strings.Replace(base, "smtp:\n  listen: 127.0.0.1:0\n", limit, 1)
	path := writeConfig(t, dir, base)
	m := runReloadable(t, path, io.Discard)
	banner := func() (net.Conn, string) {
		t.Helper()
		c, err := net.Dial("tcp", m.SMTPAddr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		line, _ := bufio.NewReader(c).ReadString('\n')
		return c, line
	}
	first, line := banner()
	defer first.Close()
	if !strings.HasPrefix(line, "220 ") {
		t.Fatalf("first connection: %q", line)
	}
	second, line := banner()
	second.Close()
	if !strings.HasPrefix(line, "421 ") {
		t.Fatalf("second connection from one address before the reload: %q, want 421", line)
	}
	writeConfig(t, dir, base+"auth:\n  trusted_relays: [127.0.0.1]\n")
	if err := m.Reload(); err != nil {
		t.Fatal(err)
	}
	third, line := banner()
	defer third.Close()
	if !strings.HasPrefix(line, "220 ") {
		t.Fatalf("second connection from the trusted relay after the reload: %q, want 220", line)
	}
}

// rspamd.* takes effect on reload: GTUBE opens a case while no rspamd is
// configured, and is quarantined as spam once a reload names a real
// rspamd.
func TestReloadRspamd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs rspamd")
	}
	rs := rspamdtest.Start(t)
	dir := t.TempDir()
	base := fmt.Sprintf(reloadBase, "127.0.0.1:0", "127.0.0.1:0")
	path := writeConfig(t, dir, base)
	m := runReloadable(t, path, io.Discard)
	send := func(id string) {
		t.Helper()
		mustSend(t, m.SMTPAddr, "bob@spam.example", []string{"support@localhost"},
			rspamdTestMail("bob@spam.example", id+"@spam.example", "Test "+id, rspamdtest.GTUBE))
	}
	send("before")
	if n, err := m.Store.CountMessages(context.Background(), store.OutcomeNewCase); err != nil || n != 1 {
		t.Fatalf("GTUBE without rspamd: %d new cases, %v", n, err)
	}
	writeConfig(t, dir, base+fmt.Sprintf("rspamd:\n  url: %s\n", rs.URL))
	if err := m.Reload(); err != nil {
		t.Fatal(err)
	}
	send("after")
	q, err := m.Store.ListQuarantine(context.Background(), 0)
	if err != nil || len(q) != 1 || q[0].Reason != "spam" || !strings.Contains(q[0].Detail, "GTUBE") {
		t.Fatalf("GTUBE after the reload: quarantine %+v, %v", q, err)
	}
}

// auth.resolver takes effect on reload: a DKIM-signed mail whose key only
// the new resolver publishes passes after the reload. A reload that keeps
// the resolver keeps it with its cache: the key is not asked again.
func TestReloadResolver(t *testing.T) {
	w := newTrustWorld(t)
	empty := gatewaytest.StartDNS(t) // publishes nothing
	dir := t.TempDir()
	base := fmt.Sprintf(reloadBase, "127.0.0.1:0", "127.0.0.1:0")
	path := writeConfig(t, dir, base+"auth:\n  resolver: "+empty.Addr+"\n")
	m := runReloadable(t, path, io.Discard)
	send := func(n int) string {
		t.Helper()
		mustSend(t, m.SMTPAddr, "carol@customer.example", []string{"support@localhost"}, w.sign(t, "customer.example",
			fmt.Sprintf("From: Carol <carol@customer.example>\nTo: support@localhost\nSubject: VPN %d\nMessage-ID: <r%d@customer.example>\n\nIt drops.\n", n, n)))
		return lastTrace(t, m, store.FormatNumber("CS", int64(n)))
	}
	if tr := send(1); strings.Contains(tr, `"step":"auth","result":"pass"`) {
		t.Fatalf("passed with a resolver that publishes no key: %s", tr)
	}
	writeConfig(t, dir, base+"auth:\n  resolver: "+w.dns.Addr+"\n")
	if err := m.Reload(); err != nil {
		t.Fatal(err)
	}
	if tr := send(2); !strings.Contains(tr, `"step":"auth","result":"pass"`) {
		t.Fatalf("after the reload to the resolver that publishes the key: %s", tr)
	}
	asked := w.dns.Asks()
	if err := m.Reload(); err != nil { // the same file: the same resolver
		t.Fatal(err)
	}
	if tr := send(3); !strings.Contains(tr, `"step":"auth","result":"pass"`) {
		t.Fatalf("after a reload that keeps the resolver: %s", tr)
	}
	if n := w.dns.Asks(); n != asked {
		t.Errorf("the DNS was asked %d more times after a reload that kept the resolver: its cache was lost", n-asked)
	}
}
