package dovecottest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

func mail(i int) []byte {
	return fmt.Appendf(nil, "From: a@customer.example\r\nSubject: %[1]d\r\nMessage-ID: <%[1]d@customer.example>\r\n\r\nHello\r\n", i)
}

func TestServer(t *testing.T) {
	s := Start(t)
	t.Logf("dovecot %s on %s and %s", s.Version, s.Addr, s.TLSAddr)
	c := s.Client(t)
	c.Create("Helpdesk")
	c.Append("Helpdesk", mail(1))
	c.Append("Helpdesk", mail(2))
	if got := c.MessageIDs("Helpdesk"); !slices.Equal(got, []string{"1@customer.example", "2@customer.example"}) {
		t.Errorf("MessageIDs = %q", got)
	}
	if flags := c.Flags("Helpdesk"); len(flags) != 2 || slices.Contains(flags[1], imap.FlagSeen) {
		t.Errorf("Flags = %v: reading must not mark mail seen", flags)
	}
	if n := c.Count("Missing"); n != -1 {
		t.Errorf("Count of a missing folder = %d", n)
	}

	// A recreated folder has a new UIDVALIDITY.
	before := c.UIDValidity("Helpdesk")
	c.Delete("Helpdesk")
	c.Create("Helpdesk")
	if after := c.UIDValidity("Helpdesk"); after == before {
		t.Errorf("UIDVALIDITY %d kept across delete and create", after)
	}
	c.Append("Helpdesk", mail(3))

	// A restart keeps the mail and the addresses.
	began := time.Now()
	s.Restart()
	t.Logf("restarted in %v", time.Since(began))
	if n := s.Client(t).Count("Helpdesk"); n != 1 {
		t.Errorf("after the restart Helpdesk holds %d, want 1", n)
	}
	tc, err := imapclient.DialTLS(s.TLSAddr, &imapclient.Options{TLSConfig: s.Cert.ClientConfig()})
	if err != nil {
		t.Fatalf("implicit TLS: %v", err)
	}
	defer tc.Close()
	if err := tc.Login(s.User, s.Password).Wait(); err != nil {
		t.Fatalf("login over TLS: %v", err)
	}
}
