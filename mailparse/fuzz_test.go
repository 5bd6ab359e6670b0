package mailparse

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// addCorpusSeeds seeds a fuzz target with the corpus messages.
func addCorpusSeeds(f *testing.F, add func(raw []byte)) {
	for _, path := range corpusFiles(f) {
		raw, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		add(raw)
	}
}

func FuzzParse(f *testing.F) {
	addCorpusSeeds(f, func(raw []byte) { f.Add(raw) })
	f.Fuzz(func(t *testing.T, raw []byte) {
		var m *Message
		var err error
		within(t, func() { m, err = Parse(raw, corpusOptions) })
		if err != nil {
			e, ok := IsError(err)
			if !ok || e.Reason == "internal" {
				t.Fatalf("Parse: %v", err)
			}
			return
		}
		checkMessage(t, m)
	})
}

// within fails the test when fn runs for longer than any input may take,
// so that the fuzzer records an input that makes the parser hang.
func within(t *testing.T, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("no result after 3s: the input makes the parser hang")
	}
}

// checkMessage checks what holds for every parsed message.
func checkMessage(t *testing.T, m *Message) {
	t.Helper()
	if !utf8.ValidString(m.Text) || !utf8.ValidString(m.Subject) || !utf8.ValidString(m.From.Name) {
		t.Errorf("invalid UTF-8 in text %q, subject %q or name %q", m.Text, m.Subject, m.From.Name)
	}
	if m.CaseTag != "" && strings.Contains(m.Topic, "["+m.CaseTag+"]") {
		t.Errorf("topic %q still holds the tag %s", m.Topic, m.CaseTag)
	}
	if !linesOf(m.Text, m.Visible) {
		t.Errorf("visible %q is not made of lines of text %q", m.Visible, m.Text)
	}
	if m.Cut.Removed != len(m.Text)-len(m.Visible) {
		t.Errorf("cut removed %d bytes, text %d, visible %d", m.Cut.Removed, len(m.Text), len(m.Visible))
	}
	if _, err := json.Marshal(m); err != nil {
		t.Errorf("marshal: %v", err)
	}
	for _, a := range m.Attachments {
		if a.Size != int64(len(a.Data)) || a.Filename == "" || strings.ContainsAny(a.Filename, "/\\\x00") {
			t.Errorf("attachment %q: size %d, data %d bytes", a.Filename, a.Size, len(a.Data))
		}
		if a.Message != nil {
			checkMessage(t, a.Message)
		}
	}
}

// linesOf reports whether the lines of vis are found in text in their
// order, each inside one line of text: what VisibleReply promises.
func linesOf(text, vis string) bool {
	rest := text
	for _, l := range strings.Split(vis, "\n") {
		if l == "" {
			continue
		}
		i := strings.Index(rest, l)
		if i < 0 || strings.Contains(l, "\n") {
			return false
		}
		rest = rest[i+len(l):]
	}
	return true
}

func FuzzVisibleReply(f *testing.F) {
	addCorpusSeeds(f, func(raw []byte) {
		if m, err := Parse(raw, corpusOptions); err == nil {
			f.Add(m.Text)
		}
	})
	f.Add("Thanks\n\nOn Tue, Mar 5, 2024 at 10:12 AM A <a@b.c>\nwrote:\n> quoted\nanswer\n> more\n-- \nsig")
	f.Fuzz(func(t *testing.T, text string) {
		var vis string
		var cut Cut
		within(t, func() { vis, cut = VisibleReply(text) })
		norm := normalizeNewlines(text)
		if !linesOf(norm, vis) {
			t.Fatalf("visible %q is not made of lines of %q", vis, norm)
		}
		if cut.Removed != len(norm)-len(vis) || cut.Removed < 0 {
			t.Fatalf("removed %d, text %d, visible %d", cut.Removed, len(norm), len(vis))
		}
		if utf8.ValidString(text) && !utf8.ValidString(vis) {
			t.Fatalf("visible %q of valid text is not valid UTF-8", vis)
		}
		if strings.Contains(vis, replySeparator) {
			t.Fatalf("visible %q holds the reply separator", vis)
		}
		if again, _ := VisibleReply(vis); again != vis {
			t.Fatalf("visible %q is cut again to %q", vis, again)
		}
	})
}
