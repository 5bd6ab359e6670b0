package gateway

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/casegate/casegate/gateway/gatewaytest"
)

// The resolver asks only the configured server; a missing name is "not
// found", and everything else that goes wrong is temporary (temperror).
// (dnscache_test.go tests the cache and the lookups in detail.)
func TestResolverClassifiesFailures(t *testing.T) {
	d := gatewaytest.StartDNS(t)
	d.TXT("known.example", "v=spf1 -all")
	r, err := NewResolver(d.Addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if txt, err := r.LookupTXT(ctx, "known.example"); err != nil || len(txt) != 1 || txt[0] != "v=spf1 -all" {
		t.Fatalf("known name: %v %v", txt, err)
	}
	var de *net.DNSError
	if _, err := r.LookupTXT(ctx, "unknown.example"); !errors.As(err, &de) || !de.IsNotFound || de.Temporary() {
		t.Fatalf("unknown name: %#v", err)
	}
	d.SetDown(true)
	if _, err := r.LookupTXT(ctx, "other.example"); !errors.As(err, &de) || !de.Temporary() || de.Server != d.Addr {
		t.Fatalf("server failing: %#v", err)
	}
	// What was answered before the outage is still known.
	if txt, err := r.LookupTXT(ctx, "known.example"); err != nil || len(txt) != 1 {
		t.Fatalf("known name during an outage: %v %v", txt, err)
	}
	closed, err := NewResolver("127.0.0.1:1", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := closed.LookupTXT(ctx, "known.example"); !errors.As(err, &de) || !de.Temporary() {
		t.Fatalf("no server: %#v", err)
	}
	if _, err := NewResolver("not an address", time.Second); err == nil {
		t.Fatal("a bad resolver address was accepted")
	}
}
