package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/mail"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/casegate/casegate/gateway"
	"github.com/casegate/casegate/store"
)

// openStore opens the database named by the config for a CLI command.
func openStore(ctx context.Context, configPath string) (*store.Store, error) {
	cfg, err := loadConfig(configPath)
	if err != nil {
		return nil, err
	}
	opts, err := storeOptions()
	if err != nil {
		return nil, err
	}
	return openConfiguredStore(ctx, cfg, opts)
}

func cmdCases(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return &exitError{code: 2, err: fmt.Errorf("cases: want list, show, comment, transition or watch")}
	}
	switch args[0] {
	case "list":
		return casesList(ctx, args[1:], stdout, stderr)
	case "show":
		return casesShow(ctx, args[1:], stdout, stderr)
	case "comment":
		return casesComment(ctx, args[1:], stdout, stderr)
	case "transition":
		return casesTransition(ctx, args[1:], stdout, stderr)
	case "watch":
		return casesWatch(ctx, args[1:], stdout, stderr)
	}
	return &exitError{code: 2, err: fmt.Errorf("cases: unknown subcommand %q", args[0])}
}

func casesList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cases list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "config file (YAML)")
	asJSON := fs.Bool("json", false, "print JSON")
	state := fs.String("state", "", "only cases in this state")
	kind := fs.String("kind", "", "only cases of this kind (case, order)")
	limit := fs.Int("limit", 50, "at most N cases, newest first (0 = all)")
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2, err: err}
	}
	st, err := openStore(ctx, *configPath)
	if err != nil {
		return err
	}
	defer st.Close()
	cases, err := st.ListCases(ctx, store.CaseFilter{State: *state, Kind: *kind, Limit: *limit})
	if err != nil {
		return err
	}
	if *asJSON {
		if cases == nil {
			cases = []store.Case{}
		}
		return printJSON(stdout, cases)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NUMBER\tKIND\tSTATE\tCONTACT\tUPDATED\tSUBJECT")
	for _, c := range cases {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.Number, c.Kind, c.State, term(c.Contact.Email),
			c.UpdatedAt.Format("2006-01-02 15:04"), truncate(term(c.Subject), 60))
	}
	return tw.Flush()
}

func casesShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cases show", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "config file (YAML)")
	asJSON := fs.Bool("json", false, "print JSON")
	number, rest := "", args
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		number, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return &exitError{code: 2, err: err}
	}
	if number == "" && fs.NArg() == 1 {
		number = fs.Arg(0)
	}
	if number == "" {
		return &exitError{code: 2, err: fmt.Errorf("cases show: want a case number")}
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		return err
	}
	g, st, err := openGateway(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	d, err := g.CaseDetail(ctx, number)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("case %s not found", strings.ToUpper(number))
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, d)
	}
	printDetail(stdout, d)
	return nil
}

