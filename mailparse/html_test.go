package mailparse

import (
	"testing"
)

func TestHTMLToText(t *testing.T) {
	check := func(in, want string, wantQuote int) {
		t.Helper()
		got, q := htmlToText(in)
		if got != want || q != wantQuote {
			t.Errorf("htmlToText(%q) =\n%q, %d\nwant\n%q, %d", in, got, q, want, wantQuote)
		}
	}
	check("<p>Hello</p><p>World</p>", "Hello\n\nWorld", -1)
	check("a<br>b<br><br>c", "a\nb\n\nc", -1)
	check("<div>a</div><div><br></div><div>b</div>", "a\n\nb", -1)
	check("<ul><li>one</li><li>two</li></ul>", "- one\n- two", -1)
	check(`<ol start="2"><li>a<li>b</ol>`, "2. a\n3. b", -1)
	check(`<a href="https://x.example/p?a=1&amp;b=2">page</a>`, "page (https://x.example/p?a=1&b=2)", -1)
	check(`<a href="https://x.example/">https://x.example/</a>`, "https://x.example/", -1)
	check(`<a href="mailto:a@b.c">a@b.c</a>`, "a@b.c", -1)
	check(`<a href="mailto:a@b.c?subject=x">Mail us</a>`, "Mail us (a@b.c)", -1)
	check("<style>p{}</style><script>if (a<b) x()</script>text", "text", -1)
	check("<head><title>t</title></head><body>b</body>", "b", -1)
	check("&lt;tag&gt; &amp; &eacute;&nbsp;&#8364; &#x1F600;", "<tag> & é € 😀", -1)
	check("  lots   of\n\n  space  ", "lots of space", -1)
	check("<pre>  a\n    b</pre>", "  a\n    b", -1)
	check("x<!-- <p>hidden</p> -->y", "xy", -1)
	check("a < b and c > d", "a < b and c > d", -1)
	check(`<img src="cid:1" alt="logo">`, "[logo]", -1)
	check("<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>", "a b\nc", -1)
	check("<p>reply</p><blockquote>quoted<br>two</blockquote>", "reply\n\n> quoted\n> two", -1)
	check("<p>reply</p><blockquote><p>q1</p><p>q2</p></blockquote><p>after</p>", "reply\n\n> q1\n>\n> q2\n\nafter", -1)
	check(`<p>hi</p><div class="gmail_quote">On x wrote:<blockquote class="gmail_quote">q</blockquote></div>`,
		"hi\n\nOn x wrote:\n> q", 2)
	check(`<div id="divRplyFwdMsg">From: x</div>`, "From: x", 0)
	check(`<blockquote type="cite">q</blockquote>`, "> q", 0)
	check("<p unclosed", "<p unclosed", -1)
	check("", "", -1)
}
