// Package ruletest runs rule fixtures: for every rule, testdata/rules/<ID>/fire.jsonl (and
// each fire-*.jsonl) must produce at least one finding of that rule and miss.jsonl (and
// each miss-*.jsonl, near misses) none. It backs
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
	// EvalErrors counts the fixture's events on which the rule's CEL failed: a fixture
	// that passes with evaluation errors is reported, not passed.
	EvalErrors int    `json:"eval_errors,omitempty"`
	Pass       bool   `json:"pass"`
	Problem    string `json:"problem,omitempty"`
}

// Run checks every rule in rules that has a folder under dir, and reports rules without
// fixtures as failures too (every rule must have both files). Each fixture file runs on a
// fresh engine holding all the rules, so that one rule's fixture cannot feed another's state.
// A rule's folder may hold an allowlist.yaml: its fixtures then run with that file added
// to cfg's allowlists (a configured registry list, cluster networks, a tuning), as
// `--allowlist` adds one to a scan.
func Run(rules []*analyzer.Rule, cfg analyzer.Config, dir string) ([]Result, error) {
	var out []Result
	sort.Slice(rules, func(i, j int) bool { return rules[i].ID < rules[j].ID })
	base, err := analyzer.NewEngine(rules, cfg)
	if err != nil {
		return nil, err
	}
	for _, r := range rules {
		compiled := base
		if al := filepath.Join(dir, r.ID, "allowlist.yaml"); fileExists(al) {
			c := cfg
			if c.Allowlists, err = cfg.Allowlists.With(al); err != nil {
				return nil, err
			}
			if compiled, err = analyzer.NewEngine(rules, c); err != nil {
				return nil, fmt.Errorf("%s: %w", al, err)
			}
		}
		for _, fx := range fixtures(dir, r.ID, r.Match == "false") {
			path, want := fx.path, fx.want
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
			res.EvalErrors = eng.Result().EvalErrors[r.ID]
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
			case res.EvalErrors > 0:
				res.Problem = fmt.Sprintf("the rule's CEL failed on %d event(s)", res.EvalErrors)
			default:
				res.Pass = true
			}
			out = append(out, res)
		}
	}
	return out, nil
}

type fixture struct{ path, want string }

// fixtures are a rule's fire.jsonl and miss.jsonl (both required), then its other
// fire-*.jsonl and miss-*.jsonl (one case each: a shape, a class of event), sorted.
// A rule whose match is "false" (a Sigma rule that cannot run) may hold never.jsonl
// instead of fire.jsonl: events on which it must not fire.
func fixtures(dir, id string, cannotFire bool) []fixture {
	first := fixture{filepath.Join(dir, id, "fire.jsonl"), "fire"}
	if never := filepath.Join(dir, id, "never.jsonl"); cannotFire && fileExists(never) {
		first = fixture{never, "never"}
	}
	out := []fixture{first, {filepath.Join(dir, id, "miss.jsonl"), "miss"}}
	for _, want := range []string{"fire", "miss"} {
		more, _ := filepath.Glob(filepath.Join(dir, id, want+"-*.jsonl"))
		sort.Strings(more)
		for _, p := range more {
			out = append(out, fixture{p, want})
		}
	}
	return out
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
