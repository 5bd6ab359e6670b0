package gateway

import (
	"context"
	"strings"
	"testing"

	"github.com/casegate/casegate/gateway/imappoll"
	"github.com/casegate/casegate/gateway/spool"
	"github.com/casegate/casegate/store"
)

// wrapped is a mail that a support mailbox forwarded as attachment: its
// only content is the customer's mail.
const wrapped = "From: helpdesk@corp.example\r\nTo: casegate-in@corp.example\r\nSubject: Fwd: Laptop battery\r\n" +
	"Message-ID: <wrap.%s@corp.example>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
	"--b\r\nContent-Type: message/rfc822\r\n\r\n" +
	"From: Ann Customer <ann@customer.example>\r\nTo: helpdesk@corp.example\r\nSubject: Laptop battery\r\n" +
	"Message-ID: <inner.1@customer.example>\r\n\r\nMy laptop battery drains in an hour.\r\n--b--\r\n"

// A mailbox marked forwarding takes the attached mail as the customer's:
// her case, her confirmation, and her Message-ID for duplicates (the
// same mail forwarded again, in another wrapper, is a duplicate). The
// same wrapper from an ordinary mailbox is its sender's mail.
func TestForwardingMailboxUnwraps(t *testing.T) {
	g, st := newTestGateway(t)
	ctx := context.Background()
	sink := g.IMAPSink()
	src := imappoll.Source{Mailbox: "fwd", UID: 1, Kind: "case", Forwarding: true}
	if err := sink.Deliver(ctx, spool.Bytes([]byte(strings.Replace(wrapped, "%s", "1", 1))), src); err != nil {
		t.Fatal(err)
	}
	c, err := st.CaseByNumber(ctx, "CS0000001")
	if err != nil || c.Contact.Email != "ann@customer.example" || c.Subject != "Laptop battery" {
		t.Fatalf("the unwrapped case: %+v %v", c, err)
	}
	src.UID = 2
	if err := sink.Deliver(ctx, spool.Bytes([]byte(strings.Replace(wrapped, "%s", "2", 1))), src); err != nil {
		t.Fatal(err)
	}
	if cases, _ := st.ListCases(ctx, store.CaseFilter{}); len(cases) != 1 {
		t.Fatalf("the same mail forwarded again made %d cases", len(cases))
	}
	plain := imappoll.Source{Mailbox: "inbox", UID: 3, Kind: "case"}
	if err := sink.Deliver(ctx, spool.Bytes([]byte(strings.Replace(wrapped, "%s", "3", 1))), plain); err != nil {
		t.Fatal(err)
	}
	if c, err := st.CaseByNumber(ctx, "CS0000002"); err != nil || c.Contact.Email != "helpdesk@corp.example" {
		t.Fatalf("a wrapper in an ordinary mailbox: %+v %v", c, err)
	}
}
