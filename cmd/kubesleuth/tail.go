package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
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
	detect    detectFlags
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
` + alertHelp + `

With --case, events are also stored into the case folder (as ingest does) and committed
with the findings so far at every checkpoint (about every second); the case is sealed
when tail stops. While tail runs, kubesleuth search, investigate (--follow: new events
and findings as they arrive) and case info on that case are answered by tail itself,
through a socket in the case folder (live.sock), with events at most a checkpoint old.
SIGINT and SIGTERM flush the alerts, write the checkpoint, finish the case, and exit 130
or 143.

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
	o.detect.register(fs)
	fs.DurationVar(&o.poll, "poll", 100*time.Millisecond, "how often a quiet log is looked at again")
	fs.DurationVar(&o.group, "group", 10*time.Second, "write a finding's grouped repeats at most this often")
	return cmd
}

func runTail(cmd *cobra.Command, io stdio, o tailOptions, path string) error {
	sinks, closeSinks, err := openAlertSinks(io, o.alerts, o.group, "tail")
	if err != nil {
		return err
	}
	defer closeSinks()
	if _, err := os.Stat(path); err != nil && !os.IsNotExist(err) {
		return usageError{err}
	}
	eng, _, err := o.detect.engine(io.err)
	if err != nil {
		return usageError{err}
	}
	tuneIngestGC()

	ropts := o.read.options(io.err, nil)
	follow := &pipeline.Follow{Path: path, FromStart: o.fromStart, Poll: o.poll, Opts: ropts,
		OnNote: func(msg string) { fmt.Fprintf(io.err, "kubesleuth tail: %s\n", msg) }}
	live := &pipeline.Live{Follow: follow, Engine: eng, Sinks: sinks, StatePath: o.state}

	w, found, finishStore, err := attachCase(cmd, io.err, live, o.caseDir, o.store, ropts)
	if err != nil {
		return err
	}
	if w != nil {
		defer w.Close()
	}
	err = live.Run(cmd.Context())
	if w != nil && (err == nil || cmd.Context().Err() != nil) {
		if ferr := finishStore(); ferr != nil {
			return ferr
		}
		if ferr := finishLiveCase(w, eng, found, live.Store, path, "audit-tail"); ferr != nil {
			return ferr
		}
	}
	var se *pipeline.StateError
	if errors.As(err, &se) {
		return usageError{err}
	}
	return readError(err)
}

// finishLiveCase records the findings, the engine's state and the followed log in the
// case and seals it.
func finishLiveCase(w *index.Writer, eng *analyzer.Engine, found *pipeline.Findings, st *pipeline.Store, path, kind string) error {
	state, err := eng.SaveState()
	if err != nil {
		return fmt.Errorf("saving the detectors' state: %w", err)
	}
	now := time.Now().UTC()
	var sources []index.SourceInfo
	for file, n := range st.Added {
		sources = append(sources, index.SourceInfo{Path: file, Kind: kind, Events: n, Read: n, IngestedAt: now, ToolVersion: version})
	}
	if len(sources) == 0 {
		sources = append(sources, index.SourceInfo{Path: path, Kind: kind, IngestedAt: now, ToolVersion: version})
	}
	return w.Finish(found.All(), state, nil, sources)
}

// attachCase opens (or creates) the case a live command stores into, drops the rows a
// killed run stored after its last commit (they are read again from the checkpoint),
// and adds the store and the findings sink to live. Without caseDir it does nothing.
//
// store is --store (a VictoriaLogs URL, or "" for the case's own); finish sends what is
// batched to it and checks that it kept every event (caseStore), before the case is
// finished.
func attachCase(cmd *cobra.Command, errw io.Writer, live *pipeline.Live, caseDir, store string, ropts audit.Options) (w *index.Writer, found *pipeline.Findings, finish func() error, err error) {
	finish = func() error { return nil }
	if caseDir == "" {
		if store != "" {
			return nil, nil, nil, usagef("--store goes with --case (the case folder records the store)")
		}
		return nil, nil, finish, nil
	}
	if err := checkStoreFlag(caseDir, store); err != nil {
		return nil, nil, nil, err
	}
	if w, err = index.Create(caseDir, version); err != nil {
		return nil, nil, nil, err
	}
	fail := func(err error) (*index.Writer, *pipeline.Findings, func() error, error) {
		w.Close()
		return nil, nil, nil, err
	}
	// rows a killed run stored after its last commit are read again from the
	// checkpoint: drop them, so that they are stored (and grouped) once
	if _, err := w.DropUncommitted(); err != nil {
		return fail(err)
	}
	// the case is finished after a signal too: its flushes must not stop at it
	w.SetContext(context.WithoutCancel(cmd.Context()))
	have, err := w.Findings()
	if err != nil {
		return fail(err)
	}
	es, fin, err := caseStore(context.WithoutCancel(cmd.Context()), w, store, caseDir, true)
	if err != nil {
		return fail(err)
	}
	finish = fin
	if es == index.EventStore(w) {
		// readers of the case (search, investigate --follow) are answered by this
		// process while it holds the store; without the socket they wait as for an
		// ingest. A case kept in VictoriaLogs is not served: its events are there.
		if err := w.ServeReads(); err != nil {
			fmt.Fprintf(errw, "kubesleuth %s: %v (search and investigate on the case wait until it stops)\n", cmd.Name(), err)
		}
	}
	found = pipeline.NewFindings(have)
	found.Meta = w
	live.Sinks = append(live.Sinks, pipeline.NamedSink{Name: "case-findings", Sink: found})
	live.Store = pipeline.NewStore(es)
	live.Store.ObserveStored = true
	live.Store.OnBadEvent = func(_ pipeline.Record, e *audit.InputError) error {
		if ropts.OnError != nil {
			ropts.OnError(e)
		}
		return nil
	}
	return w, found, finish, nil
}
