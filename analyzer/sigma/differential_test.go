package sigma

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/ingest/audit"
)

// corpus is every audit event this repository holds: generated, recorded from a real
// kube-apiserver, and the rule fixtures.
func corpus(t testing.TB) []*auditv1.Event {
	t.Helper()
	var files []string
	for _, g := range []string{"../../testdata/generated/*.jsonl", "../../testdata/realapiserver/*.jsonl",
		"../../testdata/rules/*/*.jsonl", "../../testdata/sigma/*/*.jsonl", "../../testdata/audit/*.jsonl"} {
		m, _ := filepath.Glob(g)
		for _, f := range m {
			if !strings.Contains(f, "labels") {
				files = append(files, f)
			}
		}
	}
	var out []*auditv1.Event
	for _, f := range files {
		r, err := audit.Open([]string{f}, audit.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Each(context.Background(), func(rec audit.Record) error {
			out = append(out, rec.Event)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// The CEL translation agrees, event by event, with a direct Go evaluation of the same
// detection trees: over the SigmaHQ rules and rules that use every kind of test, on every
// event of the repository. What the engine adds (prefilter index, memo) must not change a
// single match.
func TestTranslationAgreesWithDirectEvaluation(t *testing.T) {
	al, _ := analyzer.DefaultAllowlists()
	files := map[string][]byte{}
	paths, _ := filepath.Glob(filepath.Join(sigmaHQ, "*.yml"))
	paths = append(paths, "testdata/differential.yml")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files[p] = b
	}
	d := newDirect(Options{Allowlists: al}, files)
	set, err := Load(Options{Allowlists: al}, paths...)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Unsupported) > 0 {
		t.Fatalf("unsupported: %v", set.Unsupported)
	}
	if len(d.rules) != len(set.Rules) {
		t.Fatalf("%d direct rules, %d engine rules", len(d.rules), len(set.Rules))
	}
	events := corpus(t)
	// the engine: every matching event's auditID is in its rule's findings' evidence
	eng, err := analyzer.NewEngine(set.Rules, analyzer.Config{Allowlists: al, MaxEvidence: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]bool{}
	for _, ev := range events {
		for _, id := range d.match(ev) {
			if want[id] == nil {
				want[id] = map[string]bool{}
			}
			want[id][string(ev.AuditID)] = true
		}
	}
	for _, ev := range events {
		eng.Observe(ev)
	}
	res := eng.Result()
	if len(res.EvalErrors) > 0 {
		t.Errorf("evaluation errors: %v", res.EvalErrors)
	}
	got := map[string]map[string]bool{}
	for _, f := range res.Findings {
		if got[f.RuleID] == nil {
			got[f.RuleID] = map[string]bool{}
		}
		for _, id := range f.AuditIDs {
			got[f.RuleID][id] = true
		}
	}
	matched := 0
	for _, r := range set.Rules {
		g, w := got[r.ID], want[r.ID]
		matched += len(w)
		for id := range w {
			if !g[id] {
				t.Errorf("%s: direct evaluation matches %s, the engine does not\nCEL: %s", r.ID, id, r.Match)
			}
		}
		for id := range g {
			if !w[id] {
				t.Errorf("%s: the engine matches %s, direct evaluation does not\nCEL: %s", r.ID, id, r.Match)
			}
		}
	}
	var per []string
	for _, r := range set.Rules {
		per = append(per, r.ID+"="+itoa(len(want[r.ID])))
	}
	sort.Strings(per)
	t.Logf("%d events, %d rules, %d (rule, request) matches: %s", len(events), len(set.Rules), matched, strings.Join(per, " "))
	for _, r := range set.Rules {
		if strings.HasPrefix(r.ID, "d-") && len(want[r.ID]) == 0 {
			t.Errorf("%s matches nothing in the corpus: the comparison proves little for it", r.ID)
		}
	}
}
