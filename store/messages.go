package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unsafe"
)

// Message outcomes: what ingestion made of an inbound message.
const (
	OutcomeNewCase   = "new_case"
	OutcomeReply     = "reply"
	OutcomeIgnored   = "ignored"
	OutcomeBounce    = "bounce"
	OutcomeAutoReply = "auto_reply"
)

// InboundMessage is one stored inbound mail.
type InboundMessage struct {
	ID            int64    `json:"id"`
	CaseID        int64    `json:"-"`
	Source        string   `json:"source"`
	EnvelopeFrom  string   `json:"envelope_from"`
	EnvelopeTo    []string `json:"envelope_to"`
	MessageID     string   `json:"message_id,omitempty"`
	ContentSHA256 string   `json:"content_sha256"`
	From          string   `json:"from"`
	Subject       string   `json:"subject"`
	Outcome       string   `json:"outcome"`
	Raw           []byte   `json:"-"`
	// RawFrom, when set, holds the raw bytes instead of Raw, for
	// InsertMessage: a large mail is read from it in pieces (chunks.go),
	// never whole.
	RawFrom    *io.SectionReader `json:"-"`
	FullText   string            `json:"full_text"`
	Visible    string            `json:"visible"`
	Headers    string            `json:"-"` // JSON object
	Decision   string            `json:"-"` // JSON array
	ReceivedAt time.Time         `json:"received_at"`
	// Purged says why the raw bytes are gone: PurgedRetention or
	// PurgedErased; "" while they are kept.
	Purged   string     `json:"purged,omitempty"`
	PurgedAt *time.Time `json:"purged_at,omitempty"`
}

// Why raw mail was purged (retention.go, forget.go).
const (
	PurgedRetention = "retention"
	PurgedErased    = "erased"
)

