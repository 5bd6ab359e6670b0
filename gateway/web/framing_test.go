package web

import (
	"strings"
	"testing"
)

// The framer lets good requests through byte for byte however the stream
// is cut into reads, and marks a header section with both Content-Length
// and Transfer-Encoding.
func TestFramer(t *testing.T) {
	const (
		get     = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
		length  = "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello\r\n\r\nab"
		chunked = "POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" +
			"5;ext=1\r\nhello\r\n0\r\nTrailer: x\r\n\r\n"
		both = "POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
	)
	check := func(name, in string, refused bool) {
		t.Helper()
		for _, size := range []int{1, 3, 7, len(in)} {
			f := framer{maxHold: 1 << 16}
			var out []byte
			for i := 0; i < len(in); i += size {
				out = f.feed(out, []byte(in[i:min(i+size, len(in))]))
			}
			out = append(out, f.flush()...)
			got := string(out)
			if refused {
				if !strings.Contains(got, "POST /c HTTP/1.1\r\n"+refusedLine) || strings.ReplaceAll(got, refusedLine, "") != in {
					t.Errorf("%s in reads of %d: not marked as refused:\n%q", name, size, got)
				}
			} else if got != in {
				t.Errorf("%s in reads of %d: changed:\n%q", name, size, got)
			}
		}
	}
	check("get", get+get, false)
	check("blank lines first", "\r\n"+get, false)
	check("length then get", length+get, false)
	check("chunked then get", chunked+get, false)
	check("both", both, true)
	check("both after good ones", get+length+chunked+both, true)
}
