package gateway

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/casegate/casegate/store"
)

// mailWithAttachment is a mail from carolN with an attachment of size
// random (incompressible) bytes.
func mailWithAttachment(n, size int) string {
	data := make([]byte, size)
	r := rand.New(rand.NewPCG(uint64(n), 1))
	for i := range data {
		data[i] = byte(r.UintN(256))
	}
	enc := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\n")
	return fmt.Sprintf(`From: Carol <carol%d@customer.example>
To: support@support.test
Subject: Scan %d attached
Message-ID: <scan.%d@customer.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b"

--b
Content-Type: text/plain

The scan of the error page is attached.
--b
Content-Type: application/octet-stream; name="scan%d.bin"
Content-Disposition: attachment; filename="scan%d.bin"
Content-Transfer-Encoding: base64

%s--b--
`, n, n, n, n, n, b.String())
}

// policy.retention purges the raw mail and attachments of the cases
// closed longer than the retention ago, and of those only: the case, its
// thread text and decision trace stay, the purge is on the case and in
// the counters, the API answers 410 purged for the raw mail and the
// attachment, and the freed space goes back to the file system.
func TestRetentionPurgesCasesClosedLongEnough(t *testing.T) {
	e := newOpsEnv(t, Protection{})
	ctx := context.Background()
	e.g.cfg.Retention = 30 * 24 * time.Hour
	const size = 512 << 10 // the raw mail, base64, is 4/3 of it; the limit is 1 MiB
	for n := 1; n <= 3; n++ {
		if res := e.ingest(t, fmt.Sprintf("carol%d@customer.example", n), []string{"support@support.test"},
			mailWithAttachment(n, size)); res.Outcome != store.OutcomeNewCase {
			t.Fatalf("mail %d: %+v", n, res)
		}
	}
	closeCase := func(number string) {
		t.Helper()
		if _, err := e.g.Transition(ctx, number, store.StateClosed, "Done.", Actor{Email: agent}); err != nil {
			t.Fatal(err)
		}
	}
	closeCase("CS0000001") // closed 40 days before the purge
	e.clock.Advance(30 * 24 * time.Hour)
	closeCase("CS0000002") // closed 10 days before; CS0000003 stays open
	e.clock.Advance(10 * 24 * time.Hour)
	sqlite := e.st.Backend() == store.BackendSQLite // the space is SQLite's to give back
	var before store.Space
	var fileBefore int64
	if sqlite {
		before, fileBefore = space(t, e)
		if before.AutoVacuum != "incremental" {
			t.Fatalf("a new database has auto_vacuum %s, want incremental", before.AutoVacuum)
		}
	}

	n, st, err := e.g.Purge(ctx)
	if err != nil || n != 1 || st.Messages != 1 || st.Attachments != 1 || st.Bytes < size {
		t.Fatalf("purge: %d cases, %+v, %v", n, st, err)
	}
	if n, _, err := e.g.Purge(ctx); err != nil || n != 0 {
		t.Fatalf("a second purge: %d, %v", n, err)
	}

	for number, purged := range map[string]bool{"CS0000001": true, "CS0000002": false, "CS0000003": false} {
		d, err := e.g.CaseDetail(ctx, number)
		if err != nil {
			t.Fatal(err)
		}
		msg := d.Activity[0].Message
		if msg == nil || msg.Visible == "" || !strings.Contains(string(msg.Decision), `"step"`) || d.State == "" {
			t.Fatalf("%s lost its thread text or decision: %+v", number, d.Activity[0])
		}
		raw, err := e.g.Message(ctx, msg.ID)
		if err != nil {
			t.Fatal(err)
		}
		att, err := e.g.Attachment(ctx, d.Attachments[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		var content bytes.Buffer
		if err := e.g.AttachmentContent(ctx, att.ID, &content); err != nil {
			t.Fatal(err)
		}
		if !purged {
			if len(raw.Raw) == 0 || content.Len() != size || msg.Purged != "" {
				t.Errorf("%s was purged: raw %d bytes, attachment %d bytes", number, len(raw.Raw), content.Len())
			}
			continue
		}
		if len(raw.Raw) != 0 || raw.Purged != store.PurgedRetention || content.Len() != 0 || att.Purged != store.PurgedRetention {
			t.Errorf("%s after the purge: raw %d bytes (%q), attachment %d bytes (%q)", number, len(raw.Raw), raw.Purged, content.Len(), att.Purged)
		}
		if msg.Purged != store.PurgedRetention || d.Attachments[0].Purged != store.PurgedRetention || d.Attachments[0].Size != size {
			t.Errorf("%s: message %q, attachment %+v", number, msg.Purged, d.Attachments[0].Attachment)
		}
		if last := d.Activity[len(d.Activity)-1]; last.Kind != "retention" || last.Public || !strings.Contains(last.Body, "1 mails, 1 attachments") {
			t.Errorf("%s: the purge is not on the case: %+v", number, last)
		}
	}
	rec := httptest.NewRecorder()
	e.g.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if !strings.Contains(rec.Body.String(), `casegate_retention_purged_total{what="cases"} 1`) {
		t.Errorf("metrics:\n%s", rec.Body)
	}

	if !sqlite {
		return
	}
	after, fileAfter := space(t, e)
	t.Logf("pages %d -> %d (free %d), file %d -> %d bytes", before.Pages, after.Pages, after.FreePages, fileBefore, fileAfter)
	if freed := (before.Pages - after.Pages) * before.PageSize; freed < size*3/2 || after.FreePages != 0 {
		t.Errorf("%d bytes given back (free pages left %d), want about the raw mail and attachment (> %d)", freed, after.FreePages, size*3/2)
	}
	if fileBefore-fileAfter < size*3/2 {
		t.Errorf("the file shrank by %d bytes only", fileBefore-fileAfter)
	}
}

// space reads a SQLite database's pages and, after a checkpoint, the
// size of its file.
func space(t *testing.T, e *opsEnv) (store.Space, int64) {
	t.Helper()
	ctx := context.Background()
	sp, err := e.st.Space(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.Exec(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(e.path)
	if err != nil {
		t.Fatal(err)
	}
	return sp, fi.Size()
}

// An unset retention purges nothing, however old the closed case.
func TestRetentionOffPurgesNothing(t *testing.T) {
	e := newOpsEnv(t, Protection{})
	ctx := context.Background()
	e.ingest(t, "carol1@customer.example", []string{"support@support.test"}, mailWithAttachment(1, 1000))
	if _, err := e.g.Transition(ctx, "CS0000001", store.StateClosed, "Done.", Actor{Email: agent}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(10 * 365 * 24 * time.Hour)
	if n, _, err := e.g.Purge(ctx); err != nil || n != 0 {
		t.Fatalf("purge without retention: %d, %v", n, err)
	}
	m, err := e.st.Message(ctx, 1)
	if err != nil || m.Purged != "" || !bytes.Contains(m.Raw, []byte("scan1.bin")) {
		t.Fatalf("message: %v %q", err, m.Purged)
	}
}
