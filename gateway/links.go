package gateway

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"github.com/casegate/casegate/store"
)

// Link actions.
const (
	linkAccept      = "accept"
	linkReject      = "reject"
	linkClose       = "close"
	linkUnsubscribe = "unsubscribe"
	linkRate        = "rate"     // rate1 .. rate5
	linkUnwatch     = "unwatch:" // unwatch:ADDRESS, for the contact: remove a watcher
	linkView        = "view"     // the case page, for the contact and the watchers (casepage.go)
)

// link is what a signed link in a mail stands for. Gen binds accept,
// reject and close to one resolution of the case (its count), so a
// link from an earlier resolution never acts on a case reopened since.
type link struct {
	Case   string
	Email  string
	Action string // accept | reject | close | unsubscribe | rate1..rate5
	Gen    int64
}

var b64 = base64.RawURLEncoding

// signLink returns the token for l: the payload and a truncated
// HMAC-SHA256 under the gateway's link key.
func (g *Gateway) signLink(l link) string {
	payload := strings.Join([]string{"v1", l.Case, strings.ToLower(l.Email), l.Action, strconv.FormatInt(l.Gen, 10)}, "\n")
	return b64.EncodeToString([]byte(payload)) + "." + b64.EncodeToString(g.mac(payload))
}

func (g *Gateway) mac(payload string) []byte {
	m := hmac.New(sha256.New, g.linkKey)
	m.Write([]byte(payload))
	return m.Sum(nil)[:20]
}

// verifyLink checks a token's signature and returns what it stands for.
func (g *Gateway) verifyLink(token string) (link, error) {
	p, sig, ok := strings.Cut(token, ".")
	if !ok {
		return link{}, ErrBadLink
	}
	payload, err1 := b64.DecodeString(p)
	mac, err2 := b64.DecodeString(sig)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, g.mac(string(payload))) {
		return link{}, ErrBadLink
	}
	f := strings.Split(string(payload), "\n")
	if len(f) != 5 || f[0] != "v1" {
		return link{}, ErrBadLink
	}
	gen, err := strconv.ParseInt(f[4], 10, 64)
	if err != nil {
		return link{}, ErrBadLink
	}
	return link{Case: f[1], Email: f[2], Action: f[3], Gen: gen}, nil
}

// linkURL is the address of a signed link.
func (g *Gateway) linkURL(l link) string {
	return strings.TrimRight(g.cfg.PublicURL, "/") + "/l/" + g.signLink(l)
}

// resolutionGen is the generation accept/reject/close links are bound to.
func resolutionGen(c store.Case) int64 {
	return int64(c.Resolutions)
}

// linksFor are the signed links a notification to r carries.
func (g *Gateway) linksFor(c store.Case, tpl string, r recipient) map[string]string {
	links := map[string]string{}
	mk := func(action string, gen int64) {
		links[action] = g.linkURL(link{Case: c.Number, Email: r.Email, Action: action, Gen: gen})
	}
	switch r.Role {
	case "team", "agent":
		links["console"] = g.consoleURL(c.Number)
	case "contact", "watcher":
		links["case"] = g.caseURL(c.Number, r.Email)
	}
	if r.Role == "watcher" {
		mk(linkUnsubscribe, 0)
	}
	if r.Role != "contact" {
		return links
	}
	switch tpl {
	case "case_resolved":
		gen := resolutionGen(c)
		mk(linkAccept, gen)
		mk(linkReject, gen)
		mk(linkClose, gen)
	case "case_survey":
		for i := 1; i <= 5; i++ {
			mk(fmt.Sprintf("%s%d", linkRate, i), 0)
		}
	}
	return links
}

// caseURL is the case page of c for email: a signed link bound to the
// case and the recipient (casepage.go).
func (g *Gateway) caseURL(number, email string) string {
	return strings.TrimRight(g.cfg.PublicURL, "/") + "/c/" + g.signLink(link{Case: number, Email: email, Action: linkView})
}

// consoleURL is the case in the agents' console.
func (g *Gateway) consoleURL(number string) string {
	return strings.TrimRight(g.cfg.PublicURL, "/") + "/console/cases/" + number
}

// PageMAC authenticates value for purpose under the gateway's link key,
// which every instance sharing the database holds: the pages' CSRF tokens
// are made and checked with it.
func (g *Gateway) PageMAC(purpose, value string) string {
	return b64.EncodeToString(g.mac("page\n" + purpose + "\n" + value))
}
