package gateway

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/casegate/casegate/gateway/gatewaytest"
	"github.com/casegate/casegate/store"
)

// The budget lets a message in only when its bytes fit beside those of
// the messages in hand; one that waits past its deadline is a temporary
// failure.
func TestMemBudget(t *testing.T) {
	b := newMemBudget(100)
	release, err := b.acquire(context.Background(), 80)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	var te *TemporaryError
	if _, err := b.acquire(ctx, 30); !errors.As(err, &te) {
		t.Fatalf("no room: %v, want a temporary error", err)
	}
	small, err := b.acquire(context.Background(), 20)
	if err != nil {
		t.Fatalf("20 bytes beside 80 of 100: %v", err)
	}
	release()
	small()
	// A message larger than the whole budget takes all of it, not more.
	all, err := b.acquire(context.Background(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	all()
}

// A large message comes over SMTP through the spool and is stored byte
// for byte; the spool is empty afterwards, and a spool that cannot be
// written refuses large messages with a temporary failure only.
func TestSMTPLargeMessageThroughSpool(t *testing.T) {
	g, st := newTestGateway(t)
	g.cfg.MaxMessageBytes = 8 << 20
	spool := filepath.Join(t.TempDir(), "spool")
	if err := os.MkdirAll(spool, 0o750); err != nil {
		t.Fatal(err)
	}
	leftover := filepath.Join(spool, "casegate-data-123.eml")
	if err := os.WriteFile(leftover, []byte("from a process that stopped"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := PrepareSpool(spool); err != nil {
		t.Fatal(err)
	}
	if left := gatewaytest.DirEntries(t, spool); len(left) != 0 {
		t.Fatalf("PrepareSpool left %v", left)
	}
	addr := startSMTP(t, g, SMTPConfig{MaxMessageBytes: 8 << 20, SpoolDir: spool, MaxBytesInMemory: 4 << 20})
	body := longText("Logged", 60_000) // about 2.4 MB
	raw := "From: Carol <carol@customer.example>\r\nTo: support@support.test\r\nSubject: Logs\r\n" +
		"Message-ID: <big.1@customer.example>\r\n\r\n" + strings.ReplaceAll(body, "\n", "\r\n") + "\r\n"
	if err := smtpSend(t, addr, "carol@customer.example", []string{"support@support.test"}, raw); err != nil {
		t.Fatalf("send: %v", err)
	}
	if left := gatewaytest.DirEntries(t, spool); len(left) != 0 {
		t.Errorf("%v left in the spool", left)
	}
	ctx := context.Background()
	cs, err := st.ListCases(ctx, store.CaseFilter{})
	if err != nil || len(cs) != 1 {
		t.Fatalf("%d cases (%v)", len(cs), err)
	}
	msgs, err := st.CaseMessages(ctx, cs[0].ID)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("%d messages (%v)", len(msgs), err)
	}
	m, err := st.Message(ctx, msgs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Raw) != raw || m.FullText != body {
		t.Errorf("stored %d raw bytes (equal %v) and %d of text (equal %v)", len(m.Raw), string(m.Raw) == raw,
			len(m.FullText), m.FullText == body)
	}

	if err := os.RemoveAll(spool); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(spool, []byte("a file where the spool should be"), 0o600); err != nil {
		t.Fatal(err)
	}
	err = smtpSend(t, addr, "carol@customer.example", []string{"support@support.test"},
		strings.Replace(raw, "big.1@", "big.2@", 1))
	if code, _ := smtpCode(t, err); code != 451 {
		t.Errorf("no spool: %d, want 451", code)
	}
	if err := smtpSend(t, addr, "carol@customer.example", []string{"support@support.test"}, simpleMail); err != nil {
		t.Errorf("a small message without a spool: %v", err)
	}
}
