package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A user rule file through scan: findings in the foundation's shape, --fail-on exit codes.
func TestScanWithUserRules(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "exec.jsonl")
	line := `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"e-1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/shop/pods/web-0/exec?command=sh\u0026stdin=true","verb":"create","user":{"username":"alice"},"sourceIPs":["10.0.0.1"],"objectRef":{"resource":"pods","namespace":"shop","name":"web-0","subresource":"exec","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":101},"requestReceivedTimestamp":"2026-03-10T10:00:00.000000Z","stageTimestamp":"2026-03-10T10:00:01.000000Z"}`
	os.WriteFile(log, []byte(line+"\n"), 0o600)
	rules := "../../analyzer/testdata/engine_rules.yaml"

	code, out, stderr := runCmd(t, "", "scan", "--no-builtin-rules", "--rules", rules, "-o", "jsonl", "--fail-on", "medium", log)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (a medium finding with --fail-on medium)\n%s", code, stderr)
	}
	var f map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &f); err != nil {
		t.Fatalf("jsonl line: %v\n%s", err, out)
	}
	for _, k := range []string{"rule_id", "title", "severity", "mitre", "subject", "audit_ids", "first_seen", "last_seen", "count", "message"} {
		if _, ok := f[k]; !ok {
			t.Errorf("finding lacks %q: %s", k, out)
		}
	}
	if f["rule_id"] != "T-EXEC-001" || f["severity"] != "medium" || f["message"] != "exec sh in shop/web-0" || f["audit_ids"].([]any)[0] != "e-1" {
		t.Errorf("finding = %s", out)
	}
	if code, _, _ := runCmd(t, "", "scan", "--no-builtin-rules", "--rules", rules, "--fail-on", "high", log); code != 0 {
		t.Errorf("--fail-on high with only a medium finding: exit %d, want 0", code)
	}
	if code, _, stderr := runCmd(t, "", "scan", "--rules", filepath.Join(dir, "missing.yaml"), log); code != 2 || !strings.Contains(stderr, "missing.yaml") {
		t.Errorf("missing rule file: exit %d, %s", code, stderr)
	}
}

func TestRulesCommand(t *testing.T) {
	rules := "../../analyzer/testdata/engine_rules.yaml"
	code, out, _ := runCmd(t, "", "rules", "lint", rules)
	if code != 0 || !strings.Contains(out, "6 rule(s) OK") {
		t.Errorf("lint: %d %s", code, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("rules:\n  - id: KS-BAD-001\n    title: t\n    severity: low\n    match: verb = \"x\"\n"), 0o600)
	code, _, stderr := runCmd(t, "", "rules", "lint", bad)
	if code != 2 || !strings.Contains(stderr, "bad.yaml: rule KS-BAD-001: match:") {
		t.Errorf("lint of a broken rule: %d %s", code, stderr)
	}
	code, out, _ = runCmd(t, "", "rules", "show", "--no-builtin-rules", "--rules", rules, "T-EXEC-001")
	if code != 0 || !strings.Contains(out, "Exec into a pod") || !strings.Contains(out, "match:") {
		t.Errorf("show: %d %s", code, out)
	}
}
