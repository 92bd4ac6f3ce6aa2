// Package ruletest runs rule fixtures: for every rule, testdata/rules/<ID>/fire.jsonl must
// produce at least one finding of that rule and miss.jsonl (a near miss) none. It backs
// `kubesleuth rules test DIR` and the catalog's Go test.
//
// A rule whose match is the constant false can never fire (a Sigma rule whose detection
// no audit event can satisfy: `rules lint` says why). It has never.jsonl in place of
// fire.jsonl: the events it was written for, on which it must stay silent.
package ruletest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/ingest/audit"
)

// Result is the outcome of one fixture file.
type Result struct {
	RuleID   string `json:"rule_id"`
	Fixture  string `json:"fixture"` // path of the file
	Want     string `json:"want"`    // "fire", "miss", or "never" (a rule that cannot fire)
	Findings int    `json:"findings"`
	Events   int    `json:"events"`
	Pass     bool   `json:"pass"`
	Problem  string `json:"problem,omitempty"`
}

// Run checks every rule in rules that has a folder under dir, and reports rules without
// fixtures as failures too (every rule must have both files). Each fixture file runs on a
// fresh engine holding all the rules, so that one rule's fixture cannot feed another's state.
func Run(rules []*analyzer.Rule, cfg analyzer.Config, dir string) ([]Result, error) {
	var out []Result
	sort.Slice(rules, func(i, j int) bool { return rules[i].ID < rules[j].ID })
	compiled, err := analyzer.NewEngine(rules, cfg)
	if err != nil {
		return nil, err
	}
	for _, r := range rules {
		for _, want := range []string{"fire", "miss"} {
			if want == "fire" && r.Match == "false" {
				if _, err := os.Stat(filepath.Join(dir, r.ID, "never.jsonl")); err == nil {
					want = "never"
				}
			}
			path := filepath.Join(dir, r.ID, want+".jsonl")
			res := Result{RuleID: r.ID, Fixture: path, Want: want}
			if _, err := os.Stat(path); err != nil {
				res.Problem = "fixture missing"
				out = append(out, res)
				continue
			}
			eng := compiled.Fresh()
			var bad []string
			rd, err := audit.Open([]string{path}, audit.Options{OnError: func(e *audit.InputError) { bad = append(bad, e.Error()) }})
			if err != nil {
				return nil, err
			}
			if err := rd.Each(context.Background(), func(rec audit.Record) error {
				res.Events++
				eng.Observe(rec.Event)
				return nil
			}); err != nil {
				return nil, err
			}
			for _, f := range eng.Result().Findings {
				if f.RuleID == r.ID {
					res.Findings++
				}
			}
			switch {
			case len(bad) > 0:
				res.Problem = fmt.Sprintf("bad fixture input: %s", bad[0])
			case res.Events == 0:
				res.Problem = "fixture holds no events"
			case want == "fire" && res.Findings == 0:
				res.Problem = "rule did not fire"
			case want == "miss" && res.Findings > 0:
				res.Problem = fmt.Sprintf("rule fired %d time(s) on its near miss", res.Findings)
			case want == "never" && res.Findings > 0:
				res.Problem = fmt.Sprintf("rule that cannot fire fired %d time(s)", res.Findings)
			default:
				res.Pass = true
			}
			out = append(out, res)
		}
	}
	return out, nil
}
