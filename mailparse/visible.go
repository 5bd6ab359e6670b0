package mailparse

import (
	"strings"
)

// Cut markers, as recorded in Cut.Marker.
const (
	MarkerSeparator   = "separator"        // our "##- Please type your reply above this line -##"
	MarkerQuoteHeader = "quote_header"     // "On ... wrote:" in any of the known languages
	MarkerOutlook     = "outlook_block"    // "From: / Sent: / To: / Subject:" block
	MarkerOriginal    = "original_message" // "-----Original Message-----"
	MarkerForward     = "forward"          // "---------- Forwarded message ---------"
	MarkerSignature   = "signature"        // "-- " (RFC 3676 §4.3)
	MarkerMobile      = "mobile_signature" // "Sent from my iPhone"
	MarkerQuote       = "quote"            // ">" quoted lines
	MarkerHTMLQuote   = "html_quote"       // a client's quote container in HTML
)

// replySeparator is the line our notifications start with.
const replySeparator = "Please type your reply above this line"

// line is one line of a text and where it starts.
type line struct {
	start int
	s     string
}

// VisibleReply returns the part of a plain text a person wrote for this
// mail, with our reply separator and everything after it, quoted history
// (quote headers of the common clients in the common languages, Outlook
// header blocks, "-----Original Message-----", ">" quoting) and signatures
// removed, and the Cut that says which marker ended it. A reply written
// between quoted lines keeps the answers and the quotes they answer; only
// the quoted lines after the last answer are cut. A reply written below
// the quote (bottom posting) is the answer alone. A reply written above a
// quote header and closed below the quote ("Regards, Jane") keeps both
// and loses the quote between them. The result is made of lines of the
// text in their order (the start of a line when a quote header shares the
// line with the reply), and extracting again from it changes nothing.
func VisibleReply(text string) (string, Cut) {
	return visibleReply(normalizeNewlines(text), -1, false)
}

// visibleReply is VisibleReply on LF text; htmlQuote is the offset of the
// quote container of the HTML the text was made of, -1 if none; fromHTML
// says the text was made of HTML, so its ">" lines are blockquotes.
func visibleReply(text string, htmlQuote int, fromHTML bool) (string, Cut) {
	vis, marker, joined := visibleOnce(text, htmlQuote, fromHTML)
	// A reply put together from pieces (the lines around a quote it wraps,
	// the start of a line) is read once more until nothing changes: the
	// pieces side by side may make a marker that the quote kept apart.
	for n := 0; joined && n < 4; n++ {
		again, _, j := visibleOnce(vis, -1, false)
		if again == vis {
			break
		}
		vis, joined = again, j || joined
	}
	return vis, Cut{Marker: marker, Removed: len(text) - len(vis)}
}

// visibleOnce finds the visible reply of LF text in one pass, and whether
// it is put together from pieces rather than cut in one piece.
func visibleOnce(text string, htmlQuote int, fromHTML bool) (string, string, bool) {
	lines := splitLines(text)
	end, marker := len(lines), ""
	for i, l := range lines {
		if strings.Contains(l.s, replySeparator) {
			end, marker = i, MarkerSeparator
			break
		}
	}
	htmlLine := -1
	if htmlQuote >= 0 {
		for i, l := range lines {
			if l.start >= htmlQuote {
				htmlLine = i
				break
			}
		}
	}
	c := findCut(lines[:end], htmlLine, fromHTML)
	if c.end < 0 && c.start == 0 {
		c = span{0, end, -1, -1, -1, marker}
	} else if c.end < 0 {
		c.end = end
		if c.marker == "" {
			c.marker = marker
		}
	}
	vis := trimVisible(text[lines[c.start].start:c.offset(lines, len(text))])
	if c.tailStart >= 0 {
		tail := trimVisible(text[lines[c.tailStart].start:lineEnd(lines, c.tailEnd, len(text))])
		switch {
		case vis == "":
			vis = tail
		case tail != "":
			vis += "\n\n" + tail
		}
	}
	return vis, c.marker, c.tailStart >= 0 || c.col >= 0
}