func printDetail(w io.Writer, d gateway.CaseDetail) {
	fmt.Fprintf(w, "%s  %s\n", d.Number, term(d.Subject))
	fmt.Fprintf(w, "  kind %s, state %s, priority %s\n", d.Kind, d.State, term(d.Priority))
	fmt.Fprintf(w, "  contact %s <%s>", term(d.Contact.Name), term(d.Contact.Email))
	if d.Account != "" {
		fmt.Fprintf(w, ", account %s", term(d.Account))
	}
	fmt.Fprintln(w)
	if d.Assignee != "" {
		fmt.Fprintf(w, "  assignee %s\n", term(d.Assignee))
	}
	if d.LinkedCase != "" {
		fmt.Fprintf(w, "  continues %s\n", d.LinkedCase)
	}
	for _, wt := range d.Watchers {
		fmt.Fprintf(w, "  watcher %s\n", term(wt.Email))
	}
	for _, a := range d.Attachments {
		gone := ""
		switch a.Purged {
		case store.PurgedRetention:
			gone = ", content purged"
		case store.PurgedErased:
			gone = ", content erased"
		}
		fmt.Fprintf(w, "  attachment %s (%s, %d bytes%s)\n", term(a.Filename), term(a.ContentType), a.Size, gone)
	}
	fmt.Fprintln(w)
	for _, a := range d.Activity {
		vis := ""
		if !a.Public {
			vis = " (internal)"
		}
		fmt.Fprintf(w, "--- %s %s %s%s\n", a.CreatedAt.Format("2006-01-02 15:04"), a.Kind, term(a.Actor), vis)
		if a.Body != "" {
			fmt.Fprintln(w, termText(strings.TrimRight(a.Body, "\n")))
		}
	}
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// The commands that act on a case go through the gateway, as the API
// does: the same state machine, the same activity entries, and the
// notifications written to the outbox in the same transaction. The
// running server's outbound worker, which polls the outbox, sends them.

// caseAction is what the acting commands share: the config, the case
// number, who acts, and how to print the result.
type caseAction struct {
	fs         *flag.FlagSet
	configPath *string
	asJSON     *bool
	author     *string
}

func newCaseAction(name, synopsis string, stderr io.Writer) *caseAction {
	fs := flag.NewFlagSet("cases "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: casegate cases %s %s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return &caseAction{
		fs:         fs,
		configPath: fs.String("config", "", "config file (YAML)"),
		asJSON:     fs.Bool("json", false, "print the case afterwards as JSON (as GET /api/v1/cases/NUMBER)"),
		author: fs.String("author", "", "the agent's address the action is recorded under\n"+
			"(default $USER@ the config's hostname)"),
	}
}

// parse reads NUMBER and the flags, in either order.
func (a *caseAction) parse(args []string) (string, error) {
	number, rest := "", args
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		number, rest = rest[0], rest[1:]
	}
	if err := a.fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return "", err
		}
		return "", &exitError{code: 2, err: err}
	}
	if number == "" && a.fs.NArg() > 0 {
		number = a.fs.Arg(0)
		rest = a.fs.Args()[1:]
	} else {
		rest = a.fs.Args()
	}
	if len(rest) > 0 {
		return "", a.usage("unexpected argument %q", rest[0])
	}
	if number == "" {
		return "", a.usage("want a case number")
	}
	return strings.ToUpper(number), nil
}

func (a *caseAction) usage(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(a.fs.Name()+": "+format, args...)}
}

// run opens the store and a gateway, checks that the case exists, and runs
// fn as the author.
func (a *caseAction) run(ctx context.Context, number string, stdout, stderr io.Writer,
	fn func(g *gateway.Gateway, actor gateway.Actor, before store.Case) (store.Case, error)) (store.Case, error) {
	cfg, err := loadConfig(*a.configPath)
	if err != nil {
		return store.Case{}, err
	}
	actor, err := cliActor(*a.author, cfg.Hostname)
	if err != nil {
		return store.Case{}, a.usage("%v", err)
	}
	g, st, err := openGateway(ctx, cfg, stderr)
	if err != nil {
		return store.Case{}, err
	}
	defer st.Close()
	before, err := st.CaseByNumber(ctx, number)
	if errors.Is(err, store.ErrNotFound) {
		return store.Case{}, fmt.Errorf("case %s not found", number)
	}
	if err != nil {
		return store.Case{}, err
	}
	c, err := fn(g, actor, before)
	if err != nil {
		return c, actionError(number, err)
	}
	if *a.asJSON {
		d, err := g.CaseDetail(ctx, number)
		if err != nil {
			return c, err
		}
		return c, printJSON(stdout, d)
	}
	return c, nil
}

// openGateway builds a gateway for a CLI command, logging warnings to logTo.
func openGateway(ctx context.Context, cfg Config, logTo io.Writer) (*gateway.Gateway, *store.Store, error) {
	return gatewayFor(ctx, cfg, slog.New(slog.NewTextHandler(logTo, &slog.HandlerOptions{Level: slog.LevelWarn})))
}

