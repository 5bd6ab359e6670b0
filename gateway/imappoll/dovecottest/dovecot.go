// Package dovecottest runs a real Dovecot for tests: dovecot-imapd on
// loopback ports, configured from scratch in a temporary directory, run in
// the foreground and stopped when the test ends. It is the one Dovecot
// harness of the project; the poller's own tests and the end-to-end tests
// of cmd/casegate both use it.
//
// Start skips the test where Dovecot is not installed, unless
// CASEGATE_REQUIRE_DOVECOT=1 (set by .ci/run) makes that a failure. The
// configuration is written for Dovecot 2.3, the version of Debian and Ubuntu
// LTS; another version fails the test rather than misbehave. As root (CI
// containers) Dovecot runs as the package's dovecot and dovenull accounts and
// the mail belongs to nobody; otherwise everything runs as the current user.
//
// A Server and its Clients belong to the test goroutine that made them:
// their methods fail the test with t.Fatal.
package dovecottest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/casegate/casegate/gateway/gatewaytest"
	"github.com/casegate/casegate/gateway/gatewaytest/child"
	"github.com/casegate/casegate/gateway/gatewaytest/freeport"
)

// The one account of every Server.
const (
	User     = "helpdesk@localhost"
	Password = "correct horse"
)

// RequireEnv names the environment variable that, set to 1, turns a missing
// Dovecot into a test failure instead of a skip.
const RequireEnv = "CASEGATE_REQUIRE_DOVECOT"

const dovecotBin = "/usr/sbin/dovecot"

// Server is a running Dovecot with one user, User/Password, whose mail is
// kept in a Maildir under a temporary directory.
type Server struct {
	Addr     string // IMAP: STARTTLS offered, plain login allowed
	TLSAddr  string // IMAPS: implicit TLS
	User     string
	Password string
	Version  string // as `dovecot --version` prints it
	Cert     *Cert  // the server's certificate; Cert.ClientConfig trusts it

	t      testing.TB
	bin    string
	dir    string
	conf   string
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has exited
}

// Start starts a throwaway Dovecot that stops when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := findDovecot(t)
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatalf("dovecot --version: %v", err)
	}
	s := &Server{User: User, Password: Password, Version: strings.TrimSpace(string(out)),
		Cert: NewCert(t), t: t, bin: bin}
	if !strings.HasPrefix(s.Version, "2.3.") {
		t.Fatalf("dovecot %s: this harness writes a Dovecot 2.3 configuration", s.Version)
	}

	// Not t.TempDir: Dovecot's unprivileged login processes must be able to
	// reach the sockets under base_dir, so the directory is world-readable.
	dir, err := os.MkdirTemp("", "casegate-dovecot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s.dir = dir
	s.conf = s.writeConfig(t)
	t.Cleanup(s.Stop)
	s.start()
	return s
}

// findDovecot returns the path of the dovecot binary, or skips the test.
func findDovecot(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(dovecotBin); err == nil {
		return dovecotBin
	}
	bin, err := exec.LookPath("dovecot")
	if err == nil {
		return bin
	}
	gatewaytest.Missing(t, RequireEnv, fmt.Sprintf("dovecot not installed (%v): apt-get install dovecot-imapd", err))
	return ""
}

// start runs Dovecot in the foreground and waits for its greeting.
func (s *Server) start() {
	s.t.Helper()
	// Output to a file, not a pipe: Dovecot's children inherit it, and
	// Wait would wait for them to close a pipe.
	output, err := os.OpenFile(filepath.Join(s.dir, "output.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	defer output.Close()
	cmd := exec.Command(s.bin, "-F", "-c", s.conf)
	cmd.Stdout, cmd.Stderr = output, output
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start dovecot: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited
	if err := waitGreeting(s.Addr, exited); err != nil {
		s.Stop()
		out, _ := os.ReadFile(filepath.Join(s.dir, "output.log"))
		log, _ := os.ReadFile(filepath.Join(s.dir, "dovecot.log"))
		s.t.Fatalf("dovecot %s did not start: %v\n%s%s", s.Version, err, out, log)
	}
}

// Stop stops Dovecot (SIGTERM, then SIGKILL after 10 s); the mail stays.
// Stopping a stopped server does nothing.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	child.Stop(s.cmd.Process, s.exited, syscall.SIGTERM, 10*time.Second)
	s.cmd, s.exited = nil, nil
}

// Restart stops Dovecot and starts it again on the same addresses over the
// same mail. Every connection is dropped: clients must dial again.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start()
}

