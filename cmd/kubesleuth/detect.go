package main

import (
	"fmt"

	"github.com/kubesleuth/kubesleuth/analyzer"
)

// loadRules returns the built-in catalog (unless noBuiltin) plus the user's rule files.
func loadRules(extra []string, noBuiltin bool) ([]*analyzer.Rule, error) {
	var rules []*analyzer.Rule
	if !noBuiltin {
		b, err := analyzer.BuiltinRules()
		if err != nil {
			return nil, fmt.Errorf("built-in rules: %w", err)
		}
		rules = b
	}
	if len(extra) > 0 {
		u, err := analyzer.LoadRuleFiles(extra...)
		if err != nil {
			return nil, err
		}
		seen := map[string]bool{}
		for _, r := range rules {
			seen[r.ID] = true
		}
		for _, r := range u {
			if seen[r.ID] {
				return nil, fmt.Errorf("%s: rule %s: id already used by a built-in rule", r.Source, r.ID)
			}
		}
		rules = append(rules, u...)
	}
	return rules, nil
}

// buildEngine compiles the rules with the allowlists (defaults plus an optional file).
func buildEngine(extra []string, noBuiltin bool, allowlist string) (*analyzer.Engine, int, error) {
	rules, err := loadRules(extra, noBuiltin)
	if err != nil {
		return nil, 0, err
	}
	al, err := analyzer.LoadAllowlists(allowlist)
	if err != nil {
		return nil, 0, fmt.Errorf("allowlist: %w", err)
	}
	eng, err := analyzer.NewEngine(rules, analyzer.Config{Allowlists: al})
	if err != nil {
		return nil, 0, err
	}
	return eng, len(rules), nil
}
