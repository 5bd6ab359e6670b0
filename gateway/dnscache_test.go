package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/casegate/casegate/gateway/gatewaytest"
)

// zoneServer is a recursive resolver as the gateway sees one, on a
// loopback port (UDP and TCP): it answers from records in zone-file
// syntax, follows CNAME chains into the answer, puts its SOA in negative
// answers, and counts what it is asked. Tests make it fail, truncate,
// or hold its answers.
type zoneServer struct {
	addr string

	mu       sync.Mutex
	rrs      map[string][]dns.RR // by lower-case owner name
	soa      *dns.SOA            // in the authority section of NXDOMAIN and NODATA; nil: none
	servfail map[string]bool     // names answered SERVFAIL
	truncate map[string]bool     // names truncated over UDP
	hold     chan struct{}       // when set, every answer waits for it to be closed
	asks     map[string]int      // "name TYPE udp|tcp" -> queries
}

func startZone(t *testing.T) *zoneServer {
	t.Helper()
	z := &zoneServer{rrs: map[string][]dns.RR{}, servfail: map[string]bool{}, truncate: map[string]bool{}, asks: map[string]int{}}
	var pc net.PacketConn
	var ln net.Listener
	var err error
	for range 20 {
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	z.addr = pc.LocalAddr().String()
	udp, tcp := &dns.Server{PacketConn: pc, Handler: z}, &dns.Server{Listener: ln, Handler: z}
	go func() { _ = udp.ActivateAndServe() }()
	go func() { _ = tcp.ActivateAndServe() }()
	t.Cleanup(func() {
		z.release()
		_ = udp.Shutdown()
		_ = tcp.Shutdown()
	})
	return z
}

// add publishes records given in zone-file syntax.
func (z *zoneServer) add(t *testing.T, lines ...string) {
	t.Helper()
	z.mu.Lock()
	defer z.mu.Unlock()
	for _, l := range lines {
		rr, err := dns.NewRR(l)
		if err != nil {
			t.Fatalf("record %q: %v", l, err)
		}
		if soa, ok := rr.(*dns.SOA); ok {
			z.soa = soa
			continue
		}
		k := strings.ToLower(rr.Header().Name)
		z.rrs[k] = append(z.rrs[k], rr)
	}
}

func (z *zoneServer) set(f func(z *zoneServer)) {
	z.mu.Lock()
	defer z.mu.Unlock()
	f(z)
}

// holdAnswers makes every answer wait until release.
func (z *zoneServer) holdAnswers() { z.set(func(z *zoneServer) { z.hold = make(chan struct{}) }) }

func (z *zoneServer) release() {
	z.set(func(z *zoneServer) {
		if z.hold != nil {
			close(z.hold)
			z.hold = nil
		}
	})
}

// count is how many queries for name and type (over net, or both when
// net is "") the server received.
func (z *zoneServer) count(name string, qtype uint16, network string) int {
	z.mu.Lock()
	defer z.mu.Unlock()
	n := 0
	for _, nw := range []string{"udp", "tcp"} {
		if network == "" || network == nw {
			n += z.asks[fmt.Sprintf("%s %s %s", strings.ToLower(dns.Fqdn(name)), dns.TypeToString[qtype], nw)]
		}
	}
	return n
}

func (z *zoneServer) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	q := req.Question[0]
	network := w.RemoteAddr().Network()
	z.mu.Lock()
	z.asks[fmt.Sprintf("%s %s %s", strings.ToLower(q.Name), dns.TypeToString[q.Qtype], network)]++
	hold := z.hold
	z.mu.Unlock()
	if hold != nil {
		<-hold
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	m := new(dns.Msg)
	m.SetReply(req)
	m.RecursionAvailable = true
	name := strings.ToLower(q.Name)
	switch {
	case z.servfail[name]:
		m.Rcode = dns.RcodeServerFailure
	case z.truncate[name] && network == "udp":
		m.Truncated = true
	default:
		z.resolve(m, name, q.Qtype)
	}
	_ = w.WriteMsg(m)
}

// resolve fills the answer as a recursive resolver does.
func (z *zoneServer) resolve(m *dns.Msg, name string, qtype uint16) {
	for range 10 {
		rrs, ok := z.rrs[name]
		if !ok {
			m.Rcode = dns.RcodeNameError
			break
		}
		var target string
		for _, rr := range rrs {
			switch h := rr.Header(); {
			case h.Rrtype == qtype:
				m.Answer = append(m.Answer, dns.Copy(rr))
			case h.Rrtype == dns.TypeCNAME:
				m.Answer = append(m.Answer, dns.Copy(rr))
				target = strings.ToLower(rr.(*dns.CNAME).Target)
			}
		}
		if target == "" || qtype == dns.TypeCNAME {
			break
		}
		name = target
	}
	if len(m.Answer) == 0 || m.Rcode == dns.RcodeNameError {
		if z.soa != nil {
			m.Ns = append(m.Ns, dns.Copy(z.soa))
		}
	}
}

func newZoneResolver(t *testing.T, z *zoneServer, size int) (*dnsResolver, *gatewaytest.Clock) {
	t.Helper()
	clock := gatewaytest.NewClock(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
	r, err := newDNSResolver(resolverConfig{addr: z.addr, timeout: 5 * time.Second, cacheSize: size, now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return r, clock
}

// checkTXT asks name and wants the answer want (nil: not found), and
// the server to have been asked queries times in all so far.
func checkTXT(t *testing.T, r Resolver, z *zoneServer, name string, want []string, queries int) {
	t.Helper()
	got, err := r.LookupTXT(context.Background(), name)
	if want == nil {
		var de *net.DNSError
		if !errors.As(err, &de) || !de.IsNotFound || de.Temporary() {
			t.Fatalf("%s: %q %#v, want not found", name, got, err)
		}
	} else if err != nil || !slices.Equal(got, want) {
		t.Fatalf("%s: %q %v, want %q", name, got, err, want)
	}
	if n := z.count(name, dns.TypeTXT, ""); n != queries {
		t.Fatalf("%s: server asked %d times, want %d", name, n, queries)
	}
}

// An answer is kept for the smallest TTL of its records, at most an
// hour; a TTL of 0 is not kept.
func TestDNSCacheHonoursTTL(t *testing.T) {
	z := startZone(t)
	z.add(t, `spf.example. 300 IN TXT "v=spf1 -all"`,
		`two.example. 100 IN TXT "a"`, `two.example. 50 IN TXT "b"`,
		`long.example. 86400 IN TXT "long"`,
		`zero.example. 0 IN TXT "zero"`)
	r, clock := newZoneResolver(t, z, 0)

	checkTXT(t, r, z, "spf.example", []string{"v=spf1 -all"}, 1)
	checkTXT(t, r, z, "SPF.example.", []string{"v=spf1 -all"}, 1) // names are case-insensitive
	clock.Advance(299 * time.Second)
	checkTXT(t, r, z, "spf.example", []string{"v=spf1 -all"}, 1)
	clock.Advance(time.Second)
	checkTXT(t, r, z, "spf.example", []string{"v=spf1 -all"}, 2)

	checkTXT(t, r, z, "two.example", []string{"a", "b"}, 1)
	clock.Advance(49 * time.Second)
	checkTXT(t, r, z, "two.example", []string{"a", "b"}, 1)
	clock.Advance(time.Second)
	checkTXT(t, r, z, "two.example", []string{"a", "b"}, 2)

	checkTXT(t, r, z, "long.example", []string{"long"}, 1)
	clock.Advance(dnsMaxTTL - time.Second)
	checkTXT(t, r, z, "long.example", []string{"long"}, 1)
	clock.Advance(time.Second)
	checkTXT(t, r, z, "long.example", []string{"long"}, 2)

	checkTXT(t, r, z, "zero.example", []string{"zero"}, 1)
	checkTXT(t, r, z, "zero.example", []string{"zero"}, 2)

	if hits, misses := r.CacheStats(); hits != 4 || misses != 8 {
		t.Fatalf("cache stats: %d hits, %d misses; want 4 and 8", hits, misses)
	}
}

// No such name and no data are kept for the SOA's TTL or MINIMUM, the
// smaller (RFC 2308 §5), at most 15 minutes; a minute without a SOA.
func TestDNSCacheNegativeAnswers(t *testing.T) {
	for _, c := range []struct {
		soa  string
		keep time.Duration
	}{
		{"example. 600 IN SOA ns.example. host.example. 1 7200 900 1209600 120", 120 * time.Second},
		{"example. 30 IN SOA ns.example. host.example. 1 7200 900 1209600 3600", 30 * time.Second},
		{"example. 86400 IN SOA ns.example. host.example. 1 7200 900 1209600 86400", dnsMaxNegativeTTL},
		{"", dnsDefaultNegativeTTL},
	} {
		t.Run(fmt.Sprint(c.keep), func(t *testing.T) {
			z := startZone(t)
			z.add(t, `a-only.example. 300 IN A 192.0.2.1`)
			if c.soa != "" {
				z.add(t, c.soa)
			}
			r, clock := newZoneResolver(t, z, 0)
			for _, name := range []string{"missing.example", "a-only.example"} { // NXDOMAIN, NODATA
				checkTXT(t, r, z, name, nil, 1)
				clock.Advance(c.keep - time.Second)
				checkTXT(t, r, z, name, nil, 1)
				clock.Advance(time.Second)
				checkTXT(t, r, z, name, nil, 2)
			}
		})
	}
}

// A temporary failure is kept a few seconds: an outage is not asked about
// by every mail, and is over for us soon after it is over.
func TestDNSCacheFailuresBriefly(t *testing.T) {
	z := startZone(t)
	z.add(t, `flaky.example. 300 IN TXT "v=spf1 -all"`)
	z.set(func(z *zoneServer) { z.servfail["flaky.example."] = true })
	r, clock := newZoneResolver(t, z, 0)
	wantTemp := func(queries int) {
		t.Helper()
		_, err := r.LookupTXT(context.Background(), "flaky.example")
		var de *net.DNSError
		if !errors.As(err, &de) || !de.Temporary() || de.IsNotFound || de.Err != "server misbehaving" || de.Server != z.addr {
			t.Fatalf("SERVFAIL: %#v", err)
		}
		if n := z.count("flaky.example", dns.TypeTXT, ""); n != queries {
			t.Fatalf("server asked %d times, want %d", n, queries)
		}
	}
	wantTemp(dnsAttempts) // asked again at once, as any resolver does
	clock.Advance(dnsFailureTTL - time.Second)
	wantTemp(dnsAttempts)
	clock.Advance(time.Second)
	wantTemp(2 * dnsAttempts)
	z.set(func(z *zoneServer) { z.servfail["flaky.example."] = false })
	clock.Advance(dnsFailureTTL)
	checkTXT(t, r, z, "flaky.example", []string{"v=spf1 -all"}, 2*dnsAttempts+1)

	// Nobody listening: refused, temporary, kept as briefly.
	closed, err := newDNSResolver(resolverConfig{addr: "127.0.0.1:1", timeout: time.Second, now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		var de *net.DNSError
		if _, err := closed.LookupTXT(context.Background(), "flaky.example"); !errors.As(err, &de) || !de.Temporary() || de.IsNotFound {
			t.Fatalf("no server: %#v", err)
		}
	}
	if hits, misses := closed.CacheStats(); hits != 1 || misses != 1 {
		t.Fatalf("refused: %d hits, %d misses; want the second question answered from the cache", hits, misses)
	}
}

// Concurrent identical questions share one exchange.
func TestDNSCacheCoalescesQuestions(t *testing.T) {
	z := startZone(t)
	z.add(t, `busy.example. 300 IN TXT "v=DMARC1; p=reject"`)
	r, _ := newZoneResolver(t, z, 0)
	z.holdAnswers()
	const n = 20
	errs := make(chan error, n)
	for range n {
		go func() {
			txt, err := r.LookupTXT(context.Background(), "busy.example")
			if err == nil && (len(txt) != 1 || txt[0] != "v=DMARC1; p=reject") {
				err = fmt.Errorf("answer %q", txt)
			}
			errs <- err
		}()
	}
	for {
		if _, misses := r.CacheStats(); misses == n {
			break // all waiting for the one exchange
		}
		runtime.Gosched()
	}
	z.release()
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if q := z.count("busy.example", dns.TypeTXT, ""); q != 1 {
		t.Fatalf("%d concurrent questions made %d queries, want 1", n, q)
	}
}

// A truncated UDP answer is asked again over TCP, and the whole answer
// is the one kept.
func TestDNSCacheTCPFallback(t *testing.T) {
	z := startZone(t)
	var want []string
	for i := range 40 {
		v := fmt.Sprintf("record %02d %s", i, strings.Repeat("x", 90))
		z.add(t, fmt.Sprintf(`big.example. 300 IN TXT "%s"`, v))
		want = append(want, v)
	}
	z.set(func(z *zoneServer) { z.truncate["big.example."] = true })
	r, _ := newZoneResolver(t, z, 0)
	checkTXT(t, r, z, "big.example", want, 2)
	checkTXT(t, r, z, "big.example", want, 2)
	if u, c := z.count("big.example", dns.TypeTXT, "udp"), z.count("big.example", dns.TypeTXT, "tcp"); u != 1 || c != 1 {
		t.Fatalf("%d UDP and %d TCP queries, want one each", u, c)
	}
}

// The cache holds at most its size: expired answers go first, then the
// ones that would expire first.
func TestDNSCacheBounded(t *testing.T) {
	z := startZone(t)
	for i, ttl := range []int{100, 400, 300, 200} {
		z.add(t, fmt.Sprintf(`n%d.example. %d IN TXT "%d"`, i, ttl, i))
	}
	r, clock := newZoneResolver(t, z, 3)
	for i := range 4 {
		checkTXT(t, r, z, fmt.Sprintf("n%d.example", i), []string{fmt.Sprint(i)}, 1)
		if l := r.cache.len(); l != min(i+1, 3) {
			t.Fatalf("after %d answers %d kept", i+1, l)
		}
	}
	// n0 (100 s) made room for n3; the others are still there.
	checkTXT(t, r, z, "n0.example", []string{"0"}, 2) // n3 (200 s) made room
	checkTXT(t, r, z, "n1.example", []string{"1"}, 1)
	checkTXT(t, r, z, "n2.example", []string{"2"}, 1)
	checkTXT(t, r, z, "n3.example", []string{"3"}, 2)
	clock.Advance(350 * time.Second) // all expired but n1
	checkTXT(t, r, z, "n2.example", []string{"2"}, 2)
	if l := r.cache.len(); l != 2 {
		t.Fatalf("%d kept after the expired ones were dropped, want n1 and n2", l)
	}
}

// The caller's deadline is honoured while the exchange goes on; the
// answer it brings is kept for the next question.
func TestDNSCacheCallerDeadline(t *testing.T) {
	z := startZone(t)
	z.add(t, `slow.example. 300 IN TXT "v=spf1 -all"`)
	r, _ := newZoneResolver(t, z, 0)
	z.holdAnswers()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	var de *net.DNSError
	if _, err := r.LookupTXT(ctx, "slow.example"); !errors.As(err, &de) || !de.IsTimeout || !de.Temporary() || de.Server != z.addr {
		t.Fatalf("deadline passed: %#v", err)
	}
	if _, err := r.LookupIPAddr(ctx, "slow.example"); !errors.As(err, &de) || !de.IsTimeout {
		t.Fatalf("deadline passed before asking: %#v", err)
	}
	if q := z.count("slow.example", dns.TypeA, ""); q != 0 {
		t.Fatalf("a question asked after the deadline: %d queries", q)
	}
	z.release()
	for { // the exchange ends and keeps its answer
		if _, ok := r.cache.get(cacheKey{dns.TypeTXT, "slow.example."}, r.now()); ok {
			break
		}
		runtime.Gosched()
	}
	checkTXT(t, r, z, "slow.example", []string{"v=spf1 -all"}, 1)
}

// A panic in an exchange reaches the callers, whose recovery reports it,
// and leaves the process running.
func TestDNSCachePanicReachesCaller(t *testing.T) {
	z := startZone(t)
	r, _ := newZoneResolver(t, z, 0)
	calls := 0
	r.now = func() time.Time { // the caller's look at the cache, then the exchange's
		if calls++; calls > 1 {
			panic("clock broken")
		}
		return time.Now()
	}
	defer func() {
		if v := recover(); v == nil || !strings.Contains(fmt.Sprint(v), "clock broken") {
			t.Fatalf("recovered %v, want the exchange's panic", v)
		}
	}()
	_, _ = r.LookupTXT(context.Background(), "any.example")
	t.Fatal("no panic")
}

// The four lookups give what net.Resolver gives, asked of the same server:
// TXT character-strings joined and unescaped, CNAME chains followed, MX
// by preference, A and AAAA together, PTR, and the same errors.
func TestDNSResolverAsNetResolver(t *testing.T) {
	z := startZone(t)
	z.add(t,
		`multi.example. 300 IN TXT "v=DKIM1; k=ed25519; " "p=abc" "def"`,
		`quoted.example. 300 IN TXT "say \"hi\" \\ back\255"`,
		`alias.example. 300 IN CNAME target.example.`,
		`target.example. 60 IN TXT "at the target"`,
		`target.example. 60 IN A 192.0.2.7`,
		`target.example. 60 IN AAAA 2001:db8::7`,
		`mx.example. 300 IN MX 20 mx2.example.`,
		`mx.example. 300 IN MX 10 mx1.example.`,
		`v4.example. 300 IN A 192.0.2.1`,
		`v4.example. 300 IN A 192.0.2.2`,
		`1.2.0.192.in-addr.arpa. 300 IN PTR host.example.`,
		`7.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. 300 IN PTR six.example.`,
		`example. 300 IN SOA ns.example. host.example. 1 7200 900 1209600 60`)
	ours, _ := newZoneResolver(t, z, 0)
	std := &net.Resolver{PreferGo: true, StrictErrors: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, z.addr)
	}}
	ctx := context.Background()
	same := func(what string, a, b any, errA, errB error) {
		t.Helper()
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Errorf("%s: %v, net.Resolver %v", what, a, b)
		}
		var da, db *net.DNSError
		if (errA == nil) != (errB == nil) {
			t.Errorf("%s: error %v, net.Resolver %v", what, errA, errB)
		} else if errA != nil && (!errors.As(errA, &da) || !errors.As(errB, &db) ||
			da.IsNotFound != db.IsNotFound || da.Err != db.Err || da.Name != db.Name) {
			t.Errorf("%s: error %#v, net.Resolver %#v", what, errA, errB)
		}
	}
	for _, name := range []string{"multi.example.", "quoted.example.", "alias.example.", "missing.example.", "v4.example.", "bad..name.", "1.2.3.4."} {
		a, errA := ours.LookupTXT(ctx, name)
		b, errB := std.LookupTXT(ctx, name)
		same("TXT "+name, a, b, errA, errB)
	}
	if txt, _ := ours.LookupTXT(ctx, "quoted.example"); len(txt) != 1 || txt[0] != "say \"hi\" \\ back\xff" {
		t.Errorf("TXT with escapes: %q", txt)
	}
	for _, name := range []string{"mx.example.", "missing.example.", "v4.example."} {
		a, errA := ours.LookupMX(ctx, name)
		b, errB := std.LookupMX(ctx, name)
		var sa, sb []string
		for _, mx := range a {
			sa = append(sa, fmt.Sprint(mx.Host, mx.Pref))
		}
		for _, mx := range b {
			sb = append(sb, fmt.Sprint(mx.Host, mx.Pref))
		}
		same("MX "+name, sa, sb, errA, errB)
	}
	for _, name := range []string{"v4.example.", "alias.example.", "missing.example.", "mx.example."} {
		a, errA := ours.LookupIPAddr(ctx, name)
		b, errB := std.LookupIPAddr(ctx, name)
		sortIPs := func(ips []net.IPAddr) []string {
			var s []string
			for _, ip := range ips {
				s = append(s, fmt.Sprintf("%s/%d", ip.IP, len(ip.IP)))
			}
			slices.Sort(s)
			return s
		}
		same("IP "+name, sortIPs(a), sortIPs(b), errA, errB)
	}
	for _, addr := range []string{"192.0.2.1", "2001:db8::7", "192.0.2.99"} {
		a, errA := ours.LookupAddr(ctx, addr)
		b, errB := std.LookupAddr(ctx, addr)
		same("PTR "+addr, a, b, errA, errB)
	}
	var de *net.DNSError
	if _, err := ours.LookupAddr(ctx, "not an address"); !errors.As(err, &de) || !de.Temporary() {
		t.Errorf("PTR of no address: %#v", err)
	}
	if z.count("bad..name.", dns.TypeTXT, "") != 0 {
		t.Error("an invalid name was asked")
	}
}

// "system" asks the name servers of resolv.conf, on port 53.
func TestDNSResolverSystemServers(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(conf, []byte("search corp.example\nnameserver 192.0.2.53\nnameserver 2001:db8::53\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		want []string
	}{
		{conf, []string{"192.0.2.53:53", "[2001:db8::53]:53"}},
		{filepath.Join(t.TempDir(), "missing"), []string{"127.0.0.1:53", "[::1]:53"}},
	} {
		r, err := newDNSResolver(resolverConfig{addr: "system", resolvConf: c.path})
		if err != nil || !slices.Equal(r.servers, c.want) {
			t.Errorf("%s: %v %v, want %v", c.path, r.servers, err, c.want)
		}
	}
}

// The cache's counters are metrics.
func TestDNSCacheMetrics(t *testing.T) {
	g, _ := newTestGateway(t)
	z := startZone(t)
	z.add(t, `spf.example. 300 IN TXT "v=spf1 -all"`)
	r, _ := newZoneResolver(t, z, 0)
	g.cfg.Auth.Resolver = r
	for range 3 {
		checkTXT(t, r, z, "spf.example", []string{"v=spf1 -all"}, 1)
	}
	wantMetrics(t, scrape(t, g), `casegate_dns_cache_total{result="hit"} 2`, `casegate_dns_cache_total{result="miss"} 1`)
}
