package gateway

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/casegate/casegate/store"
)

// Amplification limits. Anyone can send us a mail with any From: and a
// hundred addresses in Cc; what that one mail makes us send is bounded:
//
//   - At most Protection.MaxWatchersPerMail addresses of a mail's Cc become
//     watchers (of a new case, or of the contact's case by a reply); the
//     rest are ignored, and the decision trace says how many.
//   - The "you were added as a watcher" notice goes to the watchers a mail
//     added only as Protection.UnauthenticatedNotices allows when the mail
//     is not known to be authenticated: by default ("same_domain") only to
//     addresses in the sender's own domain, colleagues; "none" to nobody,
//     "all" to everyone (the behaviour for authenticated mail). Watchers
//     left untold are watchers all the same and learn of it from the
//     case's next update, which carries the unsubscribe link.
//   - The confirmation quotes a bounded excerpt of the visible text
//     (confirmationQuote), never the whole mail, and nothing at all when
//     the sender failed authentication: a forged From: must not turn the
//     gateway into a reflector of other people's mail.
//
// Whether a mail is authenticated is decided before classification and
// carried on the inbound message (inbound.authenticated, inbound.authFailed);
// the zero value, "not known", gets the cautious treatment.

// Notice policies for watchers added by a mail not known to be
// authenticated (Protection.UnauthenticatedNotices).
const (
	NoticesAll        = "all"
	NoticesSameDomain = "same_domain"
	NoticesNone       = "none"
)

// Bounds of the excerpt a confirmation quotes.
const (
	quoteMaxBytes = 2000
	quoteMaxLines = 25
)

// addCc offers the Cc addresses of the mail that may watch c to add, one
// by one, until Protection.MaxWatchersPerMail of them were added: own
// addresses, the contact, non-addresses and repeats are skipped, and so
// are those already watching, which add reports as not added.
func (g *Gateway) addCc(in *inbound, c store.Case, add func(recipient) (bool, error)) error {
	limit := g.protection().MaxWatchersPerMail
	seen := map[string]bool{}
	added, skipped := 0, 0
	for _, a := range in.msg.Cc {
		key := strings.ToLower(a.Email)
		if !g.mayWatch(a.Email, c) || seen[key] {
			continue
		}
		seen[key] = true
		if added >= limit {
			skipped++
			continue
		}
		ok, err := add(recipient{Email: a.Email, Name: a.Name, Role: "watcher"})
		if err != nil {
			return err
		}
		if ok {
			added++
			in.step("watcher", "added", a.Email)
		}
	}
	if skipped > 0 {
		in.step("watcher", "capped", fmt.Sprintf("%d more Cc addresses ignored: at most %d new watchers per mail", skipped, limit))
	}
	return nil
}

// mayNotifyWatcher reports whether r, added as a watcher by the mail in,
// is sent the "watcher_added" notice, and notes it in the trace when not.
func (g *Gateway) mayNotifyWatcher(in *inbound, r recipient) bool {
	if in.authenticated {
		return true
	}
	switch g.protection().UnauthenticatedNotices {
	case NoticesAll:
		return true
	case NoticesSameDomain:
		_, _, from := splitAddress(in.msg.From.Email)
		_, _, to := splitAddress(r.Email)
		if from != "" && from == to {
			return true
		}
	}
	in.step("watcher", "not_told", r.Email+": the mail is not authenticated, so only the sender's own domain is told")
	return false
}

// confirmationQuote is the part of the mail's visible text a confirmation
// quotes back to the From: address: at most quoteMaxLines lines and
// quoteMaxBytes bytes, cut at a line end where one is near, and nothing
// when the sender failed authentication.
func (g *Gateway) confirmationQuote(in *inbound) string {
	if in.authFailed {
		return ""
	}
	return excerpt(strings.TrimSpace(in.msg.Visible), quoteMaxLines, quoteMaxBytes)
}

// excerpt shortens s to at most maxLines lines and maxBytes bytes (valid
// UTF-8 stays valid), marking a cut with "[…]".
func excerpt(s string, maxLines, maxBytes int) string {
	cut := false
	if lines := strings.SplitN(s, "\n", maxLines+1); len(lines) > maxLines {
		s, cut = strings.Join(lines[:maxLines], "\n"), true
	}
	if len(s) > maxBytes {
		end := maxBytes
		for end > 0 && !utf8.RuneStart(s[end]) {
			end--
		}
		if nl := strings.LastIndexByte(s[:end], '\n'); nl > end/2 {
			end = nl
		}
		s, cut = s[:end], true
	}
	if cut {
		return strings.TrimRight(s, " \t\r\n") + "\n[…]"
	}
	return s
}
