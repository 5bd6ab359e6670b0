package gateway

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sync/singleflight"
)

// The DNS answer cache of sender authentication. Production gateways ask
// about the same few domains again and again (the big mailbox providers,
// the customers' own domains), and every mail asks several questions (SPF,
// DMARC and its organizational-domain fallback, DKIM keys), so the
// resolver keeps each answer as long as the DNS allows:
//
//   - an answer with records: the smallest TTL of the records used (the
//     CNAME chain and the RRset), at most dnsMaxTTL; a TTL of 0 is not
//     kept (RFC 1035 §3.2.1, RFC 2181 §8);
//   - no such name (NXDOMAIN) and no record of the type (NODATA): the
//     smaller of the SOA record's TTL and its MINIMUM field from the
//     authority section (RFC 2308 §5), at most dnsMaxNegativeTTL, and
//     dnsDefaultNegativeTTL when the server sent no SOA;
//   - a temporary failure (SERVFAIL, REFUSED and other error codes, a
//     timeout, a refused or failed connection, a malformed reply):
//     dnsFailureTTL, so an outage is asked about once every few seconds
//     rather than by every mail, and is over for us soon after it is over
//     (RFC 2308 §7 allows up to 5 minutes).
//
// A failure of the caller's own context (its deadline, a cancel) is not
// the server's answer and is never kept. Questions are keyed by type and
// lower-cased name; concurrent identical questions share one exchange
// (singleflight), which runs under the resolver's own timeout whatever
// the deadlines of those waiting for it, and ends with it. The cache
// holds at most a fixed number of answers: expired ones are dropped as
// new ones come in, and when it is full of live ones, the one that would
// expire first goes.
const (
	dnsMaxTTL             = time.Hour
	dnsMaxNegativeTTL     = 15 * time.Minute
	dnsDefaultNegativeTTL = time.Minute
	dnsFailureTTL         = 5 * time.Second
)

// dnsOutcome is how a question ended.
type dnsOutcome uint8

const (
	dnsOK        dnsOutcome = iota // records of the type asked
	dnsNotFound                    // NXDOMAIN or NODATA
	dnsTemporary                   // anything else
)

// dnsAnswer is the answer to one question. It is shared by every caller
// and the cache: nobody modifies it once made.
type dnsAnswer struct {
	outcome dnsOutcome
	rrs     []dns.RR      // dnsOK: the records of the type asked, the CNAME chain followed
	detail  string        // a failure's text, as net.Resolver words it
	timeout bool          // the failure was a timeout
	server  string        // the server that answered (or last failed)
	ttl     time.Duration // how long it may be kept; 0: not at all
}

func (a *dnsAnswer) failed() bool    { return a.outcome != dnsOK }
func (a *dnsAnswer) temporary() bool { return a.outcome == dnsTemporary }

// dnsError is the failure as net.Resolver reports it for name: "no such
// host" with IsNotFound, or a temporary error. It names the server that
// answered, else the one configured (addr, unless "system").
func (a *dnsAnswer) dnsError(name, addr string) *net.DNSError {
	server := a.server
	if server == "" && addr != "system" {
		server = addr
	}
	if a.outcome == dnsNotFound {
		return notFoundError(name, server)
	}
	return &net.DNSError{Err: a.detail, Name: name, Server: server, IsTimeout: a.timeout, IsTemporary: true}
}

func notFoundError(name, server string) *net.DNSError {
	return &net.DNSError{Err: "no such host", Name: name, Server: server, IsNotFound: true}
}

// answer is the answer to a question: from the cache, or else from the
// one exchange asking it.
func (r *dnsResolver) answer(ctx context.Context, name string, qtype uint16) *dnsAnswer {
	return r.wait(ctx, r.start(ctx, name, qtype))
}

// pending is a question started: answered already, or in flight.
type pending struct {
	ans    *dnsAnswer
	flight <-chan singleflight.Result // of a flightResult
}

type flightResult struct {
	ans   *dnsAnswer
	panic any // a panic in the exchange, raised again in each caller
}

type cacheKey struct {
	qtype uint16
	name  string // lower case, absolute
}

// start answers a question from the cache, or joins (or begins) the
// exchange that asks it.
func (r *dnsResolver) start(ctx context.Context, name string, qtype uint16) pending {
	if !isDomainName(name) {
		return pending{ans: &dnsAnswer{outcome: dnsNotFound}} // as net.Resolver: no such host
	}
	k := cacheKey{qtype: qtype, name: strings.ToLower(name)}
	if a, ok := r.cache.get(k, r.now()); ok {
		r.cache.hits.Add(1)
		return pending{ans: a}
	}
	defer r.cache.misses.Add(1) // once the question has joined its flight
	if err := ctx.Err(); err != nil {
		return pending{ans: contextAnswer(err)}
	}
	ch := r.flights.DoChan(strconv.Itoa(int(qtype))+" "+k.name, func() (any, error) {
		return r.fly(k, name, qtype), nil
	})
	return pending{flight: ch}
}

