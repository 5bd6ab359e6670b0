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

// casegate contacts forget erases a person while serve runs: their case
// keeps its number with a tombstone contact, and the mail they sent, sent
// again, is not taken in.
func TestContactsForgetCLI(t *testing.T) {
	m := startMain(t, nil, nil)
	conf := filepath.Join(t.TempDir(), "casegate.yaml")
	if err := os.WriteFile(conf, []byte("data_dir: "+m.Config.DataDir+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cli := func(args ...string) (string, int) {
		t.Helper()
		var out, logs bytes.Buffer
		code := run(context.Background(), append(args, "--config", conf), strings.NewReader(""), &out, &logs)
		if code != 0 {
			return out.String() + logs.String(), code
		}
		return out.String(), code
	}
	raw := "From: Alice <alice@customer.example>\nTo: support@localhost\nSubject: Printer\nMessage-ID: <p1@customer.example>\n\nE42.\n"
	mustSend(t, m.SMTPAddr, "alice@customer.example", []string{"support@localhost"}, raw)

	if out, code := cli("contacts", "forget", "not-an-address"); code != 2 {
		t.Errorf("forget not-an-address (%d): %s", code, out)
	}
	if out, code := cli("contacts"); code != 2 {
		t.Errorf("contacts without a subcommand (%d): %s", code, out)
	}
	out, code := cli("contacts", "forget", "alice@customer.example", "--json")
	var erased store.Erased
	if err := json.Unmarshal([]byte(out), &erased); code != 0 || err != nil || strings.Join(erased.Cases, " ") != "CS0000001" ||
		erased.Messages != 1 {
		t.Fatalf("contacts forget (%d): %v\n%s", code, err, out)
	}
	c, err := m.Store.CaseByNumber(context.Background(), "CS0000001")
	if err != nil || !strings.HasPrefix(c.Contact.Email, "forgotten-") || !strings.HasSuffix(c.Contact.Email, "@invalid") {
		t.Fatalf("the case after the erasure: %+v, %v", c.Contact, err)
	}
	res, err := m.Gateway.Ingest(context.Background(), []byte(raw), gateway.Envelope{Source: "smtp",
		From: "alice@customer.example", To: []string{"support@localhost"}})
	if err != nil || res.Outcome != gateway.OutcomeForgotten {
		t.Fatalf("her mail again: %+v, %v", res, err)
	}
	if out, code := cli("contacts", "forget", "alice@customer.example"); code != 0 || !strings.Contains(out, "forgotten before") {
		t.Errorf("a second erasure (%d): %s", code, out)
	}
}
