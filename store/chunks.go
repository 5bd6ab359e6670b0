package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strings"
	"unsafe"
)

// A large inbound message is kept in pieces. Storing a 25 MB mail as one
// value makes the database driver and engine hold several copies of it at
// once (SQLite copies each argument, then builds the whole row; the
// PostgreSQL driver builds the whole message on the wire), so each of its
// large parts — the raw bytes, the full text, a visible reply that
// differs from it — is written as rows of message_chunks of at most
// chunkSize bytes instead, its column in messages left empty and its bit
// set in messages.chunked. A part of chunkSize bytes or less stays in its
// column, as every small mail's parts do. Readers put the pieces back
// together; nothing outside this file sees the difference.

// chunkSize is the largest piece of a part, and the largest part kept in
// its column.
const chunkSize = 1 << 20

// The parts of a message, their bit in messages.chunked and their name in
// message_chunks.part.
const (
	chunkedRaw     = 1
	chunkedText    = 2
	chunkedVisible = 4
)

var chunkPart = map[int]string{chunkedRaw: "raw", chunkedText: "text", chunkedVisible: "visible"}

// insertChunks writes data, the part bit of message id, in pieces.
func (tx *Tx) insertChunks(ctx context.Context, id int64, bit int, data string) error {
	if err := stringPieces(data, tx.putChunk(ctx, id, bit)); err != nil {
		return fmt.Errorf("insert message %d %s: %w", id, chunkPart[bit], err)
	}
	return nil
}

// insertChunksFrom is insertChunks of the bytes of r.
func (tx *Tx) insertChunksFrom(ctx context.Context, id int64, bit int, r *io.SectionReader) error {
	if err := readerPieces(r, tx.putChunk(ctx, id, bit)); err != nil {
		return fmt.Errorf("insert message %d %s: %w", id, chunkPart[bit], err)
	}
	return nil
}

// putChunk inserts a piece of the part bit of message id.
func (tx *Tx) putChunk(ctx context.Context, id int64, bit int) func(seq int, piece []byte) error {
	return func(seq int, piece []byte) error {
		_, err := tx.tx.ExecContext(ctx, `INSERT INTO message_chunks (message_id, part, seq, data) VALUES (?, ?, ?, ?)`,
			id, chunkPart[bit], seq, piece)
		return err
	}
}

