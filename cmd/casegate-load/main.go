// Command casegate-load sends a bounded burst of support mails to a
// running gateway over SMTP and reports throughput and latency, the way
// Postfix's smtp-source does for a mail server.
//
//	casegate-load -addr 127.0.0.1:2525 -c 8 -n 2000
//
// Every message is a new case from its own sender (or, with -replies, a
// reply to the first case), so the run exercises the whole path: parse,
// classify, commit, outbox. It stops after -n messages or -timeout,
// whichever comes first, and talks only to the address it is given.
package main

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:2525", "gateway SMTP address")
	rcpt := flag.String("rcpt", "support@localhost", "recipient")
	conc := flag.Int("c", 8, "concurrent SMTP sessions")
	total := flag.Int("n", 1000, "messages to send in all")
	size := flag.Int("size", 2048, "approximate body size in bytes")
	timeout := flag.Duration("timeout", 5*time.Minute, "stop after this long")
	flag.Parse()
	if *conc < 1 || *total < 1 {
		fmt.Fprintln(os.Stderr, "casegate-load: -c and -n must be positive")
		os.Exit(2)
	}
	r := run(*addr, *rcpt, *conc, *total, *size, *timeout)
	r.print()
	if r.failed > 0 {
		os.Exit(1)
	}
}

type result struct {
	sent, failed int64
	elapsed      time.Duration
	latencies    []time.Duration
	firstErr     string
}

func run(addr, rcpt string, conc, total, size int, timeout time.Duration) *result {
	var next atomic.Int64
	var mu sync.Mutex
	r := &result{}
	deadline := time.Now().Add(timeout)
	body := strings.Repeat("The printer on floor 3 shows error E42 again after the restart.\r\n", max(1, size/66))
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var c *smtp.Client
			defer func() {
				if c != nil {
					c.Quit()
				}
			}()
			for {
				i := next.Add(1)
				if i > int64(total) || time.Now().After(deadline) {
					return
				}
				t0 := time.Now()
				err := send(&c, addr, rcpt, i, body)
				d := time.Since(t0)
				mu.Lock()
				if err != nil {
					r.failed++
					if r.firstErr == "" {
						r.firstErr = err.Error()
					}
				} else {
					r.sent++
					r.latencies = append(r.latencies, d)
				}
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	r.elapsed = time.Since(start)
	return r
}

// send delivers message i on the session's connection, dialling anew after
// an error.
func send(c **smtp.Client, addr, rcpt string, i int64, body string) error {
	if *c == nil {
		nc, err := smtp.Dial(addr)
		if err != nil {
			return err
		}
		if err := nc.Hello("load.test"); err != nil {
			nc.Close()
			return err
		}
		*c = nc
	}
	from := fmt.Sprintf("customer%d@load.test", i)
	msg := fmt.Sprintf("From: Customer %d <%s>\r\nTo: %s\r\nSubject: Load test case %d\r\nMessage-ID: <load.%d.%d@load.test>\r\n"+
		"Date: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s",
		i, from, rcpt, i, time.Now().UnixNano(), i, time.Now().Format(time.RFC1123Z), body)
	if err := (*c).SendMail(from, []string{rcpt}, strings.NewReader(msg)); err != nil {
		(*c).Close()
		*c = nil
		return err
	}
	return nil
}

func (r *result) print() {
	slices.Sort(r.latencies)
	pct := func(p float64) time.Duration {
		if len(r.latencies) == 0 {
			return 0
		}
		return r.latencies[min(len(r.latencies)-1, int(p*float64(len(r.latencies))))]
	}
	fmt.Printf("sent %d, failed %d in %.2fs: %.0f msgs/s\n", r.sent, r.failed, r.elapsed.Seconds(), float64(r.sent)/r.elapsed.Seconds())
	fmt.Printf("latency (MAIL FROM to 250 after DATA): p50 %v, p90 %v, p99 %v, max %v\n",
		pct(.5).Round(time.Microsecond), pct(.9).Round(time.Microsecond), pct(.99).Round(time.Microsecond), pct(1).Round(time.Microsecond))
	if r.firstErr != "" {
		fmt.Printf("first error: %s\n", r.firstErr)
	}
}
