package gatewaytest

import (
	"os"
	"testing"
)

// Missing ends a test that needs a server or tool this machine lacks, for
// the reason why: it is skipped, or fails when the environment variable
// env is set to 1, as CI sets it for every server its tests start, so
// that a skip is never counted as a pass there.
func Missing(t testing.TB, env, why string) {
	t.Helper()
	if os.Getenv(env) == "1" {
		t.Fatalf("%s, and %s=1", why, env)
	}
	t.Skip(why)
}
