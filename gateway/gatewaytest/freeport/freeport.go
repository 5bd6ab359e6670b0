// Package freeport picks loopback ports for servers that tests and the
// load tool start as separate processes (casegate serve, Dovecot, Postfix,
// PostgreSQL, rspamd), which bind the port some time after it was picked.
//
// A port the kernel hands out for 127.0.0.1:0 lies in its ephemeral range,
// the same range it takes the local ports of outgoing connections from: in
// the moment between picking such a port and the server binding it, any
// connection on the machine may take it as its own local port, and the
// server then fails to bind, or a test talks to another program. Ports are
// therefore picked below the ephemeral range, where no outgoing connection
// lands, and checked free by binding them.
package freeport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
)

// lowest is the lowest port picked: above the well-known and most
// registered service ports.
const lowest = 20000

// ephemeralLow is the start of the kernel's ephemeral port range (Linux:
// /proc/sys/net/ipv4/ip_local_port_range; 32768 where unknown).
func ephemeralLow() int {
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		var hi int
		if n, _ := fmt.Sscan(string(b), &low, &hi); n != 2 || low <= lowest+1000 {
			low = 32768
		}
	}
	return low
}

// Addr returns "127.0.0.1:port" with a port below the ephemeral range that
// nothing listens on right now.
func Addr() (string, error) {
	low := ephemeralLow()
	for range 200 {
		addr := fmt.Sprintf("127.0.0.1:%d", lowest+rand.IntN(low-lowest))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue // taken
		}
		ln.Close()
		return addr, nil
	}
	return "", errors.New("no free loopback port below the ephemeral range")
}

// TB is what For needs of a test.
type TB interface {
	Helper()
	Fatal(args ...any)
}

// For is Addr for a test, which it fails when no port is free.
func For(t TB) string {
	t.Helper()
	addr, err := Addr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}
