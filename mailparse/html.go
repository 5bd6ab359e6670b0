package mailparse

import (
	"html"
	"strconv"
	"strings"
)

// htmlToText turns an HTML body into readable text: paragraphs and line
// breaks kept, lists as "- " or "1. " items, links as "text (address)",
// quotes ("<blockquote>") as "> " lines, script, style and head left out,
// entities decoded. It returns the byte offset in the text where the first
// quote container of a mail client starts (Gmail's gmail_quote, Outlook's
// divRplyFwdMsg, Thunderbird's moz-cite-prefix, ...), -1 if none.
//
// The scanner is a single pass over the input and never fails: broken
// markup is read as text or skipped.
func htmlToText(src string) (string, int) {
	c := htmlConv{quoteAt: -1}
	c.out.Grow(len(src) / 2)
	for i := 0; i < len(src); {
		if src[i] != '<' {
			j := strings.IndexByte(src[i:], '<')
			if j < 0 {
				j = len(src) - i
			}
			c.text(src[i : i+j])
			i += j
			continue
		}
		i = c.markup(src, i)
	}
	c.flushLink()
	return strings.TrimRight(c.out.String(), " \n"), c.quoteAt
}

// htmlConv is the state of one conversion.
type htmlConv struct {
	out      strings.Builder
	skip     string // element whose content is left out (script, style, ...)
	pre      int    // depth of <pre>
	quote    int    // depth of <blockquote>
	newlines int    // line breaks owed before the next text
	nlQuote  int    // quote depth when the first of them was owed
	atStart  bool   // nothing written on the current line yet
	space    bool   // a blank is owed before the next text
	lists    []int  // per open list: -1 for <ul>, next number for <ol>
	href     string // address of the open link
	linkText strings.Builder
	inLink   bool
	quoteAt  int
	stack    []string // open elements that started a quote container
}

// markup handles the tag, comment or declaration at src[i] and returns
// where the text continues.
func (c *htmlConv) markup(src string, i int) int {
	if c.skip != "" { // script, style: nothing but their end tag counts
		end := indexFold(src[i:], "</"+c.skip)
		if end < 0 {
			return len(src)
		}
		c.skip = ""
		if gt := strings.IndexByte(src[i+end:], '>'); gt >= 0 {
			return i + end + gt + 1
		}
		return len(src)
	}
	if strings.HasPrefix(src[i:], "<!--") {
		end := strings.Index(src[i+4:], "-->")
		if end < 0 {
			return len(src)
		}
		return i + 4 + end + 3
	}
	end := tagEnd(src, i+1)
	if end < 0 {
		c.text(src[i:])
		return len(src)
	}
	tag := src[i+1 : end]
	if len(tag) == 0 || !(isLetter(tag[0]) || tag[0] == '/' || tag[0] == '!' || tag[0] == '?') {
		c.text(src[i : end+1])
		return end + 1
	}
	if tag[0] == '!' || tag[0] == '?' {
		return end + 1
	}
	closing := tag[0] == '/'
	if closing {
		tag = tag[1:]
	}
	name, attrs := splitTag(tag)
	if closing {
		c.endTag(name)
	} else {
		c.startTag(name, attrs, strings.HasSuffix(tag, "/"))
	}
	return end + 1
}

// tagEnd finds the ">" that ends the tag starting at src[i], skipping
// quoted attribute values; -1 if there is none.
func tagEnd(src string, i int) int {
	var q byte
	for j := i; j < len(src); j++ {
		switch b := src[j]; {
		case q != 0:
			if b == q {
				q = 0
			}
		case b == '"' || b == '\'':
			if j > i && (src[j-1] == '=' || src[j-1] == ' ') {
				q = b
			}
		case b == '>':
			return j
		case b == '<' && j == i:
			return -1
		}
	}
	return -1
}

// splitTag returns the lower-cased element name and the attribute text.
func splitTag(tag string) (string, string) {
	j := 0
	for j < len(tag) && (isLetter(tag[j]) || tag[j] >= '0' && tag[j] <= '9' || tag[j] == ':' || tag[j] == '-') {
		j++
	}
	return strings.ToLower(tag[:j]), tag[j:]
}

