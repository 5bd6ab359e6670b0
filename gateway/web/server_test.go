package web

import (
	"bufio"
	"github.com/casegate/casegate/gateway"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// startHTTP serves g's HTTP side with lim on 127.0.0.1:0.
func startHTTP(t *testing.T, h *Handler, lim Limits) string {
	t.Helper()
	srv := NewServer(h, lim, h.log)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(LimitListener(ln, lim))
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// rawHTTP writes req on a new connection and returns the responses read
// until the server closes it or deadline passes.
func rawHTTP(t *testing.T, addr, req string, deadline time.Duration) []*http.Response {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(deadline))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	var out []*http.Response
	for {
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			return out
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
		out = append(out, resp)
	}
}

func statuses(rs []*http.Response) []int {
	var out []int
	for _, r := range rs {
		out = append(out, r.StatusCode)
	}
	return out
}

// A request with both Content-Length and Transfer-Encoding is refused
// with 400 and the connection closed; requests with one of them, alone or
// kept alive one after the other, are served.
func TestHTTPRefusesContentLengthWithTransferEncoding(t *testing.T) {
	e := newOpsEnv(t, gateway.Protection{})
	addr := startHTTP(t, e.h, Limits{})
	const health = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
	for _, tc := range []struct {
		name string
		req  string
		want []int
	}{
		{"both", "POST /l/x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" + health,
			[]int{400}},
		{"both, other order", "POST /l/x HTTP/1.1\r\nHost: x\r\ntransfer-encoding: chunked\r\ncontent-length: 0\r\n\r\n0\r\n\r\n", []int{400}},
		{"after a good one", health + "POST /l/x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
			[]int{200, 400}},
		{"length", "POST /l/x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nabcde" + health, []int{403, 200}},
		{"chunked", "POST /l/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n" + health,
			[]int{403, 200}},
	} {
		got := statuses(rawHTTP(t, addr, tc.req, 3*time.Second))
		if !equalInts(got, tc.want) {
			t.Errorf("%s: statuses %v, want %v", tc.name, got, tc.want)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A client that keeps a connection idle, or sends its body slowly, loses
// the connection after the timeouts; a client cannot hold more than its
// share of the connections.
func TestHTTPSlowClientsAreCut(t *testing.T) {
	e := newOpsEnv(t, gateway.Protection{})
	addr := startHTTP(t, e.h, Limits{ReadTimeout: 300 * time.Millisecond, IdleTimeout: 300 * time.Millisecond,
		ReadHeaderTimeout: 300 * time.Millisecond, MaxConnections: 4, MaxPerIP: 3})
	closedWithin := func(what string, c net.Conn, d time.Duration) {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(d))
		start := time.Now()
		_, err := io.ReadAll(c)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("%s: still open after %v", what, time.Since(start))
		}
	}
	// An idle keep-alive connection.
	c1, _ := net.Dial("tcp", addr)
	defer c1.Close()
	io.WriteString(c1, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, err := http.ReadResponse(bufio.NewReader(c1), nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("first request: %v %v", resp, err)
	}
	closedWithin("idle keep-alive", c1, 3*time.Second)
	// A slow body to an unauthenticated route.
	c2, _ := net.Dial("tcp", addr)
	defer c2.Close()
	io.WriteString(c2, "POST /l/x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
	go func() {
		for i := 0; i < 30; i++ {
			if _, err := c2.Write([]byte("a")); err != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	closedWithin("slow body", c2, 3*time.Second)
	// A slow header.
	c3, _ := net.Dial("tcp", addr)
	defer c3.Close()
	io.WriteString(c3, "GET /healthz HTTP/1.1\r\n")
	closedWithin("slow header", c3, 3*time.Second)

	// One IP holds three connections; the fourth is refused.
	var held []net.Conn
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	time.Sleep(50 * time.Millisecond)
	if got := statuses(rawHTTP(t, addr, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 2*time.Second)); !equalInts(got, []int{503}) {
		t.Fatalf("a fourth connection from one IP: %v, want 503", got)
	}
	// ... until the server cuts the idle ones and the slots come back.
	time.Sleep(800 * time.Millisecond)
	if got := statuses(rawHTTP(t, addr, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 2*time.Second)); !equalInts(got, []int{200}) {
		t.Fatalf("after the idle connections were cut: %v, want 200", got)
	}
}

// A body over the limit is refused with 413, declared or not.
func TestHTTPBodyLimit(t *testing.T) {
	e := newOpsEnv(t, gateway.Protection{})
	addr := startHTTP(t, e.h, Limits{MaxBodyBytes: 100})
	body := strings.Repeat("a", 200)
	got := statuses(rawHTTP(t, addr, "POST /api/v1/cases/CS0000001/comments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ops-token\r\n"+
		"Content-Length: 200\r\n\r\n"+body, 2*time.Second))
	if !equalInts(got, []int{413}) {
		t.Fatalf("declared body over the limit: %v, want 413", got)
	}
}
