package templates

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRenderFrame(t *testing.T) {
	s, err := New("")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range Names {
		r, err := s.Render(name, Sample())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !strings.HasPrefix(r.Text, Separator+"\n") {
			t.Errorf("%s: text does not start with the separator:\n%s", name, r.Text)
		}
		if !strings.HasSuffix(r.Text, "\nRef: CS0000042\n") {
			t.Errorf("%s: text does not end with the Ref line:\n%s", name, r.Text)
		}
		if !strings.Contains(r.HTML, "Ref: CS0000042") || !strings.Contains(r.HTML, Separator) {
			t.Errorf("%s: html lacks the frame", name)
		}
	}
}

func TestHTMLEscapesHostileData(t *testing.T) {
	s, err := New("")
	if err != nil {
		t.Fatal(err)
	}
	d := Sample()
	d.Case.Subject = `<script>alert(1)</script>`
	d.Body = `<img src=x onerror=alert(2)>`
	d.Recipient.Name = `"><b>x</b>`
	for _, name := range Names {
		r, err := s.Render(name, d)
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"<script>", "<img", "<b>x"} {
			if strings.Contains(r.HTML, bad) {
				t.Errorf("%s: html contains %q unescaped", name, bad)
			}
		}
	}
}

func TestBrokenOverrideNamesFileAndLine(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "case_created.txt")
	if err := os.WriteFile(path, []byte("Hello\n\n{{.Case.Number}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := New(dir)
	if err == nil {
		t.Fatal("broken override accepted")
	}
	if !strings.Contains(err.Error(), path+":3") {
		t.Fatalf("error does not name file and line: %v", err)
	}
}

func TestOverrideUsed(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "watcher_added.txt"), []byte("Custom {{.Case.Number}}"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Render("watcher_added", Sample())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.Text, "Custom CS0000042") || !strings.HasPrefix(r.Text, Separator) {
		t.Fatalf("override not used or frame lost:\n%s", r.Text)
	}
}

func TestRenderingErrorFailsStartup(t *testing.T) {
	dir := t.TempDir()
	// Parses, but fails when executed: calling a field as a function.
	if err := os.WriteFile(filepath.Join(dir, "case_created.html"), []byte("{{call .Case.Number}}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := New(dir); err == nil || !strings.Contains(err.Error(), "case_created.html") {
		t.Fatalf("err = %v", err)
	}
}
