package sigma

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/analyzer/ruletest"
	"github.com/kubesleuth/kubesleuth/ingest/audit"
)

// sigmaHQ is SigmaHQ's Kubernetes audit rules, beside the checkout (never copied into
// the product: the Detection Rule License asks that they keep their attribution).
const sigmaHQ = "../../../shared/sigma/rules"

func sigmaHQRules(t *testing.T) (*Set, []string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(sigmaHQ, "*.yml"))
	if len(files) == 0 {
		if _, err := os.Stat(sigmaHQ); err != nil {
			t.Skipf("SigmaHQ rules not beside the checkout: %v", err)
		}
		t.Fatalf("no rules in %s", sigmaHQ)
	}
	al, err := analyzer.DefaultAllowlists()
	if err != nil {
		t.Fatal(err)
	}
	set, err := Load(Options{Allowlists: al}, sigmaHQ)
	if err != nil {
		t.Fatal(err)
	}
	return set, files
}

// Every SigmaHQ Kubernetes audit rule loads, as one engine rule carrying its id, title,
// level, ATT&CK techniques, description, references, author and false positives.
func TestSigmaHQRulesLoad(t *testing.T) {
	set, files := sigmaHQRules(t)
	for _, u := range set.Unsupported {
		t.Errorf("unsupported: %s", u)
	}
	if len(set.Rules) != len(files) {
		t.Fatalf("%d rules from %d files", len(set.Rules), len(files))
	}
	byID := map[string]*analyzer.Rule{}
	for _, r := range set.Rules {
		byID[r.ID] = r
	}
	sev := map[string]analyzer.Severity{"informational": analyzer.Info, "low": analyzer.Low, "medium": analyzer.Medium, "high": analyzer.High, "critical": analyzer.Critical}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		var y struct {
			ID, Title, Description, Author, Level string
			References, FalsePositives, Tags      []string
		}
		if err := yaml.Unmarshal(b, &y); err != nil {
			t.Fatal(err)
		}
		r := byID[y.ID]
		if r == nil {
			t.Errorf("%s: no rule %s", f, y.ID)
			continue
		}
		var mitre []string
		for _, tag := range y.Tags {
			if strings.HasPrefix(tag, "attack.t") {
				mitre = append(mitre, strings.ToUpper(strings.TrimPrefix(tag, "attack.")))
			}
		}
		if r.Title != y.Title || r.Description != strings.TrimSpace(y.Description) || r.Author != y.Author ||
			r.Severity != sev[y.Level] || strings.Join(r.References, " ") != strings.Join(y.References, " ") ||
			strings.Join(r.FalsePositives, "|") != strings.Join(y.FalsePositives, "|") || strings.Join(r.MITRE, ",") != strings.Join(mitre, ",") {
			t.Errorf("%s: rule %+v does not carry the file's metadata", f, r)
		}
		if !strings.Contains(r.Message, y.Author) || !strings.Contains(r.Message, y.References[0]) {
			t.Errorf("%s: message %s lacks the attribution", f, r.Message)
		}
		if r.Source != f+":1" {
			t.Errorf("source %q", r.Source)
		}
	}
	// every rule is kept off most events by its prefilter, except the one that reads
	// response codes only (indexed by code) and the one that can never fire
	for _, r := range set.Rules {
		if r.On == nil || (len(r.On.Resources) == 0 && len(r.On.Codes) == 0 && r.Match != "false") {
			t.Errorf("%s: no prefilter: %+v", r.ID, r.On)
		}
	}
}

// Each SigmaHQ rule fires on its fixture and not on its near miss (testdata/sigma, in
// the shape of testdata/rules); the one rule that cannot fire as written stays silent on
// the events it was written for, and lint says why.
func TestSigmaHQFixtures(t *testing.T) {
	set, _ := sigmaHQRules(t)
	al, _ := analyzer.DefaultAllowlists()
	results, err := ruletest.Run(set.Rules, analyzer.Config{Allowlists: al}, "../../testdata/sigma")
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 2*len(set.Rules) {
		t.Errorf("%d results for %d rules", len(results), len(set.Rules))
	}
	never := 0
	for _, r := range results {
		if !r.Pass {
			t.Errorf("%s %s (%s): %s", r.RuleID, r.Want, r.Fixture, r.Problem)
		}
		if r.Want == "never" {
			never++
			if r.RuleID != "597a7e84-187d-458b-9e4f-2f5a0e676711" {
				t.Errorf("%s cannot fire", r.RuleID)
			}
		}
	}
	if never != 1 {
		t.Errorf("%d rules that cannot fire, want 1", never)
	}
	var why []string
	for _, n := range set.Notes {
		if n.RuleID == "597a7e84-187d-458b-9e4f-2f5a0e676711" {
			why = append(why, n.Text)
		}
	}
	if !strings.Contains(strings.Join(why, "\n"), `"ALLOW" never matches`) {
		t.Errorf("lint does not say why the enumeration rule cannot fire: %q", why)
	}
}

// The SigmaHQ rules on what a real kube-apiserver wrote (testdata/realapiserver): the
// attacks raise the rules their scenarios are about, the benign traffic none of the
// rules written for attacks.
func TestSigmaHQOnRealAPIServer(t *testing.T) {
	set, _ := sigmaHQRules(t)
	al, _ := analyzer.DefaultAllowlists()
	eng, err := analyzer.NewEngine(set.Rules, analyzer.Config{Allowlists: al})
	if err != nil {
		t.Fatal(err)
	}
	titles := map[string]string{}
	for _, r := range set.Rules {
		titles[r.ID] = r.Title
	}
	run := func(file string) map[string]int {
		e := eng.Fresh()
		r, err := audit.Open([]string{file}, audit.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Each(context.Background(), func(rec audit.Record) error { e.Observe(rec.Event); return nil }); err != nil {
			t.Fatal(err)
		}
		res := e.Result()
		if len(res.EvalErrors) > 0 {
			t.Errorf("%s: evaluation errors %v", file, res.EvalErrors)
		}
		out := map[string]int{}
		for _, f := range res.Findings {
			out[titles[f.RuleID]] += f.Count
		}
		return out
	}
	attacks := run("../../testdata/realapiserver/attacks.jsonl")
	var got []string
	for k, v := range attacks {
		got = append(got, k+": "+itoa(v))
	}
	sort.Strings(got)
	t.Logf("attacks.jsonl:\n  %s", strings.Join(got, "\n  "))
	for _, want := range []string{"Kubernetes Secrets Enumeration", "Container With A hostPath Mount Created",
		"Privileged Container Deployed", "Kubernetes Rolebinding Modification", "Kubernetes Events Deleted",
		"RBAC Permission Enumeration Attempt", "Kubernetes Unauthorized or Unauthenticated Access",
		"Kubernetes Admission Controller Modification"} {
		if attacks[want] == 0 {
			t.Errorf("attacks.jsonl: %s did not fire", want)
		}
	}
	benign := run("../../testdata/realapiserver/benign.jsonl")
	b, _ := json.Marshal(benign)
	t.Logf("benign.jsonl: %s", b)
	for _, quiet := range []string{"Kubernetes Events Deleted", "RBAC Permission Enumeration Attempt", "Kubernetes Admission Controller Modification"} {
		if benign[quiet] > 0 {
			t.Errorf("benign.jsonl: %s fired %d times", quiet, benign[quiet])
		}
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
