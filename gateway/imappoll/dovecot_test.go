package imappoll

import (
	"bufio"
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
)

// The Dovecot harness: a real dovecot-imapd on loopback ports, configured
// from scratch in a temporary directory, run in the foreground and stopped
// when the test ends.

const dovecotBin = "/usr/sbin/dovecot"

// dovecot is a running Dovecot with one user, testUser/testPass.
type dovecot struct {
	addr    string // IMAP; STARTTLS offered, plain login allowed
	tlsAddr string // IMAPS, implicit TLS
	cert    *testCert
	dir     string
	version string
}

// startDovecot starts a throwaway Dovecot. Where Dovecot is not installed
// the test is skipped, unless CASEGATE_REQUIRE_DOVECOT=1 (set by .ci/run)
// makes that a failure.
func startDovecot(t testing.TB) *dovecot {
	t.Helper()
	if _, err := os.Stat(dovecotBin); err != nil {
		if os.Getenv("CASEGATE_REQUIRE_DOVECOT") == "1" {
			t.Fatalf("dovecot not installed (%v) and CASEGATE_REQUIRE_DOVECOT=1: apt-get install dovecot-imapd", err)
		}
		t.Skip("dovecot not installed: apt-get install dovecot-imapd")
	}
	out, err := exec.Command(dovecotBin, "--version").Output()
	if err != nil {
		t.Fatalf("dovecot --version: %v", err)
	}
	dv := &dovecot{version: strings.TrimSpace(string(out)), cert: newTestCert(t)}
	if !strings.HasPrefix(dv.version, "2.3.") {
		t.Fatalf("dovecot %s: this harness writes a Dovecot 2.3 configuration", dv.version)
	}

	// Not t.TempDir: Dovecot's unprivileged login processes must be able to
	// reach the sockets under base_dir, so the directory is world-readable.
	dir, err := os.MkdirTemp("", "casegate-dovecot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	dv.dir = dir
	conf := dv.writeConfig(t)

	// Output to a file, not a pipe: Dovecot's children inherit it, and
	// Wait would wait for them to close a pipe.
	output, err := os.Create(filepath.Join(dir, "output.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer output.Close()
	cmd := exec.Command(dovecotBin, "-F", "-c", conf)
	cmd.Stdout, cmd.Stderr = output, output
	if err := cmd.Start(); err != nil {
		t.Fatalf("start dovecot: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	if err := waitGreeting(dv.addr, exited); err != nil {
		out, _ := os.ReadFile(filepath.Join(dir, "output.log"))
		log, _ := os.ReadFile(filepath.Join(dir, "dovecot.log"))
		t.Fatalf("dovecot %s did not start: %v\n%s%s", dv.version, err, out, log)
	}
	return dv
}

// writeConfig writes the configuration, the password file, the certificate
// and the mail directory, and returns the configuration's path.
func (dv *dovecot) writeConfig(t testing.TB) string {
	t.Helper()
	ids := dovecotUsers(t)
	dv.addr, dv.tlsAddr = freeAddr(t), freeAddr(t)
	_, port, _ := net.SplitHostPort(dv.addr)
	_, tlsPort, _ := net.SplitHostPort(dv.tlsAddr)
	mail := filepath.Join(dv.dir, "mail")
	files := map[string][]byte{
		"passwd":   []byte(testUser + ":{PLAIN}" + testPass + "\n"),
		"cert.pem": dv.cert.certPEM,
		"key.pem":  dv.cert.keyPEM,
		"dovecot.conf": []byte(fmt.Sprintf(dovecotConf,
			dv.dir, ids.internal, ids.group, ids.login, ids.mailUID, mail, ids.mailUID, ids.mailGID, port, tlsPort)),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dv.dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	must(t, os.Chmod(dv.dir, 0o755))
	must(t, os.Mkdir(mail, 0o755))
	must(t, os.Chown(mail, ids.mailUID, ids.mailGID))
	return filepath.Join(dv.dir, "dovecot.conf")
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

// freeAddr returns a loopback address with a port free right now.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitGreeting waits until addr answers with an IMAP greeting.
func waitGreeting(addr string, exited <-chan error) error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("dovecot exited: %v", err)
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
