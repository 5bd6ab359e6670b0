package outbound

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// MaildirSender delivers into a local Maildir (a new user, no relay), so
// the mail can be read with any mail client.
type MaildirSender struct {
	dir      string
	hostname string
	// syncDir makes a directory's entries durable; tests count the calls
	// and inject failures.
	syncDir func(dir string) error
}

// NewMaildirSender creates the Maildir at dir if needed.
func NewMaildirSender(dir, hostname string) (*MaildirSender, error) {
	for _, sub := range []string{"tmp", "new", "cur"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o750); err != nil {
			return nil, fmt.Errorf("maildir: %w", err)
		}
	}
	return &MaildirSender{dir: dir, hostname: hostname, syncDir: syncDir}, nil
}

// NewSession returns a session delivering into the Maildir.
func (s *MaildirSender) NewSession() Session { return &maildirSession{s: s} }

// maildirSession delivers by the Maildir protocol: each mail is written
// to tmp/ and synced, then renamed into new/; Flush syncs new/ once for
// all the mails renamed since the last Flush, which makes them durable.
type maildirSession struct {
	s     *MaildirSender
	dirty bool // a rename into new/ is not synced yet
}

// Send writes msg into new/ through tmp/.
func (ms *maildirSession) Send(ctx context.Context, msg *gomail.Msg) error {
	b, err := maildirBytes(msg)
	if err != nil {
		return err
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	name := fmt.Sprintf("%d.%s.%s", time.Now().UnixNano(), hex.EncodeToString(rnd[:]), ms.s.hostname)
	tmp := filepath.Join(ms.s.dir, "tmp", name)
	if err := writeSynced(tmp, b); err != nil {
		return fmt.Errorf("maildir: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(ms.s.dir, "new", name)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("maildir: %w", err)
	}
	ms.dirty = true
	return nil
}

// maildirBytes is msg with Return-Path and Delivered-To, as a local
// delivery agent writes it.
func maildirBytes(msg *gomail.Msg) ([]byte, error) {
	from, err := msg.GetSender(false)
	if err != nil {
		return nil, &PermanentError{Err: err}
	}
	rcpts, err := msg.GetRecipients()
	if err != nil {
		return nil, &PermanentError{Err: err}
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "Return-Path: <%s>\r\n", strings.Trim(from, "<>"))
	for _, r := range rcpts {
		fmt.Fprintf(&buf, "Delivered-To: %s\r\n", strings.Trim(r, "<>"))
	}
	if _, err := msg.WriteTo(&buf); err != nil {
		return nil, &PermanentError{Err: fmt.Errorf("maildir: write: %w", err)}
	}
	return buf.Bytes(), nil
}

// Flush syncs new/, once for every mail renamed into it since the last
// Flush.
func (ms *maildirSession) Flush(context.Context) error {
	if !ms.dirty {
		return nil
	}
	if err := ms.s.syncDir(filepath.Join(ms.s.dir, "new")); err != nil {
		return fmt.Errorf("maildir: sync new/: %w", err)
	}
	ms.dirty = false
	return nil
}

// Close has nothing to close.
func (ms *maildirSession) Close() error { return nil }

func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// syncDir fsyncs a directory, making the renames into it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}
