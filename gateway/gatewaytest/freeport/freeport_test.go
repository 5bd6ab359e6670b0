package freeport

import (
	"net"
	"strconv"
	"testing"
)

// A picked port is below the ephemeral range, and free: it can be bound.
func TestAddr(t *testing.T) {
	low := ephemeralLow()
	seen := map[string]bool{}
	for range 20 {
		addr := For(t)
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := strconv.Atoi(port)
		if p < lowest || p >= low {
			t.Fatalf("port %d outside [%d, %d)", p, lowest, low)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("the port picked is not free: %v", err)
		}
		ln.Close()
		seen[addr] = true
	}
	if len(seen) < 2 {
		t.Errorf("20 picks gave %d ports", len(seen))
	}
}
