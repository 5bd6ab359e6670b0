package mailparse

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
)

// addAttachment keeps a leaf part that is not body text.
func (w *walker) addAttachment(p *part, data []byte) {
	name, cid, inline := w.attachmentOf(p)
	w.atts = append(w.atts, newAttachment(name, p.mtype, data, cid, inline))
}

// attachmentOf is the file name, Content-ID and inline flag of part p as
// an attachment.
func (w *walker) attachmentOf(p *part) (name, cid string, inline bool) {
	name = p.filename
	if name == "" {
		name = defaultFilename(p.mtype, len(w.atts)+1)
	}
	return name, canonicalID(p.h.get("Content-ID")), p.disp == "inline" || (p.disp == "" && p.h.has("Content-ID"))
}

// streamAttachmentAbove is the decoded size above which an attachment of
// a mail read from a reader is not held: its size and digest are taken in
// one pass over it, and Attachment.Decode reads it again when it is
// stored.
const streamAttachmentAbove = 1 << 20

// addAttachmentAt keeps a large attachment of a mail read from a reader,
// without holding its content.
func (w *walker) addAttachmentAt(p *part) error {
	h := sha256.New()
	var size int64
	err := w.decodeAt(p, func(b []byte) error {
		if size += int64(len(b)); size > w.lim.MaxPartBytes {
			return partTooLarge()
		}
		h.Write(b)
		return nil
	})
	if err != nil {
		return err
	}
	name, cid, inline := w.attachmentOf(p)
	lim, opts := w.lim, w.opts
	w.atts = append(w.atts, Attachment{
		Filename: name, ContentType: p.mtype, ContentID: cid, Inline: inline,
		Size: size, SHA256: hex.EncodeToString(h.Sum(nil)),
		Decode: func(put func([]byte) error) error {
			// The first pass noted the part's warnings.
			again := &walker{lim: lim, opts: opts, warn: func(string) {}}
			return again.decodeAt(p, put)
		},
	})
	return nil
}

// readWhole reports whether a leaf part is read into memory whatever its
// size: body text, an enclosed message or report, a TNEF container, all
// of which are taken apart.
func readWhole(p *part) bool {
	return (p.disp != "attachment" && p.filename == "" && (p.mtype == "text/plain" || p.mtype == "text/html")) ||
		strings.HasPrefix(p.mtype, "message/") || p.mtype == "text/rfc822-headers" || isTNEF(p)
}

// isTNEF reports a Microsoft TNEF container (winmail.dat).
func isTNEF(p *part) bool {
	return p.mtype == "application/ms-tnef" || p.mtype == "application/vnd.ms-tnef" || strings.EqualFold(p.filename, "winmail.dat")
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
