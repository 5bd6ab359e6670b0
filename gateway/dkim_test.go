package gateway

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/casegate/casegate/store"
)

// useDKIMKey generates a key of kind, writes it to a file, loads it back
// as the gateway's signing key and returns its DNS record.
func useDKIMKey(t testing.TB, g *Gateway, kind string) string {
	t.Helper()
	pemKey, record, err := GenerateDKIMKey(kind)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dkim.pem")
	if err := os.WriteFile(path, pemKey, 0o600); err != nil {
		t.Fatal(err)
	}
	key, err := LoadDKIMKey(path)
	if err != nil {
		t.Fatal(err)
	}
	g.cfg.DKIM = DKIMConfig{Domain: "support.test", Selector: "cg1", Key: key}
	return record
}

// Notifications leave signed, and the signature verifies on the bytes the
// relay received, against the record keygen prints.
func TestNotificationsAreDKIMSigned(t *testing.T) {
	for _, kind := range []string{"rsa", "ed25519"} {
		t.Run(kind, func(t *testing.T) {
			e := newOpsEnv(t, Protection{})
			record := useDKIMKey(t, e.g, kind)
			if !strings.HasPrefix(record, "v=DKIM1; k="+kind+"; p=") {
				t.Fatalf("record = %q", record)
			}
			e.ingest(t, "carol@customer.example", []string{"support@support.test"},
				"From: Carol <carol@customer.example>\nTo: support@support.test\nCc: dave@customer.example\nSubject: VPN\nMessage-ID: <v1@customer.example>\n\nIt drops.\n")
			if n := e.sendDue(t); n != 2 {
				t.Fatalf("sent %d, want 2", n)
			}
			mails := e.relay.Mails()
			if len(mails) != 2 {
				t.Fatalf("relay got %d mails", len(mails))
			}
			for _, m := range mails {
				verifs, err := dkim.VerifyWithOptions(bytes.NewReader(m.Data), &dkim.VerifyOptions{
					LookupTXT: func(name string) ([]string, error) {
						if name != "cg1._domainkey.support.test" {
							t.Errorf("key looked up at %s", name)
						}
						return []string{record}, nil
					},
				})
				if err != nil || len(verifs) != 1 || verifs[0].Err != nil || verifs[0].Domain != "support.test" {
					t.Fatalf("verify: %v %+v\n%s", err, verifs, m.Data)
				}
			}
		})
	}
}

// BenchmarkComposeSigned measures what signing adds to composing and
// rendering one notification: go test -run '^$' -bench ComposeSigned ./gateway/
func BenchmarkComposeSigned(b *testing.B) {
	g, st := newTestGateway(b)
	ctx := context.Background()
	_, err := g.Ingest(ctx, []byte(crlf("From: Carol <carol@customer.example>\nTo: support@support.test\nSubject: VPN\nMessage-ID: <b1@customer.example>\n\nIt drops every hour.\n")),
		Envelope{Source: "smtp", From: "carol@customer.example", To: []string{"support@support.test"}})
	if err != nil {
		b.Fatal(err)
	}
	rows, err := st.ListOutbox(ctx, "", 0)
	if err != nil || len(rows) == 0 {
		b.Fatalf("no outbox row: %v", err)
	}
	row := rows[0]
	for _, kind := range []string{"none", "rsa", "ed25519"} {
		b.Run(kind, func(b *testing.B) {
			g.cfg.DKIM = DKIMConfig{}
			if kind != "none" {
				useDKIMKey(b, g, kind)
			}
			for b.Loop() {
				composeAndRender(b, g, row)
			}
		})
	}
}

func composeAndRender(b *testing.B, g *Gateway, row store.OutboxMail) {
	msg, err := g.compose(row)
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := msg.WriteTo(&buf); err != nil {
		b.Fatal(err)
	}
}
