// Command casegate-load sends a bounded load of support mails to a gateway
// over SMTP and reports throughput and latency, the way Postfix's
// smtp-source does for a mail server.
//
// Closed loop (the default): -c sessions each send their next mail as soon
// as the last one was answered, -n mails in all:
//
//	casegate-load -addr 127.0.0.1:2525 -c 8 -n 2000
//
// Open loop: mails are offered at a fixed -rate per second for -duration,
// whether or not the gateway keeps up, over at most -c sessions; a mail
// that finds no free session waits, and its wait counts in its latency:
//
//	casegate-load -serve bin/casegate -rate 500 -duration 60s
//
// Every mail is a new case from its own sender, so the run exercises the
// whole path: parse, classify, commit, outbox. With -serve, or in open
// loop, the tool runs a recording relay (an SMTP server that accepts
// everything) and matches each confirmation the gateway sends to it with
// the mail that caused it, by In-Reply-To/References or else by recipient,
// giving the latency from a mail's due time to its confirmation at the
// relay. With -serve BINARY it also starts that `casegate serve` on a new
// data directory with a generated config that points outbound.relay at the
// recording relay; otherwise it prints the config the gateway needs.
//
// A run is bounded in count (-n, or rate × duration) and in time
// (-timeout), and talks only to the gateway it is given or started.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// options are the command line.
type options struct {
	addr, rcpt  string
	conc, total int
	size        int
	timeout     time.Duration
	rate        float64
	duration    time.Duration
	grace       time.Duration
	serve       string
	relay       string
	set         listFlag
	keep        bool
	viaMX       bool
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("casegate-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:2525", "gateway SMTP address (ignored with -serve)")
	fs.StringVar(&o.rcpt, "rcpt", "support@localhost", "recipient")
	fs.IntVar(&o.conc, "c", 8, "concurrent SMTP sessions (open loop: the most at once, default 50 there)")
	fs.IntVar(&o.total, "n", 1000, "messages to send in all (closed loop)")
	fs.IntVar(&o.size, "size", 2048, "approximate body size in bytes")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "stop the whole run after this long")
	fs.Float64Var(&o.rate, "rate", 0, "open loop: mails offered per second (0: closed loop)")
	fs.DurationVar(&o.duration, "duration", 60*time.Second, "open loop: how long mails are offered")
	fs.DurationVar(&o.grace, "grace", 30*time.Second, "how long to wait for confirmations after the last mail")
	fs.StringVar(&o.serve, "serve", "", "casegate binary to start with a generated config for the run")
	fs.StringVar(&o.relay, "relay", "", "address of the recording relay (default 127.0.0.1:0 with -serve, else 127.0.0.1:2526)")
	fs.Var(&o.set, "set", "with -serve: a config key.path=value (YAML) for the generated config; repeatable")
	fs.BoolVar(&o.keep, "keep", false, "with -serve: keep the gateway's data directory and log")
	fs.BoolVar(&o.viaMX, "via-mx", false, "each mail as if handed on by an MX: a Received line names a client address of its own "+
		"(198.18.0.0/15, the benchmarking range); with -serve, 127.0.0.1 is a trusted relay")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	concSet := false
	fs.Visit(func(f *flag.Flag) { concSet = concSet || f.Name == "c" })
	if o.rate > 0 && !concSet {
		o.conc = 50
	}
	if o.relay == "" {
		o.relay = "127.0.0.1:2526"
		if o.serve != "" {
			o.relay = "127.0.0.1:0"
		}
	}
	switch {
	case o.conc < 1 || o.total < 1:
		return nil, errors.New("-c and -n must be positive")
	case o.rate < 0 || (o.rate > 0 && int(o.rate*o.duration.Seconds()) < 1):
		return nil, errors.New("-rate × -duration must make at least one mail")
	case len(o.set) > 0 && o.serve == "":
		return nil, errors.New("-set needs -serve")
	}
	if o.viaMX && o.serve != "" {
		// Behind an MX every mail comes from the MX; the client it names
		// is the one budgets count (auth.trusted_relays).
		o.set = append(listFlag{`auth.trusted_relays=["127.0.0.1"]`}, o.set...)
	}
	return o, nil
}

