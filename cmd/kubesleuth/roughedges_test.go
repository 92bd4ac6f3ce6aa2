package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubesleuth/kubesleuth/index"
)

// Issue 17, point 10: the CLI's rough edges met on the way.

// TestRulesShowEtcdRules: the IDs the TUI shows for etcd findings are known to rules show.
func TestRulesShowEtcdRules(t *testing.T) {
	code, out, stderr := runCmd(t, "", "rules", "show", "KS-ETCD-001")
	if code != 0 || !strings.Contains(out, "KS-ETCD-001") || !strings.Contains(out, "remediation:") || !strings.Contains(out, "analyzer/secrets") {
		t.Errorf("rules show KS-ETCD-001: exit %d\n%s%s", code, out, stderr)
	}
	code, out, _ = runCmd(t, "", "rules", "show", "-o", "json", "ks-etcd-012")
	var r map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil || r["id"] != "KS-ETCD-012" {
		t.Errorf("rules show -o json ks-etcd-012: exit %d %s", code, out)
	}
	if code, _, stderr := runCmd(t, "", "rules", "show", "KS-NOPE-1"); code != 2 || !strings.Contains(stderr, "no rule") {
		t.Errorf("an unknown rule: exit %d %s", code, stderr)
	}
}

// TestRulesShowSteps: a sequence rule shows each step's filter and join key.
func TestRulesShowSteps(t *testing.T) {
	code, out, _ := runCmd(t, "", "rules", "list", "-o", "json")
	if code != 0 {
		t.Fatal("rules list")
	}
	var rules []struct {
		ID    string `json:"id"`
		Steps []struct {
			Key string `json:"key"`
		} `json:"steps"`
	}
	if err := json.Unmarshal([]byte(out), &rules); err != nil {
		t.Fatalf("rules list -o json: %v", err)
	}
	for _, r := range rules {
		if len(r.Steps) == 0 || r.Steps[len(r.Steps)-1].Key == "" {
			continue
		}
		_, out, _ := runCmd(t, "", "rules", "show", r.ID)
		if !strings.Contains(out, "join key: "+r.Steps[len(r.Steps)-1].Key) {
			t.Errorf("rules show %s lacks the steps' join keys:\n%s", r.ID, out)
		}
		return
	}
	t.Skip("the catalog has no sequence rule with a join key")
}

func TestVersionCommand(t *testing.T) {
	code, out, _ := runCmd(t, "", "version")
	_, flag, _ := runCmd(t, "", "--version")
	if code != 0 || !strings.HasPrefix(out, strings.TrimSpace(flag)+" (go") {
		t.Errorf("kubesleuth version: exit %d %q (--version says %q)", code, out, flag)
	}
}

// TestCaseInfoAbsolutePaths: the case records the absolute path of each source, and
// case info counts the bookmarks and notes.
func TestCaseInfoAbsolutePaths(t *testing.T) {
	dir := t.TempDir()
	wd, _ := os.Getwd()
	t.Cleanup(func() { os.Chdir(wd) })
	src, err := os.ReadFile(filepath.Join(auditFixtures, "overlap-a.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "audit.log"), src, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCmd(t, "", "ingest", "-q", "--case", "case", "audit.log"); code != 0 {
		t.Fatalf("ingest: %s", stderr)
	}
	c, err := index.Open("case", index.OpenOptions{Writable: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Annotate(index.Annotation{Target: index.Target{Kind: "event", ID: "x/ResponseComplete"}, Bookmarked: true, Note: "look"}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	code, out, stderr := runCmd(t, "", "case", "info", "--case", "case")
	abs := filepath.Join(dir, "audit.log")
	if code != 0 || !strings.Contains(out, abs) || !strings.Contains(out, "1 bookmarks, 1 notes") {
		t.Errorf("case info: exit %d, want %s and the annotations:\n%s%s", code, abs, out, stderr)
	}
	_, js, _ := runCmd(t, "", "case", "info", "--case", "case", "-o", "json")
	if !strings.Contains(js, `"abs_path": "`+abs+`"`) {
		t.Errorf("case info -o json lacks abs_path:\n%s", js)
	}
}
