package mailparse

import (
	"strings"
)

// unflow turns format=flowed text (RFC 3676) into plain lines: soft line
// breaks (a line ending in a blank) are joined with the next line of the
// same quote depth, space-stuffing is removed, and quoted lines are written
// as "> " per depth. delSp removes the blank of each soft break (§4.2).
func unflow(s string, delSp bool) string {
	lines := strings.Split(s, "\n")
	var out strings.Builder
	out.Grow(len(s))
	para := false // inside a paragraph of soft breaks
	prevDepth := 0
	for i, l := range lines {
		depth := 0
		for depth < len(l) && l[depth] == '>' {
			depth++
		}
		content := l[depth:]
		content = strings.TrimPrefix(content, " ") // space-stuffing
		if para && depth != prevDepth {
			out.WriteByte('\n') // a soft break may not cross quote depths
			para = false
		}
		if !para {
			if depth > 0 {
				out.WriteString(strings.Repeat(">", min(depth, 50)))
				if content != "" {
					out.WriteByte(' ')
				}
			}
		}
		soft := strings.HasSuffix(content, " ") && content != "-- " && i < len(lines)-1
		if soft && delSp {
			content = content[:len(content)-1]
		}
		out.WriteString(content)
		if !soft && i < len(lines)-1 {
			out.WriteByte('\n')
		}
		para, prevDepth = soft, depth
	}
	return out.String()
}
