package web

import (
	"net/http"
	"os"
	"testing"
)

// TestMain turns HTTP keep-alive off for the tests' clients: each test's
// server listens on a new loopback port, which the kernel may hand out
// again to a later test, and a pooled connection to a server that has
// closed would fail a request that cannot be retried (POST, PATCH).
func TestMain(m *testing.M) {
	http.DefaultTransport.(*http.Transport).DisableKeepAlives = true
	os.Exit(m.Run())
}
