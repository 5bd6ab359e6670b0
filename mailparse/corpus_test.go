package mailparse

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/mail")

// corpusDir holds the .eml corpus with a golden .json beside each file.
const corpusDir = "../testdata/mail"

// corpusOptions are the options the corpus is parsed with: the mails were
// written to and from a desk at helpdesk.example.com.
var corpusOptions = Options{
	CasePrefix: "CS",
	Hostname:   "helpdesk.example.com",
	LoopHeader: "X-Casegate-Loop",
}

// golden is the stable, reviewable form of a parse result: the Message
// without its bulky fields (HTML, attachment data).
type golden struct {
	Error       string             `json:"error,omitempty"`
	MessageID   string             `json:"message_id,omitempty"`
	InReplyTo   []string           `json:"in_reply_to,omitempty"`
	References  []string           `json:"references,omitempty"`
	Date        string             `json:"date,omitempty"`
	From        *Address           `json:"from,omitempty"`
	Sender      *Address           `json:"sender,omitempty"`
	ReplyTo     []Address          `json:"reply_to,omitempty"`
	To          []Address          `json:"to,omitempty"`
	Cc          []Address          `json:"cc,omitempty"`
	ReturnPath  string             `json:"return_path,omitempty"`
	Subject     string             `json:"subject,omitempty"`
	Topic       string             `json:"topic,omitempty"`
	CaseTag     string             `json:"case_tag,omitempty"`
	BodyRef     string             `json:"body_ref,omitempty"`
	Visible     string             `json:"visible,omitempty"`
	Cut         *Cut               `json:"cut,omitempty"`
	HasHTML     bool               `json:"has_html,omitempty"`
	Attachments []goldenAttachment `json:"attachments,omitempty"`
	Forwarded   *Forwarded         `json:"forwarded,omitempty"`
	Signals     *Signals           `json:"signals,omitempty"`
	Warnings    []string           `json:"warnings,omitempty"`
	Text        string             `json:"text,omitempty"`
}

type goldenAttachment struct {
	Filename    string  `json:"filename"`
	ContentType string  `json:"content_type"`
	ContentID   string  `json:"content_id,omitempty"`
	Inline      bool    `json:"inline,omitempty"`
	Size        int64   `json:"size"`
	SHA256      string  `json:"sha256"`
	Message     *golden `json:"message,omitempty"`
}

func toGolden(m *Message) *golden {
	g := &golden{
		MessageID: m.MessageID, InReplyTo: m.InReplyTo, References: m.References,
		From: &m.From, Sender: m.Sender, ReplyTo: m.ReplyTo, To: m.To, Cc: m.Cc,
		ReturnPath: m.ReturnPath, Subject: m.Subject, Topic: m.Topic, CaseTag: m.CaseTag,
		BodyRef: m.BodyRef, Visible: m.Visible, Cut: &m.Cut, HasHTML: m.HTML != "",
		Signals: &m.Signals, Warnings: m.Warnings, Text: m.Text, Forwarded: m.Forwarded,
	}
	if !m.Date.IsZero() {
		g.Date = m.Date.Format(time.RFC3339)
	}
	for _, a := range m.Attachments {
		ga := goldenAttachment{Filename: a.Filename, ContentType: a.ContentType, ContentID: a.ContentID,
			Inline: a.Inline, Size: a.Size, SHA256: a.SHA256}
		if a.Message != nil {
			ga.Message = toGolden(a.Message)
		}
		g.Attachments = append(g.Attachments, ga)
	}
	return g
}

// corpusFiles returns the paths of the corpus messages.
func corpusFiles(t testing.TB) []string {
	files, err := filepath.Glob(filepath.Join(corpusDir, "*.eml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus in %s: %v", corpusDir, err)
	}
	return files
}

func TestCorpus(t *testing.T) {
	for _, path := range corpusFiles(t) {
		name := strings.TrimSuffix(filepath.Base(path), ".eml")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			g := &golden{}
			m, err := Parse(raw, corpusOptions)
			if e, ok := IsError(err); ok {
				g.Error = e.Reason
			} else if err != nil {
				t.Fatalf("Parse: %v", err)
			} else {
				g = toGolden(m)
			}
			got, err := json.MarshalIndent(g, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			goldenPath := strings.TrimSuffix(path, ".eml") + ".json"
			if *update {
				if err := os.WriteFile(goldenPath, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(goldenPath)
			if err != nil {
				t.Fatalf("no golden file (run with -update): %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("result differs from %s:\n%s", goldenPath, lineDiff(string(want), string(got)))
			}
		})
	}
}

// lineDiff shows the lines of want and got that differ, for a test log.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var sb strings.Builder
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			sb.WriteString("line " + strconv.Itoa(i+1) + ":\n  want " + a + "\n  got  " + b + "\n")
		}
	}
	return sb.String()
}
