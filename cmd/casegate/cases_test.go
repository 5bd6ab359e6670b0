package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/casegate/casegate/gateway"
	"github.com/casegate/casegate/store"
)

func TestCasesListAndShowCLI(t *testing.T) {
	m := startMain(t, nil, nil)
	for i, subj := range []string{"First problem", "Second problem"} {
		mustSend(t, m.SMTPAddr, "alice@customer.example", []string{"support@localhost"},
			"From: alice@customer.example\nTo: support@localhost\nSubject: "+subj+"\nMessage-ID: <cli."+string(rune('a'+i))+"@customer.example>\n\nbody\n")
	}
	conf := filepath.Join(t.TempDir(), "casegate.yaml")
	if err := os.WriteFile(conf, []byte("data_dir: "+m.Config.DataDir+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cli := func(args ...string) (string, int) {
		t.Helper()
		var out, errOut bytes.Buffer
		code := run(context.Background(), args, strings.NewReader(""), &out, &errOut)
		return out.String() + errOut.String(), code
	}

	out, code := cli("cases", "list", "--config", conf)
	if code != 0 || !strings.Contains(out, "CS0000001") || !strings.Contains(out, "CS0000002") {
		t.Fatalf("cases list (%d):\n%s", code, out)
	}
	if strings.Index(out, "CS0000002") > strings.Index(out, "CS0000001") {
		t.Errorf("not newest first:\n%s", out)
	}
	out, code = cli("cases", "list", "--config", conf, "--json", "--limit", "1")
	var cases []store.Case
	if err := json.Unmarshal([]byte(out), &cases); code != 0 || err != nil || len(cases) != 1 || cases[0].Number != "CS0000002" {
		t.Fatalf("cases list --json --limit 1 (%d): %v\n%s", code, err, out)
	}
	out, code = cli("cases", "show", "CS0000001", "--config", conf, "--json")
	var d gateway.CaseDetail
	if err := json.Unmarshal([]byte(out), &d); code != 0 || err != nil || d.Subject != "First problem" || len(d.Activity) == 0 {
		t.Fatalf("cases show --json (%d): %v\n%s", code, err, out)
	}
	if out, code = cli("cases", "show", "CS0000099", "--config", conf); code == 0 || !strings.Contains(out, "not found") {
		t.Fatalf("unknown case (%d):\n%s", code, out)
	}
	if out, code = cli("cases", "list", "--config", filepath.Join(t.TempDir(), "missing.yaml")); code == 0 {
		t.Fatalf("missing config accepted:\n%s", out)
	}
}

func TestConfigRefusesUnknownKeysAndBadValues(t *testing.T) {
	dir := t.TempDir()
	check := func(yaml, wantKey string) {
		t.Helper()
		p := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(p, []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := loadConfig(p)
		if err == nil || !strings.Contains(err.Error(), wantKey) {
			t.Errorf("%q: err = %v, want it to name %s", yaml, err, wantKey)
		}
	}
	check("smtp:\n  listn: 1.2.3.4:25\n", "listn")
	check("case_prefix: cs1\n", "case_prefix")
	check("policy:\n  auto_close_after: soon\n", "soon")
	check("outbound:\n  tls: maybe\n", "outbound.tls")
	check("imap:\n  - name: x\n    address: nohost\n", "imap[0].address")
	check("addresses:\n  - {address: support+x@example.com, kind: case}\n", "addresses[0].address")
	check("database:\n  driver: mysql\n", "database.driver")
	check("database:\n  driver: postgres\n  url_env: \"\"\n", "database.url_env")
	if _, err := loadConfig(""); err != nil {
		t.Fatalf("embedded defaults refused: %v", err)
	}
}
