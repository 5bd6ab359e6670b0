package mailparse

import (
	"bytes"
	"encoding/binary"
	"testing"
	"unicode/utf16"
)

// tnefBuilder writes TNEF streams for the tests.
type tnefBuilder struct{ bytes.Buffer }

func newTNEF() *tnefBuilder {
	b := &tnefBuilder{}
	binary.Write(b, binary.LittleEndian, uint32(tnefSignature))
	binary.Write(b, binary.LittleEndian, uint16(1))
	return b
}

func (b *tnefBuilder) attr(level byte, id uint32, data []byte) *tnefBuilder {
	b.WriteByte(level)
	binary.Write(b, binary.LittleEndian, id)
	binary.Write(b, binary.LittleEndian, uint32(len(data)))
	b.Write(data)
	sum := 0
	for _, c := range data {
		sum += int(c)
	}
	binary.Write(b, binary.LittleEndian, uint16(sum))
	return b
}

// props encodes MAPI string properties: type, id, value.
func props(ps ...any) []byte {
	var out bytes.Buffer
	binary.Write(&out, binary.LittleEndian, uint32(len(ps)/3))
	for i := 0; i+2 < len(ps); i += 3 {
		t, id, v := ps[i].(uint16), ps[i+1].(uint16), ps[i+2].([]byte)
		binary.Write(&out, binary.LittleEndian, t)
		binary.Write(&out, binary.LittleEndian, id)
		binary.Write(&out, binary.LittleEndian, uint32(1))
		binary.Write(&out, binary.LittleEndian, uint32(len(v)))
		out.Write(v)
		out.Write(make([]byte, pad4(len(v))-len(v)))
	}
	return out.Bytes()
}

func utf16le(s string) []byte {
	var out []byte
	for _, u := range utf16.Encode([]rune(s + "\x00")) {
		out = binary.LittleEndian.AppendUint16(out, u)
	}
	return out
}

func TestReadTNEF(t *testing.T) {
	b := newTNEF().
		attr(1, 0x00078008, []byte("IPM.Note\x00")).
		attr(2, attAttachRenddata, make([]byte, 14)).
		attr(2, attAttachTitle, []byte("REPORT~1.PDF\x00")).
		attr(2, attAttachData, []byte("%PDF-1.4")).
		attr(2, attAttachment, props(uint16(ptUnicode), uint16(prAttachLongFilename), utf16le("Quarterly report.pdf"),
			uint16(ptString8), uint16(prAttachMimeTag), []byte("application/pdf\x00"))).
		attr(2, attAttachRenddata, make([]byte, 14)).
		attr(2, attAttachTitle, []byte("NOTES.TXT\x00")).
		attr(2, attAttachData, []byte("notes"))
	atts, err := readTNEF(b.Bytes(), 10)
	if err != nil || len(atts) != 2 {
		t.Fatalf("readTNEF = %+v, %v", atts, err)
	}
	if atts[0].longName != "Quarterly report.pdf" || atts[0].mimeTag != "application/pdf" || string(atts[0].data) != "%PDF-1.4" {
		t.Errorf("first attachment = %+v", atts[0])
	}
	if atts[1].title != "NOTES.TXT" || string(atts[1].data) != "notes" {
		t.Errorf("second attachment = %+v", atts[1])
	}
	// Truncated streams keep what was read; garbage is not TNEF.
	for n := 0; n < b.Len(); n++ {
		readTNEF(b.Bytes()[:n], 10)
	}
	if _, err := readTNEF([]byte("winmail"), 10); err == nil {
		t.Error("readTNEF accepted garbage")
	}
	if atts, _ := readTNEF(b.Bytes(), 1); len(atts) != 1 {
		t.Errorf("readTNEF with limit 1 returned %d attachments", len(atts))
	}
}