// Client returns a client logged in as the server's user.
func (s *Server) Client(t testing.TB) *Client {
	t.Helper()
	return DialClient(t, s.Addr, s.User, s.Password)
}

// Log returns what Dovecot logged so far, for a failing test to show.
func (s *Server) Log() string {
	b, err := os.ReadFile(filepath.Join(s.dir, "dovecot.log"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err.Error()
	}
	return string(b)
}

// writeConfig writes the configuration, the password file, the certificate
// and the mail directory, and returns the configuration's path.
func (s *Server) writeConfig(t testing.TB) string {
	t.Helper()
	ids := dovecotUsers(t)
	s.Addr, s.TLSAddr = FreeAddr(t), FreeAddr(t)
	_, port, _ := net.SplitHostPort(s.Addr)
	_, tlsPort, _ := net.SplitHostPort(s.TLSAddr)
	mail := filepath.Join(s.dir, "mail")
	files := map[string][]byte{
		"passwd":   []byte(s.User + ":{PLAIN}" + s.Password + "\n"),
		"cert.pem": s.Cert.CertPEM,
		"key.pem":  s.Cert.KeyPEM,
		"dovecot.conf": []byte(fmt.Sprintf(dovecotConf,
			s.dir, ids.internal, ids.group, ids.login, ids.mailUID, mail, ids.mailUID, ids.mailGID, port, tlsPort)),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(s.dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	must(t, os.Chmod(s.dir, 0o755))
	must(t, os.Mkdir(mail, 0o755))
	must(t, os.Chown(mail, ids.mailUID, ids.mailGID))
	return filepath.Join(s.dir, "dovecot.conf")
}

// dovecotConf is a complete Dovecot 2.3 configuration: no syslog, nothing
// outside the temporary directory, no privileges it does not need.
const dovecotConf = `base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/dovecot.log
info_log_path = %[1]s/dovecot.log
protocols = imap
listen = 127.0.0.1
default_internal_user = %[2]s
default_internal_group = %[3]s
default_login_user = %[4]s
first_valid_uid = %[5]d
mail_location = maildir:%[6]s/%%u
disable_plaintext_auth = no
auth_mechanisms = plain login
ssl = yes
ssl_cert = <%[1]s/cert.pem
ssl_key = <%[1]s/key.pem
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%u %[1]s/passwd
}
userdb {
  driver = static
  args = uid=%[7]d gid=%[8]d home=%[1]s/home/%%u
}
service imap-login {
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = %[9]s
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = %[10]s
    ssl = yes
  }
}
service anvil {
  chroot =
}
`

// dovecotIDs are the accounts Dovecot runs as. As root (CI containers) the
// Debian package's own accounts serve, since imap-login refuses root and
// the userdb refuses UID 0; mail belongs to nobody. Otherwise everything
// runs as the current user.
type dovecotIDs struct {
	internal, group, login string
	mailUID, mailGID       int
}

func dovecotUsers(t testing.TB) dovecotIDs {
	t.Helper()
	if os.Getuid() != 0 {
		u, err := user.Current()
		if err != nil {
			t.Fatal(err)
		}
		g, err := user.LookupGroupId(u.Gid)
		if err != nil {
			t.Fatal(err)
		}
		return dovecotIDs{internal: u.Username, group: g.Name, login: u.Username,
			mailUID: os.Getuid(), mailGID: os.Getgid()}
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatalf("dovecot as root needs the nobody account: %v", err)
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	return dovecotIDs{internal: "dovecot", group: "dovecot", login: "dovenull", mailUID: uid, mailGID: gid}
}

// FreeAddr returns a loopback address with a port free right now, below
// the ephemeral range (package freeport).
func FreeAddr(t testing.TB) string {
	t.Helper()
	return freeport.For(t)
}

// waitGreeting waits until addr answers with an IMAP greeting.
func waitGreeting(addr string, exited <-chan struct{}) error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("dovecot exited")
		default:
		}
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			line, rerr := bufio.NewReader(conn).ReadString('\n')
			conn.Close()
			if rerr == nil && strings.HasPrefix(line, "* OK") {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("no greeting on %s", addr)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
