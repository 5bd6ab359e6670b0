package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/casegate/casegate/gateway/spool"
	"github.com/casegate/casegate/store"
)

// spooled is raw as the SMTP listener holds it: in a spool file when it
// is larger than spool.Above.
func spooled(t *testing.T, raw string) *spool.Message {
	t.Helper()
	m, _, err := spool.Read(strings.NewReader(raw), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, inMemory := m.InMemory(); inMemory != (len(raw) <= spool.Above) {
		t.Fatalf("%d bytes in memory: %v", len(raw), inMemory)
	}
	t.Cleanup(m.Close)
	return m
}

// A large mail ingested from its spool file is stored as the same mail
// ingested from memory would be: the raw bytes byte for byte, its digest,
// its text, its attachment; the same bytes from memory are then its
// duplicate.
func TestIngestSpooledMail(t *testing.T) {
	g, st := newTestGateway(t)
	g.cfg.MaxMessageBytes = 16 << 20
	ctx := context.Background()
	env := Envelope{Source: "smtp", From: "carol@customer.example", To: []string{"support@support.test"}}
	body := longText("Logged", 80_000) // about 3 MB
	attached := strings.Repeat("QUJDREVGR0g=\r\n", 20_000)
	raw := "From: Carol <carol@customer.example>\r\nTo: support@support.test\r\nSubject: Logs\r\n" +
		"Message-ID: <spooled.1@customer.example>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
		strings.ReplaceAll(body, "\n", "\r\n") + "\r\n--b1\r\nContent-Type: application/octet-stream; name=\"a.bin\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" + attached + "--b1--\r\n"
	res, err := g.IngestMessage(ctx, spooled(t, raw), env)
	if err != nil || res.Outcome != store.OutcomeNewCase {
		t.Fatalf("%+v %v", res, err)
	}
	m, err := st.Message(ctx, res.MessageID)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(raw))
	if string(m.Raw) != raw || m.ContentSHA256 != hex.EncodeToString(sum[:]) || m.FullText != body {
		t.Errorf("stored %d raw bytes (equal %v), digest %s, %d of text (equal %v)", len(m.Raw), string(m.Raw) == raw,
			m.ContentSHA256, len(m.FullText), m.FullText == body)
	}
	c, err := st.CaseByNumber(ctx, res.Case)
	if err != nil {
		t.Fatal(err)
	}
	atts, err := st.CaseAttachments(ctx, c.ID)
	if err != nil || len(atts) != 1 || atts[0].Size != 20_000*8 {
		t.Errorf("attachments %+v (%v)", atts, err)
	}
	again, err := g.Ingest(ctx, []byte(raw), env)
	if err != nil || again.Outcome != OutcomeDuplicate || again.MessageID != res.MessageID {
		t.Errorf("the same bytes from memory: %+v %v", again, err)
	}
}

// A large mail that cannot be read is quarantined from its spool file
// with its raw bytes; one over the size limit too.
func TestIngestSpooledQuarantine(t *testing.T) {
	g, st := newTestGateway(t)
	g.cfg.MaxMessageBytes = 2 << 20
	ctx := context.Background()
	env := Envelope{Source: "smtp", From: "carol@customer.example", To: []string{"support@support.test"}}
	for _, c := range []struct{ name, raw, reason string }{
		{"no header", strings.Repeat("no header here, only text\r\n", 20_000), "no_header"},
		{"too big", "From: carol@customer.example\r\nSubject: big\r\n\r\n" + strings.Repeat("x", 3<<20) + "\r\n", "too_big"},
	} {
		res, err := g.IngestMessage(ctx, spooled(t, c.raw), env)
		if err != nil || res.Outcome != OutcomeQuarantined || res.Reason != c.reason {
			t.Fatalf("%s: %+v %v", c.name, res, err)
		}
		q, err := st.QuarantinedByID(ctx, res.Quarantine)
		if err != nil || q.Size != len(c.raw) {
			t.Errorf("%s: quarantined %d bytes, want %d: %v", c.name, q.Size, len(c.raw), err)
		}
		var raw bytes.Buffer
		if err := st.WriteQuarantinedRaw(ctx, res.Quarantine, &raw); err != nil || raw.String() != c.raw {
			t.Errorf("%s: read back %d bytes (equal %v), %v", c.name, raw.Len(), raw.String() == c.raw, err)
		}
	}
}

// A spool file that cannot be read is a temporary failure: nothing is
// stored, and the sender tries again.
func TestIngestSpooledReadFailure(t *testing.T) {
	g, st := newTestGateway(t)
	ctx := context.Background()
	m := spooled(t, "From: carol@customer.example\r\nSubject: gone\r\n\r\n"+strings.Repeat("text\r\n", 100_000))
	m.Close() // the file is gone
	_, err := g.IngestMessage(ctx, m, Envelope{Source: "smtp", To: []string{"support@support.test"}})
	var te *TemporaryError
	if !errors.As(err, &te) {
		t.Fatalf("%v, want a temporary error", err)
	}
	if cs, err := st.ListCases(ctx, store.CaseFilter{}); err != nil || len(cs) != 0 {
		t.Errorf("%d cases (%v)", len(cs), err)
	}
}

// DKIM is verified from the spool file as from memory.
func TestIngestSpooledDKIM(t *testing.T) {
	e := newAuthEnv(t)
	e.publishKey(t, "customer.example")
	raw := e.sign(t, "customer.example", "From: Carol <carol@customer.example>\nTo: support@support.test\n"+
		"Subject: Logs\nMessage-ID: <dkim.spooled@customer.example>\n\n"+longText("Signed", 10_000)+"\n")
	res, err := e.g.IngestMessage(context.Background(), spooled(t, raw), Envelope{Source: "smtp",
		From: "carol@customer.example", To: []string{"support@support.test"}, ClientIP: outsideIP, HELO: "client.example"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Auth == nil || len(res.Auth.DKIM) != 1 || res.Auth.DKIM[0].Result != "pass" {
		t.Errorf("DKIM %+v, want one pass", res.Auth)
	}
}
