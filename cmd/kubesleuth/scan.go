package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/ingest/audit"
	"github.com/kubesleuth/kubesleuth/pipeline"
)

func init() { register(newScanCmd) }

type scanOptions struct {
	read    readFlags
	output  string
	failOn  string
	detect  detectFlags
	verbose bool
}

func newScanCmd(io stdio) *cobra.Command {
	var o scanOptions
	cmd := &cobra.Command{
		Use:   "scan [FILE|DIR|GLOB|-]...",
		Short: "Read audit logs, run the detection rules, print findings",
		Long: `scan reads kube-apiserver audit logs, runs the detection engine over every event
in time order, and prints the findings with a summary of what was read.

Accepted input: JSON lines of audit.k8s.io/v1 or v1beta1 events, a pretty-printed event,
a JSON array, an EventList (what the audit webhook posts), Azure Event Hubs batches and
AKS diagnostic records, GKE Cloud Audit Log entries, any of them gzip-compressed; folders
(read recursively, rotated files oldest first), globs, and - for standard input (read
when no argument is given and input is piped).

Bad input (malformed lines, events without auditID, over-long lines, truncated gzip,
binary files) is reported as FILE:LINE: what is wrong, counted, and skipped. A request
logged at several stages is kept once per stage; the same auditID+stage seen again (in
overlapping or copied files) is dropped and counted as a duplicate.

Exit codes: 0 no finding at or above --fail-on; 1 a finding at or above --fail-on;
2 usage error or unreadable input (or any bad input with --strict); 3 the input held no
audit event at all; 4 kubesleuth failed; 130 interrupted (SIGINT), 143 (SIGTERM).`,
		Example: `  kubesleuth scan /var/log/kubernetes/audit/audit.log
  kubesleuth scan 'audit-*.log.gz' audit.log
  kubectl logs -n kube-system kube-apiserver-0 | kubesleuth scan -
  kubesleuth scan -o json audit.log | jq '.summary.skipped'
  kubesleuth scan -o jsonl --fail-on high audit/ > findings.jsonl`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runScan(cmd, io, o, args)
		},
	}
	fs := cmd.Flags()
	o.read.register(fs)
	fs.StringVarP(&o.output, "output", "o", "table", "output format: table, json or jsonl")
	fs.StringVar(&o.failOn, "fail-on", "", "exit 1 when a finding is at or above this severity (info, low, medium, high, critical); default: never")
	o.detect.register(fs)
	fs.BoolVarP(&o.verbose, "verbose", "v", false, "also report rules whose CEL failed on some events")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"table", "json", "jsonl"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("fail-on", cobra.FixedCompletions(severityNames(), cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func severityNames() []string {
	var s []string
	for _, v := range analyzer.Severities() {
		s = append(s, v.String())
	}
	return s
}

// failThreshold parses --fail-on; ok is false when it is unset (never fail).
func failThreshold(s string) (analyzer.Severity, bool, error) {
	if s == "" || s == "never" || s == "none" {
		return 0, false, nil
	}
	sev, err := analyzer.ParseSeverity(s)
	if err != nil {
		return 0, false, usagef("--fail-on: %v", err)
	}
	return sev, true, nil
}

func checkOutput(o string, allowed ...string) error {
	for _, a := range allowed {
		if o == a {
			return nil
		}
	}
	return usagef("unknown output format %q (want %s)", o, strings.Join(allowed, ", "))
}

// inputArgs applies the "no argument means standard input, if it is piped" rule.
func inputArgs(args []string, in io.Reader) ([]string, error) {
	if len(args) > 0 {
		return args, nil
	}
	if f, ok := in.(*os.File); ok && isTerminal(f) {
		return nil, usagef("no input: give audit log files, folders or globs, or pipe a log into - (see --help)")
	}
	return []string{audit.StdinName}, nil
}

// scanResult is the -o json document.
type scanResult struct {
	Summary  scanSummary        `json:"summary"`
	Findings []analyzer.Finding `json:"findings"`
}

type scanSummary struct {
	*audit.Summary
	Rules        int                     `json:"rules"`
	NotEvaluable []analyzer.RuleCoverage `json:"not_evaluable,omitempty"`
	// NotEvaluableEvents: events on which at least one rule could not look
	NotEvaluableEvents int            `json:"not_evaluable_events,omitempty"`
	EvalErrors         map[string]int `json:"eval_errors,omitempty"`
	Elapsed            string         `json:"elapsed"`
}

func runScan(cmd *cobra.Command, io stdio, o scanOptions, args []string) error {
	if err := checkOutput(o.output, "table", "json", "jsonl"); err != nil {
		return err
	}
	threshold, failing, err := failThreshold(o.failOn)
	if err != nil {
		return err
	}
	args, err = inputArgs(args, io.in)
	if err != nil {
		return err
	}
	eng, nrules, err := o.detect.engine(io.err)
	if err != nil {
		return usageError{err}
	}
	src, err := pipeline.OpenFiles(args, o.read.options(io.err, io.in))
	if err != nil {
		return usageError{err}
	}
	r := src.Reader()
	tuneGC()
	start := time.Now()
	var events atomic.Int64
	bar := startProgress(io.err, r.TotalBytes(), r.BytesRead, events.Load)
	p := &pipeline.Pipeline{Source: src, Engine: eng, OnRecord: func(pipeline.Record) { events.Add(1) }}
	err = p.Run(cmd.Context())
	bar.Stop()
	if err != nil {
		return readError(err)
	}
	res := eng.Result()
	sum := scanSummary{Summary: r.Summary(), Rules: nrules, NotEvaluable: res.NotEvaluable, NotEvaluableEvents: res.NotEvaluableEvents, EvalErrors: res.EvalErrors, Elapsed: time.Since(start).Round(time.Millisecond).String()}

	switch o.output {
	case "json":
		enc := json.NewEncoder(io.out)
		enc.SetIndent("", "  ")
		findings := res.Findings
		if findings == nil {
			findings = []analyzer.Finding{}
		}
		if err := enc.Encode(scanResult{Summary: sum, Findings: findings}); err != nil {
			return err
		}
	case "jsonl":
		enc := json.NewEncoder(io.out)
		for _, f := range res.Findings {
			if err := enc.Encode(f); err != nil {
				return err
			}
		}
		printSummary(io.err, sum, o.verbose)
	default:
		if sum.Events > 0 { // "No findings." of nothing read would be a false all-clear
			printFindings(io.out, res.Findings)
		}
		printSummary(io.err, sum, o.verbose)
	}
	if sum.Events == 0 {
		return noEventsError{nothingRead(sum.Summary)}
	}
	if failing {
		for _, f := range res.Findings {
			if f.Severity >= threshold {
				return exitError{exitFindings}
			}
		}
	}
	return nil
}

func printFindings(w io.Writer, findings []analyzer.Finding) {
	if len(findings) == 0 {
		fmt.Fprintln(w, "No findings.")
		return
	}
	// most severe first, then in time order: what to look at first at 3 a.m.
	sorted := append([]analyzer.Finding(nil), findings...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Severity > sorted[j].Severity })
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEVERITY\tRULE\tTITLE\tSUBJECT\tCOUNT\tFIRST SEEN")
	for _, f := range sorted {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", strings.ToUpper(f.Severity.String()), f.RuleID,
			clip(f.Title, 48), clip(f.Subject.String(), 60), f.Count, f.FirstSeen.UTC().Format(time.RFC3339))
	}
	tw.Flush()
}

