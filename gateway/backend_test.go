package gateway

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/casegate/casegate/store"
	"github.com/casegate/casegate/store/pgtest"
)

// testDatabaseEnv chooses the database of the gateway's tests: sqlite
// (the default) or postgres, which runs the whole suite on PostgreSQL:
// CASEGATE_TEST_DATABASE=postgres go test ./gateway/
const testDatabaseEnv = "CASEGATE_TEST_DATABASE"

// testDatabase returns a fresh database for a test: a SQLite file, or a
// PostgreSQL URL under CASEGATE_TEST_DATABASE=postgres.
func testDatabase(t testing.TB) string {
	t.Helper()
	if os.Getenv(testDatabaseEnv) == store.BackendPostgres {
		return pgtest.Database(t)
	}
	return filepath.Join(t.TempDir(), "db")
}

// openStoreAt opens the database at loc (from testDatabase), as a
// restarted process would; the caller closes it.
func openStoreAt(t testing.TB, loc string, opts store.Options) *store.Store {
	t.Helper()
	var st *store.Store
	var err error
	if strings.HasPrefix(loc, "postgres://") {
		st, err = store.OpenPostgres(context.Background(), loc, opts)
	} else {
		st, err = store.Open(context.Background(), loc, opts)
	}
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// openTestStore opens a fresh database, closed when the test ends.
func openTestStore(t testing.TB, opts store.Options) *store.Store {
	t.Helper()
	st := openStoreAt(t, testDatabase(t), opts)
	t.Cleanup(func() { st.Close() })
	return st
}

// postgresCore are the tests of ingestion, threading, the case life cycle
// and the outbox that always run on PostgreSQL too.
var postgresCore = []string{
	"TestIngestBatchInOrderOneCommit", "TestNotificationRecipients", "TestNotificationThreadingHeaders",
	"TestSignedLinks", "TestSurveyByReplyAndAgentMail", "TestStrangerCannotWriteIntoCase",
	"TestTransitionTable", "TestAutoCloseAcrossRestart", "TestBounceAttributionAndHardBounces",
	"TestOutboxRetrySchedule", "TestLoopRulesThroughSMTP", "TestBudgetPerRecipient",
	"TestOutboxShowsBounced", "TestRelayRefusalCountsAsHardBounce", "TestRetentionPurgesCasesClosedLongEnough",
	"TestForgetLeavesNoTrace",
	// The API's tests live in package web since the HTTP side moved there.
}

// TestCoreOnPostgres runs the core tests again, in a process of their
// own with CASEGATE_TEST_DATABASE=postgres; set that variable to run
// every test of the package on PostgreSQL.
func TestCoreOnPostgres(t *testing.T) {
	if os.Getenv(testDatabaseEnv) == store.BackendPostgres {
		t.Skip("the whole suite runs on PostgreSQL")
	}
	pgtest.Database(t) // skips (or fails) here where PostgreSQL is missing
	cmd := exec.Command(os.Args[0], "-test.count=1", "-test.run", "^("+strings.Join(postgresCore, "|")+")$", "-test.v")
	cmd.Env = append(os.Environ(), testDatabaseEnv+"="+store.BackendPostgres)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("core tests on PostgreSQL: %v\n%s", err, out)
	}
	for _, name := range postgresCore {
		if !strings.Contains(string(out), "--- PASS: "+name+" ") {
			t.Errorf("%s did not pass on PostgreSQL:\n%s", name, out)
		}
	}
}
