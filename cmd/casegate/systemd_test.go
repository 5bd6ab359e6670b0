package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/casegate/casegate/gateway/gatewaytest"
)

// requireSystemdAnalyze names the variable that, set to 1, turns a missing
// systemd-analyze into a failure instead of a skip.
const requireSystemdAnalyze = "CASEGATE_REQUIRE_SYSTEMD_ANALYZE"

// The unit shipped in docs/ is valid (systemd-analyze verify prints
// nothing), keeps its hardening (exposure at most 2.5 by systemd-analyze
// security), and has what the manual promises. No systemd runs here:
// both checks work offline. ExecStart names the built binary, since verify
// checks that the command exists.
func TestSystemdUnit(t *testing.T) {
	unit, err := os.ReadFile(filepath.Join("..", "..", "docs", "casegate.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"User=casegate", "StateDirectory=casegate", "ProtectSystem=strict", "NoNewPrivileges=yes",
		"Restart=on-failure", "ExecReload=/bin/kill -HUP $MAINPID",
		"ExecStart=/usr/local/bin/casegate serve --config /etc/casegate/casegate.yaml",
	} {
		if !strings.Contains(string(unit), "\n"+want+"\n") {
			t.Errorf("the unit lacks %q", want)
		}
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		gatewaytest.Missing(t, requireSystemdAnalyze, "systemd-analyze not found (apt-get install systemd): the unit is not verified")
	}
	if testing.Short() {
		t.Skip("builds the binary")
	}
	path := filepath.Join(t.TempDir(), "casegate.service")
	body := strings.Replace(string(unit), "ExecStart=/usr/local/bin/casegate ", "ExecStart="+casegateBinary(t)+" ", 1)
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err = exec.Command(analyze, "security", "--offline=yes", "--threshold=25", path).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: exposure above 2.5 or not checked: %v\n%s", err, out)
	}
}
