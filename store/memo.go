package store

import "strings"

// txMemo keeps, for one caller's work in a write transaction, what that
// work wrote and would otherwise read back: taking in a new case writes
// the case, then touches it, then builds the References of two or three
// notifications from its thread, each once a statement. The memo answers
// those from what was written. It holds only what this caller wrote or
// read within its own transaction (its savepoint), where nobody else
// writes: SQLite's single writer, or PostgreSQL's transaction of its own
// with the case row locked.
type txMemo struct {
	// fresh: cases whose updated_at is already the transaction's Now.
	fresh map[int64]bool
	// refs: a case's References as ThreadRefs(caseID, refsMax) returned
	// them, kept up to date as AddThreadID adds to the case's thread.
	refs    map[int64][]string
	refsMax int
	// thread: the whole thread of cases created in this transaction,
	// oldest first.
	thread map[int64][]string
	// watchers: the watchers of cases created in this transaction, all
	// of them added since, in the order they were added.
	watchers map[int64][]Watcher
}

// newCase notes case id created in this transaction: updated_at is Now,
// and nobody watches it yet.
func (m *txMemo) newCase(id int64) {
	m.markFresh(id)
	if m.watchers == nil {
		m.watchers = map[int64][]Watcher{}
	}
	m.watchers[id] = []Watcher{}
	if m.thread == nil {
		m.thread = map[int64][]string{}
	}
	m.thread[id] = []string{}
}

// addWatcher follows a watcher newly added to case id.
func (m *txMemo) addWatcher(id int64, w Watcher) {
	if ws, ok := m.watchers[id]; ok {
		m.watchers[id] = append(ws, w)
	}
}

// removeWatcher follows a watcher taken off case id.
func (m *txMemo) removeWatcher(id int64, email string) {
	ws, ok := m.watchers[id]
	if !ok {
		return
	}
	out := ws[:0:0]
	for _, w := range ws {
		if !strings.EqualFold(w.Email, email) {
			out = append(out, w)
		}
	}
	m.watchers[id] = out
}

// markFresh notes that case id's updated_at is the transaction's Now.
func (m *txMemo) markFresh(id int64) {
	if m.fresh == nil {
		m.fresh = map[int64]bool{}
	}
	m.fresh[id] = true
}

// threadRefs returns the memo's References of caseID for max.
func (m *txMemo) threadRefs(caseID int64, max int) ([]string, bool) {
	if ids, ok := m.thread[caseID]; ok {
		if max < 2 || len(ids) <= max {
			return ids, true
		}
		return append(ids[:1:1], ids[len(ids)-(max-1):]...), true
	}
	if m.refs == nil || m.refsMax != max {
		return nil, false
	}
	refs, ok := m.refs[caseID]
	return refs, ok
}

// setThreadRefs remembers what ThreadRefs read.
func (m *txMemo) setThreadRefs(caseID int64, max int, refs []string) {
	if m.refs == nil || m.refsMax != max {
		m.refs, m.refsMax = map[int64][]string{}, max
	}
	m.refs[caseID] = refs
}

// addThreadID follows a Message-ID newly added to caseID's thread: it is
// the latest, and the oldest of the latest falls out when the list is
// full (the first message's id always stays).
func (m *txMemo) addThreadID(caseID int64, id string) {
	if ids, ok := m.thread[caseID]; ok {
		m.thread[caseID] = append(ids, id)
	}
	refs, ok := m.refs[caseID]
	if !ok {
		return
	}
	out := make([]string, 0, len(refs)+1)
	out = append(out, refs...)
	out = append(out, id)
	if m.refsMax > 1 && len(out) > m.refsMax {
		out = append(out[:1], out[2:]...)
	}
	m.refs[caseID] = out
}

// text is s as the backend keeps it (dialect.cleanText).
func (tx *Tx) text(s string) string {
	if tx.tx.d.cleanText {
		return cleanString(s)
	}
	return s
}
