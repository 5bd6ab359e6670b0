package main

import (
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

func startTestRelay(t *testing.T) *Relay {
	t.Helper()
	r, err := StartRelay("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.Close()
		if n := r.Panics(); n > 0 {
			t.Errorf("relay recovered %d panics", n)
		}
	})
	return r
}

func sendTo(t *testing.T, addr, rcpt, msg string) {
	t.Helper()
	if err := sendPlain(addr, rcpt, msg); err != nil {
		t.Fatal(err)
	}
}

// sendPlain sends one mail without TLS, as the gateway does to a relay
// with outbound.tls: none.
func sendPlain(addr, rcpt, msg string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SendMail("support@localhost", []string{rcpt}, strings.NewReader(msg)); err != nil {
		return err
	}
	// The relay took the mail at the end of DATA. casegate-load closes
	// its relay as soon as the last confirmation is in, which may cut a
	// QUIT short, as a real gateway's outbox would see it: no failure.
	c.Quit()
	return nil
}

// The relay finds a mail by every Message-ID its In-Reply-To and
// References name, and else by its recipient; the first arrival counts.
func TestRelayRecordsArrivals(t *testing.T) {
	r := startTestRelay(t)
	clock := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	r.now = func() time.Time { return clock }
	sendTo(t, r.Addr, "Alice@Customer.Example", "Subject: [CS0000001] Printer\r\nIn-Reply-To: <a.1@customer.example>\r\n"+
		"References: <root@customer.example>\r\n <a.1@customer.example>\r\n\r\nWe have your case.\r\n")
	first := clock
	clock = clock.Add(time.Second)
	sendTo(t, r.Addr, "alice@customer.example", "In-Reply-To: <a.1@customer.example>\r\n\r\nAgain.\r\n")
	sendTo(t, r.Addr, "bob@customer.example", "no header at all, only text\r\n")

	check := func(msgID, rcpt string, want time.Time, wantOK bool) {
		t.Helper()
		at, ok := r.Arrived(msgID, rcpt)
		if ok != wantOK || !at.Equal(want) {
			t.Errorf("Arrived(%q, %q) = %v, %v; want %v, %v", msgID, rcpt, at, ok, want, wantOK)
		}
	}
	check("a.1@customer.example", "", first, true)
	check("root@customer.example", "", first, true)
	check("unknown@customer.example", "alice@customer.example", first, true)
	check("unknown@customer.example", "bob@customer.example", clock, true)
	check("unknown@customer.example", "carol@customer.example", time.Time{}, false)
	if n := r.Mails(); n != 3 {
		t.Errorf("Mails() = %d, want 3", n)
	}
}

func TestMessageIDs(t *testing.T) {
	check := func(in string, want ...string) {
		t.Helper()
		got := messageIDs(in)
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("messageIDs(%q) = %q, want %q", in, got, want)
		}
	}
	check("")
	check("<a@b>", "a@b")
	check(" <a@b>\r\n\t<c.d@e> ", "a@b", "c.d@e")
	check("<a@b> (comment) garbage <x y@z> <c@d>", "a@b", "c@d")
	check("no brackets@all")
}

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var out []time.Duration
		for _, n := range v {
			out = append(out, time.Duration(n)*time.Millisecond)
		}
		return out
	}
	tests := []struct {
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{nil, .5, 0},
		{ms(7), .5, 7 * time.Millisecond},
		{ms(7), 1, 7 * time.Millisecond},
		{ms(1, 2), .5, 1 * time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), .5, 5 * time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), .9, 9 * time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), .99, 10 * time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 1, 10 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := percentile(tt.in, tt.p); got != tt.want {
			t.Errorf("percentile(%v, %v) = %v, want %v", tt.in, tt.p, got, tt.want)
		}
	}
}