// Attachment is a stored attachment or inline part.
type Attachment struct {
	ID          int64  `json:"id"`
	MessageID   int64  `json:"message_id"`
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	ContentID   string `json:"content_id,omitempty"`
	Inline      bool   `json:"inline,omitempty"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	// Content is the attachment to store; ContentFrom, when set, gives it
	// instead, in pieces (a large attachment decoded from its mail's file
	// as it is stored). Reads leave both empty: WriteAttachmentContent
	// streams the content.
	Content     []byte                             `json:"-"`
	ContentFrom func(put func([]byte) error) error `json:"-"`
	// Purged and PurgedAt: as for InboundMessage; the content is gone.
	Purged   string     `json:"purged,omitempty"`
	PurgedAt *time.Time `json:"purged_at,omitempty"`
}

// FindDuplicate returns the id of an already stored inbound message with
// the same Message-ID (when messageID is not empty) or the same content
// hash; ErrNotFound when there is none.
//
// Both halves are index look-ups. The second names its column in the
// condition that excludes empty Message-IDs, so the partial index on
// message_id applies; the same condition on the parameter does not let
// SQLite use it, and made this statement read every stored message.
func (tx *Tx) FindDuplicate(ctx context.Context, messageID, sha string) (int64, error) {
	var id int64
	err := tx.tx.QueryRowContext(ctx, `SELECT id FROM messages WHERE content_sha256 = ?
		UNION ALL SELECT id FROM messages WHERE message_id = ? AND message_id <> '' LIMIT 1`, sha, messageID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("find duplicate: %w", err)
	}
	return id, nil
}

// InsertMessage stores an inbound message and returns its id. Each text
// is kept once: the visible reply only where it differs from the full
// text (NULL otherwise), and a part larger than chunkSize in pieces
// (chunks.go).
func (tx *Tx) InsertMessage(ctx context.Context, m InboundMessage) (int64, error) {
	var caseID any
	if m.CaseID != 0 {
		caseID = m.CaseID
	}
	full := cleanIf(tx.tx.d, m.FullText) // as the column keeps it; chunks are bytes
	raw, text, chunked := m.Raw, full, 0
	var visible any
	if m.Visible != m.FullText {
		visible = m.Visible
	}
	rawSize := int64(len(raw))
	if m.RawFrom != nil {
		rawSize = m.RawFrom.Size()
	}
	if rawSize > chunkSize {
		raw, chunked = []byte{}, chunked|chunkedRaw
	} else if m.RawFrom != nil {
		raw = make([]byte, rawSize)
		if err := readAtFull(m.RawFrom, raw, 0); err != nil {
			return 0, fmt.Errorf("insert message: read raw: %w", err)
		}
	}
	if len(text) > chunkSize {
		text, chunked = "", chunked|chunkedText
	}
	if len(m.Visible) > chunkSize && visible != nil {
		visible, chunked = nil, chunked|chunkedVisible
	}
	id, err := tx.tx.insertID(ctx, `INSERT INTO messages (case_id, source, envelope_from, envelope_to,
		message_id, content_sha256, from_addr, subject, outcome, raw, full_text, visible, chunked, headers, decision, received_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		caseID, m.Source, m.EnvelopeFrom, strings.Join(m.EnvelopeTo, ","), m.MessageID, m.ContentSHA256,
		m.From, m.Subject, m.Outcome, raw, text, visible, chunked, orJSON(m.Headers, "{}"), orJSON(m.Decision, "[]"), ms(tx.Now))
	if isUniqueViolation(err, duplicateKeys...) {
		return 0, fmt.Errorf("insert message: %w", ErrDuplicate)
	}
	if err != nil {
		return 0, fmt.Errorf("insert message: %w", err)
	}
	switch {
	case chunked&chunkedRaw != 0 && m.RawFrom != nil:
		err = tx.insertChunksFrom(ctx, id, chunkedRaw, m.RawFrom)
	case chunked&chunkedRaw != 0:
		err = tx.insertChunks(ctx, id, chunkedRaw, unsafe.String(unsafe.SliceData(m.Raw), len(m.Raw)))
	}
	if chunked&chunkedText != 0 && err == nil {
		err = tx.insertChunks(ctx, id, chunkedText, full)
	}
	if chunked&chunkedVisible != 0 && err == nil {
		err = tx.insertChunks(ctx, id, chunkedVisible, cleanIf(tx.tx.d, m.Visible))
	}
	if err != nil {
		return 0, err
	}
	return id, nil
}

// ErrDuplicate is InsertMessage's answer when a message with the same
// content or Message-ID is already stored: another transaction stored it
// after this one's FindDuplicate. The transaction is to be rolled back;
// run again, FindDuplicate finds the stored one.
var ErrDuplicate = errors.New("message already stored")

// duplicateKeys are the unique keys of inbound messages: PostgreSQL's
// index names and SQLite's columns. (On SQLite the single writer makes
// FindDuplicate then InsertMessage safe; only the content hash is a
// unique key there.)
var duplicateKeys = []string{"messages_content", "messages_message_id", "messages.content_sha256"}

func orJSON(s, empty string) string {
	if s == "" {
		return empty
	}
	return s
}

