package main

import (
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"github.com/kubesleuth/kubesleuth/analyzer"
)

// detectFlags are the flags that choose the detection rules, shared by every command that
// runs the engine (scan, ingest, tail, serve) so that they read rules the same way.
type detectFlags struct {
	rules     []string // kubesleuth rule files or folders; Sigma files among them are told apart by content
	sigma     []string // Sigma rule files or folders
	noBuiltin bool
	allowlist string
}

func (d *detectFlags) register(fs *pflag.FlagSet) {
	fs.StringArrayVar(&d.rules, "rules", nil, "additional rule file or folder (repeatable); Sigma files in it are read as Sigma")
	fs.StringArrayVar(&d.sigma, "sigma", nil, "Sigma rule file or folder (repeatable): run as written, each rule by its id")
	fs.BoolVar(&d.noBuiltin, "no-builtin-rules", false, "run only the rules given with --rules and --sigma")
	fs.StringVar(&d.allowlist, "allowlist", "", "allowlist file added to the defaults (trusted registries, system identities, operators, tuning)")
}

// load returns the built-in catalog (unless --no-builtin-rules), the user's rule files and
// the Sigma rules, and the allowlists. Sigma documents that cannot run are reported on w,
// one line each (never dropped silently); an id used twice is an error.
func (d *detectFlags) load(w io.Writer) ([]*analyzer.Rule, analyzer.Allowlists, error) {
	al, err := analyzer.LoadAllowlists(d.allowlist)
	if err != nil {
		return nil, al, fmt.Errorf("allowlist: %w", err)
	}
	native, sigmaFiles, err := splitRuleFiles(d.rules)
	if err != nil {
		return nil, al, err
	}
	rules, err := loadRules(native, d.noBuiltin)
	if err != nil {
		return nil, al, err
	}
	if paths := append(sigmaFiles, d.sigma...); len(paths) > 0 {
		set, err := loadSigma(paths, rules, al)
		if err != nil {
			return nil, al, err
		}
		reportUnsupported(w, set.Unsupported)
		rules = append(rules, set.Rules...)
	}
	return rules, al, nil
}

// engine compiles the rules load returns.
func (d *detectFlags) engine(w io.Writer) (*analyzer.Engine, int, error) {
	rules, al, err := d.load(w)
	if err != nil {
		return nil, 0, err
	}
	eng, err := analyzer.NewEngine(rules, analyzer.Config{Allowlists: al})
	if err != nil {
		return nil, 0, err
	}
	return eng, len(rules), nil
}

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
