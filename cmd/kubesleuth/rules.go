package main

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/analyzer/ruletest"
	"github.com/kubesleuth/kubesleuth/analyzer/secrets"
	"github.com/kubesleuth/kubesleuth/analyzer/sigma"
)

func init() { register(newRulesCmd) }

func newRulesCmd(io stdio) *cobra.Command {
	var d detectFlags
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "List, show, lint and test detection rules",
		Long: `Rules are data: YAML files with a CEL expression over the audit event (the format is
described in analyzer/rules/README.md). The built-in catalog is embedded; add your own
files with --rules PATH (a file or a folder, repeatable) here and in scan.

Sigma rules (https://sigmahq.io, logsource product: kubernetes, service: audit) run as
they are written: --sigma PATH (a file or a folder, repeatable) adds them, each becoming a
rule of the engine under its Sigma id (correlations become threshold, distinct and
sequence rules; filters apply to the rules they name). lint reads both formats. A Sigma
document that cannot run here (another log source, an unknown modifier, a correlation
chain) is reported with its file, line and reason.`,
		Example: `  kubesleuth rules list
  kubesleuth rules list -o markdown        # the README's catalog table
  kubesleuth rules show KS-EXEC-001
  kubesleuth rules lint my-rules.yaml
  kubesleuth rules lint sigma/rules/       # Sigma files: what runs, how fields are read, what cannot run and why
  kubesleuth rules list --sigma sigma/rules/
  kubesleuth rules show --sigma sigma/rules/ a1b0ca4e-7835-413e-8471-3ff2b8a66be6
  kubesleuth rules test testdata/rules     # fire.jsonl must fire, miss.jsonl must not
  kubesleuth rules test --no-builtin-rules --sigma sigma/rules/ testdata/sigma`,
	}
	d.register(cmd.PersistentFlags())
	// loadAll is the catalog, --rules and --sigma; Sigma documents that cannot run are
	// reported on stderr (never dropped silently)
	loadAll := func() ([]*analyzer.Rule, error) {
		rules, _, err := d.load(io.err)
		return rules, err
	}

	var output, showOutput string
	list := &cobra.Command{
		Use:   "list",
		Short: "List the rules (table, json or markdown)",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if err := checkOutput(output, "table", "json", "markdown"); err != nil {
				return err
			}
			rules, err := loadAll()
			if err != nil {
				return usageError{err}
			}
			switch output {
			case "json":
				enc := json.NewEncoder(io.out)
				enc.SetIndent("", "  ")
				return enc.Encode(rules)
			case "markdown":
				_, err := io.out.Write([]byte(rulesMarkdown(rules)))
				return err
			}
			tw := tabwriter.NewWriter(io.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSEVERITY\tKIND\tNEEDS\tMITRE\tTITLE")
			for _, r := range rules {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Severity, r.Kind, or(r.Needs, "-"), strings.Join(r.MITRE, ","), r.Title)
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVarP(&output, "output", "o", "table", "output format: table, json or markdown")

	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show one rule in full",
		Args:  cobra.ExactArgs(1),
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			rules, _ := loadAll()
			var ids []string
			for _, r := range rules {
				ids = append(ids, r.ID+"\t"+r.Title)
			}
			return ids, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(_ *cobra.Command, args []string) error {
			rules, err := loadAll()
			if err != nil {
				return usageError{err}
			}
			for _, r := range rules {
				if strings.EqualFold(r.ID, args[0]) {
					if showOutput == "json" {
						enc := json.NewEncoder(io.out)
						enc.SetIndent("", "  ")
						return enc.Encode(r)
					}
					printRule(io.out, r)
					return nil
				}
			}
			// the etcd analysis's rules are Go code (analyzer/secrets), shown by the TUI and
			// in findings: show them too
			for id, r := range secrets.Rules {
				if strings.EqualFold(id, args[0]) {
					if showOutput == "json" {
						enc := json.NewEncoder(io.out)
						enc.SetIndent("", "  ")
						return enc.Encode(map[string]any{"id": r.ID, "title": r.Title, "severity": r.Severity, "mitre": r.MITRE,
							"remediation": r.Remediation, "source": "analyzer/secrets (kubesleuth etcd, ingest --etcd-snapshot)"})
					}
					fmt.Fprintf(io.out, "%s  %s\n", r.ID, r.Title)
					fmt.Fprintf(io.out, "severity: %s   kind: etcd   mitre: %s\n", r.Severity, strings.Join(r.MITRE, ", "))
					fmt.Fprintf(io.out, "source: analyzer/secrets: the secrets-at-rest analysis of kubesleuth etcd and ingest --etcd-snapshot (Go code, not CEL)\n\n")
					fmt.Fprintf(io.out, "remediation: %s\n", r.Remediation)
					return nil
				}
			}
			return usagef("no rule %q (see kubesleuth rules list; etcd rules are KS-ETCD-001 to KS-ETCD-017)", args[0])
		},
	}
	show.Flags().StringVarP(&showOutput, "output", "o", "text", "output format: text or json")

	lint := &cobra.Command{
		Use:   "lint FILE|DIR...",
		Short: "Check rule files (kubesleuth or Sigma): fields, unique IDs, and that every CEL expression compiles",
		Long: `lint reads kubesleuth rule files and Sigma files (told apart by content) and compiles
every rule. For Sigma files it also prints notes on how fields were read (a field that is
not a path of the audit event is matched as a key at any depth; a value that can never
match) and fails, with file, line and reason, on every document that cannot run here.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			native, sigmaFiles, err := splitRuleFiles(args)
			if err != nil {
				return usageError{err}
			}
			var rules []*analyzer.Rule
			if len(native) > 0 {
				if rules, err = analyzer.LoadRuleFiles(native...); err != nil {
					return usageError{err}
				}
			}
			al, err := analyzer.LoadAllowlists(d.allowlist)
			if err != nil {
				return usageError{fmt.Errorf("allowlist: %w", err)}
			}
			var set *sigma.Set
			if len(sigmaFiles) > 0 {
				if set, err = loadSigma(sigmaFiles, rules, al); err != nil {
					return usageError{err}
				}
				rules = append(rules, set.Rules...)
				for _, n := range set.Notes {
					fmt.Fprintf(io.out, "note: %s\n", n)
				}
			}
			if _, err := analyzer.NewEngine(rules, analyzer.Config{Allowlists: al}); err != nil {
				return usageError{err}
			}
			if set != nil && len(set.Unsupported) > 0 {
				reportUnsupported(io.err, set.Unsupported)
				return usagef("%d rule(s) OK, %d Sigma document(s) cannot run (above)", len(rules), len(set.Unsupported))
			}
			fmt.Fprintf(io.out, "%d rule(s) OK in %s\n", len(rules), strings.Join(args, ", "))
			return nil
		},
	}

	test := &cobra.Command{
		Use:   "test DIR",
		Short: "Run rule fixtures: DIR/<ID>/fire.jsonl and fire-*.jsonl must fire, miss.jsonl and miss-*.jsonl must not (DIR/<ID>/allowlist.yaml is added for that rule)",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			rules, err := loadAll()
			if err != nil {
				return usageError{err}
			}
			al, err := analyzer.DefaultAllowlists()
			if err != nil {
				return err
			}
			results, err := ruletest.Run(rules, analyzer.Config{Allowlists: al}, args[0])
			if err != nil {
				return usageError{err}
			}
			failed := 0
			for _, r := range results {
				if !r.Pass {
					failed++
					fmt.Fprintf(io.out, "FAIL %s %s: %s (%s)\n", r.RuleID, r.Want, r.Problem, r.Fixture)
				}
			}
			fmt.Fprintf(io.out, "%d rules, %d fixtures: %d passed, %d failed\n", len(rules), len(results), len(results)-failed, failed)
			if failed > 0 {
				return exitError{exitFindings}
			}
			return nil
		},
	}
	cmd.AddCommand(list, show, lint, test)
	return cmd
}

func or(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// rulesMarkdown is the README's catalog table.
func rulesMarkdown(rules []*analyzer.Rule) string {
	var b strings.Builder
	b.WriteString("| ID | Title | Severity | MITRE ATT&CK |\n|---|---|---|---|\n")
	for _, r := range rules {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", r.ID, strings.ReplaceAll(r.Title, "|", `\|`), r.Severity, strings.Join(r.MITRE, ", "))
	}
	return b.String()
}

func printRule(w io.Writer, r *analyzer.Rule) {
	fmt.Fprintf(w, "%s  %s\n", r.ID, r.Title)
	fmt.Fprintf(w, "severity: %s   kind: %s   mitre: %s   needs: %s\n", r.Severity, r.Kind, strings.Join(r.MITRE, ", "), or(r.Needs, "none"))
	if r.Author != "" {
		fmt.Fprintf(w, "author: %s\n", r.Author)
	}
	fmt.Fprintf(w, "source: %s\n\n", r.Source)
	if r.Description != "" {
		fmt.Fprintf(w, "%s\n\n", strings.TrimSpace(r.Description))
	}
	if r.On != nil {
		// what is tested before the CEL (a Sigma rule's plain verb, resource... tests
		// are there, not in its match)
		b, _ := json.Marshal(r.On)
		fmt.Fprintf(w, "filter (on): %s\n", b)
	}
	if r.Match != "" {
		fmt.Fprintf(w, "match: %s\n", strings.TrimSpace(r.Match))
	}
	for _, kv := range [][2]string{{"key", r.Key}, {"field", r.Field}, {"window", dur(r.Window)}, {"within", dur(r.Within)}, {"learning", dur(r.Learning)}} {
		if kv[1] != "" {
			fmt.Fprintf(w, "%s: %s\n", kv[0], kv[1])
		}
	}
	if r.Threshold > 0 {
		fmt.Fprintf(w, "threshold: %d\n", r.Threshold)
	}
	for i, s := range r.Steps {
		fmt.Fprintf(w, "step %d (%s): %s\n", i+1, s.Name, strings.Join(strings.Fields(s.Match), " "))
		if s.On != nil {
			b, _ := json.Marshal(s.On)
			fmt.Fprintf(w, "  filter (on): %s\n", b)
		}
		if s.Key != "" {
			fmt.Fprintf(w, "  join key: %s\n", s.Key)
		}
		if s.After != 0 {
			fmt.Fprintf(w, "  after: %s\n", dur(s.After))
		}
	}
	if r.Remediation != "" {
		fmt.Fprintf(w, "\nremediation: %s\n", strings.TrimSpace(r.Remediation))
	}
	if len(r.FalsePositives) > 0 {
		fmt.Fprintf(w, "\nfalse positives:\n")
		for _, fp := range r.FalsePositives {
			fmt.Fprintf(w, "  - %s\n", fp)
		}
	}
	if r.Author != "" && len(r.References) > 0 {
		fmt.Fprintf(w, "\nreferences:\n")
	}
	for _, ref := range r.References {
		fmt.Fprintf(w, "  - %s\n", ref)
	}
}

func dur(d analyzer.Duration) string {
	if d == 0 {
		return ""
	}
	return time.Duration(d).String()
}

// loadSigma reads Sigma files with the allowlists (for expand placeholders) and
// refuses an id that another rule already has.
func loadSigma(paths []string, others []*analyzer.Rule, al analyzer.Allowlists) (*sigma.Set, error) {
	set, err := sigma.Load(sigma.Options{Allowlists: al}, paths...)
	if err != nil {
		return nil, err
	}
	seen := map[string]string{}
	for _, r := range others {
		seen[r.ID] = r.Source
	}
	for _, r := range set.Rules {
		if prev, ok := seen[r.ID]; ok {
			return nil, fmt.Errorf("%s: rule %s: id also used in %s", r.Source, r.ID, prev)
		}
	}
	return set, nil
}

func reportUnsupported(w io.Writer, us []sigma.Unsupported) {
	for _, u := range us {
		fmt.Fprintf(w, "sigma: cannot run %s\n", u)
	}
	if len(us) > 0 {
		fmt.Fprintf(w, "sigma: %d document(s) not loaded\n", len(us))
	}
}

// splitRuleFiles expands files and folders (every *.yaml and *.yml, hidden entries
// skipped) and tells kubesleuth rule files from Sigma files by their content.
func splitRuleFiles(args []string) (native, sigmaFiles []string, err error) {
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, nil, err
		}
		files := []string{a}
		if st.IsDir() {
			files = nil
			err = filepath.WalkDir(a, func(f string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if f != a && strings.HasPrefix(d.Name(), ".") {
					if d.IsDir() {
						return filepath.SkipDir
					}
					return nil
				}
				if !d.IsDir() && (strings.HasSuffix(f, ".yaml") || strings.HasSuffix(f, ".yml")) {
					files = append(files, f)
				}
				return nil
			})
			if err != nil {
				return nil, nil, err
			}
			sort.Strings(files)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, nil, err
			}
			if sigma.IsSigma(b) {
				sigmaFiles = append(sigmaFiles, f)
			} else {
				native = append(native, f)
			}
		}
	}
	return native, sigmaFiles, nil
}