// stringPieces calls put with each piece of data of at most chunkSize
// bytes, in order. Each piece is a view of data's bytes, not a copy: the
// drivers copy an argument before they return and never write to it.
func stringPieces(data string, put func(seq int, piece []byte) error) error {
	for seq := 0; len(data) > 0; seq++ {
		n := min(len(data), chunkSize)
		if err := put(seq, unsafe.Slice(unsafe.StringData(data), n)); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

// readerPieces is stringPieces of the bytes of r, read into one buffer of
// chunkSize piece by piece: a part in a file is never held whole.
func readerPieces(r *io.SectionReader, put func(seq int, piece []byte) error) error {
	buf := make([]byte, min(r.Size(), chunkSize))
	for seq, off := 0, int64(0); off < r.Size(); seq++ {
		n := int(min(int64(len(buf)), r.Size()-off))
		if err := readAtFull(r, buf[:n], off); err != nil {
			return fmt.Errorf("read: %w", err)
		}
		if err := put(seq, buf[:n]); err != nil {
			return err
		}
		off += int64(n)
	}
	return nil
}

// writeStored writes to w a value kept whole or in pieces. row (one ?
// for id) selects whether it is in pieces (non-zero) and, when it is not,
// the value; pieces selects them as writePieces reads them. what names
// the row in errors.
func writeStored(ctx context.Context, q querier, what string, id int64, row, pieces string, w io.Writer) error {
	var inPieces int
	var whole []byte
	err := q.QueryRowContext(ctx, row, id).Scan(&inPieces, &whole)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s %d: %w", what, id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("%s %d: %w", what, id, err)
	}
	if inPieces == 0 {
		_, err := w.Write(whole)
		return err
	}
	return writePieces(ctx, q, pieces, id, w)
}

// writePieces writes to w the pieces of id that query selects (one ? for
// id, one for seq), in order of seq. Each piece is read by a statement of
// its own, so a slow w holds no read snapshot open: a long download must
// not keep the WAL from being checkpointed. An error of w ends it and is
// returned as it is.
func writePieces(ctx context.Context, q querier, query string, id int64, w io.Writer) error {
	for seq := 0; ; seq++ {
		var b []byte
		err := q.QueryRowContext(ctx, query, id, seq).Scan(&b)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("piece %d of %d: %w", seq, id, err)
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
}

// readAtFull fills p from r at off.
func readAtFull(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// chunkSink is what a part is read back into: a bytes.Buffer or a
// strings.Builder, grown once to the part's size.
type chunkSink interface {
	Grow(n int)
	Write(p []byte) (int, error)
}

// readChunks reads the part bit of message id back into out.
func readChunks(ctx context.Context, q querier, id int64, bit int, out chunkSink) error {
	part := chunkPart[bit]
	var size int64
	if err := q.QueryRowContext(ctx, `SELECT COALESCE(sum(length(data)), 0) FROM message_chunks
		WHERE message_id = ? AND part = ?`, id, part).Scan(&size); err != nil {
		return fmt.Errorf("message %d %s: %w", id, part, err)
	}
	out.Grow(int(size))
	rows, err := q.QueryContext(ctx, `SELECT data FROM message_chunks WHERE message_id = ? AND part = ? ORDER BY seq`, id, part)
	if err != nil {
		return fmt.Errorf("message %d %s: %w", id, part, err)
	}
	defer rows.Close()
	for rows.Next() {
		var b sql.RawBytes
		if err := rows.Scan(&b); err != nil {
			return fmt.Errorf("message %d %s: %w", id, part, err)
		}
		out.Write(b)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("message %d %s: %w", id, part, err)
	}
	return nil
}

// readRawChunks reads the raw bytes of message id back.
func readRawChunks(ctx context.Context, q querier, id int64) ([]byte, error) {
	var b bytes.Buffer
	err := readChunks(ctx, q, id, chunkedRaw, &b)
	return b.Bytes(), err
}

// readTextChunks reads a text part of message id back.
func readTextChunks(ctx context.Context, q querier, id int64, bit int) (string, error) {
	var sb strings.Builder
	err := readChunks(ctx, q, id, bit, &sb)
	return sb.String(), err
}

// cleanIf is s as a text column of the backend keeps it.
func cleanIf(d dialect, s string) string {
	if d.cleanText {
		return cleanString(s)
	}
	return s
}

// dropRawChunks deletes the pieces of the raw bytes of the messages
// matching where (one ? for id) that are not purged yet, clears their bit,
// and returns their size.
func (tx *Tx) dropRawChunks(ctx context.Context, where string, id int64) (int64, error) {
	of := `message_id IN (SELECT id FROM messages WHERE ` + where + ` AND purged = '' AND chunked <> 0)`
	var size int64
	if err := tx.tx.QueryRowContext(ctx, `SELECT COALESCE(sum(length(data)), 0) FROM message_chunks
		WHERE part = 'raw' AND `+of, id).Scan(&size); err != nil {
		return 0, err
	}
	if size == 0 {
		return 0, nil
	}
	if _, err := tx.tx.ExecContext(ctx, `DELETE FROM message_chunks WHERE part = 'raw' AND `+of, id); err != nil {
		return 0, err
	}
	_, err := tx.tx.ExecContext(ctx, `UPDATE messages SET chunked = chunked - (chunked & ?)
		WHERE `+where+` AND purged = '' AND chunked <> 0`, chunkedRaw, id)
	return size, err
}

// dropAttachmentChunks deletes the pieces of the attachments matching
// where (one ? for id) that are not purged yet, clears their flag, and
// returns their size.
func (tx *Tx) dropAttachmentChunks(ctx context.Context, where string, id int64) (int64, error) {
	of := `attachment_id IN (SELECT id FROM attachments WHERE ` + where + ` AND purged = '' AND chunked <> 0)`
	var size int64
	if err := tx.tx.QueryRowContext(ctx, `SELECT COALESCE(sum(length(data)), 0) FROM attachment_chunks WHERE `+of, id).Scan(&size); err != nil {
		return 0, err
	}
	if size == 0 {
		return 0, nil
	}
	if _, err := tx.tx.ExecContext(ctx, `DELETE FROM attachment_chunks WHERE `+of, id); err != nil {
		return 0, err
	}
	_, err := tx.tx.ExecContext(ctx, `UPDATE attachments SET chunked = 0 WHERE `+where+` AND purged = '' AND chunked <> 0`, id)
	return size, err
}

// dropChunks deletes every piece of message id (an erased mail's text
// goes with its raw bytes) and clears its bits.
func (tx *Tx) dropChunks(ctx context.Context, id int64) error {
	if _, err := tx.tx.ExecContext(ctx, `DELETE FROM message_chunks WHERE message_id = ?`, id); err != nil {
		return err
	}
	_, err := tx.tx.ExecContext(ctx, `UPDATE messages SET chunked = 0 WHERE id = ? AND chunked <> 0`, id)
	return err
}

// redactChunks applies replace to each part kept in pieces of the mail of
// case caseID that is not erased, whole (a word may straddle two
// pieces), and writes back the parts it changed; it returns how many
// messages changed.
func (tx *Tx) redactChunks(ctx context.Context, caseID int64, replace func([]byte) ([]byte, bool)) (int, error) {
	type msg struct {
		id      int64
		chunked int
	}
	msgs, err := queryAll(ctx, tx.tx, func(s scanner) (msg, error) {
		var m msg
		err := s.Scan(&m.id, &m.chunked)
		return m, err
	}, `SELECT id, chunked FROM messages WHERE case_id = ? AND purged <> 'erased' AND chunked <> 0`, caseID)
	if err != nil {
		return 0, err
	}
	changed := 0
	for _, m := range msgs {
		touched := false
		for _, bit := range []int{chunkedRaw, chunkedText, chunkedVisible} {
			if m.chunked&bit == 0 {
				continue
			}
			var b bytes.Buffer
			if err := readChunks(ctx, tx.tx, m.id, bit, &b); err != nil {
				return changed, err
			}
			nb, ok := replace(b.Bytes())
			if !ok {
				continue
			}
			if _, err := tx.tx.ExecContext(ctx, `DELETE FROM message_chunks WHERE message_id = ? AND part = ?`, m.id, chunkPart[bit]); err != nil {
				return changed, err
			}
			if err := tx.insertChunks(ctx, m.id, bit, string(nb)); err != nil {
				return changed, err
			}
			touched = true
		}
		if touched {
			changed++
		}
	}
	return changed, nil
}
