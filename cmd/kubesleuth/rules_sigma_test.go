package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubesleuth/kubesleuth/index"
	"github.com/kubesleuth/kubesleuth/internal/testbin"
)

// SigmaHQ's Kubernetes audit rules beside the checkout (read, never copied).
const sigmaHQRules = "../../../shared/sigma/rules"

func needSigmaHQ(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(sigmaHQRules); err != nil {
		t.Skipf("SigmaHQ rules not beside the checkout: %v", err)
	}
}

func TestRulesLintSigma(t *testing.T) {
	needSigmaHQ(t)
	code, out, stderr := runCmd(t, "", "rules", "lint", sigmaHQRules)
	if code != 0 || !strings.Contains(out, "16 rule(s) OK") {
		t.Fatalf("lint of SigmaHQ's rules: exit %d\n%s\n%s", code, out, stderr)
	}
	if !strings.Contains(out, `kubernetes_audit_potential_enumeration_activity.yml:24: 597a7e84-187d-458b-9e4f-2f5a0e676711: field "responseStatus.code" is a number in audit events: value "ALLOW" never matches`) ||
		!strings.Contains(out, `kubernetes_audit_hostpath_mount.yml:24: 402b955c-8fe0-4a8c-b635-622b4ac5f902: field "hostPath" is not a path of the audit event`) {
		t.Errorf("lint notes missing:\n%s", out)
	}

	// a folder mixing formats and a document that cannot run: both read, the bad one named
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "native.yaml"), []byte("rules:\n  - id: KS-MINE-001\n    title: mine\n    severity: low\n    match: verb == \"delete\"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "win.yml"), []byte("title: Whoami\nid: w-1\nlogsource:\n    product: windows\n    category: process_creation\ndetection:\n    selection:\n        Image|endswith: '\\whoami.exe'\n    condition: selection\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "k8s.yml"), []byte("title: Delete\nid: d-1\nlogsource:\n    product: kubernetes\n    service: audit\ndetection:\n    selection:\n        verb: delete\n    condition: selection\n"), 0o600)
	code, out, stderr = runCmd(t, "", "rules", "lint", dir)
	if code != 2 || !strings.Contains(stderr, "win.yml:4: w-1 (Whoami): logsource {category: process_creation, product: windows}: kubesleuth reads Kubernetes audit logs") ||
		!strings.Contains(stderr, "2 rule(s) OK, 1 Sigma document(s) cannot run") {
		t.Errorf("lint of a mixed folder: exit %d\n%s\n%s", code, out, stderr)
	}
}

func TestRulesListShowSigma(t *testing.T) {
	needSigmaHQ(t)
	code, out, stderr := runCmd(t, "", "rules", "list", "--no-builtin-rules", "--sigma", sigmaHQRules, "-o", "json")
	if code != 0 {
		t.Fatalf("list: exit %d %s", code, stderr)
	}
	var rules []struct {
		ID, Title, Author, Severity string
		MITRE                       []string
		References                  []string
		FalsePositives              []string `json:"falsepositives"`
	}
	if err := json.Unmarshal([]byte(out), &rules); err != nil || len(rules) != 16 {
		t.Fatalf("list -o json: %d rules, %v", len(rules), err)
	}
	for _, r := range rules {
		if r.Author == "" || len(r.References) == 0 || len(r.FalsePositives) == 0 {
			t.Errorf("rule %s lacks author, references or false positives: %+v", r.ID, r)
		}
	}
	code, out, _ = runCmd(t, "", "rules", "show", "--sigma", sigmaHQRules, "a1b0ca4e-7835-413e-8471-3ff2b8a66be6")
	for _, want := range []string{"Potential Remote Command Execution In Pod Container", "severity: medium", "mitre: T1609",
		"author: Leo Tsaousis (@laripping)", "kubernetes_audit_exec_into_container.yml:1", `filter (on): {"verbs":["create"],"resources":["pods"],"subresources":["exec"],"stages":["ResponseStarted","ResponseComplete","Panic"]}`,
		"match: true",
		"false positives:\n  - Legitimate debugging activity", "references:\n  - https://microsoft.github.io/Threat-Matrix-for-Kubernetes/techniques/Exec%20into%20container/"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
	// the catalog and the Sigma rules side by side
	code, out, _ = runCmd(t, "", "rules", "list", "--sigma", sigmaHQRules)
	if code != 0 || !strings.Contains(out, "KS-EXEC-001") || !strings.Contains(out, "0d933542-1f1f-420d-97d4-21b2c3c492d9") {
		t.Errorf("list with the catalog: %s", out)
	}
}

// The real binary runs SigmaHQ's rules on their fixtures, as make test does.
func TestBinaryRulesTestSigma(t *testing.T) {
	needSigmaHQ(t)
	bin := testbin.Path(t)
	cmd := exec.Command(bin, "rules", "test", "--no-builtin-rules", "--sigma", sigmaHQRules, "../../testdata/sigma")
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("rules test: %v\n%s\n%s", err, out.String(), stderr.String())
	}
	if !strings.Contains(out.String(), "16 rules, 32 fixtures: 32 passed, 0 failed") {
		t.Errorf("rules test: %s", out.String())
	}
	// a fixture that stops holding fails the command
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("../../testdata/sigma")); err != nil {
		t.Fatal(err)
	}
	miss := filepath.Join(dir, "3132570d-cab2-4561-9ea6-1743644b2290", "fire.jsonl")
	b, _ := os.ReadFile(miss)
	os.WriteFile(miss, bytes.ReplaceAll(b, []byte(`"verb":"delete"`), []byte(`"verb":"get"`)), 0o600)
	cmd = exec.Command(bin, "rules", "test", "--no-builtin-rules", "--sigma", sigmaHQRules, dir)
	out.Reset()
	cmd.Stdout = &out
	if err := cmd.Run(); err == nil || !strings.Contains(out.String(), "FAIL 3132570d-cab2-4561-9ea6-1743644b2290 fire: rule did not fire") {
		t.Errorf("broken fixture: %v\n%s", err, out.String())
	}
}

