package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/index"
	"github.com/kubesleuth/kubesleuth/ingest/audit"
	"github.com/kubesleuth/kubesleuth/pipeline"
)

func init() { register(newTailCmd) }

type tailOptions struct {
	read      readFlags
	caseDir   string
	store     string
	state     string
	alerts    []string
	fromStart bool
	rules     []string
	noBuiltin bool
	allowlist string
	poll      time.Duration
	group     time.Duration
}

const defaultTailState = "./kubesleuth-tail.state"

func newTailCmd(io stdio) *cobra.Command {
	var o tailOptions
	cmd := &cobra.Command{
		Use:   "tail FILE|DIR [--case DIR] [--state FILE] [--alert SINK]... [--from-start]",
		Short: "Follow a live audit log: findings as they happen, across rotation and restarts",
		Long: `tail follows a kube-apiserver audit log like tail -F and runs the detection engine on
every event as it is written (the same rules, stateful detectors and redaction as scan).
It follows the apiserver's own rotation (audit.log renamed to audit-<time>.log),
logrotate's rename and copytruncate, the gzip of a rotated file, a file that appears
later, and a writer faster than the reader. Given a folder, it follows the newest file
in it that is not a rotated backup.

Each finding is alerted once when it opens; its repeats on the same subject are grouped
into one "repeat" alert at most every --group (and when the finding closes or tail stops)
with the count, instead of a line per event.

The checkpoint (--state: the file's device, inode, offset and a fingerprint of its first
bytes, the detectors' state and each alert file's length) is written atomically after
batches, so that a restart, after SIGKILL too, resumes with no event lost and no alert
written twice to an alert file (a stream such as stdout may repeat the alerts of the last
second before a kill). The first run without a state starts at the end of the log (like
tail); --from-start reads it (and a folder's rotated files) from the beginning.

--alert SINK adds an output; SINK is KIND[=TARGET][,min=SEVERITY]:
  line            one human line per finding (time, severity, rule, subject, message)
  jsonl           the finding's JSON (audit_ids included) with "alert": "new"|"repeat"
  KIND=FILE       to FILE (appended, 0600, cut back to its checkpoint on restart)
  min=SEVERITY    only findings at or above it (info, low, medium, high, critical)
Without an --alert to standard output, human lines go to standard output. More kinds
(falco, webhook=URL) come with kubesleuth serve.

With --case, events are also stored into the case folder (as ingest does), committed
at every checkpoint, and the findings are recorded there when tail stops. While tail
runs it holds the case's store: kubesleuth search and investigate on that case wait
until it stops (reading a case while tail writes it is not built yet). SIGINT and SIGTERM flush the alerts, write
the checkpoint, finish the case, and exit 130 or 143.

Exit codes: 2 usage error (bad flags, a state file that does not decode); 4 kubesleuth
failed (writing an alert, the state or the case); 130 interrupted (SIGINT), 143 (SIGTERM).`,
		Example: `  kubesleuth tail /var/log/kubernetes/audit/audit.log
  kubesleuth tail /var/log/kubernetes/audit/ --state /var/lib/kubesleuth/tail.state \
      --alert jsonl=/var/log/kubesleuth/alerts.jsonl --alert line,min=high
  kubesleuth tail audit.log --from-start --case ./incident-42`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTail(cmd, io, o, args[0])
		},
	}
	fs := cmd.Flags()
	o.read.register(fs)
	// a live log is followed past bad input, never stopped at it
	_ = fs.MarkHidden("strict")
	fs.StringVar(&o.caseDir, "case", "", "also store the events into this case folder (created when missing)")
	fs.StringVar(&o.store, "store", "", "with --case: "+storeFlagHelp)
	fs.StringVar(&o.state, "state", defaultTailState, "checkpoint file (written atomically; resumed from on restart)")
	fs.StringArrayVar(&o.alerts, "alert", nil, "alert sink KIND[=FILE][,min=SEVERITY] (repeatable; see above)")
	fs.BoolVar(&o.fromStart, "from-start", false, "first run without a state: read the log from its beginning, not its end")
	fs.StringArrayVar(&o.rules, "rules", nil, "additional rule file or folder (repeatable)")
	fs.BoolVar(&o.noBuiltin, "no-builtin-rules", false, "run only the rules given with --rules")
	fs.StringVar(&o.allowlist, "allowlist", "", "allowlist file added to the defaults")
	fs.DurationVar(&o.poll, "poll", 100*time.Millisecond, "how often a quiet log is looked at again")
	fs.DurationVar(&o.group, "group", 10*time.Second, "write a finding's grouped repeats at most this often")
	return cmd
}

// alertSpec is one parsed --alert.
type alertSpec struct {
	kind, target string
	min          analyzer.Severity
}

