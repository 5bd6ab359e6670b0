package mailparse

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"unicode/utf16"
)

// TNEF (Transport Neutral Encapsulation Format, [MS-OXTNEF]) is what
// Outlook sends as winmail.dat when it believes the recipient runs
// Outlook too. Only the attachments are read: their data, title, long
// filename, MIME type and Content-ID.

const (
	tnefSignature = 0x223E9F78

	tnefLevelAttachment = 2

	attAttachRenddata = 0x00069002 // starts an attachment
	attAttachTitle    = 0x00018010 // short filename, 8-bit string
	attAttachData     = 0x0006800F // the content
	attAttachment     = 0x00069005 // MAPI properties of the attachment

	prAttachFilename     = 0x3704
	prAttachLongFilename = 0x3707
	prAttachMimeTag      = 0x370E
	prAttachContentID    = 0x3712
	prDisplayName        = 0x3001

	ptString8 = 0x001E
	ptUnicode = 0x001F
	ptBinary  = 0x0102
	ptObject  = 0x000D
	ptMulti   = 0x1000
)

// tnefAttachment is one attachment found in a TNEF stream.
type tnefAttachment struct {
	title, longName, mimeTag, contentID string
	data                                []byte
}

var errTNEF = errors.New("not a TNEF stream")

// readTNEF returns the attachments of a TNEF stream. It fails only when
// the stream does not start like TNEF; a truncated or damaged stream
// yields the attachments read so far. maxAtts bounds their number.
func readTNEF(b []byte, maxAtts int) ([]tnefAttachment, error) {
	if len(b) < 6 || binary.LittleEndian.Uint32(b) != tnefSignature {
		return nil, errTNEF
	}
	b = b[6:] // signature, legacy key
	var atts []tnefAttachment
	cur := func() *tnefAttachment {
		if len(atts) == 0 {
			atts = append(atts, tnefAttachment{})
		}
		return &atts[len(atts)-1]
	}
	for len(b) >= 9 {
		level := b[0]
		id := binary.LittleEndian.Uint32(b[1:])
		n := binary.LittleEndian.Uint32(b[5:])
		if uint64(n) > uint64(len(b)-9) {
			break // truncated
		}
		data := b[9 : 9+n]
		b = b[min(len(b), 9+int(n)+2):] // checksum
		if level != tnefLevelAttachment {
			continue
		}
		switch id {
		case attAttachRenddata:
			if len(atts) >= maxAtts {
				return atts, nil
			}
			atts = append(atts, tnefAttachment{})
		case attAttachTitle:
			cur().title = cString(data)
		case attAttachData:
			cur().data = data
		case attAttachment:
			readAttachProps(data, cur())
		}
	}
	return atts, nil
}

// readAttachProps reads the MAPI properties of an attachment ([MS-OXTNEF]
// §2.1.3.4) that name it; it stops at the first property it cannot read.
func readAttachProps(b []byte, a *tnefAttachment) {
	r := tnefReader{b: b}
	count := r.u32()
	for i := uint32(0); i < count && i < 4096 && r.ok(); i++ {
		ptype := r.u16()
		pid := r.u16()
		if pid >= 0x8000 { // named property: GUID, kind, id or name
			r.skip(16)
			if r.u32() == 1 {
				r.skip(pad4(int(r.u32())))
			} else {
				r.skip(4)
			}
		}
		values := uint32(1)
		if ptype&ptMulti != 0 {
			values = r.u32()
		}
		for v := uint32(0); v < values && v < 4096 && r.ok(); v++ {
			val, isVar := r.value(ptype &^ ptMulti)
			if !isVar || v > 0 {
				continue
			}
			switch pid {
			case prAttachLongFilename:
				a.longName = propString(val, ptype)
			case prAttachFilename:
				if a.title == "" {
					a.title = propString(val, ptype)
				}
			case prDisplayName:
				if a.longName == "" {
					a.longName = propString(val, ptype)
				}
			case prAttachMimeTag:
				a.mimeTag = strings.ToLower(propString(val, ptype))
			case prAttachContentID:
				a.contentID = propString(val, ptype)
			}
		}
	}
}

// tnefReader reads little-endian values; after running out of bytes
// every read returns zero and ok reports false.
type tnefReader struct {
	b   []byte
	bad bool
}

func (r *tnefReader) ok() bool { return !r.bad }

func (r *tnefReader) take(n int) []byte {
	if n < 0 || n > len(r.b) {
		r.bad, r.b = true, nil
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *tnefReader) skip(n int) { r.take(n) }

func (r *tnefReader) u16() uint16 {
	if b := r.take(2); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func (r *tnefReader) u32() uint32 {
	if b := r.take(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

// value reads one property value of type t and returns the bytes of a
// variable-length value.
func (r *tnefReader) value(t uint16) ([]byte, bool) {
	switch t {
	case ptString8, ptUnicode, ptBinary, ptObject:
		r.u32() // count of values, 1
		n := int(r.u32())
		if n < 0 || n > len(r.b) {
			r.bad = true
			return nil, false
		}
		v := r.take(n)
		r.skip(pad4(n) - n)
		return v, true
	case 0x0002, 0x0003, 0x0004, 0x000A, 0x000B, 0x0001: // short, long, float, error, bool, null
		r.skip(4)
	case 0x0005, 0x0006, 0x0007, 0x0014, 0x0040: // double, currency, apptime, int64, systime
		r.skip(8)
	case 0x0048: // clsid
		r.skip(16)
	default:
		r.bad = true
	}
	return nil, false
}

func pad4(n int) int { return (n + 3) &^ 3 }

// propString decodes a string property: UTF-16LE for PT_UNICODE, the
// 8-bit ANSI code page (read as Windows-1252) otherwise.
func propString(b []byte, t uint16) string {
	if t&^ptMulti == ptUnicode {
		u := make([]uint16, 0, len(b)/2)
		for i := 0; i+1 < len(b); i += 2 {
			u = append(u, binary.LittleEndian.Uint16(b[i:]))
		}
		return strings.TrimRight(string(utf16.Decode(u)), "\x00")
	}
	return cString(b)
}

// cString reads a NUL-terminated 8-bit string.
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return strings.TrimSpace(decodeCharset(b, "windows-1252", func(string) {}))
}

// addTNEF unpacks an Outlook winmail.dat into its attachments; it reports
// false when there is nothing to unpack so that the file is kept as it is.
func (w *walker) addTNEF(data []byte) bool {
	atts, err := readTNEF(data, w.lim.MaxParts)
	if err != nil {
		w.warn("winmail.dat is not TNEF")
		return false
	}
	added := false
	for _, a := range atts {
		if a.data == nil {
			continue
		}
		w.parts++
		if w.parts > w.lim.MaxParts {
			break
		}
		name := cleanFilename(firstNonEmpty(a.longName, a.title))
		mtype := a.mimeTag
		if mtype == "" || !strings.Contains(mtype, "/") {
			mtype = "application/octet-stream"
		}
		if name == "" {
			name = defaultFilename(mtype, len(w.atts)+1)
		}
		w.atts = append(w.atts, newAttachment(name, mtype, a.data, canonicalID(a.contentID), false))
		added = true
	}
	return added
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
