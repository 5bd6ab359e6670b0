package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/textproto"
	"strings"
	"time"

	"github.com/casegate/casegate/store"
)

// Upload is a file attached to a comment written on a page.
type Upload struct {
	Filename    string
	ContentType string
	Data        []byte
}

// Comment adds the customer's comment, with files, to a case of hers (the
// contact or a watcher). It is kept like a mail she sent: a stored
// message (source "web") with its raw form, its attachments and a
// decision trace, and the life cycle rules of a reply apply (SPEC §2): on
// awaiting_info it reopens the case; on resolved the contact's comment
// reopens it, a watcher's is a comment; the other participants, the
// assignee or else the team are told. Unlike a mail, no first word
// accepts or closes: the page has buttons for that.
func (cu *Customer) Comment(ctx context.Context, number, body string, files []Upload) error {
	body = strings.TrimSpace(strings.ReplaceAll(body, "\r\n", "\n"))
	if body == "" && len(files) == 0 {
		return fmt.Errorf("%w: an empty comment", ErrInvalid)
	}
	c, role, err := cu.caseFor(ctx, number)
	if err != nil {
		return err
	}
	if role != RoleContact && role != RoleWatcher {
		return fmt.Errorf("%w: a %s of case %s may not comment", ErrForbidden, role, c.Number)
	}
	g := cu.g
	raw, err := g.webMessage(c, cu.Email, body, files)
	if err != nil {
		return err
	}
	in := newInbound(raw, Envelope{Source: "web", From: cu.Email, To: []string{g.replyTo(caseOf(c)).Address}})
	if in.msg, err = g.parse(raw); err != nil {
		return fmt.Errorf("%w: the comment cannot be kept: %v", ErrInvalid, err)
	}
	in.msg.Visible, in.kind, in.authenticated, in.web = body, c.Kind, true, true
	in.step("web", role, "written on the case page by "+cu.Email)
	_, err = g.onCase(ctx, c.Number, func(tx *store.Tx, c *store.Case) error {
		if c.State == store.StateClosed {
			return &IllegalTransitionError{From: c.State, To: c.State, By: byReply}
		}
		res, err := g.storeOnly(ctx, tx, in, store.OutcomeReply, c)
		if err != nil {
			return err
		}
		if err := g.replyRules(ctx, tx, in, c); err != nil {
			return err
		}
		if err := g.teamHearsReply(ctx, tx, in, *c); err != nil {
			return err
		}
		trace, _ := json.Marshal(in.trace)
		return tx.SetDecision(ctx, res.MessageID, string(trace))
	})
	return err
}

// webMessage writes a comment from a page as a MIME message: the text,
// then each file as an attachment.
func (g *Gateway) webMessage(c store.Case, from, body string, files []Upload) ([]byte, error) {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	hdr := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	var id [12]byte
	_, _ = rand.Read(id[:])
	hdr("From", (&mail.Address{Address: from}).String())
	hdr("To", g.replyTo(caseOf(c)).String())
	hdr("Subject", mime.QEncoding.Encode("utf-8", "["+c.Number+"] "+c.Subject))
	hdr("Date", g.store.Now().Format(time.RFC1123Z))
	hdr("Message-ID", "<web."+strings.ToLower(idEncoding.EncodeToString(id[:]))+"@"+g.cfg.Hostname+">")
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "multipart/mixed; boundary="+w.Boundary())
	b.WriteString("\r\n")
	part, err := w.CreatePart(textproto.MIMEHeader{"Content-Type": {"text/plain; charset=utf-8"}, "Content-Transfer-Encoding": {"base64"}})
	if err != nil {
		return nil, err
	}
	writeBase64(part, []byte(body))
	for _, f := range files {
		ct := f.ContentType
		if _, _, err := mime.ParseMediaType(ct); err != nil || ct == "" {
			ct = "application/octet-stream"
		}
		name := SafeFilename(f.Filename)
		if name == "" {
			name = "attachment"
		}
		part, err := w.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {ct},
			"Content-Disposition":       {mime.FormatMediaType("attachment", map[string]string{"filename": name})},
			"Content-Transfer-Encoding": {"base64"},
		})
		if err != nil {
			return nil, err
		}
		writeBase64(part, f.Data)
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// writeBase64 writes data base64-encoded in lines of 76 characters.
func writeBase64(w interface{ Write([]byte) (int, error) }, data []byte) {
	s := base64.StdEncoding.EncodeToString(data)
	for len(s) > 76 {
		_, _ = w.Write([]byte(s[:76] + "\r\n"))
		s = s[76:]
	}
	_, _ = w.Write([]byte(s + "\r\n"))
}
