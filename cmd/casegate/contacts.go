package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/casegate/casegate/gateway"
)

// cmdContacts erases a person's data: `casegate contacts forget ADDRESS`
// (gateway.Forget; the manual says what it reaches and what it cannot).
func cmdContacts(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "forget" {
		return &exitError{code: 2, err: errors.New("contacts: want forget ADDRESS")}
	}
	o := newOpsFlags("contacts forget", stderr)
	email, err := o.parse(args[1:])
	if err != nil {
		return err
	}
	if !strings.Contains(email, "@") {
		return &exitError{code: 2, err: fmt.Errorf("contacts forget: want an address, got %q", email)}
	}
	cfg, err := loadConfig(*o.configPath)
	if err != nil {
		return err
	}
	g, st, err := gatewayFor(ctx, cfg, newLogger(stderr))
	if err != nil {
		return err
	}
	defer st.Close()
	out, err := g.Forget(ctx, email, cliUser())
	if errors.Is(err, gateway.ErrInvalid) {
		return &exitError{code: 2, err: err}
	}
	if err != nil {
		return err
	}
	if *o.asJSON {
		return printJSON(stdout, out)
	}
	fmt.Fprintf(stdout, "%s forgotten: %d cases changed (%s), %d mails and %d attachments erased, "+
		"%d notifications and %d watch-list entries removed, %d other rows redacted, %d quarantined mails deleted\n",
		term(email), len(out.Cases), strings.Join(out.Cases, " "), out.Messages, out.Attachments, out.Outbox,
		out.Watchers, out.Redacted, out.Quarantine)
	if out.Already {
		fmt.Fprintln(stdout, "(the address had been forgotten before; what came since is erased now)")
	}
	fmt.Fprintln(stdout, "Backups taken before now, the MTA's and casegate's logs and mail already delivered still hold it: see the manual.")
	return nil
}
