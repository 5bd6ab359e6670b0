package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// mailer writes the load's mails: mail i is a new support request from its
// own sender, customer<i>.<run>@load.test, with the Message-ID
// <load.<run>.<i>@load.test>, so that no two mails of any run are
// duplicates to the gateway and each confirmation names its mail.
type mailer struct {
	rcpt  string
	run   string
	body  string
	viaMX bool // a Received line of an MX names each mail's own client
}

func newMailer(rcpt string, size int, now time.Time) *mailer {
	line := "The printer on floor 3 shows error E42 again after the restart.\r\n"
	return &mailer{rcpt: rcpt, run: strconv.FormatInt(now.UnixNano(), 36),
		body: strings.Repeat(line, max(1, size/len(line)))}
}

func (m *mailer) sender(i int) string    { return fmt.Sprintf("customer%d.%s@load.test", i, m.run) }
func (m *mailer) messageID(i int) string { return fmt.Sprintf("load.%s.%d@load.test", m.run, i) }

func (m *mailer) message(i int, date time.Time) string {
	received := ""
	if m.viaMX {
		// 198.18.0.0/15 is the range set aside for benchmarks (RFC 2544);
		// nothing is sent there, it only names the client.
		received = fmt.Sprintf("Received: from client%d.load.test (client%d.load.test [198.%d.%d.%d])\r\n"+
			"\tby mx.load.test with ESMTP id L%d; %s\r\n", i, i, 18+(i>>16)&1, (i>>8)&0xff, i&0xff, i, date.Format(time.RFC1123Z))
	}
	return received + fmt.Sprintf("From: Customer %d <%s>\r\nTo: %s\r\nSubject: Load test case %d\r\nMessage-ID: <%s>\r\n"+
		"Date: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s",
		i, m.sender(i), m.rcpt, i, m.messageID(i), date.Format(time.RFC1123Z), m.body)
}

// sessions is a bounded set of SMTP sessions to the gateway, each used
// for one mail at a time and kept open for the next (like smtp-source -d).
type sessions struct {
	addr  string
	slots chan struct{}     // one per session in use
	idle  chan *smtp.Client // open sessions nobody uses
	dial  func() (*smtp.Client, error)
}

func newSessions(addr string, n int) *sessions {
	s := &sessions{addr: addr, slots: make(chan struct{}, n), idle: make(chan *smtp.Client, n)}
	s.dial = s.dialSMTP
	return s
}

func (s *sessions) dialSMTP() (*smtp.Client, error) {
	c, err := smtp.Dial(s.addr)
	if err != nil {
		return nil, err
	}
	c.CommandTimeout, c.SubmissionTimeout = time.Minute, 2*time.Minute
	if err := c.Hello("load.test"); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// send waits for a free session, then delivers one mail on it; started is
// when the session was in hand. A session that failed is closed, not
// reused. When ctx ends first, the mail is not sent.
func (s *sessions) send(ctx context.Context, from, to, msg string) (started time.Time, err error) {
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return time.Time{}, fmt.Errorf("not sent: %w", context.Cause(ctx))
	}
	defer func() { <-s.slots }()
	started = time.Now()
	var c *smtp.Client
	select {
	case c = <-s.idle:
	default:
		if c, err = s.dial(); err != nil {
			return started, err
		}
	}
	if err := c.SendMail(from, []string{to}, strings.NewReader(msg)); err != nil {
		c.Close()
		return started, err
	}
	s.idle <- c // never blocks: at most cap(slots) sessions exist
	return started, nil
}

// close ends the idle sessions with QUIT.
func (s *sessions) close() {
	for {
		select {
		case c := <-s.idle:
			c.Quit()
		default:
			return
		}
	}
}
