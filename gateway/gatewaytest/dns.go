package gatewaytest

import (
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// DNS is an authoritative DNS server on 127.0.0.1 (UDP and TCP on the same
// port) answering from records the test sets: the resolver that sender
// authentication asks in tests, since no other DNS is reachable.
type DNS struct {
	Addr string

	mu   sync.Mutex
	txt  map[string][]string
	a    map[string][]net.IP
	mx   map[string][]string
	down bool
	asks int
}

// StartDNS starts a DNS server for the duration of the test.
func StartDNS(t testing.TB) *DNS {
	t.Helper()
	d := &DNS{txt: map[string][]string{}, a: map[string][]net.IP{}, mx: map[string][]string{}}
	pc, ln, err := listenUDPAndTCP()
	if err != nil {
		t.Fatal(err)
	}
	d.Addr = pc.LocalAddr().String()
	udp := &dns.Server{PacketConn: pc, Handler: d}
	tcp := &dns.Server{Listener: ln, Handler: d}
	go func() { _ = udp.ActivateAndServe() }()
	go func() { _ = tcp.ActivateAndServe() }()
	t.Cleanup(func() {
		_ = udp.Shutdown()
		_ = tcp.Shutdown()
	})
	return d
}

// listenUDPAndTCP finds a loopback port free for both UDP and TCP.
func listenUDPAndTCP() (net.PacketConn, net.Listener, error) {
	var err error
	for range 20 {
		var pc net.PacketConn
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			return nil, nil, err
		}
		var ln net.Listener
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			return pc, ln, nil
		}
		pc.Close()
	}
	return nil, nil, err
}

func key(name string) string { return strings.ToLower(dns.Fqdn(name)) }

// TXT publishes the TXT records of a name, replacing earlier ones. A long
// value is sent as strings of 255 bytes, as a zone file would.
func (d *DNS) TXT(name string, values ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.txt[key(name)] = values
}

// A publishes addresses for a name.
func (d *DNS) A(name string, ips ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, ip := range ips {
		d.a[key(name)] = append(d.a[key(name)], net.ParseIP(ip))
	}
}

// MX publishes mail exchangers for a name.
func (d *DNS) MX(name string, hosts ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.mx[key(name)] = hosts
}

// SetDown makes the server answer SERVFAIL to everything (true) or
// answer again (false).
func (d *DNS) SetDown(down bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.down = down
}

// Asks is how many questions the server was asked.
func (d *DNS) Asks() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.asks
}

// ServeDNS answers one query from the records; a name with no record of
// any kind is NXDOMAIN, a known name without the asked type is an empty
// answer.
func (d *DNS) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.asks++
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if d.down || len(req.Question) != 1 {
		m.Rcode = dns.RcodeServerFailure
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Ttl: 60}
	_, hasTXT := d.txt[name]
	_, hasA := d.a[name]
	_, hasMX := d.mx[name]
	if !hasTXT && !hasA && !hasMX {
		m.Rcode = dns.RcodeNameError
	}
	switch q.Qtype {
	case dns.TypeTXT:
		for _, v := range d.txt[name] {
			hdr.Rrtype = dns.TypeTXT
			m.Answer = append(m.Answer, &dns.TXT{Hdr: hdr, Txt: split255(v)})
		}
	case dns.TypeA, dns.TypeAAAA:
		for _, ip := range d.a[name] {
			if v4 := ip.To4(); v4 != nil && q.Qtype == dns.TypeA {
				hdr.Rrtype = dns.TypeA
				m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: v4})
			} else if v4 == nil && q.Qtype == dns.TypeAAAA {
				hdr.Rrtype = dns.TypeAAAA
				m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: ip})
			}
		}
	case dns.TypeMX:
		for i, h := range d.mx[name] {
			hdr.Rrtype = dns.TypeMX
			m.Answer = append(m.Answer, &dns.MX{Hdr: hdr, Preference: uint16(10 * (i + 1)), Mx: dns.Fqdn(h)})
		}
	}
	_ = w.WriteMsg(m)
}

func split255(s string) []string {
	var out []string
	for len(s) > 255 {
		out = append(out, s[:255])
		s = s[255:]
	}
	return append(out, s)
}
