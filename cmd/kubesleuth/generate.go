package main

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kubesleuth/kubesleuth/internal/generate"
)

func init() { register(newGenerateCmd) }

// generateSubcommands holds the constructors of `kubesleuth generate <kind>` commands
// (e.g. the etcd snapshot generator), registered from their own files in init().
var generateSubcommands []func(stdio) *cobra.Command

func newGenerateCmd(io stdio) *cobra.Command {
	var (
		events  int
		seed    uint64
		attacks bool
		labels  string
		start   string
		output  string
	)
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Write a realistic kube-apiserver audit log, optionally with injected attacks",
		Long: `generate writes audit.k8s.io/v1 events as JSON lines, shaped exactly like kube-apiserver's
log backend output: control-plane noise (node leases, status patches, leader election,
controllers, long-running watches), people using kubectl and a CI service account
deploying, at the levels a GKE-like audit policy gives them.

The output depends only on the flags: the same --seed and --start give the same bytes.
With --attacks, attack scenarios are injected at fixed points and --labels names each
attack event (auditID, stage, scenario) so detections can be scored. Scenarios:
` + wrapList(generate.Scenarios(), 88) + `

Secret values: the simulated policy logs some Secrets at RequestResponse, so the log holds
secret data on purpose, for testing redaction and leak detection. The values are random.`,
		Example: `  # one million events (~1.4 GB, ~2 s; gzip takes longer), gzip-compressed
  kubesleuth generate --events 1000000 -o audit.log.gz

  # a small log with attacks, and the answer key
  kubesleuth generate --events 20000 --attacks --labels labels.jsonl -o audit.log`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if events <= 0 {
				return usagef("--events must be positive, got %d", events)
			}
			if attacks && events < generate.MinEventsWithAttacks {
				return usagef("--attacks needs --events of at least %d, got %d", generate.MinEventsWithAttacks, events)
			}
			opts := generate.Options{Events: events, Seed: seed, Attacks: attacks}
			if start != "" {
				t, err := time.Parse(time.RFC3339Nano, start)
				if err != nil {
					return usagef("--start: want an RFC 3339 time like 2026-03-02T08:00:00Z: %v", err)
				}
				opts.Start = t
			}
			if labels != "" && !attacks {
				return usagef("--labels needs --attacks")
			}
			return runGenerate(cmd.Context(), io, opts, output, labels)
		},
	}
	f := cmd.Flags()
	f.IntVar(&events, "events", 100000, "number of audit events (lines) to write")
	f.Uint64Var(&seed, "seed", 1, "random seed; the same seed gives the same output")
	f.BoolVar(&attacks, "attacks", false, "inject the attack scenarios")
	f.StringVar(&labels, "labels", "", "write the attack labels (JSON lines: auditID, stage, scenario) to this file")
	f.StringVar(&start, "start", "", "time of the first request, RFC 3339 (default "+generate.DefaultStart.Format(time.RFC3339)+")")
	f.StringVarP(&output, "output", "o", "-", "output file; - is standard output; a .gz name is gzip-compressed")
	for _, sub := range generateSubcommands {
		cmd.AddCommand(sub(io))
	}
	return cmd
}

func runGenerate(ctx context.Context, std stdio, opts generate.Options, output, labels string) (err error) {
	var w io.Writer = std.out
	if output != "-" {
		// redact: generated test data; its secrets are random and deliberate (redaction tests)
		f, err := os.OpenFile(output, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return usagef("creating %s: %w", output, err)
		}
		defer func() {
			if cerr := f.Close(); err == nil && cerr != nil {
				err = fmt.Errorf("closing %s: %w", output, cerr)
			}
		}()
		w = f
		if strings.HasSuffix(output, ".gz") {
			zw, _ := gzip.NewWriterLevel(f, gzip.BestSpeed)
			defer func() {
				if cerr := zw.Close(); err == nil && cerr != nil {
					err = fmt.Errorf("compressing %s: %w", output, cerr)
				}
			}()
			w = zw
		}
	}
	if labels != "" {
		// redact: the labels of the generated attacks (auditIDs, rule IDs)
		lf, err := os.OpenFile(labels, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return usagef("creating %s: %w", labels, err)
		}
		defer func() {
			if cerr := lf.Close(); err == nil && cerr != nil {
				err = fmt.Errorf("closing %s: %w", labels, cerr)
			}
		}()
		opts.Labels = lf
	}
	began := time.Now()
	// The generator writes through a 1 MiB buffer: checking the context on each flush
	// stops a long run within milliseconds of Ctrl-C.
	st, err := generate.Audit(ctxWriter{ctx, w}, opts)
	if err != nil {
		return err
	}
	took := time.Since(began)
	// The summary goes to stderr so that stdout stays a clean audit log.
	fmt.Fprintf(std.err, "wrote %d events (%d requests, %.1f MB, %.0f B/event) spanning %s .. %s in %s (%.0f events/s)\n",
		st.Events, st.Requests, float64(st.Bytes)/1e6, float64(st.Bytes)/float64(max(1, st.Events)),
		st.First.Format(time.RFC3339), st.Last.Format(time.RFC3339), took.Round(time.Millisecond), float64(st.Events)/took.Seconds())
	if opts.Attacks {
		names := generate.Scenarios()
		slices.Sort(names)
		var parts []string
		for _, n := range names {
			parts = append(parts, fmt.Sprintf("%s=%d", n, st.Scenarios[n]))
		}
		fmt.Fprintf(std.err, "attack events: %s\n", strings.Join(parts, " "))
	}
	if len(st.SecretValues) > 0 {
		fmt.Fprintf(std.err, "the log discloses %d secret values (Secrets logged at RequestResponse)\n", len(st.SecretValues))
	}
	return nil
}

// ctxWriter fails writes once its context is cancelled.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// wrapList joins names with commas into lines of at most width columns, indented by two.
func wrapList(names []string, width int) string {
	var b strings.Builder
	line := 0
	for i, n := range names {
		if i > 0 {
			b.WriteString(",")
			line++
		}
		if line+len(n)+1 > width {
			b.WriteString("\n")
			line = 0
		}
		if line == 0 {
			b.WriteString("  ")
			line = 2
		} else {
			b.WriteString(" ")
			line++
		}
		b.WriteString(n)
		line += len(n)
	}
	return b.String()
}
