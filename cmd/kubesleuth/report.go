package main

import (
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/index"
	"github.com/kubesleuth/kubesleuth/pipeline"
	"github.com/kubesleuth/kubesleuth/report"
)

func init() { register(newReportCmd) }

type reportOptions struct {
	read        readFlags
	caseDir     string
	from        string
	format      string
	output      string
	title       string
	minSeverity string
	rule        []string
	excludeRule []string
	failOn      string
	detect      detectFlags
	etcdSnap    string
	encConfig   string
}

func newReportCmd(io stdio) *cobra.Command {
	var o reportOptions
	cmd := &cobra.Command{
		Use:   "report [--case DIR | FILES... [--etcd-snapshot F] | --from REPORT.json] --format html|md|json|sarif|csv [-o FILE|-]",
		Short: "Write the report of a case or of audit logs: HTML, Markdown, JSON, SARIF or CSV",
		Long: `report writes what a responder hands on: the scope and chain of custody (each source's
absolute path, size, SHA-256, events and time range; the case's creation), the audit
coverage (levels and stages seen, rules the levels did not let look, gaps in the trail),
an executive summary (counts by severity, the identities behind the findings, the secrets
exposed, the three things to fix first), the findings grouped by MITRE ATT&CK tactic (what
happened, why it matters, remediation, references, and their first evidence events), a
timeline, the secrets at rest by namespace and state (the list in an appendix), and the
case's bookmarks and notes.

One report document is built, from a case (--case, the default ./kubesleuth-case when no
file is given) or from a run of the rules over audit log files (FILES, as scan reads
them; --etcd-snapshot adds the secrets at rest), and written in one format:

  html   one self-contained file (no network access): timeline, severity bars, a finding
         table that sorts and filters; light and dark; prints
  md     Markdown, for tickets
  json   the document; its schema is report/schema/report-v1.schema.json, its "findings"
         array has the shape of scan -o json's
  sarif  SARIF 2.1.0 for code-scanning dashboards: a result per finding located at the
         audit log file and line of its first evidence
  csv    one row per finding

--from re-renders a saved JSON report in another format. Every string passes the
redactor: no secret value reaches a report. SOURCE_DATE_EPOCH, when set, is the report's
time (the same case then gives the same bytes).

Exit codes: 0 written and no finding at or above --fail-on; 1 a finding at or above
--fail-on (the report is written); 2 usage error, unreadable input or a damaged case;
3 the files held no audit event; 4 writing the report failed; 130/143 interrupted.`,
		Example: `  kubesleuth report --case ./incident-42 --format html -o incident-42.html
  kubesleuth report --case ./incident-42 --format md --min-severity high > ticket.md
  kubesleuth report --format sarif --fail-on high -o audit.sarif /var/log/kubernetes/audit/
  kubesleuth report --case ./incident-42 --format json -o report.json
  kubesleuth report --from report.json --format html -o report.html`,
		RunE: func(cmd *cobra.Command, args []string) error { return runReport(cmd, io, o, args) },
	}
	fs := cmd.Flags()
	o.read.register(fs)
	fs.StringVar(&o.caseDir, "case", "", "the case folder to report on (default ./kubesleuth-case when no file is given)")
	fs.StringVar(&o.from, "from", "", "re-render a saved JSON report (kubesleuth report --format json) instead of building one")
	fs.StringVarP(&o.format, "format", "f", "html", "html, md, json, sarif or csv")
	fs.StringVarP(&o.output, "output", "o", "-", "the file to write (0600, replaced whole when done), or - for standard output")
	fs.StringVar(&o.title, "title", "", "the report's title (default: kubesleuth report)")
	fs.StringVar(&o.minSeverity, "min-severity", "", "leave out findings below this severity (info, low, medium, high, critical)")
	fs.StringArrayVar(&o.rule, "rule", nil, "keep only findings of rules matching this ID or pattern (KS-ETCD-*; repeatable)")
	fs.StringArrayVar(&o.excludeRule, "exclude-rule", nil, "leave out findings of rules matching this ID or pattern (repeatable)")
	fs.StringVar(&o.failOn, "fail-on", "", "exit 1 when a finding of the report is at or above this severity; default: never")
	// the rules run on FILES; with --case, their texts explain the case's findings
	o.detect.register(fs)
	fs.StringVar(&o.etcdSnap, "etcd-snapshot", "", "an etcd snapshot to analyse for secrets at rest (with FILES)")
	fs.StringVar(&o.encConfig, "encryption-config", "", "the apiserver's EncryptionConfiguration, to check the snapshot's keys (with --etcd-snapshot)")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions(report.Formats, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("min-severity", cobra.FixedCompletions(severityNames(), cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("fail-on", cobra.FixedCompletions(severityNames(), cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func runReport(cmd *cobra.Command, io stdio, o reportOptions, args []string) error {
	if err := report.CheckFormat(o.format); err != nil {
		return usageError{err}
	}
	threshold, failing, err := failThreshold(o.failOn)
	if err != nil {
		return err
	}
	opts := report.Options{Rules: o.rule, ExcludeRules: o.excludeRule, Title: o.title, ToolVersion: version, GeneratedBy: whoami()}
	if o.minSeverity != "" {
		if opts.MinSeverity, err = analyzer.ParseSeverity(o.minSeverity); err != nil {
			return usagef("--min-severity: %v", err)
		}
		opts.HasMin = true
	}
	// SOURCE_DATE_EPOCH (reproducible-builds.org): the report's own time, so that the
	// same case gives the same bytes (golden tests, a diff of two reports)
	if v := os.Getenv("SOURCE_DATE_EPOCH"); v != "" {
		sec, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return usagef("SOURCE_DATE_EPOCH %q: not a number of seconds", safeText(v))
		}
		opts.Now = time.Unix(sec, 0).UTC()
	}
	if err := opts.CheckPatterns(); err != nil {
		return usageError{err}
	}
	given := 0
	for _, b := range []bool{o.from != "", o.caseDir != "", len(args) > 0} {
		if b {
			given++
		}
	}
	if given > 1 {
		return usagef("give one of --case DIR, audit log FILES or --from REPORT.json")
	}
	if (o.etcdSnap != "" || o.encConfig != "") && len(args) == 0 {
		return usagef("--etcd-snapshot and --encryption-config go with audit log FILES (a case holds its snapshot's analysis)")
	}
	if o.encConfig != "" && o.etcdSnap == "" {
		return usagef("--encryption-config goes with --etcd-snapshot")
	}

	var rep *report.Report
	switch {
	case o.from != "":
		if opts.HasMin || len(o.rule) > 0 || len(o.excludeRule) > 0 || o.title != "" {
			return usagef("--from re-renders a saved report as it is: --min-severity, --rule, --exclude-rule and --title apply when it is built")
		}
		f, err := os.Open(o.from)
		if err != nil {
			return usageError{err}
		}
		rep, err = report.Read(f)
		f.Close()
		if err != nil {
			return usagef("%s: %v", safeText(o.from), err)
		}
	case len(args) > 0:
		if rep, err = reportFiles(cmd, io, o, opts, args); err != nil {
			return err
		}
	default:
		dir := o.caseDir
		if dir == "" {
			dir = "./kubesleuth-case"
		}
		rules, _, err := o.detect.load(io.err)
		if err != nil {
			return usageError{err}
		}
		opts.Catalog = report.NewCatalog(rules)
		// a case tail is writing is read through tail (index.OpenReader)
		c, err := openCase(dir, index.OpenOptions{})
		if err != nil {
			return usageError{err}
		}
		defer c.Close()
		if in, err := c.Info(); err == nil && !in.Complete {
			fmt.Fprintf(io.err, "warning: case %s is incomplete (an ingest was interrupted or is still running): the report may miss its newest events\n", safeText(dir))
		}
		abs, _ := filepath.Abs(dir)
		opts.Progress = &report.Progress{}
		line := startLineProgress(io.err, opts.Progress.String)
		rep, err = report.FromCase(cmd.Context(), c, abs, opts)
		line.Stop()
		if err != nil {
			return err
		}
	}

	if err := writeReport(io, rep, o.format, o.output); err != nil {
		return err
	}
	if failing {
		for _, f := range rep.Findings {
			if f.Severity >= threshold {
				return exitError{exitFindings}
			}
		}
	}
	return nil
}

// reportFiles runs the rules over audit log files, as scan does, collecting what the
// report needs on the way.
func reportFiles(cmd *cobra.Command, io stdio, o reportOptions, opts report.Options, args []string) (*report.Report, error) {
	// the same rules and allowlists as scan's
	rules, al, err := o.detect.load(io.err)
	if err != nil {
		return nil, usageError{err}
	}
	opts.Catalog = report.NewCatalog(rules)
	eng, err := analyzer.NewEngine(rules, analyzer.Config{Allowlists: al})
	if err != nil {
		return nil, usageError{err}
	}
	var etcdRes *index.EtcdResult
	var etcdSrc *index.SourceInfo
	if o.etcdSnap != "" {
		if etcdRes, etcdSrc, err = analyseSnapshot(cmd, o.etcdSnap, o.encConfig); err != nil {
			return nil, err
		}
	}
	ropts := o.read.options(io.err, io.in)
	ropts.Digest = true // the custody: size and SHA-256 of the bytes read
	src, err := pipeline.OpenFiles(args, ropts)
	if err != nil {
		return nil, usageError{err}
	}
	r := src.Reader()
	tuneGC()
	col := report.NewCollector()
	var events atomic.Int64
	bar := startProgress(io.err, r.TotalBytes(), r.BytesRead, events.Load)
	p := &pipeline.Pipeline{Source: src, Engine: eng, Sinks: []pipeline.Sink{col},
		OnRecord: func(rec pipeline.Record) { events.Add(1); col.Record(rec) }}
	err = p.Run(cmd.Context())
	bar.Stop()
	if err != nil {
		return nil, readError(err)
	}
	sum := r.Summary()
	if sum.Events == 0 {
		return nil, noEventsError{nothingRead(sum)}
	}
	in := report.RunInput{Result: eng.Result(), Events: sum.Events, Skipped: sum.SkippedTotal(), Duplicates: sum.Duplicates}
	for i, inp := range r.Inputs() {
		s := report.Source{Path: inp.Path, AbsPath: absPath(inp.Path), Kind: "audit", Size: inp.Size}
		if d := r.Digest(i); d.OK {
			s.Size, s.SHA256 = d.Size, d.SHA256
		}
		for _, f := range sum.Files {
			if f.Path == inp.Path {
				s.Events, s.First, s.Last = f.Events, f.First, f.Last
				if f.First != nil && (in.First == nil || f.First.Before(*in.First)) {
					in.First = f.First
				}
				if f.Last != nil && (in.Last == nil || f.Last.After(*in.Last)) {
					in.Last = f.Last
				}
			}
		}
		in.Sources = append(in.Sources, s)
		if s.AbsPath != "" {
			in.Locate = append(in.Locate, inp.Path)
		}
	}
	if etcdRes != nil {
		in.Result.Findings = append(in.Result.Findings, etcdRes.Findings...)
		in.Secrets = etcdRes.Secrets
		in.Sources = append(in.Sources, report.Source{Path: etcdSrc.Path, AbsPath: etcdSrc.AbsPath, Kind: etcdSrc.Kind, Size: etcdSrc.Size, SHA256: etcdSrc.SHA256, Events: etcdSrc.Events})
	}
	return col.Report(cmd.Context(), in, opts)
}

// writeReport writes the report to standard output, or to a file made anew beside the
// target and renamed over it when complete: a report is never left half written.
func writeReport(io stdio, rep *report.Report, format, output string) error {
	if output == "-" || output == "" {
		return report.Write(io.out, rep, format)
	}
	dir := filepath.Dir(output)
	tmp, err := os.CreateTemp(dir, ".kubesleuth-report-*") // redact: report.Write writes through redact.NewWriter
	if err != nil {
		return usagef("writing the report: %v", err)
	}
	defer os.Remove(tmp.Name())
	if err := report.Write(tmp, rep, format); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", safeText(output), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", safeText(output), err)
	}
	if err := os.Rename(tmp.Name(), output); err != nil {
		return fmt.Errorf("writing %s: %w", safeText(output), err)
	}
	return nil
}

// whoami is user@host of this run, for the report's "generated by".
func whoami() string {
	name := ""
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return name + "@" + host
}

// lineProgress redraws one status line on a terminal every 200 ms, from the first second
// on (a short report shows nothing).
type lineProgress struct {
	stop chan struct{}
	done chan struct{}
}

func startLineProgress(w io.Writer, line func() string) *lineProgress {
	if !isTerminal(w) {
		return nil
	}
	p := &lineProgress{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		start := time.Now()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		drawn := false
		for {
			select {
			case <-p.stop:
				if drawn {
					fmt.Fprint(w, "\r\033[K")
					flush(w)
				}
				return
			case <-t.C:
				if time.Since(start) >= time.Second {
					fmt.Fprint(w, "\r"+line()+"\033[K")
					flush(w) // the redacting stream holds a line until its end
					drawn = true
				}
			}
		}
	}()
	return p
}

// Stop clears the line. Safe on nil.
func (p *lineProgress) Stop() {
	if p == nil {
		return
	}
	close(p.stop)
	<-p.done
}