// fly runs one exchange for a question and keeps its answer. It runs in
// a goroutine of its own (singleflight.DoChan), where a panic would end
// the process: it recovers it, to be raised again in the callers, whose
// own recovery reports it.
func (r *dnsResolver) fly(k cacheKey, name string, qtype uint16) (res flightResult) {
	defer func() {
		if v := recover(); v != nil {
			res = flightResult{panic: v}
		}
	}()
	if a, ok := r.cache.get(k, r.now()); ok { // kept while this flight was being set up
		return flightResult{ans: a}
	}
	a := r.exchange(name, qtype)
	r.cache.put(k, a, r.now())
	return flightResult{ans: a}
}

// wait is the answer of a question started, or a timeout when ctx ends
// first; the exchange then goes on, for the next one asking.
func (r *dnsResolver) wait(ctx context.Context, p pending) *dnsAnswer {
	if p.ans != nil {
		return p.ans
	}
	select {
	case v := <-p.flight:
		res := v.Val.(flightResult)
		if res.panic != nil {
			panic(fmt.Sprintf("dns lookup: %v", res.panic))
		}
		return res.ans
	case <-ctx.Done():
		return contextAnswer(ctx.Err())
	}
}

// contextAnswer is the caller's context ending, worded as net.Resolver
// words it.
func contextAnswer(err error) *dnsAnswer {
	if errors.Is(err, context.DeadlineExceeded) {
		return &dnsAnswer{outcome: dnsTemporary, detail: "i/o timeout", timeout: true}
	}
	return &dnsAnswer{outcome: dnsTemporary, detail: "operation was canceled"}
}

// CacheStats reports how many questions the cache answered (hits) and how
// many it could not (misses: asked of the server, or waiting for an
// exchange already under way), since the resolver was made.
func (r *dnsResolver) CacheStats() (hits, misses uint64) {
	return r.cache.hits.Load(), r.cache.misses.Load()
}

// dnsCacheStats is the cache counters of the configured resolver, zero
// when it keeps no cache.
func (g *Gateway) dnsCacheStats() (hits, misses uint64) {
	if c, ok := g.rules().Auth.Resolver.(interface{ CacheStats() (uint64, uint64) }); ok {
		return c.CacheStats()
	}
	return 0, 0
}

// dnsCache holds answers until they expire, at most max of them.
type dnsCache struct {
	hits, misses atomic.Uint64

	mu      sync.Mutex
	max     int
	entries map[cacheKey]*cacheEntry
	expiry  expiryHeap // the same entries, the first to expire on top
}

type cacheEntry struct {
	key     cacheKey
	ans     *dnsAnswer
	expires time.Time
	index   int // in the heap
}

func newDNSCache(max int) *dnsCache {
	return &dnsCache{max: max, entries: make(map[cacheKey]*cacheEntry)}
}

// get returns the answer kept for k, if it has not expired at now.
func (c *dnsCache) get(k cacheKey, now time.Time) (*dnsAnswer, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if !ok || !now.Before(e.expires) {
		return nil, false
	}
	return e.ans, true
}

// put keeps a for its TTL from now, dropping what has expired and, when
// the cache is full, the entry that would expire first.
func (c *dnsCache) put(k cacheKey, a *dnsAnswer, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.expiry) > 0 && !now.Before(c.expiry[0].expires) {
		c.remove(c.expiry[0])
	}
	if a.ttl <= 0 {
		if e, ok := c.entries[k]; ok {
			c.remove(e)
		}
		return
	}
	if e, ok := c.entries[k]; ok {
		e.ans, e.expires = a, now.Add(a.ttl)
		heap.Fix(&c.expiry, e.index)
		return
	}
	for len(c.entries) >= c.max {
		c.remove(c.expiry[0])
	}
	e := &cacheEntry{key: k, ans: a, expires: now.Add(a.ttl)}
	c.entries[k] = e
	heap.Push(&c.expiry, e)
}

func (c *dnsCache) remove(e *cacheEntry) {
	heap.Remove(&c.expiry, e.index)
	delete(c.entries, e.key)
}

// len is how many answers are kept, expired ones not yet dropped
// included.
func (c *dnsCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// expiryHeap orders entries by expiry (container/heap).
type expiryHeap []*cacheEntry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].expires.Before(h[j].expires) }
func (h expiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *expiryHeap) Push(x any) {
	e := x.(*cacheEntry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}
