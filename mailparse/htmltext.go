package mailparse

import (
	"html"
	"strings"
)

// text writes a run of character data.
func (c *htmlConv) text(raw string) {
	if c.skip != "" {
		return
	}
	s := raw
	if strings.IndexByte(s, '&') >= 0 {
		s = html.UnescapeString(s)
	}
	if c.inLink {
		c.linkText.WriteString(s)
		return
	}
	if c.pre > 0 {
		c.preText(s)
		return
	}
	if s != "" && isHTMLSpace(s[0]) || strings.HasPrefix(s, "\u00a0") {
		c.space = true
	}
	words := strings.FieldsFunc(s, isHTMLSpaceRune)
	for i, w := range words {
		if i > 0 {
			c.space = true
		}
		c.write(w)
	}
	if s != "" && (isHTMLSpace(s[len(s)-1]) || strings.HasSuffix(s, "\u00a0")) {
		c.space = true
	}
}

// preText writes preformatted text, its line breaks kept.
func (c *htmlConv) preText(s string) {
	s = normalizeNewlines(s)
	for i, line := range strings.Split(s, "\n") {
		if i > 0 {
			c.forceBreak()
		}
		if line != "" {
			c.write(line)
		}
	}
}

// write puts s on the output after the line breaks, quote marks and blank
// that are owed.
func (c *htmlConv) write(s string) {
	if c.out.Len() > 0 && c.newlines > 0 {
		c.out.WriteByte('\n')
		for n := 1; n < c.newlines; n++ {
			if q := min(c.quote, c.nlQuote); q > 0 {
				c.out.WriteString(strings.Repeat(">", min(q, 20)))
			}
			c.out.WriteByte('\n')
		}
		c.atStart = true
	} else if c.out.Len() == 0 {
		c.atStart = true
	}
	c.newlines = 0
	if c.atStart {
		if c.quote > 0 {
			c.out.WriteString(strings.Repeat("> ", min(c.quote, 20)))
		}
		c.space = false
	} else if c.space {
		c.out.WriteByte(' ')
	}
	c.out.WriteString(s)
	c.atStart = false
	c.space = false
}

// breakLine asks for at least n line breaks before the next text.
func (c *htmlConv) breakLine(n int) {
	if c.inLink {
		return
	}
	if c.out.Len() > 0 && c.newlines < n {
		if c.newlines == 0 {
			c.nlQuote = c.quote
		}
		c.newlines = n
	}
	c.space = false
}

// forceBreak adds one line break (<br>), up to a blank line.
func (c *htmlConv) forceBreak() {
	if c.inLink {
		c.linkText.WriteByte(' ')
		return
	}
	if c.out.Len() > 0 && c.newlines < 2 {
		if c.newlines == 0 {
			c.nlQuote = c.quote
		}
		c.newlines++
	}
	c.space = false
}

// flushLink writes the open link as "text (address)", or just the text
// when the address adds nothing (same as the text, a local anchor, a
// mailto: of the address shown).
func (c *htmlConv) flushLink() {
	if !c.inLink {
		return
	}
	c.inLink = false
	t := strings.Join(strings.FieldsFunc(c.linkText.String(), isHTMLSpaceRune), " ")
	href := c.href
	lower := strings.ToLower(href)
	switch {
	case t == "":
		return
	case href == "" || strings.HasPrefix(href, "#") || strings.HasPrefix(lower, "javascript:") ||
		strings.HasPrefix(lower, "cid:"):
	case strings.HasPrefix(lower, "mailto:"):
		addr, _, _ := strings.Cut(href[len("mailto:"):], "?")
		if !strings.EqualFold(addr, t) && addr != "" {
			t += " (" + addr + ")"
		}
	case t == href || strings.TrimSuffix(t, "/") == strings.TrimSuffix(href, "/") ||
		strings.HasSuffix(href, "://"+t) || strings.HasSuffix(strings.TrimSuffix(href, "/"), "://"+strings.TrimSuffix(t, "/")):
	default:
		t += " (" + href + ")"
	}
	c.text(t)
}

func isHTMLSpace(b byte) bool {
	return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\f'
}

func isHTMLSpaceRune(r rune) bool {
	return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\f' || r == '\u00a0' || r == '\u200b'
}

// htmlMetaCharset finds the charset of an HTML part without one in its
// Content-Type: <meta charset> or <meta http-equiv content="...charset=">.
func htmlMetaCharset(data []byte) string {
	head := data[:min(len(data), 4096)]
	s := strings.ToLower(string(head))
	i := strings.Index(s, "charset=")
	if i < 0 {
		return ""
	}
	v := strings.TrimLeft(s[i+len("charset="):], "\"' ")
	end := strings.IndexAny(v, "\"'; />")
	if end < 0 {
		return ""
	}
	return v[:end]
}