// InsertAttachment stores one attachment of a stored message.
func (tx *Tx) InsertAttachment(ctx context.Context, caseID int64, a Attachment) (int64, error) {
	var cid any
	if caseID != 0 {
		cid = caseID
	}
	// One over chunkSize is kept in pieces (attachment_chunks), as a large
	// mail is: never bound whole as one value.
	content, chunked := a.Content, 0
	if a.ContentFrom != nil || len(a.Content) > chunkSize {
		content, chunked = []byte{}, 1
	}
	id, err := tx.tx.insertID(ctx, `INSERT INTO attachments (message_id, case_id, filename, content_type,
		content_id, inline, size, sha256, content, chunked) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.MessageID, cid, a.Filename, a.ContentType, a.ContentID, a.Inline, a.Size, a.SHA256, content, chunked)
	if err != nil {
		return 0, fmt.Errorf("insert attachment %q: %w", a.Filename, err)
	}
	if chunked == 0 {
		return id, nil
	}
	put := func(seq int, piece []byte) error {
		_, err := tx.tx.ExecContext(ctx, `INSERT INTO attachment_chunks (attachment_id, seq, data) VALUES (?, ?, ?)`, id, seq, piece)
		return err
	}
	if a.ContentFrom != nil {
		err = regroup(a.ContentFrom, put)
	} else {
		err = stringPieces(unsafe.String(unsafe.SliceData(a.Content), len(a.Content)), put)
	}
	if err != nil {
		return 0, fmt.Errorf("insert attachment %q: %w", a.Filename, err)
	}
	return id, nil
}

// regroup hands what src produces to put in pieces of chunkSize bytes
// (the last one shorter), through one buffer.
func regroup(src func(func([]byte) error) error, put func(seq int, piece []byte) error) error {
	buf := make([]byte, 0, chunkSize)
	seq := 0
	flush := func() error {
		err := put(seq, buf)
		seq, buf = seq+1, buf[:0]
		return err
	}
	err := src(func(b []byte) error {
		for len(b) > 0 {
			n := min(len(b), chunkSize-len(buf))
			buf, b = append(buf, b[:n]...), b[n:]
			if len(buf) == chunkSize {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err == nil && len(buf) > 0 {
		err = flush()
	}
	return err
}

const messageColumns = `id, COALESCE(case_id, 0), source, envelope_from, envelope_to, message_id, content_sha256,
	from_addr, subject, outcome, full_text, COALESCE(visible, full_text), visible IS NULL, chunked, headers,
	COALESCE((SELECT d.decision FROM message_decisions d WHERE d.message_id = messages.id), decision), received_at,
	purged, purged_at`

// scanned is a message row as read, before its chunked parts are.
type scanned struct {
	InboundMessage
	sameText bool // the visible reply is the full text
	chunked  int
}

func scanMessage(row scanner) (scanned, error) {
	var m scanned
	var to string
	var received int64
	var purged sql.NullInt64
	err := row.Scan(&m.ID, &m.CaseID, &m.Source, &m.EnvelopeFrom, &to, &m.MessageID, &m.ContentSHA256,
		&m.From, &m.Subject, &m.Outcome, &m.FullText, &m.Visible, &m.sameText, &m.chunked, &m.Headers, &m.Decision, &received,
		&m.Purged, &purged)
	if errors.Is(err, sql.ErrNoRows) {
		return m, ErrNotFound
	}
	if to != "" {
		m.EnvelopeTo = strings.Split(to, ",")
	}
	m.ReceivedAt, m.PurgedAt = fromMS(received), nullTime(purged)
	return m, err
}

// texts reads the chunked texts of a scanned message back.
func (m *scanned) texts(ctx context.Context, q querier) error {
	var err error
	if m.chunked&chunkedText != 0 {
		if m.FullText, err = readTextChunks(ctx, q, m.ID, chunkedText); err != nil {
			return err
		}
	}
	switch {
	case m.chunked&chunkedVisible != 0:
		m.Visible, err = readTextChunks(ctx, q, m.ID, chunkedVisible)
	case m.sameText:
		m.Visible = m.FullText
	}
	return err
}

// messageTexts reads one inbound message without its raw bytes.
func (s *Store) messageTexts(ctx context.Context, id int64) (scanned, error) {
	m, err := scanMessage(s.r.QueryRowContext(ctx, `SELECT `+messageColumns+` FROM messages WHERE id = ?`, id))
	if err == nil {
		err = m.texts(ctx, s.r)
	}
	if err != nil {
		return m, fmt.Errorf("message %d: %w", id, err)
	}
	return m, nil
}

// Message reads one inbound message with its raw bytes.
func (s *Store) Message(ctx context.Context, id int64) (InboundMessage, error) {
	m, err := s.messageTexts(ctx, id)
	if err != nil {
		return m.InboundMessage, err
	}
	if m.chunked&chunkedRaw != 0 {
		m.Raw, err = readRawChunks(ctx, s.r, id)
	} else {
		err = s.r.QueryRowContext(ctx, `SELECT raw FROM messages WHERE id = ?`, id).Scan(&m.Raw)
	}
	return m.InboundMessage, err
}

// RawInfo is what a download of a message's raw bytes needs to know
// before it starts.
type RawInfo struct {
	ID       int64
	Size     int64
	Purged   string
	PurgedAt *time.Time
}

// MessageRawInfo reads the size and purge state of message id's raw
// bytes, without them.
func (s *Store) MessageRawInfo(ctx context.Context, id int64) (RawInfo, error) {
	info := RawInfo{ID: id}
	var purged sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT CASE WHEN chunked & 1 = 0 THEN length(raw)
		ELSE (SELECT COALESCE(sum(length(c.data)), 0) FROM message_chunks c WHERE c.message_id = messages.id AND c.part = 'raw') END,
		purged, purged_at FROM messages WHERE id = ?`, id).Scan(&info.Size, &info.Purged, &purged)
	if errors.Is(err, sql.ErrNoRows) {
		return info, fmt.Errorf("message %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return info, fmt.Errorf("message %d: %w", id, err)
	}
	info.PurgedAt = nullTime(purged)
	return info, nil
}

// WriteMessageRaw writes the raw bytes of message id to w, a piece of at
// most 1 MiB at a time (writePieces). An error of w ends it and is
// returned as it is.
func (s *Store) WriteMessageRaw(ctx context.Context, id int64, w io.Writer) error {
	return writeStored(ctx, s.r, "message", id, `SELECT chunked & 1, CASE WHEN chunked & 1 = 0 THEN raw END FROM messages WHERE id = ?`,
		`SELECT data FROM message_chunks WHERE message_id = ? AND part = 'raw' AND seq = ?`, w)
}

// CaseMessages lists a case's inbound messages (without raw bytes), oldest first.
func (s *Store) CaseMessages(ctx context.Context, caseID int64) ([]InboundMessage, error) {
	rows, err := queryAll(ctx, s.r, scanMessage, `SELECT `+messageColumns+` FROM messages WHERE case_id = ? ORDER BY id`, caseID)
	if err != nil {
		return nil, fmt.Errorf("case messages: %w", err)
	}
	out := make([]InboundMessage, len(rows))
	for i := range rows {
		if err := rows[i].texts(ctx, s.r); err != nil {
			return nil, fmt.Errorf("case messages: %w", err)
		}
		out[i] = rows[i].InboundMessage
	}
	return out, nil
}

// CountMessages counts stored inbound messages by outcome ("" = all).
func (s *Store) CountMessages(ctx context.Context, outcome string) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM messages WHERE ? = '' OR outcome = ?`, outcome, outcome).Scan(&n)
	return n, err
}

// CaseAttachments lists a case's attachments (without content).
func (s *Store) CaseAttachments(ctx context.Context, caseID int64) ([]Attachment, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, message_id, filename, content_type, content_id, inline, size, sha256,
		purged, purged_at FROM attachments WHERE case_id = ? ORDER BY id`, caseID)
	if err != nil {
		return nil, fmt.Errorf("case attachments: %w", err)
	}
	defer rows.Close()
	var out []Attachment
	for rows.Next() {
		var a Attachment
		var purged sql.NullInt64
		if err := rows.Scan(&a.ID, &a.MessageID, &a.Filename, &a.ContentType, &a.ContentID, &a.Inline, &a.Size, &a.SHA256,
			&a.Purged, &purged); err != nil {
			return nil, fmt.Errorf("case attachments: %w", err)
		}
		a.PurgedAt = nullTime(purged)
		out = append(out, a)
	}
	return out, rows.Err()
}
