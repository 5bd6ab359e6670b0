package mailparse

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
)

// addAttachment keeps a leaf part that is not body text.
func (w *walker) addAttachment(p *part, data []byte) {
	name := p.filename
	if name == "" {
		name = defaultFilename(p.mtype, len(w.atts)+1)
	}
	w.atts = append(w.atts, newAttachment(name, p.mtype, data, canonicalID(p.h.get("Content-ID")),
		p.disp == "inline" || (p.disp == "" && p.h.has("Content-ID"))))
}

// newAttachment fills in size and digest.
func newAttachment(name, mtype string, data []byte, cid string, inline bool) Attachment {
	sum := sha256.Sum256(data)
	return Attachment{
		Filename:    name,
		ContentType: mtype,
		ContentID:   cid,
		Inline:      inline,
		Size:        int64(len(data)),
		SHA256:      hex.EncodeToString(sum[:]),
		Data:        data,
	}
}

// addMessage keeps a message/rfc822 part whole, as an attachment with the
// raw bytes of the enclosed mail, and parses it so that its text and its
// own attachments are reachable through Attachment.Message.
func (w *walker) addMessage(p *part, data []byte, depth int) error {
	inner, err := parseDepth(data, w.opts, w.lim, depth+1, &w.parts)
	if err != nil {
		if e, ok := IsError(err); ok && e.Reason == "no_header" {
			w.warn("enclosed message without header kept as attachment")
			w.addAttachment(p, data)
			return nil
		}
		return err
	}
	name := p.filename
	if name == "" {
		name = messageFilename(inner.Subject)
	}
	a := newAttachment(name, p.mtype, data, canonicalID(p.h.get("Content-ID")), p.disp == "inline")
	a.Message = inner
	w.atts = append(w.atts, a)
	if w.report != nil && w.report.origID == "" {
		w.report.origID = inner.MessageID
	}
	return nil
}

// messageFilename names an enclosed mail after its subject.
func messageFilename(subject string) string {
	name := strings.Map(func(r rune) rune {
		switch r {
		case '/', '\\', ':', '*', '?', '"', '<', '>', '|':
			return '_'
		}
		if r < 32 {
			return -1
		}
		return r
	}, strings.TrimSpace(subject))
	if len(name) > 100 {
		name = strings.ToValidUTF8(name[:100], "")
	}
	if name == "" {
		name = "message"
	}
	return name + ".eml"
}

// defaultFilename names a part that came without a name, from its type.
func defaultFilename(mtype string, n int) string {
	ext := extByType[mtype]
	if ext == "" {
		if strings.HasPrefix(mtype, "text/") {
			ext = ".txt"
		} else {
			ext = ".bin"
		}
	}
	base := "attachment-" + strconv.Itoa(n)
	switch mtype {
	case "message/delivery-status", "message/global-delivery-status":
		base = "delivery-status"
	case "text/rfc822-headers", "message/rfc822-headers":
		base = "returned-headers"
	case "application/pgp-signature":
		base = "signature"
	case "application/pkcs7-signature", "application/x-pkcs7-signature":
		base = "smime"
	}
	return base + ext
}

// extByType maps the media types of unnamed parts to file extensions.
var extByType = map[string]string{
	"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif",
	"image/webp": ".webp", "image/bmp": ".bmp", "image/tiff": ".tif",
	"image/svg+xml": ".svg", "text/calendar": ".ics", "text/html": ".html",
	"text/csv": ".csv", "text/x-vcard": ".vcf", "text/vcard": ".vcf",
	"application/pdf": ".pdf", "application/zip": ".zip",
	"application/pgp-signature": ".asc", "application/pkcs7-signature": ".p7s",
	"application/x-pkcs7-signature": ".p7s", "application/ms-tnef": ".dat",
	"message/delivery-status": ".txt", "message/global-delivery-status": ".txt",
	"text/rfc822-headers": ".txt", "message/rfc822-headers": ".txt",
	"message/disposition-notification": ".txt", "application/octet-stream": ".bin",
	"message/rfc822": ".eml", "message/global": ".eml",
}
