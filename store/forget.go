package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/mail"
	"sort"
	"strconv"
	"strings"
)

// Erasure of one person's data (`casegate contacts forget`). What goes:
//
//   - the mail they sent (From or envelope sender), and the delivery
//     reports about mail to them: raw bytes, text, subject, headers,
//     decision trace, Message-ID and content hash are blanked, their
//     attachments' content and names too; the rows stay, marked
//     PurgedErased, so the thread still shows that a mail came;
//   - their contact: the cases keep their numbers and states and get a
//     tombstone contact instead, their subject and description (the
//     person's words) are replaced, their survey comments blanked;
//   - their watch-list entries, the notifications addressed to them (with
//     their attempts, sources and reports), their suppressions and their
//     deliverability record;
//   - quarantined mail from them;
//   - their address anywhere else in the rows of the cases they had a
//     part in (other people's mail, activity, notification snapshots),
//     replaced by the tombstone address.
//
// What stays is a tombstone: salted hashes of the address and of the
// Message-IDs and contents of the erased mail, so a re-delivered old mail
// is recognised and not taken in again (Tombstoned).

// Erasure says whom Forget erases and what takes their place.
type Erasure struct {
	// Email is the address to forget, compared without regard to ASCII
	// case.
	Email string
	// Tombstone is the address that takes its place: the contact of the
	// cases, the author of the activity.
	Tombstone string
	// Hash is the salted hash kept as a tombstone of a value of a kind
	// (TombstoneAddress, TombstoneMessageID, TombstoneContent).
	Hash func(kind, value string) string
	// Note is written on each case the erasure changed (internal).
	Note string
}

// Kinds of tombstone.
const (
	TombstoneAddress   = "address"
	TombstoneMessageID = "message_id"
	TombstoneContent   = "content"
)

// ErasedText replaces the subject of a case whose contact was erased.
const ErasedText = "(erased)"

// Erased counts what Forget erased.
type Erased struct {
	Cases      []string `json:"cases"` // numbers of the cases it changed
	PurgeStats          // mail and attachments erased
	Outbox     int      `json:"outbox"`     // notifications to the address, deleted
	Watchers   int      `json:"watchers"`   // watch-list entries removed
	Redacted   int      `json:"redacted"`   // other rows where the address was replaced
	Quarantine int      `json:"quarantine"` // quarantined mails from the address, deleted
	// Already: the address had been forgotten before (whatever came
	// since is erased again).
	Already bool `json:"already_forgotten"`
}

// Forget erases e.Email's data in the transaction, as the comment above
// says, and reports what it did.
func (tx *Tx) Forget(ctx context.Context, e Erasure) (Erased, error) {
	f := &forgetter{tx: tx, ctx: ctx, e: e, email: asciiLower(e.Email), cases: map[int64]bool{}}
	for _, step := range []func() error{f.tombstoneAddress, f.contact, f.ownMail, f.outbox, f.reports, f.people,
		f.redactCases, f.quarantine, f.note} {
		if err := step(); err != nil {
			return f.out, fmt.Errorf("forget: %w", err)
		}
	}
	return f.out, nil
}

// Tombstoned reports whether any of hashes is a tombstone: a mail with
// that Message-ID or content was erased.
func (tx *Tx) Tombstoned(ctx context.Context, hashes ...string) (bool, error) {
	for _, h := range hashes {
		var n int
		if err := tx.tx.QueryRowContext(ctx, `SELECT count(*) FROM tombstones WHERE hash = ?`, h).Scan(&n); err != nil {
			return false, fmt.Errorf("tombstones: %w", err)
		}
		if n > 0 {
			return true, nil
		}
	}
	return false, nil
}

// forgetter is one erasure under way.
type forgetter struct {
	tx    *Tx
	ctx   context.Context
	e     Erasure
	email string         // lower-case
	cases map[int64]bool // the cases it changed
	out   Erased
}

