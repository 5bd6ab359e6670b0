package main

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func readDoc(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// configRows are the key and default cells of docs/config.md's tables.
func configRows(t *testing.T) map[string]string {
	t.Helper()
	rows := map[string]string{}
	row := regexp.MustCompile("(?m)^\\| `([a-z_.\\[\\]]+)` \\| (.*?) \\| ")
	for _, m := range row.FindAllStringSubmatch(readDoc(t, "config.md"), -1) {
		rows[m[1]] = strings.Trim(m[2], "`")
	}
	return rows
}

// Every config key is documented in docs/config.md with its real default,
// and every documented key exists: the manual cannot drift from the code.
func TestConfigReferenceMatchesCode(t *testing.T) {
	rows := configRows(t)
	doc := map[string]any{}
	for key, def := range rows {
		if strings.HasPrefix(key, "imap[]") {
			continue
		}
		var v any
		if err := yaml.Unmarshal([]byte(def), &v); err != nil {
			t.Errorf("%s: default %q is no YAML value: %v", key, def, err)
			continue
		}
		if section, k, ok := strings.Cut(key, "."); ok {
			m, _ := doc[section].(map[string]any)
			if m == nil {
				m = map[string]any{}
				doc[section] = m
			}
			m[k] = v
			continue
		}
		doc[key] = v
	}
	b, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	path := writeConfig(t, t.TempDir(), string(b))
	documented, err := loadConfig(path) // refuses a documented key the code does not know
	if err != nil {
		t.Fatalf("the documented defaults do not load: %v\n%s", err, b)
	}
	want := defaultConfig()
	documented.DataDir = want.DataDir // made relative to the file
	got, wantKeys := flatKeys(documented), flatKeys(want)
	for k, v := range wantKeys {
		if k == "imap" {
			continue
		}
		if _, ok := rows[k]; !ok {
			t.Errorf("config key %s (default %s) is not in docs/config.md", k, v)
		} else if got[k] != v {
			t.Errorf("docs/config.md says %s defaults to %s; the code says %s", k, got[k], v)
		}
	}
	// The keys of a mailbox, with the defaults fillIMAPDefaults gives.
	mb := Config{IMAP: []IMAPConfig{{Name: "helpdesk"}}}
	mb.fillIMAPDefaults()
	rt := reflect.TypeOf(IMAPConfig{})
	mv := reflect.ValueOf(mb.IMAP[0])
	for i := 0; i < rt.NumField(); i++ {
		key := "imap[]." + strings.Split(rt.Field(i).Tag.Get("yaml"), ",")[0]
		def, ok := rows[key]
		if !ok {
			t.Errorf("config key %s is not in docs/config.md", key)
			continue
		}
		if v := fmt.Sprint(mv.Field(i).Interface()); v != "" && key != "imap[].name" && def != v && !strings.Contains(def, "<NAME>") {
			t.Errorf("docs/config.md says %s defaults to %s; the code says %s", key, def, v)
		}
	}
}

// Every YAML block of the manual that is a casegate configuration loads.
func TestDocsConfigExamplesLoad(t *testing.T) {
	block := regexp.MustCompile("(?s)```yaml\\n(.*?)```")
	var n int
	for _, name := range []string{"manual.md", "config.md", "postfix.md"} {
		for _, m := range block.FindAllStringSubmatch(readDoc(t, name), -1) {
			body := m[1]
			if strings.Contains(body, "tls_ca_file") {
				continue // checked where that key is built
			}
			n++
			path := writeConfig(t, t.TempDir(), dedent(body))
			if _, err := loadConfig(path); err != nil && !strings.Contains(err.Error(), "templates_dir") {
				t.Errorf("%s: an example does not load: %v\n%s", name, err, body)
			}
		}
	}
	if n < 3 {
		t.Fatalf("only %d configuration examples found", n)
	}
}

// dedent removes the indentation common to every line (blocks inside list
// items are indented).
func dedent(s string) string {
	lines := strings.Split(s, "\n")
	indent := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		n := len(l) - len(strings.TrimLeft(l, " "))
		if indent < 0 || n < indent {
			indent = n
		}
	}
	for i, l := range lines {
		if len(l) >= indent && indent > 0 {
			lines[i] = l[indent:]
		}
	}
	return strings.Join(lines, "\n")
}

// README points at the manual, never at a file users do not have.
func TestReadmeLinksTheManual(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	if strings.Contains(readme, "SPEC.md") {
		t.Error("README.md refers to SPEC.md, which users do not have")
	}
	links := regexp.MustCompile(`\]\((docs/[^)#]+)`).FindAllStringSubmatch(readme, -1)
	var seen []string
	for _, l := range links {
		if _, err := os.Stat(filepath.Join("..", "..", l[1])); err != nil {
			t.Errorf("README links %s: %v", l[1], err)
		}
		seen = append(seen, l[1])
	}
	sort.Strings(seen)
	if !strings.Contains(strings.Join(seen, " "), "docs/manual.md") {
		t.Errorf("README does not link docs/manual.md (links: %v)", seen)
	}
}