func printSummary(w io.Writer, s scanSummary, verbose bool) {
	fmt.Fprintf(w, "\nRead %d events from %d input(s) in %s: %d duplicates dropped, %s.\n",
		s.Events, len(s.Files), s.Elapsed, s.Duplicates, s.SkippedPhrase())
	if len(s.Files) > 1 || s.SkippedTotal() > 0 || s.Duplicates > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "FILE\tEVENTS\tDUPLICATES\tSKIPPED\tFIRST EVENT\tLAST EVENT")
		for _, f := range s.Files {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d%s\t%s\t%s\n", f.Path, f.Events, f.Duplicates, f.SkippedTotal(), reasonList(f.Skipped), fmtTime(f.First), fmtTime(f.Last))
		}
		tw.Flush()
	}
	if n := len(s.NotEvaluable); n > 0 {
		var ids []string
		for _, ne := range s.NotEvaluable {
			ids = append(ids, ne.RuleID)
		}
		fmt.Fprintf(w, "%d rule(s) could not be evaluated on %d of the %d event(s): they read request or response bodies and the audit level did not record them: %s\n", n, s.NotEvaluableEvents, s.Events, strings.Join(ids, ", "))
	}
	if verbose {
		for _, id := range sortedKeys(s.EvalErrors) {
			fmt.Fprintf(w, "Rule %s: its CEL failed on %d event(s) (treated as no match)\n", id, s.EvalErrors[id])
		}
	}
}

func reasonList(m map[audit.Reason]int) string {
	if len(m) == 0 {
		return ""
	}
	var parts []string
	for _, r := range audit.Reasons(m) {
		parts = append(parts, fmt.Sprintf("%s %d", r, m[r]))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func sortedKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// nothingRead says why a run that read its input found no audit event in it.
func nothingRead(s *audit.Summary) error {
	if len(s.Files) == 0 {
		return fmt.Errorf("no audit event read: no input file")
	}
	if s.SkippedTotal() > 0 {
		return fmt.Errorf("no audit event read from %d input file(s): %s; is this an audit log?", len(s.Files), s.SkippedPhrase())
	}
	return fmt.Errorf("no audit event read from %d input file(s): they are empty", len(s.Files))
}