// scan, ingest and tail run Sigma rules given with --sigma (or found by content among
// --rules): each fixture of SigmaHQ's rules fires its rule, with the rule's author and
// references as fields of the finding, and a document that cannot run is named on stderr.
func TestScanAndIngestRunSigma(t *testing.T) {
	needSigmaHQ(t)
	bad := filepath.Join(t.TempDir(), "win.yml")
	os.WriteFile(bad, []byte("title: Whoami\nid: w-1\nlogsource:\n    product: windows\n    category: process_creation\ndetection:\n    selection:\n        Image|endswith: '\\whoami.exe'\n    condition: selection\n"), 0o600)
	fixtures, _ := filepath.Glob("../../testdata/sigma/*/fire.jsonl")
	if len(fixtures) < 10 {
		t.Fatalf("%d Sigma fixtures", len(fixtures))
	}
	for _, flag := range []string{"--sigma", "--rules"} {
		args := append([]string{"scan", "-o", "json", "--no-builtin-rules", flag, sigmaHQRules, "--sigma", bad}, fixtures...)
		code, out, stderr := runCmd(t, "", args...)
		if code != 0 {
			t.Fatalf("scan %s: exit %d\n%s", flag, code, stderr)
		}
		if !strings.Contains(stderr, "win.yml:4: w-1 (Whoami)") {
			t.Errorf("scan %s: the document that cannot run is not named:\n%s", flag, stderr)
		}
		var res struct {
			Findings []struct {
				RuleID     string   `json:"rule_id"`
				Author     string   `json:"author"`
				References []string `json:"references"`
			} `json:"findings"`
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("scan %s: %v\n%s", flag, err, out)
		}
		fired := map[string]bool{}
		for _, f := range res.Findings {
			fired[f.RuleID] = true
			if f.Author == "" {
				t.Errorf("scan %s: finding of %s without its author", flag, f.RuleID)
			}
		}
		for _, fx := range fixtures {
			if id := filepath.Base(filepath.Dir(fx)); !fired[id] {
				t.Errorf("scan %s: Sigma rule %s did not fire on its fixture %s", flag, id, fx)
			}
		}
	}

	caseDir := filepath.Join(t.TempDir(), "case")
	code, _, stderr := runCmd(t, "", append([]string{"ingest", "--case", caseDir, "--sigma", sigmaHQRules}, fixtures...)...)
	if code != 0 {
		t.Fatalf("ingest --sigma: exit %d\n%s", code, stderr)
	}
	c, err := index.Open(caseDir, index.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fs, err := c.Findings()
	if err != nil {
		t.Fatal(err)
	}
	inCase := map[string]string{}
	for _, f := range fs {
		inCase[f.RuleID] = f.Author
	}
	for _, fx := range fixtures {
		if id := filepath.Base(filepath.Dir(fx)); inCase[id] == "" {
			t.Errorf("ingest --sigma: the case holds no attributed finding of %s (%q)", id, inCase[id])
		}
	}
}
