// Package postfixtest runs private Postfix instances for tests: each with
// its own config_directory, queue_directory and data_directory in a
// temporary directory, listening on a free loopback port, started with
// `postfix -c DIR start` and stopped when the test ends. It never reads or
// touches the system's Postfix instance or its queue.
//
// Postfix's master must start as root (it then runs its daemons as the
// package's postfix account), so Start skips the test when not root or when
// Postfix is not installed, unless CASEGATE_REQUIRE_POSTFIX=1 (set by
// .ci/run) makes that a failure. The base configuration is written for
// Postfix 3.x (Debian's 3.7).
//
// An Instance belongs to the test goroutine that made it: its methods fail
// the test with t.Fatal.
package postfixtest

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
	"sync"
	"testing"
	"time"

	"github.com/casegate/casegate/gateway/gatewaytest"
	"github.com/casegate/casegate/gateway/gatewaytest/freeport"
)

// RequireEnv names the environment variable that, set to 1, turns a
// missing Postfix (or a test run without root) into a failure instead of a
// skip.
const RequireEnv = "CASEGATE_REQUIRE_POSTFIX"

// Config is what an instance adds to the base configuration.
type Config struct {
	Hostname string   // myhostname
	MainCF   []string // main.cf text appended after the base (later settings win)
	MasterCF []string // master.cf entries appended after the base services
}

// Instance is a running private Postfix.
type Instance struct {
	Addr     string // its SMTP listener, 127.0.0.1:port
	Hostname string
	Dir      string // config in Dir/conf, queue in Dir/queue, log in Dir/maillog

	t       testing.TB
	bin     string
	stopped bool
}

// Require skips the test (or fails it, with RequireEnv=1) unless Postfix
// is installed and the test runs as root, and returns the postfix binary.
func Require(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("postfix")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/postfix"); serr != nil {
			gatewaytest.Missing(t, RequireEnv, "postfix not installed: apt-get install postfix")
		}
		bin = "/usr/sbin/postfix"
	}
	if os.Geteuid() != 0 {
		gatewaytest.Missing(t, RequireEnv, "a private Postfix instance must be started as root")
	}
	if _, err := user.Lookup("postfix"); err != nil {
		gatewaytest.Missing(t, RequireEnv, "the postfix account is missing: apt-get install postfix")
	}
	return bin
}

// Start starts a private Postfix with the base configuration plus cfg.
func Start(t testing.TB, cfg Config) *Instance {
	t.Helper()
	bin := Require(t)
	// Not t.TempDir: Postfix's daemons run as the postfix account and must
	// reach their directories.
	dir, err := os.MkdirTemp("", "casegate-postfix-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	must(t, os.Chmod(dir, 0o755))
	i := &Instance{Addr: FreeAddr(t), Hostname: cfg.Hostname, Dir: dir, t: t, bin: bin}
	i.writeConfig(cfg)
	t.Cleanup(i.Stop)
	out, err := exec.Command(bin, "-c", i.conf(), "start").CombinedOutput()
	if err != nil {
		t.Fatalf("postfix -c %s start: %v\n%s\n%s", i.conf(), err, out, i.Log())
	}
	if err := waitGreeting(i.Addr); err != nil {
		t.Fatalf("postfix on %s: %v\n%s", i.Addr, err, i.Log())
	}
	return i
}

func (i *Instance) conf() string { return filepath.Join(i.Dir, "conf") }

// Stop stops the instance; its queue stays until the directory is removed.
func (i *Instance) Stop() {
	if i.stopped {
		return
	}
	i.stopped = true
	if out, err := exec.Command(i.bin, "-c", i.conf(), "stop").CombinedOutput(); err != nil {
		i.t.Errorf("postfix -c %s stop: %v\n%s", i.conf(), err, out)
	}
}

// Log returns the instance's mail log so far.
func (i *Instance) Log() string {
	b, err := os.ReadFile(filepath.Join(i.Dir, "maillog"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err.Error()
	}
	return string(b)
}

// Queue returns `postqueue -p` of the instance.
func (i *Instance) Queue() string {
	out, _ := exec.Command("postqueue", "-c", i.conf(), "-p").CombinedOutput()
	return string(out)
}

// Flush asks the instance to try every deferred mail now.
func (i *Instance) Flush() {
	exec.Command("postqueue", "-c", i.conf(), "-f").Run()
}

// writeConfig writes main.cf and master.cf: the base, then cfg's text.
func (i *Instance) writeConfig(cfg Config) {
	i.t.Helper()
	for _, d := range []string{"conf", "queue", "data"} {
		must(i.t, os.Mkdir(filepath.Join(i.Dir, d), 0o755))
	}
	pf, err := user.Lookup("postfix")
	if err != nil {
		i.t.Fatal(err)
	}
	uid, _ := strconv.Atoi(pf.Uid)
	must(i.t, os.Chown(filepath.Join(i.Dir, "data"), uid, -1))
	_, port, _ := net.SplitHostPort(i.Addr)
	main := fmt.Sprintf(baseMain, i.Dir, cfg.Hostname) + strings.Join(cfg.MainCF, "\n") + "\n"
	master := fmt.Sprintf(baseMaster, port) + strings.Join(cfg.MasterCF, "\n") + "\n"
	must(i.t, os.WriteFile(filepath.Join(i.conf(), "main.cf"), []byte(main), 0o644))
	must(i.t, os.WriteFile(filepath.Join(i.conf(), "master.cf"), []byte(master), 0o644))
}

// baseMain keeps an instance to itself: its own directories and log file,
// loopback only, no DNS, no local delivery, short retry times for tests.
const baseMain = `compatibility_level = 3.6
config_directory = %[1]s/conf
queue_directory = %[1]s/queue
data_directory = %[1]s/data
maillog_file = %[1]s/maillog
maillog_file_prefixes = %[1]s
mail_owner = postfix
setgid_group = postdrop
myhostname = %[2]s
myorigin = $myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtp_dns_support_level = disabled
alias_maps =
alias_database =
local_recipient_maps =
local_transport = error:5.1.1 no local delivery here
biff = no
address_verify_poll_delay = 1s
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
`

// baseMaster are the services a Postfix needs, none chrooted, with the SMTP
// listener on the given loopback port.
const baseMaster = `127.0.0.1:%s inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`

// FreeAddr returns a loopback address with a port free right now, below
// the ephemeral range (package freeport).
func FreeAddr(t testing.TB) string {
	t.Helper()
	return freeport.For(t)
}

// waitGreeting waits until addr answers with an SMTP greeting.
func waitGreeting(addr string) error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			line, rerr := bufio.NewReader(conn).ReadString('\n')
			conn.Close()
			if rerr == nil && strings.HasPrefix(line, "220 ") {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("no greeting on %s", addr)
}

var userMu sync.Mutex

// SystemUser returns the uid and gid of the unprivileged account name,
// creating it (a system account without a home or a shell) when missing.
// Postfix's pipe refuses to run a command as root, so the tests run the
// pipe and `casegate serve` as such an account.
func SystemUser(t testing.TB, name string) (uid, gid int) {
	t.Helper()
	userMu.Lock()
	defer userMu.Unlock()
	u, err := user.Lookup(name)
	if err != nil {
		out, aerr := exec.Command("useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
			"--shell", "/usr/sbin/nologin", name).CombinedOutput()
		if aerr != nil && !strings.Contains(string(out), "already exists") {
			t.Fatalf("useradd %s: %v\n%s", name, aerr, out)
		}
		if u, err = user.Lookup(name); err != nil {
			t.Fatal(err)
		}
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
