package main

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubesleuth/kubesleuth/internal/testbin"
)

// TestBinaryScanAgreesWithJQ runs the real binary on fixtures and checks its counts
// against jq reading the same files: the reader must neither lose nor invent events.
func TestBinaryScanAgreesWithJQ(t *testing.T) {
	bin := testbin.Path(t)
	if _, err := exec.LookPath("jq"); err != nil {
		t.Skip("jq not installed (.ci/run installs it)")
	}
	for _, f := range []string{"v1.jsonl", "no-apiversion.jsonl", "stages.jsonl", "eventlist.jsonl"} {
		path := filepath.Join(auditFixtures, f)
		// distinct auditID+stage pairs of every event, wrapped in EventLists or not
		jq := exec.Command("jq", "-s", `[.[] | if .kind == "EventList" then .items[] else . end | .auditID + "/" + .stage] | unique | length`, path)
		want, err := jq.Output()
		if err != nil {
			t.Fatalf("jq %s: %v", f, err)
		}
		cmd := exec.Command(bin, "scan", "-o", "json", path)
		var out, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("kubesleuth scan %s: %v\n%s", f, err, stderr.String())
		}
		var res struct {
			Summary struct {
				Events int `json:"events"`
			} `json:"summary"`
		}
		if err := json.Unmarshal(out.Bytes(), &res); err != nil {
			t.Fatal(err)
		}
		if got := res.Summary.Events; strings.TrimSpace(string(want)) != itoa(got) {
			t.Errorf("%s: kubesleuth read %d events, jq counts %s", f, got, want)
		}
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
