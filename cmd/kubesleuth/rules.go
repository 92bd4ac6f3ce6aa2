package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/analyzer/ruletest"
)

func init() { register(newRulesCmd) }

func newRulesCmd(io stdio) *cobra.Command {
	var extra []string
	var noBuiltin bool
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "List, show, lint and test detection rules",
		Long: `Rules are data: YAML files with a CEL expression over the audit event (the format is
described in analyzer/rules/README.md). The built-in catalog is embedded; add your own
files with --rules PATH (a file or a folder, repeatable) here and in scan.`,
		Example: `  kubesleuth rules list
  kubesleuth rules list -o markdown        # the README's catalog table
  kubesleuth rules show KS-EXEC-001
  kubesleuth rules lint my-rules.yaml
  kubesleuth rules test testdata/rules     # fire.jsonl must fire, miss.jsonl must not`,
	}
	cmd.PersistentFlags().StringArrayVar(&extra, "rules", nil, "additional rule file or folder (repeatable)")
	cmd.PersistentFlags().BoolVar(&noBuiltin, "no-builtin-rules", false, "leave the built-in catalog out")

	var output, showOutput string
	list := &cobra.Command{
		Use:   "list",
		Short: "List the rules (table, json or markdown)",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if err := checkOutput(output, "table", "json", "markdown"); err != nil {
				return err
			}
			rules, err := loadRules(extra, noBuiltin)
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
			rules, _ := loadRules(extra, noBuiltin)
			var ids []string
			for _, r := range rules {
				ids = append(ids, r.ID+"\t"+r.Title)
			}
			return ids, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(_ *cobra.Command, args []string) error {
			rules, err := loadRules(extra, noBuiltin)
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
			return usagef("no rule %q (see kubesleuth rules list)", args[0])
		},
	}
	show.Flags().StringVarP(&showOutput, "output", "o", "text", "output format: text or json")

	lint := &cobra.Command{
		Use:   "lint FILE...",
		Short: "Check rule files: fields, unique IDs, and that every CEL expression compiles",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			rules, err := analyzer.LoadRuleFiles(args...)
			if err != nil {
				return usageError{err}
			}
			al, err := analyzer.DefaultAllowlists()
			if err != nil {
				return err
			}
			if _, err := analyzer.NewEngine(rules, analyzer.Config{Allowlists: al}); err != nil {
				return usageError{err}
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
			rules, err := loadRules(extra, noBuiltin)
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
	fmt.Fprintf(w, "source: %s\n\n", r.Source)
	if r.Description != "" {
		fmt.Fprintf(w, "%s\n\n", strings.TrimSpace(r.Description))
	}
	if r.Match != "" {
		fmt.Fprintf(w, "match: %s\n", strings.TrimSpace(r.Match))
	}
	for i, s := range r.Steps {
		fmt.Fprintf(w, "step %d (%s): %s\n", i+1, s.Name, strings.TrimSpace(s.Match))
	}
	if r.Remediation != "" {
		fmt.Fprintf(w, "\nremediation: %s\n", strings.TrimSpace(r.Remediation))
	}
	for _, ref := range r.References {
		fmt.Fprintf(w, "  - %s\n", ref)
	}
}