// span is the part of the lines that is the reply: from line start up to
// line end (-1: to the last line), or up to byte col of line end when the
// quote header shares its line with the reply; and the closing lines
// tailStart up to tailEnd kept after a quote the reply wraps (-1: none).
// marker is the marker that decided it.
type span struct {
	start, end         int
	col                int
	tailStart, tailEnd int
	marker             string
}

// cutAt is the span of a reply that ends at line end.
func cutAt(start, end int, marker string) span {
	return span{start, end, -1, -1, -1, marker}
}

// offset returns the byte offset in the text where the reply ends.
func (c span) offset(lines []line, textLen int) int {
	if c.col >= 0 {
		return lines[c.end].start + c.col
	}
	return lineEnd(lines, c.end, textLen)
}

// lineEnd returns the offset where line i starts, the end of the text for
// i past the last line.
func lineEnd(lines []line, i, textLen int) int {
	if i >= len(lines) {
		return textLen
	}
	return lines[i].start
}

// splitLines splits LF text into lines.
func splitLines(text string) []line {
	lines := make([]line, 0, strings.Count(text, "\n")+1)
	start := 0
	for start <= len(text) {
		i := strings.IndexByte(text[start:], '\n')
		if i < 0 {
			lines = append(lines, line{start, text[start:]})
			break
		}
		lines = append(lines, line{start, text[start : start+i]})
		start += i + 1
	}
	return lines
}

// findCut returns where quoted history or a signature begins, and its
// marker; end is -1 when there is none.
func findCut(lines []line, htmlLine int, fromHTML bool) span {
	for i := range lines {
		if i == htmlLine {
			return considerInline(lines, i, MarkerHTMLQuote, true)
		}
		if m := stopMarker(lines, i); m != "" {
			return cutAt(0, i, m)
		}
		if col := inlineAttribution(lines[i].s); col > 0 {
			head := []line{{lines[i].start, strings.TrimRight(lines[i].s[:col], " \t")}}
			if m := stopMarker(head, 0); m != "" {
				return cutAt(0, i, m) // the reply's part of the line is a footer itself
			}
			c := cutAt(0, i, MarkerQuoteHeader)
			c.col = col
			return c
		}
		if attributionAt(lines, i) > 0 {
			return considerInline(lines, i, MarkerQuoteHeader, true)
		}
		if isQuoted(lines[i].s) {
			return considerInline(lines, i, MarkerQuote, fromHTML)
		}
	}
	return cutAt(0, -1, "")
}

// considerInline decides, for quoted history starting at line i, whether
// the person answered below the quoted lines. Answers between quotes
// (inline replies) are kept with the quotes they answer, and only what
// follows the last one (quotes, a signature) is cut. Answers below one
// quote with nothing above it (bottom posting) are the reply alone.
// Without answers everything from line i is cut. wraps says the quote is
// one a reply can wrap (after a quote header, an HTML blockquote): answers
// below it that answer nothing in between are the closing of a reply
// written above it.
func considerInline(lines []line, i int, marker string, wraps bool) span {
	a := answers{first: -1, last: -1, wraps: wraps}
	for j := i; j < len(lines); j++ {
		s := lines[j].s
		switch {
		case isQuoted(s):
			a.quote()
			continue
		case isBlank(s) || isRule(strings.TrimSpace(s)):
			continue // blank lines and rules answer nothing
		}
		if m := stopMarker(lines, j); m != "" {
			return a.cut(lines, i, j, m, marker)
		}
		if n := attributionAt(lines, j); n > 0 {
			if a.last >= 0 {
				return a.cut(lines, i, j, MarkerQuoteHeader, marker)
			}
			j += n - 1
			continue
		}
		if !a.seenQuote {
			return cutAt(0, i, marker)
		}
		if j > 0 && isQuoted(lines[j-1].s) && len(lines[j-1].s) >= 60 && startsLower(s) {
			continue // a long quoted line the sender's client wrapped
		}
		a.answer(j)
	}
	return a.cut(lines, i, len(lines), "", marker)
}