// run is the whole command; it returns the exit code: 0 when every mail
// was accepted and, where a relay listened, confirmed; 1 otherwise; 2 for
// bad usage or a gateway that could not be started.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "casegate-load:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()

	var relay *Relay
	if o.rate > 0 || o.serve != "" {
		if relay, err = StartRelay(o.relay); err != nil {
			fmt.Fprintln(stderr, "casegate-load:", err)
			return 2
		}
		defer relay.Close()
	}
	var gw *gatewayProc
	if o.serve != "" {
		gw, err = startGateway(ctx, o.serve, relay.Addr, o.conc, o.set)
		if err != nil {
			fmt.Fprintln(stderr, "casegate-load:", err)
			return 2
		}
		o.addr = gw.SMTPAddr
		fmt.Fprintf(stdout, "gateway: %s serve on %s, config %s\n", o.serve, gw.SMTPAddr, gw.config)
	} else if relay != nil {
		fmt.Fprintf(stderr, "casegate-load: recording relay on %s; the gateway's config needs:\n%s", relay.Addr, configHint(relay.Addr))
	}
	ok := load(ctx, o, relay, gw, stdout)
	if gw != nil {
		if err := gw.stop(); err != nil {
			fmt.Fprintln(stderr, "casegate-load:", err)
			ok = false
		}
		if o.keep || !ok {
			fmt.Fprintf(stdout, "gateway data and log kept in %s\n", gw.dir)
		} else {
			os.RemoveAll(gw.dir)
		}
	}
	if !ok {
		return 1
	}
	return 0
}

// configHint is what a gateway started by hand needs for an open-loop run.
func configHint(relayAddr string) string {
	return fmt.Sprintf("  smtp:\n    max_connections_per_ip_per_minute: 1000000\n"+
		"  outbound:\n    relay: %s\n    tls: none\n", relayAddr)
}

// load sends the mails, waits for the confirmations and prints the report;
// it returns whether every mail was accepted and confirmed.
func load(ctx context.Context, o *options, relay *Relay, gw *gatewayProc, w io.Writer) bool {
	m := newMailer(o.rcpt, o.size, time.Now())
	m.viaMX = o.viaMX
	s := newSessions(o.addr, o.conc)
	var recs []record
	if o.rate > 0 {
		fmt.Fprintf(w, "offered: %.0f mails/s for %v (%d mails), at most %d sessions, %d-byte bodies\n",
			o.rate, o.duration, int(o.rate*o.duration.Seconds()), o.conc, len(m.body))
		recs = openLoop(ctx, s, m, o.rate, o.duration)
	} else {
		fmt.Fprintf(w, "closed loop: %d mails over %d sessions, %d-byte bodies\n", o.total, o.conc, len(m.body))
		recs = closedLoop(ctx, s, m, o.conc, o.total)
	}
	s.close()
	in := summarize(recs)
	in.print(w, o.rate > 0)
	ok := in.failed == 0 && ctx.Err() == nil
	if relay != nil {
		c := confirm(ctx, relay, m, recs, o.grace)
		c.print(w, o.grace)
		ok = ok && c.received == c.expected
		if n := relay.Panics(); n > 0 {
			fmt.Fprintf(w, "recording relay: %d panics recovered\n", n)
			ok = false
		}
	}
	if gw != nil {
		n, err := gw.countCases(context.WithoutCancel(ctx))
		if err != nil {
			fmt.Fprintln(w, "stored cases: unknown:", err)
			return false
		}
		fmt.Fprintf(w, "stored cases: %d (mails accepted: %d)\n", n, in.accepted)
		ok = ok && n == in.accepted
	}
	if ctx.Err() != nil {
		fmt.Fprintf(w, "stopped early: %v\n", context.Cause(ctx))
	}
	return ok
}
