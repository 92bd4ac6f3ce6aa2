package ruletest

import (
	"testing"

	"github.com/kubesleuth/kubesleuth/analyzer"
)

// TestCatalogFixtures: every built-in rule fires on its fixture and not on its near miss.
func TestCatalogFixtures(t *testing.T) {
	rules, err := analyzer.BuiltinRules()
	if err != nil {
		t.Fatal(err)
	}
	al, err := analyzer.DefaultAllowlists()
	if err != nil {
		t.Fatal(err)
	}
	results, err := Run(rules, analyzer.Config{Allowlists: al}, "../../testdata/rules")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if !r.Pass {
			t.Errorf("%s %s (%s): %s", r.RuleID, r.Want, r.Fixture, r.Problem)
		}
	}
	t.Logf("%d rules, %d fixtures checked", len(rules), len(results))
}

// TestEngineRulesFixtures runs the engine's own example rules through the same runner.
func TestRunnerReportsProblems(t *testing.T) {
	rules, err := analyzer.LoadRuleFiles("../testdata/engine_rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	results, err := Run(rules[:1], analyzer.Config{}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 2 || results[0].Pass || results[0].Problem != "fixture missing" {
		t.Errorf("results = %+v", results)
	}
}
