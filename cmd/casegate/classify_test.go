package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/casegate/casegate/store"
)

func TestClassifyIsADryRun(t *testing.T) {
	m := startMain(t, nil, nil)
	mustSend(t, m.SMTPAddr, "alice@customer.example", []string{"support@localhost"},
		"From: alice@customer.example\nTo: support@localhost\nSubject: Printer\nMessage-ID: <c1@customer.example>\n\nBroken.\n")
	conf := filepath.Join(t.TempDir(), "casegate.yaml")
	if err := os.WriteFile(conf, []byte("data_dir: "+m.Config.DataDir+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	classify := func(raw string) map[string]any {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := run(context.Background(), []string{"classify", "--config", conf, "--json"}, strings.NewReader(raw), &out, &errOut); code != 0 {
			t.Fatalf("classify exit %d: %s", code, errOut.String())
		}
		var v map[string]any
		if err := json.Unmarshal(out.Bytes(), &v); err != nil {
			t.Fatalf("classify JSON: %v\n%s", err, out.String())
		}
		return v
	}
	decision := func(v map[string]any) map[string]any { return v["decision"].(map[string]any) }

	reply := classify("From: alice@customer.example\nTo: support@localhost\nSubject: Re: [CS0000001] Printer\n" +
		"Message-ID: <c2@customer.example>\n\nWorks now.\n\nOn Monday Bob wrote:\n> old\n")
	if d := decision(reply); d["outcome"] != "reply" || d["case"] != "CS0000001" {
		t.Errorf("reply decision = %v", d)
	}
	if p := reply["parsed"].(map[string]any); p["visible"] != "Works now." || p["case_tag"] != "CS0000001" {
		t.Errorf("parsed = %v", p)
	}
	fresh := classify("From: bob@other.example\nTo: support@localhost\nSubject: New\nMessage-ID: <c3@other.example>\n\nHello\n")
	if d := decision(fresh); d["outcome"] != "new_case" || d["case"] != "CS0000002" {
		t.Errorf("new case decision = %v", d)
	}
	dup := classify("From: alice@customer.example\nTo: support@localhost\nSubject: Printer\nMessage-ID: <c1@customer.example>\n\nBroken.\n")
	if d := decision(dup); d["outcome"] != "duplicate" {
		t.Errorf("duplicate decision = %v", d)
	}
	if d := decision(classify("no header at all")); d["outcome"] != "quarantined" && d["outcome"] != "new_case" {
		t.Errorf("garbage decision = %v", d)
	}
	// Nothing was written: still one case and one message, nothing quarantined.
	cases, _ := m.Store.ListCases(context.Background(), store.CaseFilter{})
	n, _ := m.Store.CountMessages(context.Background(), "")
	q, _ := m.Store.ListQuarantine(context.Background(), 0)
	if len(cases) != 1 || n != 1 || len(q) != 0 {
		t.Fatalf("classify wrote: %d cases, %d messages, %d quarantined", len(cases), n, len(q))
	}
}
