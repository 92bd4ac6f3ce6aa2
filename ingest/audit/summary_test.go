package audit

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// Item 8: "335 inputs skipped" was said of lines. Skipped pieces are counted by what
// they are, and the phrase says so.
func TestSummaryUnits(t *testing.T) {
	dir := t.TempDir()
	list := `{"kind":"EventList","items":[` + evLine("u1") + `,{"verb":"get"},` + evLine("u2") + "]}\n"
	doc := "[\n  " + evLine("u3") + ",\n  {\"hello\": 1}\n]\n"
	lists := writeFile(t, dir, "list.jsonl", []byte(list+"{oops}\n"))
	docs := writeFile(t, dir, "doc.json", []byte(doc))
	_, _, sum := readAll(t, Options{}, filepath.Join(fixtures, "bad-lines.jsonl"), lists, docs, filepath.Join(fixtures, "binary.bin"))
	want := map[Unit]int{UnitLine: 4, UnitValue: 2, UnitFile: 1}
	for u, n := range want {
		if sum.SkippedUnits[u] != n {
			t.Errorf("skipped %ss = %d, want %d (%v)", u, sum.SkippedUnits[u], n, sum.SkippedUnits)
		}
	}
	if got, want := sum.SkippedPhrase(), "4 lines, 2 values and 1 file skipped (binary 1, malformed 2, no_audit_id 2, not_an_event 2)"; got != want {
		t.Errorf("phrase\n got %q\nwant %q", got, want)
	}
	if got := sum.Files[1].SkippedPhrase(); got != "1 line and 1 value skipped (malformed 1, no_audit_id 1)" {
		t.Errorf("file phrase %q", got)
	}
	if got := (&Summary{}).SkippedPhrase(); got != "nothing skipped" {
		t.Errorf("empty phrase %q", got)
	}
	b, _ := json.Marshal(sum)
	if !strings.Contains(string(b), `"skipped_units":{"file":1,"line":4,"value":2}`) {
		t.Errorf("JSON lacks the units: %s", b)
	}
}
