package gatewaytest

import (
	"fmt"
	"testing"
)

// recorder is a testing.TB that notes a failure or a skip instead of
// ending the test.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper()                   {}
func (r *recorder) Fatalf(f string, a ...any) { r.fatal = fmt.Sprintf(f, a...) }
func (r *recorder) Skip(a ...any)             { r.skip = fmt.Sprint(a...) }

// A missing server is a skip, and a failure once its variable is 1.
func TestMissing(t *testing.T) {
	const env = "CASEGATE_TEST_MISSING_THING"
	for _, tc := range []struct{ value, fatal, skip string }{
		{"", "", "thing not installed"},
		{"0", "", "thing not installed"},
		{"1", "thing not installed, and " + env + "=1", ""},
	} {
		t.Setenv(env, tc.value)
		r := &recorder{TB: t}
		Missing(r, env, "thing not installed")
		if r.fatal != tc.fatal || (tc.fatal == "" && r.skip != tc.skip) {
			t.Errorf("%s=%q: failed with %q, skipped with %q; want %q, %q", env, tc.value, r.fatal, r.skip, tc.fatal, tc.skip)
		}
	}
}