// answers tracks the lines a person wrote below quoted history.
type answers struct {
	seenQuote   bool
	first, last int  // the first and last answer line, -1 before any
	quoteSince  bool // a quote after the first answer
	interleaved bool // a quote between two answers
	wraps       bool // a reply above may close below the quote
}

func (a *answers) quote() {
	a.seenQuote = true
	if a.first >= 0 {
		a.quoteSince = true
	}
}

func (a *answers) answer(j int) {
	if a.first < 0 {
		a.first = j
	}
	if a.quoteSince {
		a.interleaved = true
	}
	a.last = j
}

// cut ends the reply after the last answer: at the first quoted line after
// it, else at the stop line (with stopMarker), else nowhere. Without
// answers the reply ends at the quote (line i, marker).
func (a *answers) cut(lines []line, i, stop int, stopMarker, marker string) span {
	if a.last < 0 {
		return cutAt(0, i, marker)
	}
	if a.wraps && !a.interleaved && !allBlank(lines[:i]) {
		c := cutAt(0, i, marker) // the reply wraps the quote
		c.tailStart, c.tailEnd = a.first, a.last+1
		return c
	}
	c := cutAt(0, -1, "")
	for k := a.last + 1; k < stop && c.end < 0; k++ {
		if !isBlank(lines[k].s) {
			c.end, c.marker = k, MarkerQuote
		}
	}
	if c.end < 0 && stop < len(lines) {
		c.end, c.marker = stop, stopMarker
	}
	if !a.interleaved && allBlank(lines[:i]) {
		c.start = a.first // bottom posting
		if c.marker == "" {
			c.marker = marker
		}
	}
	return c
}

func allBlank(lines []line) bool {
	for _, l := range lines {
		if !isBlank(l.s) {
			return false
		}
	}
	return true
}

// stopMarker reports whether line i starts something that is never the
// person's answer: a signature, a mobile footer, an original or forwarded
// message, an Outlook header block.
func stopMarker(lines []line, i int) string {
	s := lines[i].s
	t := strings.TrimSpace(s)
	switch {
	case t == "":
		return ""
	case s == "-- " || s == "--" || s == "-- \u00a0" || t == "--":
		return MarkerSignature
	case isMobileFooter(lines, i):
		return MarkerMobile
	}
	if m := dashedMarker(t); m != "" {
		return m
	}
	if isRule(t) && i+1 < len(lines) && isOutlookBlock(lines, i+1) {
		return MarkerOutlook
	}
	if isOutlookBlock(lines, i) {
		return MarkerOutlook
	}
	return ""
}

// isQuoted reports a ">" quoted line.
func isQuoted(s string) bool {
	t := strings.TrimLeft(s, " \t")
	return strings.HasPrefix(t, ">")
}

func isBlank(s string) bool { return strings.TrimSpace(s) == "" }

// isRule reports a line of only dashes or underscores, as Outlook writes
// above its header block.
func isRule(t string) bool {
	if len(t) < 3 {
		return false
	}
	return strings.Trim(t, "-_=—") == ""
}

func startsLower(s string) bool {
	t := strings.TrimLeft(s, " \t")
	return t != "" && t[0] >= 'a' && t[0] <= 'z'
}

// trimVisible removes the blank lines around the reply and a rule line
// left dangling above a cut.
func trimVisible(s string) string {
	s = strings.TrimRight(s, " \t\n\u00a0")
	for {
		i := strings.LastIndexByte(s, '\n')
		last := strings.TrimSpace(s[i+1:])
		if i < 0 || !isRule(last) {
			break
		}
		s = strings.TrimRight(s[:i], " \t\n\u00a0")
	}
	for {
		first, rest, ok := strings.Cut(s, "\n")
		if !ok || !isBlank(first) {
			break
		}
		s = rest
	}
	if isBlank(s) {
		return ""
	}
	return s
}
