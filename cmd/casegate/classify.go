package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/casegate/casegate/gateway"
)

// cmdClassify is a dry run for operators: it parses a message and says
// what the gateway would do with it against the current database, writing
// nothing.
func cmdClassify(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("classify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "config file (YAML)")
	asJSON := fs.Bool("json", false, "print JSON (see README: classify JSON)")
	from := fs.String("from", "", "envelope sender to assume ('', '<>' or MAILER-DAEMON: the null sender)")
	var to stringList
	fs.Var(&to, "to", "envelope recipient to assume (repeatable; default: the first support address)")
	clientIP := fs.String("client-ip", "", "connecting client's address to assume (enables SPF and trusted relays)")
	helo := fs.String("helo", "", "client's HELO name to assume")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &exitError{code: 2, err: err}
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		return err
	}
	raw, err := io.ReadAll(io.LimitReader(stdin, cfg.SMTP.MaxMessageBytes+1))
	if err != nil {
		return fmt.Errorf("read message: %w", err)
	}
	if len(to) == 0 {
		to = stringList{cfg.Addresses[0].Address}
	}
	g, st, err := openGateway(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	env := gateway.Envelope{Source: "pipe", From: *from, To: to, ClientIP: *clientIP, HELO: *helo}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "from" && gateway.IsNullSender(*from) { // as in pipe mode
			env.From, env.NullSender = "", true
		}
	})
	c, err := g.Classify(ctx, raw, env)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, c)
	}
	printClassification(stdout, c)
	return nil
}

func printClassification(w io.Writer, c gateway.Classification) {
	d := c.Decision
	fmt.Fprintf(w, "decision:  %s", d.Outcome)
	if d.Case != "" {
		fmt.Fprintf(w, " %s", d.Case)
	}
	if d.LinkedTo != "" {
		fmt.Fprintf(w, " (linked to %s)", d.LinkedTo)
	}
	if d.Reason != "" {
		fmt.Fprintf(w, " (%s)", d.Reason)
	}
	fmt.Fprintln(w)
	for _, s := range d.Trace {
		fmt.Fprintf(w, "  %-11s %-14s %s\n", s.Step, s.Result, term(s.Detail))
	}
	m := c.Parsed
	if m == nil {
		return
	}
	fmt.Fprintf(w, "\nfrom:      %s <%s>\nsubject:   %s\ntopic:     %s\n", term(m.From.Name), term(m.From.Email), term(m.Subject), term(m.Topic))
	if m.CaseTag != "" {
		fmt.Fprintf(w, "case tag:  %s\n", m.CaseTag)
	}
	fmt.Fprintf(w, "message-id: %s\n", term(m.MessageID))
	if len(m.InReplyTo)+len(m.References) > 0 {
		fmt.Fprintf(w, "in-reply-to: %s\nreferences: %s\n", term(strings.Join(m.InReplyTo, " ")), term(strings.Join(m.References, " ")))
	}
	s := m.Signals
	fmt.Fprintf(w, "signals:   auto_reply=%v list=%v loop=%v bounce=%v received_hops=%d priority=%s\n",
		s.AutoReply, s.List, s.Loop, s.Bounce != nil, s.ReceivedHops, term(s.Priority))
	for _, a := range m.Attachments {
		fmt.Fprintf(w, "attachment: %s (%s, %d bytes, sha256 %s)\n", term(gateway.SafeFilename(a.Filename)), term(a.ContentType), a.Size, a.SHA256)
	}
	for _, warn := range m.Warnings {
		fmt.Fprintf(w, "warning:   %s\n", term(warn))
	}
	fmt.Fprintf(w, "\n--- visible reply (cut by %q, %d bytes removed)\n%s\n", m.Cut.Marker, m.Cut.Removed, termText(m.Visible))
	fmt.Fprintf(w, "--- full text\n%s\n", termText(m.Text))
}
