// Package templates renders casegate's notification mails from plain data.
//
// Every notification has a text and an HTML template, embedded in the
// binary (mail/NAME.txt, mail/NAME.html) and overridable file by file from
// a directory. New parses all of them and renders each once with sample data,
// so a broken override fails at start-up with its file and line rather than
// when the first customer should have been told something.
//
// The frame every notification needs is not left to the templates: Render
// puts the reply separator line first and the "Ref: NUMBER" line last in
// the text part, and the same lines in the HTML part, so an override cannot
// break threading. The HTML part goes through html/template and escapes all
// data; the text part is plain text and is sent as text/plain.
package templates

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	texttemplate "text/template"
)

//go:embed mail/*.txt mail/*.html
var embedded embed.FS

// Separator is the first line of every notification's text: everything a
// customer writes above it is their reply.
const Separator = "##- Please type your reply above this line -##"

// Names lists every notification template.
var Names = []string{
	"case_created",
	"case_created_from_closed",
	"watcher_added",
	"case_picked_up",
	"case_comment",
	"case_updated",
	"case_awaiting_info",
	"case_state_changed",
	"case_resolved",
	"case_closed",
	"case_survey",
	"contact_changed",
	"team_new_case",
	"team_case_updated",
	"signin",
}

// Case is the case a notification is about.
type Case struct {
	Number    string
	Subject   string
	State     string
	Kind      string
	Priority  string
	Assignee  string
	OldNumber string // for a case opened from a reply to a closed one
	OldState  string // for a state change: the state before
}

// Person is a recipient, contact, watcher or actor.
type Person struct {
	Name  string
	Email string
	Role  string // contact | watcher | agent
	Link  string // for a watcher in the contact's mail: the signed link that removes them
}

// Data is everything a template may show.
type Data struct {
	Case      Case
	Recipient Person
	Contact   Person
	Actor     Person // who caused the event, if anyone
	Body      string // the text the event carries (a reply, a comment)
	Note      string // resolution note, state change note
	// Links by name: the signed links accept, reject, close, unsubscribe,
	// rate1..rate5; case (the recipient's case page), console (the case in
	// the agents' console), signin (a one-time sign-in link).
	Links    map[string]string
	Watchers []Person // the case's watchers, for the mails that list them
}

// Rendered is one rendered notification.
type Rendered struct {
	Text string
	HTML string
}

// Set holds the parsed templates.
type Set struct {
	text map[string]*texttemplate.Template
	html map[string]*htmltemplate.Template
}

var funcs = map[string]any{
	"default": func(def, v string) string {
		if strings.TrimSpace(v) == "" {
			return def
		}
		return v
	},
	"list": func(v ...string) []string { return v },
	"indent": func(prefix, s string) string {
		return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
	},
}