// cliActor is the --author address, or $USER at our hostname for an
// operator on the host.
func cliActor(author, hostname string) (gateway.Actor, error) {
	if author == "" {
		user := os.Getenv("USER")
		if user == "" {
			user = os.Getenv("LOGNAME")
		}
		if user == "" {
			user = "operator"
		}
		author = user + "@" + hostname
	}
	addr, err := mail.ParseAddress(author)
	if err != nil {
		return gateway.Actor{}, fmt.Errorf("--author %q is not an address", author)
	}
	return gateway.Actor{Email: strings.ToLower(addr.Address), Name: addr.Name}, nil
}

// actionError words a refused action for the operator (exit 1).
func actionError(number string, err error) error {
	var ite *gateway.IllegalTransitionError
	switch {
	case errors.As(err, &ite):
		return fmt.Errorf("%s: %s", number, ite.Error())
	case errors.Is(err, gateway.ErrInvalid):
		return fmt.Errorf("%s: %s", number, strings.TrimPrefix(err.Error(), gateway.ErrInvalid.Error()+": "))
	}
	return err
}

func casesComment(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	a := newCaseAction("comment", "NUMBER --body TEXT [--internal] [--author ADDR] [--json]", stderr)
	body := a.fs.String("body", "", "the comment (required)")
	internal := a.fs.Bool("internal", false, "an internal note: nobody is mailed (default: public,\n"+
		"mailed to the contact and the watchers; on a new case it is the pick-up)")
	number, err := a.parse(args)
	if err != nil {
		return err
	}
	if strings.TrimSpace(*body) == "" {
		return a.usage("--body is required")
	}
	c, err := a.run(ctx, number, stdout, stderr, func(g *gateway.Gateway, actor gateway.Actor, _ store.Case) (store.Case, error) {
		return g.Comment(ctx, number, *body, !*internal, actor)
	})
	if err != nil || *a.asJSON {
		return err
	}
	kind := "public comment added"
	if *internal {
		kind = "internal note added"
	}
	fmt.Fprintf(stdout, "%s: %s; state %s\n", c.Number, kind, c.State)
	return nil
}

func casesTransition(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	a := newCaseAction("transition", "NUMBER --to STATE [--note TEXT] [--author ADDR] [--json]", stderr)
	to := a.fs.String("to", "", "the state: open, awaiting_info, on_hold, resolved or closed (required)")
	note := a.fs.String("note", "", "a note for the activity thread and the mail (required to resolve)")
	number, err := a.parse(args)
	if err != nil {
		return err
	}
	if *to == "" {
		return a.usage("--to is required")
	}
	var from string
	c, err := a.run(ctx, number, stdout, stderr, func(g *gateway.Gateway, actor gateway.Actor, before store.Case) (store.Case, error) {
		from = before.State
		return g.Transition(ctx, number, *to, *note, actor)
	})
	if err != nil || *a.asJSON {
		return err
	}
	fmt.Fprintf(stdout, "%s: %s → %s\n", c.Number, from, c.State)
	return nil
}

func casesWatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	a := newCaseAction("watch", "NUMBER --add ADDR | --remove ADDR [--author ADDR] [--json]", stderr)
	add := a.fs.String("add", "", "put ADDR on the case's watch list (they are mailed a notice)")
	remove := a.fs.String("remove", "", "take ADDR off the case's watch list")
	number, err := a.parse(args)
	if err != nil {
		return err
	}
	if (*add == "") == (*remove == "") {
		return a.usage("want exactly one of --add ADDR or --remove ADDR")
	}
	_, err = a.run(ctx, number, stdout, stderr, func(g *gateway.Gateway, actor gateway.Actor, _ store.Case) (store.Case, error) {
		if *add != "" {
			return g.AddWatcher(ctx, number, *add, actor)
		}
		c, err := g.RemoveWatcher(ctx, number, *remove, actor)
		if errors.Is(err, store.ErrNotFound) {
			return c, fmt.Errorf("%s is not watching %s", *remove, number)
		}
		return c, err
	})
	if err != nil || *a.asJSON {
		return err
	}
	if *add != "" {
		fmt.Fprintf(stdout, "%s: %s is watching\n", number, *add)
	} else {
		fmt.Fprintf(stdout, "%s: %s no longer watching\n", number, *remove)
	}
	return nil
}
