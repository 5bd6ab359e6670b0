// Package rspamdtest runs a real rspamd for tests: the Debian package's
// binary with a configuration of its own in a temporary directory — only
// the normal worker, on a free loopback port, no controller, proxy or
// Redis, no DNS-based modules — run in the foreground and stopped when the
// test ends. It starts in well under a second: the public suffix list is
// replaced by a small one and Hyperscan is off.
//
// rspamd's own rules (rspamd.lua) are loaded, with two thresholds (add
// header at 6, reject at 15), and its test patterns are enabled: GTUBE is
// a reject, the GTUBE variants of AddHeaderPattern and
// RewriteSubjectPattern are add header and rewrite subject. A mail whose
// Subject contains SoftRejectSubject is answered soft reject.
//
// Start skips the test where rspamd is not installed, unless
// CASEGATE_REQUIRE_RSPAMD=1 (set by .ci/run) makes that a failure.
package rspamdtest

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/casegate/casegate/gateway/gatewaytest"
	"github.com/casegate/casegate/gateway/gatewaytest/child"
	"github.com/casegate/casegate/gateway/gatewaytest/freeport"
)

// RequireEnv names the environment variable that, set to 1, turns a missing
// rspamd into a test failure instead of a skip.
const RequireEnv = "CASEGATE_REQUIRE_RSPAMD"

// The test patterns rspamd knows (rspamd.com/doc/other/gtube_patterns.html).
const (
	GTUBE                 = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
	AddHeaderPattern      = "YJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
	RewriteSubjectPattern = "ZJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
	SoftRejectSubject     = "rspamdtest soft reject"
)

// Server is a running rspamd.
type Server struct {
	URL     string // the normal worker: http://127.0.0.1:PORT
	Version string // as `rspamd --version` prints it

	dir    string
	cmd    *exec.Cmd
	exited chan struct{}
}

// Start starts a throwaway rspamd that stops when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := findRspamd(t)
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("rspamd --version: %v\n%s", err, out)
	}
	dir := t.TempDir()
	addr := freeAddr(t)
	s := &Server{URL: "http://" + addr, Version: strings.TrimSpace(string(out)), dir: dir}
	files := map[string]string{
		"rspamd.conf": fmt.Sprintf(rspamdConf, dir, addr),
		"tld.dat":     "com\norg\nnet\nexample\ntest\n",
		"soft.lua":    fmt.Sprintf(softRejectLua, SoftRejectSubject),
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "db"), 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{"-f", "-c", filepath.Join(dir, "rspamd.conf"),
		"--var=DBDIR=" + filepath.Join(dir, "db"), "--var=RUNDIR=" + filepath.Join(dir, "db"), "--var=LOGDIR=" + dir}
	if os.Getuid() == 0 {
		args = append(args, "-i") // rspamd refuses root without it
	}
	output, err := os.Create(filepath.Join(dir, "output.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer output.Close()
	s.cmd = exec.Command(bin, args...)
	// Output to a file, not a pipe: the workers inherit it, and Wait
	// would wait for them to close a pipe.
	s.cmd.Stdout, s.cmd.Stderr = output, output
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start rspamd: %v", err)
	}
	s.exited = make(chan struct{})
	go func() { s.cmd.Wait(); close(s.exited) }()
	t.Cleanup(s.Stop)
	if err := s.waitPing(); err != nil {
		s.Stop()
		t.Fatalf("%s did not start: %v\n%s", s.Version, err, s.Log())
	}
	return s
}

// findRspamd returns the path of the rspamd binary, or skips the test.
func findRspamd(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("rspamd")
	if err == nil {
		return bin
	}
	gatewaytest.Missing(t, RequireEnv, fmt.Sprintf("rspamd not installed (%v): apt-get install rspamd", err))
	return ""
}

// waitPing waits until the normal worker answers /ping.
func (s *Server) waitPing() error {
	c := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case <-s.exited:
			return errors.New("rspamd exited")
		default:
		}
		resp, err := c.Get(s.URL + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("no answer on %s/ping", s.URL)
}

// Stop stops rspamd (SIGTERM, then SIGKILL after 10 s). Stopping a
// stopped server does nothing.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	child.Stop(s.cmd.Process, s.exited, syscall.SIGTERM, 10*time.Second)
	s.cmd = nil
}

// Log returns what rspamd logged so far, for a failing test to show.
func (s *Server) Log() string {
	var b strings.Builder
	for _, name := range []string{"output.log", "rspamd.log"} {
		out, err := os.ReadFile(filepath.Join(s.dir, name))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			b.WriteString(err.Error() + "\n")
		}
		b.Write(out)
	}
	return b.String()
}

// freeAddr returns a loopback address with a port free right now, below
// the ephemeral range (package freeport).
func freeAddr(t testing.TB) string {
	t.Helper()
	return freeport.For(t)
}

// rspamdConf writes nothing outside the directory %[1]s; the rules come
// from the package ($RULESDIR).
const rspamdConf = `options {
  pidfile = "%[1]s/db/rspamd.pid";
  filters = "";
  url_tld = "%[1]s/tld.dat";
  disable_hyperscan = true;
  hs_cache_dir = "%[1]s/db";
  tempdir = "%[1]s";
  enable_test_patterns = true;
  dns { timeout = 1s; retransmits = 1; }
}
logging {
  type = "file";
  filename = "%[1]s/rspamd.log";
  level = "info";
}
worker "normal" {
  bind_socket = "%[2]s";
  count = 1;
}
actions {
  reject = 15;
  add_header = 6;
}
lua = "$RULESDIR/rspamd.lua";
lua = "%[1]s/soft.lua";
`

// softRejectLua answers soft reject for a mail whose Subject contains
// %[1]q.
const softRejectLua = `rspamd_config:register_symbol({
  name = 'RSPAMDTEST_SOFT_REJECT',
  type = 'prefilter',
  callback = function(task)
    local s = task:get_subject()
    if s and s:find(%[1]q, 1, true) then
      task:set_pre_result('soft reject', 'try again later')
    end
  end,
})
`