// New parses the embedded templates, replacing each by the file of the
// same name in overrideDir when there is one ("" for none), and
// test-renders them all.
func New(overrideDir string) (*Set, error) {
	s := &Set{text: map[string]*texttemplate.Template{}, html: map[string]*htmltemplate.Template{}}
	for _, name := range Names {
		src, file, err := source(overrideDir, name+".txt")
		if err != nil {
			return nil, err
		}
		tt, err := texttemplate.New(file).Funcs(funcs).Option("missingkey=zero").Parse(src)
		if err != nil {
			return nil, fmt.Errorf("template %w", err)
		}
		s.text[name] = tt
		if src, file, err = source(overrideDir, name+".html"); err != nil {
			return nil, err
		}
		ht, err := htmltemplate.New(file).Funcs(funcs).Option("missingkey=zero").Parse(src)
		if err != nil {
			return nil, fmt.Errorf("template %w", err)
		}
		s.html[name] = ht
	}
	for _, name := range Names {
		if _, err := s.Render(name, Sample()); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// source reads one template file, the override if it exists; file is the
// name errors should show.
func source(dir, base string) (src, file string, err error) {
	if dir != "" {
		path := filepath.Join(dir, base)
		b, err := os.ReadFile(path)
		if err == nil {
			return string(b), path, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", "", fmt.Errorf("template %s: %w", path, err)
		}
	}
	b, err := embedded.ReadFile("mail/" + base)
	if err != nil {
		return "", "", fmt.Errorf("template %s: %w", base, err)
	}
	return string(b), base, nil
}

// Render renders the named notification.
func (s *Set) Render(name string, d Data) (Rendered, error) {
	tt, ok := s.text[name]
	if !ok {
		return Rendered{}, fmt.Errorf("template %s: unknown", name)
	}
	var text, html bytes.Buffer
	if err := tt.Execute(&text, d); err != nil {
		return Rendered{}, fmt.Errorf("template %w", err)
	}
	if err := s.html[name].Execute(&html, d); err != nil {
		return Rendered{}, fmt.Errorf("template %w", err)
	}
	if d.Case.Number == "" { // no case (a sign-in link): nothing to reply to
		return Rendered{Text: strings.TrimSpace(text.String()) + "\n", HTML: frameHTML(html.String(), d)}, nil
	}
	return Rendered{
		Text: Separator + "\n\n" + strings.TrimSpace(text.String()) + "\n" + linkLines(d) + "\nRef: " + d.Case.Number + "\n",
		HTML: frameHTML(html.String(), d),
	}, nil
}

// linkLines are the lines of the text part that lead to the case online:
// the recipient's case page, or the case in the console.
func linkLines(d Data) string {
	var b strings.Builder
	if u := d.Links["case"]; u != "" {
		b.WriteString("\nFollow the case online: " + u + "\n")
	}
	if u := d.Links["console"]; u != "" {
		b.WriteString("\nThe case in the console: " + u + "\n")
	}
	return b.String()
}

var frame = htmltemplate.Must(htmltemplate.New("frame").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"></head>
<body style="font-family: sans-serif; font-size: 14px; line-height: 1.4">
{{- if .Number}}
<p style="color: #888888; font-size: 12px">{{.Separator}}</p>
{{- end}}
{{.Body}}
{{- with .Links.case}}
<p><a href="{{.}}">Follow the case online</a></p>
{{- end}}
{{- with .Links.console}}
<p><a href="{{.}}">Open the case in the console</a></p>
{{- end}}
{{- if .Number}}
<p style="color: #888888; font-size: 12px">Ref: {{.Number}}</p>
{{- end}}
</body></html>
`))

func frameHTML(body string, d Data) string {
	var b bytes.Buffer
	// Body was rendered by html/template and is safe; the frame escapes the rest.
	err := frame.Execute(&b, map[string]any{"Separator": Separator, "Body": htmltemplate.HTML(body), "Number": d.Case.Number, "Links": d.Links})
	if err != nil {
		return body
	}
	return b.String()
}

// Sample is the data templates are test-rendered with at start-up.
func Sample() Data {
	return Data{
		Case:      Case{Number: "CS0000042", Subject: "Printer on floor 3 is offline", State: "open", Kind: "case", Priority: "normal", Assignee: "agent@example.com", OldNumber: "CS0000041", OldState: "new"},
		Recipient: Person{Name: "Ada Lovelace", Email: "ada@customer.example", Role: "contact"},
		Contact:   Person{Name: "Ada Lovelace", Email: "ada@customer.example", Role: "contact"},
		Actor:     Person{Name: "Grace Hopper", Email: "grace@example.com", Role: "agent"},
		Body:      "The printer shows error E42.\nIt worked yesterday.",
		Watchers:  []Person{{Name: "Charles Babbage", Email: "charles@customer.example", Role: "watcher", Link: "http://127.0.0.1:8080/l/unwatch"}},
		Note:      "Replaced the fuser unit.",
		Links: map[string]string{
			"accept": "http://127.0.0.1:8080/l/accept", "reject": "http://127.0.0.1:8080/l/reject",
			"close": "http://127.0.0.1:8080/l/close", "unsubscribe": "http://127.0.0.1:8080/l/unsubscribe",
			"rate1": "http://127.0.0.1:8080/l/1", "rate2": "http://127.0.0.1:8080/l/2", "rate3": "http://127.0.0.1:8080/l/3",
			"rate4": "http://127.0.0.1:8080/l/4", "rate5": "http://127.0.0.1:8080/l/5",
			"case": "http://127.0.0.1:8080/c/case", "signin": "http://127.0.0.1:8080/signin/token",
		},
	}
}