func isLetter(b byte) bool { return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' }

// attr returns the value of the named attribute (lower-case name), entities
// decoded; "" if absent.
func attr(attrs, name string) string {
	s := attrs
	for len(s) > 0 {
		i := indexFold(s, name)
		if i < 0 {
			return ""
		}
		before := byte(' ')
		if i > 0 {
			before = s[i-1]
		}
		rest := strings.TrimLeft(s[i+len(name):], " \t\r\n")
		if !strings.ContainsRune(" \t\r\n\"'/", rune(before)) || !strings.HasPrefix(rest, "=") {
			s = s[i+len(name):]
			continue
		}
		rest = strings.TrimLeft(rest[1:], " \t\r\n")
		if rest != "" && (rest[0] == '"' || rest[0] == '\'') {
			if end := strings.IndexByte(rest[1:], rest[0]); end >= 0 {
				return html.UnescapeString(rest[1 : 1+end])
			}
			return html.UnescapeString(rest[1:])
		}
		end := strings.IndexAny(rest, " \t\r\n>")
		if end < 0 {
			end = len(rest)
		}
		return html.UnescapeString(rest[:end])
	}
	return ""
}

// skipped are the elements whose content is not text.
var skipped = map[string]bool{
	"script": true, "style": true, "head": true, "title": true, "template": true,
	"noscript": true, "xml": true, "svg": true, "object": true, "select": true,
}

// blocks are the elements that begin and end on a line of their own; the
// value is the number of line breaks around them.
var blocks = map[string]int{
	"p": 2, "h1": 2, "h2": 2, "h3": 2, "h4": 2, "h5": 2, "h6": 2, "ul": 1, "ol": 1,
	"div": 1, "table": 1, "tr": 1, "li": 1, "dl": 1, "dt": 1, "dd": 1, "pre": 2,
	"blockquote": 1, "section": 1, "article": 1, "header": 1, "footer": 1,
	"address": 1, "center": 1, "form": 1, "hr": 1, "fieldset": 1, "nav": 1,
	"main": 1, "aside": 1, "figure": 1, "caption": 1, "tbody": 1, "thead": 1,
}

// quoteContainer reports whether an element opens the quoted history of a
// mail client.
func quoteContainer(name, attrs string) bool {
	if strings.IndexByte(attrs, '=') < 0 {
		return false
	}
	if name == "blockquote" && strings.EqualFold(attr(attrs, "type"), "cite") {
		return true
	}
	class := strings.ToLower(attr(attrs, "class"))
	id := strings.ToLower(attr(attrs, "id"))
	for _, k := range []string{"gmail_quote", "moz-cite-prefix", "yahoo_quoted", "protonmail_quote",
		"zmail_extra", "applemailquote", "gmail_extra"} {
		if strings.Contains(class, k) {
			return true
		}
	}
	switch id {
	case "divrplyfwdmsg", "appendonsend", "mail-editor-reference-message-container",
		"olk_src_body_section", "isforwardcontent", "isreplycontent", "reply-intro":
		return true
	}
	return strings.Contains(id, "yahoo_quoted") || strings.HasPrefix(id, "zwchr")
}

// startTag handles an opening tag.
func (c *htmlConv) startTag(name, attrs string, selfClosing bool) {
	if skipped[name] && !selfClosing {
		c.skip = name
		return
	}
	if c.quoteAt < 0 && quoteContainer(name, attrs) {
		c.breakLine(1)
		c.quoteAt = c.out.Len()
	}
	switch name {
	case "br":
		c.forceBreak()
	case "a":
		c.flushLink()
		c.href = strings.TrimSpace(attr(attrs, "href"))
		c.inLink = true
		c.linkText.Reset()
	case "img":
		if alt := strings.TrimSpace(attr(attrs, "alt")); alt != "" {
			c.text("[" + alt + "]")
		}
	case "td", "th":
		c.space = true
	case "hr":
		c.breakLine(1)
		c.write("---")
		c.breakLine(1)
	case "pre":
		c.breakLine(2)
		c.pre++
	case "blockquote":
		c.breakLine(1)
		c.quote++
	case "ul":
		c.breakLine(1)
		c.lists = append(c.lists, -1)
	case "ol":
		c.breakLine(1)
		n, err := strconv.Atoi(attr(attrs, "start"))
		if err != nil || n < 0 || n > 1e6 {
			n = 1
		}
		c.lists = append(c.lists, n)
	case "li":
		c.breakLine(1)
		c.write(c.bullet())
	default:
		if n := blocks[name]; n > 0 {
			c.breakLine(n)
		}
	}
}

// endTag handles a closing tag.
func (c *htmlConv) endTag(name string) {
	switch name {
	case "a":
		c.flushLink()
	case "pre":
		if c.pre > 0 {
			c.pre--
		}
		c.breakLine(2)
	case "blockquote":
		c.breakLine(1)
		if c.quote > 0 {
			c.quote--
		}
	case "ul", "ol":
		if len(c.lists) > 0 {
			c.lists = c.lists[:len(c.lists)-1]
		}
		c.breakLine(1)
	default:
		if n := blocks[name]; n > 0 {
			c.breakLine(n)
		}
	}
}

// bullet returns the marker of the next list item.
func (c *htmlConv) bullet() string {
	if len(c.lists) == 0 {
		return "- "
	}
	top := &c.lists[len(c.lists)-1]
	indent := strings.Repeat("  ", min(len(c.lists)-1, 8))
	if *top < 0 {
		return indent + "- "
	}
	n := *top
	*top++
	return indent + strconv.Itoa(n) + ". "
}