func (f *forgetter) exec(q string, args ...any) (int64, error) {
	res, err := f.tx.tx.ExecContext(f.ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// ids runs a query of one integer column.
func (f *forgetter) ids(q string, args ...any) ([]int64, error) {
	return queryAll(f.ctx, f.tx.tx, scanID, q, args...)
}

func (f *forgetter) mark(caseIDs ...int64) {
	for _, id := range caseIDs {
		if id != 0 {
			f.cases[id] = true
		}
	}
}

func (f *forgetter) tombstone(kind, value string) error {
	if value == "" {
		return nil
	}
	_, err := f.exec(`INSERT INTO tombstones (hash, kind, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
		f.e.Hash(kind, value), kind, ms(f.tx.Now))
	return err
}

func (f *forgetter) tombstoneAddress() error {
	var err error
	f.out.Already, err = f.tx.Tombstoned(f.ctx, f.e.Hash(TombstoneAddress, f.email))
	if err != nil {
		return err
	}
	return f.tombstone(TombstoneAddress, f.email)
}

// contact gives the address's cases the tombstone contact, erases their
// words (subject, description, survey comment) and deletes the contact.
func (f *forgetter) contact() error {
	var cid int64
	err := f.tx.tx.QueryRowContext(f.ctx, `SELECT id FROM contacts WHERE email = ?`, f.email).Scan(&cid)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	tomb, err := f.tx.UpsertContact(f.ctx, f.e.Tombstone, "", "")
	if err != nil {
		return err
	}
	cases, err := f.ids(`SELECT id FROM cases WHERE contact_id = ?`, cid)
	if err != nil {
		return err
	}
	f.mark(cases...)
	if _, err := f.exec(`UPDATE cases SET contact_id = ?, subject = ?, description = '', customer_ref = '' WHERE contact_id = ?`,
		tomb.ID, ErasedText, cid); err != nil {
		return err
	}
	if _, err := f.exec(`UPDATE surveys SET comment = '' WHERE case_id IN (SELECT id FROM cases WHERE contact_id = ?)`, tomb.ID); err != nil {
		return err
	}
	_, err = f.exec(`DELETE FROM contacts WHERE id = ?`, cid)
	return err
}

// erasedMail is a stored mail to erase.
type erasedMail struct {
	id, caseID      int64
	messageID, hash string
}

func scanErasedMail(row scanner) (erasedMail, error) {
	var m erasedMail
	err := row.Scan(&m.id, &m.caseID, &m.messageID, &m.hash)
	return m, err
}

const erasedMailColumns = `id, COALESCE(case_id, 0), message_id, content_sha256`

// ownMail erases the mail the address sent.
func (f *forgetter) ownMail() error {
	mails, err := queryAll(f.ctx, f.tx.tx, scanErasedMail, `SELECT `+erasedMailColumns+` FROM messages
		WHERE (lower(from_addr) = ? OR lower(envelope_from) = ?) AND purged <> 'erased'`, f.email, f.email)
	if err != nil {
		return err
	}
	return f.eraseMail(mails)
}

// eraseMail blanks mails and their attachments, keeps their tombstones,
// forgets their Message-IDs for threading and empties the activity
// entries that carried their text.
func (f *forgetter) eraseMail(mails []erasedMail) error {
	for _, m := range mails {
		f.mark(m.caseID)
		if err := f.tombstone(TombstoneMessageID, m.messageID); err != nil {
			return err
		}
		if err := f.tombstone(TombstoneContent, m.hash); err != nil {
			return err
		}
		if m.messageID != "" {
			if _, err := f.exec(`DELETE FROM thread_ids WHERE message_id = ? AND direction = 'in'`, m.messageID); err != nil {
				return err
			}
		}
		st, err := f.tx.purgeRows(f.ctx, "messages", "raw", `id = ?`, m.id, PurgedErased)
		if err != nil {
			return err
		}
		if err := f.tx.dropChunks(f.ctx, m.id); err != nil {
			return err
		}
		_, err = f.exec(`UPDATE messages SET full_text = '', visible = '', subject = '', from_addr = ?, envelope_from = '',
			envelope_to = '', message_id = '', content_sha256 = ?, headers = '{}', decision = '[]', purged = ?, purged_at = ?
			WHERE id = ?`, f.e.Tombstone, "erased:"+strconv.FormatInt(m.id, 10), PurgedErased, ms(f.tx.Now), m.id)
		if err != nil {
			return err
		}
		a, err := f.tx.purgeRows(f.ctx, "attachments", "content", `message_id = ?`, m.id, PurgedErased)
		if err != nil {
			return err
		}
		if _, err := f.exec(`UPDATE attachments SET filename = '', content_id = '', sha256 = '' WHERE message_id = ?`, m.id); err != nil {
			return err
		}
		if _, err := f.exec(`UPDATE activities SET body = '' WHERE message_id = ? AND kind = 'inbound'`, m.id); err != nil {
			return err
		}
		if _, err := f.exec(`DELETE FROM message_decisions WHERE message_id = ?`, m.id); err != nil {
			return err
		}
		f.out.PurgeStats = f.out.PurgeStats.Add(st).Add(a)
	}
	return nil
}

// outbox deletes the notifications addressed to the address, with their
// attempts, sources, Message-IDs and reports (whose mails are erased).
func (f *forgetter) outbox() error {
	type row struct {
		id, caseID int64
		messageID  string
	}
	rows, err := queryAll(f.ctx, f.tx.tx, func(s scanner) (row, error) {
		var r row
		err := s.Scan(&r.id, &r.caseID, &r.messageID)
		return r, err
	}, `SELECT id, COALESCE(case_id, 0), message_id FROM outbox WHERE recipient = ? COLLATE NOCASE`, f.email)
	if err != nil {
		return err
	}
	for _, r := range rows {
		f.mark(r.caseID)
		reports, err := queryAll(f.ctx, f.tx.tx, scanErasedMail, `SELECT `+erasedMailColumns+` FROM messages
			WHERE id IN (SELECT message_id FROM bounces WHERE outbox_id = ?) AND purged <> 'erased'`, r.id)
		if err != nil {
			return err
		}
		if err := f.eraseMail(reports); err != nil {
			return err
		}
		for _, q := range []string{`DELETE FROM bounces WHERE outbox_id = ?`, `DELETE FROM outbox_attempts WHERE outbox_id = ?`,
			`DELETE FROM outbox_sources WHERE outbox_id = ?`} {
			if _, err := f.exec(q, r.id); err != nil {
				return err
			}
		}
		if _, err := f.exec(`DELETE FROM thread_ids WHERE message_id = ?`, r.messageID); err != nil {
			return err
		}
		if _, err := f.exec(`DELETE FROM outbox WHERE id = ?`, r.id); err != nil {
			return err
		}
		f.out.Outbox++
	}
	return nil
}

// reports erases the other delivery reports naming the address (on no
// row, or on another recipient's row), and its deliverability record.
func (f *forgetter) reports() error {
	reports, err := queryAll(f.ctx, f.tx.tx, scanErasedMail, `SELECT `+erasedMailColumns+` FROM messages
		WHERE id IN (SELECT message_id FROM bounces WHERE lower(recipient) = ?) AND purged <> 'erased'`, f.email)
	if err != nil {
		return err
	}
	if err := f.eraseMail(reports); err != nil {
		return err
	}
	if _, err := f.exec(`UPDATE bounces SET recipient = ?, detail = '' WHERE lower(recipient) = ?`, f.e.Tombstone, f.email); err != nil {
		return err
	}
	if _, err := f.exec(`DELETE FROM suppressions WHERE lower(recipient) = ?`, f.email); err != nil {
		return err
	}
	_, err = f.exec(`DELETE FROM addresses WHERE email = ?`, f.email)
	return err
}

// people removes the address from watch lists and puts the tombstone in
// its place as the author of activity and of watchers it added; as an
// assignee it is removed.
func (f *forgetter) people() error {
	cases, err := f.ids(`SELECT case_id FROM watchers WHERE email = ?
		UNION SELECT case_id FROM activities WHERE lower(actor) = ?
		UNION SELECT id FROM cases WHERE lower(assignee) = ?`, f.email, f.email, f.email)
	if err != nil {
		return err
	}
	f.mark(cases...)
	n, err := f.exec(`DELETE FROM watchers WHERE email = ?`, f.email)
	if err != nil {
		return err
	}
	f.out.Watchers = int(n)
	for _, q := range []string{`UPDATE watchers SET added_by = ? WHERE lower(added_by) = ?`,
		`UPDATE activities SET actor = ? WHERE lower(actor) = ?`} {
		if _, err := f.exec(q, f.e.Tombstone, f.email); err != nil {
			return err
		}
	}
	_, err = f.exec(`UPDATE cases SET assignee = '' WHERE lower(assignee) = ?`, f.email)
	return err
}

// redactCases replaces the address in every text of the cases it
// changed: other people's mail (raw bytes too), activity, notification
// snapshots and errors, the case's own fields.
func (f *forgetter) redactCases() error {
	ids := make([]int64, 0, len(f.cases))
	for id := range f.cases {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		for _, t := range redactTables {
			n, err := f.redact(t, id)
			if err != nil {
				return fmt.Errorf("%s of case %d: %w", t.table, id, err)
			}
			f.out.Redacted += n
		}
		n, err := f.tx.redactChunks(f.ctx, id, func(b []byte) ([]byte, bool) { return replaceFold(b, f.email, f.e.Tombstone) })
		if err != nil {
			return fmt.Errorf("pieces of the mail of case %d: %w", id, err)
		}
		f.out.Redacted += n
	}
	return nil
}

// redactTable names the text columns of a table's rows of one case.
type redactTable struct {
	table, key, where string // key: the row's integer key; where has one ? for the case id
	cols              []string
}

var redactTables = []redactTable{
	{"messages", "id", `case_id = ? AND purged <> 'erased'`, []string{"raw", "full_text", "visible", "subject", "headers",
		"decision", "from_addr", "envelope_from", "envelope_to"}},
	{"attachments", "id", `case_id = ? AND purged = ''`, []string{"filename"}},
	{"activities", "id", `case_id = ?`, []string{"body", "actor"}},
	{"message_decisions", "message_id", `message_id IN (SELECT id FROM messages WHERE case_id = ?)`, []string{"decision"}},
	{"outbox", "id", `case_id = ?`, []string{"data", "refs", "in_reply_to", "last_error", "recipient_name"}},
	{"outbox_attempts", "id", `outbox_id IN (SELECT id FROM outbox WHERE case_id = ?)`, []string{"error"}},
	{"cases", "id", `id = ?`, []string{"subject", "description", "customer_ref", "affected_item"}},
	{"surveys", "case_id", `case_id = ?`, []string{"comment"}},
}

// redact replaces the address in t's columns of case id's rows, reading
// each row and writing back only the columns that changed. It returns
// how many rows changed. The table and column names are the constants of
// redactTables, never input.
func (f *forgetter) redact(t redactTable, id int64) (int, error) {
	rows, err := f.tx.tx.QueryContext(f.ctx, `SELECT `+t.key+`, `+strings.Join(t.cols, ", ")+` FROM `+t.table+` WHERE `+t.where, id)
	if err != nil {
		return 0, err
	}
	type change struct {
		key  int64
		cols []string
		vals []any
	}
	var changes []change
	for rows.Next() {
		var key int64
		vals := make([][]byte, len(t.cols))
		dest := []any{&key}
		for i := range vals {
			dest = append(dest, &vals[i])
		}
		if err := rows.Scan(dest...); err != nil {
			rows.Close()
			return 0, err
		}
		c := change{key: key}
		for i, v := range vals {
			nv, ok := replaceFold(v, f.email, f.e.Tombstone)
			if !ok {
				continue
			}
			c.cols = append(c.cols, t.cols[i]+" = ?")
			if t.cols[i] == "raw" {
				c.vals = append(c.vals, nv)
			} else {
				c.vals = append(c.vals, string(nv))
			}
		}
		if len(c.cols) > 0 {
			changes = append(changes, c)
		}
	}
	if err := rows.Close(); err != nil {
		return 0, err
	}
	for _, c := range changes {
		q := `UPDATE ` + t.table + ` SET ` + strings.Join(c.cols, ", ") + ` WHERE ` + t.key + ` = ?`
		if _, err := f.exec(q, append(c.vals, c.key)...); err != nil {
			return 0, err
		}
	}
	return len(changes), nil
}

// quarantine deletes the quarantined mail from the address (envelope
// sender or From) and replaces the address in the rest. It reads every
// quarantined mail: the quarantine is kept small by its operators.
func (f *forgetter) quarantine() error {
	type q struct {
		id       int64
		from, to string
		hash     string
		raw      []byte
		chunked  int
	}
	rows, err := queryAll(f.ctx, f.tx.tx, func(s scanner) (q, error) {
		var r q
		err := s.Scan(&r.id, &r.from, &r.to, &r.hash, &r.raw, &r.chunked)
		return r, err
	}, `SELECT id, envelope_from, envelope_to, content_sha256, raw, chunked FROM quarantine`)
	if err != nil {
		return err
	}
	for _, r := range rows {
		if r.chunked != 0 {
			// Read whole: a name may straddle two pieces.
			var b bytes.Buffer
			if err := writeQuarantinedRaw(f.ctx, f.tx.tx, r.id, &b); err != nil {
				return err
			}
			r.raw = b.Bytes()
		}
		if asciiLower(r.from) == f.email || headerFrom(r.raw) == f.email {
			if err := f.tombstone(TombstoneContent, r.hash); err != nil {
				return err
			}
			if _, err := f.exec(`DELETE FROM quarantine WHERE id = ?`, r.id); err != nil {
				return err
			}
			f.out.Quarantine++
			continue
		}
		raw, ok1 := replaceFold(r.raw, f.email, f.e.Tombstone)
		to, ok2 := replaceFold([]byte(r.to), f.email, f.e.Tombstone)
		if ok1 || ok2 {
			if r.chunked != 0 {
				if _, err := f.exec(`DELETE FROM quarantine_chunks WHERE quarantine_id = ?`, r.id); err != nil {
					return err
				}
				if err := f.tx.insertQuarantineChunks(f.ctx, r.id, raw, nil); err != nil {
					return err
				}
				raw = []byte{}
			}
			if _, err := f.exec(`UPDATE quarantine SET raw = ?, envelope_to = ? WHERE id = ?`, raw, string(to), r.id); err != nil {
				return err
			}
			f.out.Redacted++
		}
	}
	return nil
}

// headerFrom is the lower-case address of a raw mail's From field, "" if
// it has none that parses.
func headerFrom(raw []byte) string {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return ""
	}
	a, err := mail.ParseAddress(m.Header.Get("From"))
	if err != nil {
		return ""
	}
	return asciiLower(a.Address)
}

// note writes the erasure on each case it changed and lists them.
func (f *forgetter) note() error {
	ids := make([]int64, 0, len(f.cases))
	for id := range f.cases {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	f.out.Cases = []string{}
	for _, id := range ids {
		var number string
		if err := f.tx.tx.QueryRowContext(f.ctx, `SELECT number FROM cases WHERE id = ?`, id).Scan(&number); err != nil {
			return err
		}
		if _, err := f.tx.AddActivity(f.ctx, id, Activity{Kind: "erasure", Actor: "system", Body: f.e.Note}); err != nil {
			return err
		}
		f.out.Cases = append(f.out.Cases, number)
	}
	return nil
}

// asciiLower lower-cases ASCII letters only, keeping every other byte
// (and so the length): addresses compare this way in SQL too.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// replaceFold replaces in s every occurrence of the address addr
// (lower-case), compared without regard to ASCII case, that stands as an
// address of its own (not inside a longer one), by repl. It reports
// whether it replaced anything.
func replaceFold(s []byte, addr, repl string) ([]byte, bool) {
	low := []byte(asciiLower(string(s)))
	var out []byte
	last, from := 0, 0
	for {
		i := bytes.Index(low[from:], []byte(addr))
		if i < 0 {
			break
		}
		i += from
		end := i + len(addr)
		from = i + 1
		if !addressEdge(low, i, end) {
			continue
		}
		out = append(append(out, s[last:i]...), repl...)
		last, from = end, end
	}
	if out == nil {
		return s, false
	}
	return append(out, s[last:]...), true
}

// addressEdge reports whether low[i:end] is not part of a longer address:
// no local-part character before it, no domain character after it (a dot
// counts only when a domain character follows, as in a longer domain).
func addressEdge(low []byte, i, end int) bool {
	if i > 0 && isAtext(low[i-1]) {
		return false
	}
	if end < len(low) {
		c := low[end]
		if isDomainChar(c) && c != '.' {
			return false
		}
		if c == '.' && end+1 < len(low) && isDomainChar(low[end+1]) && low[end+1] != '.' {
			return false
		}
	}
	return true
}

func isDomainChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.'
}

// isAtext: the characters of a local part (RFC 5322 atext) and the dot.
func isAtext(c byte) bool {
	return isDomainChar(c) || bytes.IndexByte([]byte("!#$%&'*+/=?^_`{|}~"), c) >= 0 || c >= 0x80
}