// parseAlert parses KIND[=TARGET][,key=value]...: the syntax serve's sinks extend
// (falco, webhook=URL) without a new flag.
func parseAlert(s string) (alertSpec, error) {
	parts := strings.Split(s, ",")
	var a alertSpec
	a.kind, a.target, _ = strings.Cut(parts[0], "=")
	switch a.kind {
	case "line", "jsonl":
	case "falco", "webhook":
		return a, usagef("--alert %s: not available in tail yet (it comes with kubesleuth serve)", a.kind)
	default:
		return a, usagef("--alert %q: unknown kind (want line or jsonl, optionally =FILE and ,min=SEVERITY)", parts[0])
	}
	for _, p := range parts[1:] {
		k, v, _ := strings.Cut(p, "=")
		switch k {
		case "min":
			sev, err := analyzer.ParseSeverity(v)
			if err != nil {
				return a, usagef("--alert %s: %v", parts[0], err)
			}
			a.min = sev
		default:
			return a, usagef("--alert %s: unknown option %q (want min=SEVERITY)", parts[0], k)
		}
	}
	return a, nil
}

func runTail(cmd *cobra.Command, io stdio, o tailOptions, path string) error {
	var specs []alertSpec
	toStdout := false
	for _, s := range o.alerts {
		a, err := parseAlert(s)
		if err != nil {
			return err
		}
		specs = append(specs, a)
		toStdout = toStdout || a.target == ""
	}
	if !toStdout {
		specs = append([]alertSpec{{kind: "line"}}, specs...)
	}
	if _, err := os.Stat(path); err != nil && !os.IsNotExist(err) {
		return usageError{err}
	}
	eng, _, err := buildEngine(o.rules, o.noBuiltin, o.allowlist)
	if err != nil {
		return usageError{err}
	}
	tuneIngestGC()

	var sinks []pipeline.NamedSink
	defer func() {
		for _, ns := range sinks {
			if a, ok := ns.Sink.(*pipeline.Alerts); ok && a.Name != "stdout" {
				a.Close()
			}
		}
	}()
	for i, a := range specs {
		format := pipeline.FormatLine
		if a.kind == "jsonl" {
			format = pipeline.FormatJSONL
		}
		var s *pipeline.Alerts
		if a.target == "" {
			s = pipeline.NewAlerts("stdout", io.out, format, a.min)
		} else if s, err = pipeline.OpenAlertFile(a.target, format, a.min); err != nil {
			return err
		}
		s.GroupEvery = o.group
		sinks = append(sinks, pipeline.NamedSink{Name: fmt.Sprintf("alert%d:%s", i, a.kind+"="+a.target), Sink: s})
	}

	ropts := o.read.options(io.err, nil)
	follow := &pipeline.Follow{Path: path, FromStart: o.fromStart, Poll: o.poll, Opts: ropts,
		OnNote: func(msg string) { fmt.Fprintf(io.err, "kubesleuth tail: %s\n", msg) }}
	live := &pipeline.Live{Follow: follow, Engine: eng, Sinks: sinks, StatePath: o.state}

	var w *index.Writer
	var found *pipeline.Findings
	finishStore := func() error { return nil }
	if o.store != "" && o.caseDir == "" {
		return usagef("--store goes with --case (the case folder records the store)")
	}
	if o.caseDir != "" {
		if err := checkStoreFlag(o.caseDir, o.store); err != nil {
			return err
		}
		if w, err = index.Create(o.caseDir, version); err != nil {
			return err
		}
		defer w.Close()
		// rows a killed tail stored after its last commit are read again from the
		// checkpoint: drop them, so that they are stored (and grouped) once
		if _, err := w.DropUncommitted(); err != nil {
			return err
		}
		// the case is finished after a signal too: its flushes must not stop at it
		w.SetContext(context.WithoutCancel(cmd.Context()))
		have, err := w.Findings()
		if err != nil {
			return err
		}
		found = pipeline.NewFindings(have)
		live.Sinks = append(live.Sinks, pipeline.NamedSink{Name: "case-findings", Sink: found})
		es, fin, err := caseStore(context.WithoutCancel(cmd.Context()), w, o.store, o.caseDir, true)
		if err != nil {
			return err
		}
		finishStore = fin
		live.Store = pipeline.NewStore(es)
		live.Store.ObserveStored = true
		live.Store.OnBadEvent = func(_ pipeline.Record, e *audit.InputError) error {
			if ropts.OnError != nil {
				ropts.OnError(e)
			}
			return nil
		}
	}
	err = live.Run(cmd.Context())
	if w != nil && (err == nil || cmd.Context().Err() != nil) {
		if ferr := finishStore(); ferr != nil {
			return ferr
		}
		if ferr := finishTailCase(w, eng, found, live.Store, path); ferr != nil {
			return ferr
		}
	}
	var se *pipeline.StateError
	if errors.As(err, &se) {
		return usageError{err}
	}
	return readError(err)
}

// finishTailCase records the findings, the engine's state and the followed log in the
// case and seals it.
func finishTailCase(w *index.Writer, eng *analyzer.Engine, found *pipeline.Findings, st *pipeline.Store, path string) error {
	state, err := eng.SaveState()
	if err != nil {
		return fmt.Errorf("saving the detectors' state: %w", err)
	}
	now := time.Now().UTC()
	var sources []index.SourceInfo
	for file, n := range st.Added {
		sources = append(sources, index.SourceInfo{Path: file, Kind: "audit-tail", Events: n, Read: n, IngestedAt: now, ToolVersion: version})
	}
	if len(sources) == 0 {
		sources = append(sources, index.SourceInfo{Path: path, Kind: "audit-tail", IngestedAt: now, ToolVersion: version})
	}
	return w.Finish(found.All(), state, nil, sources)
}
