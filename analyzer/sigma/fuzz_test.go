package sigma

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubesleuth/kubesleuth/analyzer"
)

// FuzzParse: whatever the file, Parse returns (no panic), and every rule it returns
// compiles in the engine; a translation that does not compile is reported, never
// returned, and would be a bug of the translator.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join(sigmaHQ, "*.yml"))
	seeds = append(seeds, "testdata/differential.yml")
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(header + "detection:\n    k:\n        - 'a\\\\*b?'\n        - '|all'\n    s:\n        x|re|i: '(?s).'\n        y|base64offset|contains: 'z'\n    condition: 2 of them or not (k and s)\n"))
	f.Add([]byte("title: c\ncorrelation:\n    type: temporal\n    rules: [a, b]\n    group-by: [x]\n    timespan: 1m\n---\ntitle: a\nname: a\nlogsource: {product: kubernetes}\ndetection: {s: {verb: x}, condition: s}\n"))
	al, _ := analyzer.DefaultAllowlists()
	f.Fuzz(func(t *testing.T, b []byte) {
		set := Parse(Options{Allowlists: al}, b, "fuzz.yml")
		for _, u := range set.Unsupported {
			if strings.Contains(u.Reason, "does not compile") {
				t.Errorf("translation does not compile: %s", u)
			}
		}
		// Parse compiled what it returns; a rule that compiled alone must compile beside
		// the others (ids are unique)
		seen := map[string]bool{}
		for _, r := range set.Rules {
			if seen[r.ID] {
				t.Errorf("two rules with id %q", r.ID)
			}
			seen[r.ID] = true
		}
	})
}

// A filter without logsource (or without rules) is reported with a line, not a panic:
// a random mutation of SigmaHQ's files found the nil dereference.
func TestFilterWithoutLogsource(t *testing.T) {
	al, _ := analyzer.DefaultAllowlists()
	for _, doc := range []string{
		"title: f\nfilter:\n    rules: [a]\n    selection: {verb: get}\n    condition: not selection\n",
		"title: f\nlogsource: {product: kubernetes, service: audit}\nfilter: x\n",
		"title: f\nlogsource: {product: kubernetes, service: audit}\nfilter:\n    selection: {verb: get}\n    condition: selection\n",
	} {
		set := Parse(Options{Allowlists: al}, []byte(doc), "f.yml")
		if len(set.Unsupported) != 1 || set.Unsupported[0].Line == 0 {
			t.Errorf("%q: unsupported %v, want one entry with a line", doc, set.Unsupported)
		}
	}
}
