package mailparse

import (
	"strings"
)

// parseMsgIDs reads a list of message identifiers (RFC 5322 §3.6.4) as
// written in Message-ID, In-Reply-To and References: the identifiers in
// angle brackets, or, when a broken client left the brackets out, the words
// with an "@". Comments and phrases between them ("(message from ...)") are
// skipped. The result is canonical (no brackets, no blanks) and each
// identifier appears once, in the order first written.
func parseMsgIDs(s string) []string {
	var out []string
	var seen map[string]bool // once the list is long
	add := func(id string) {
		id = canonicalID(id)
		if id == "" {
			return
		}
		if seen != nil {
			if seen[id] {
				return
			}
			seen[id] = true
		} else {
			for _, have := range out {
				if have == id {
					return
				}
			}
			if len(out) == 16 {
				seen = make(map[string]bool)
				for _, have := range out {
					seen[have] = true
				}
				seen[id] = true
			}
		}
		out = append(out, id)
	}
	if strings.IndexByte(s, '<') >= 0 {
		for {
			j := strings.IndexByte(s, '>')
			if j < 0 {
				if i := strings.LastIndexByte(s, '<'); i >= 0 {
					add(s[i+1:])
				}
				break
			}
			if i := strings.LastIndexByte(s[:j], '<'); i >= 0 {
				add(s[i+1 : j])
			}
			s = s[j+1:]
		}
		return out
	}
	for _, w := range strings.Fields(s) {
		if strings.IndexByte(w, '@') > 0 {
			add(w)
		}
	}
	return out
}

// canonicalID strips brackets, blanks and quotes from one identifier. An
// identifier without "@" or with characters no identifier holds is dropped.
func canonicalID(id string) string {
	id = strings.Trim(id, " \t\r\n<>\"'")
	if strings.ContainsAny(id, " \t\r\n") {
		id = strings.Join(strings.Fields(id), "")
	}
	if id == "" || len(id) > 998 || strings.ContainsAny(id, "<>()\\,;") {
		return ""
	}
	return id
}

// firstMsgID returns the one identifier of a Message-ID header.
func firstMsgID(s string) string {
	ids := parseMsgIDs(s)
	if len(ids) == 0 {
		return ""
	}
	return ids[0]
}
