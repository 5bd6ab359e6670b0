package main

import (
	"io"
	"os"

	"github.com/casegate/casegate/gateway"
)

// Text from mail (names, addresses, subjects, bodies, file names) is
// printed escaped, so a control sequence in a mail never reaches the
// operator's terminal (--json output escapes control characters anyway).

// term is a value from mail, safe to print on one line.
func term(s string) string { return gateway.EscapeControls(s, false) }

// termText is multi-line text from mail, safe to print: newlines and tabs
// are kept.
func termText(s string) string { return gateway.EscapeControls(s, true) }

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
