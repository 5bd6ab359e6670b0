package templates

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in ../testdata/templates")

// TestGolden renders every template, text and HTML, with the sample data
// and compares it with its golden file.
func TestGolden(t *testing.T) {
	s, err := New("")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("..", "testdata", "templates")
	for _, name := range Names {
		r, err := s.Render(name, Sample())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for ext, got := range map[string]string{".txt": r.Text, ".html": r.HTML} {
			path := filepath.Join(dir, name+ext+".golden")
			if *update {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./templates -update)", err)
			}
			if got != string(want) {
				t.Errorf("%s%s differs from %s:\n--- got\n%s\n--- want\n%s", name, ext, path, got, want)
			}
		}
	}
}
