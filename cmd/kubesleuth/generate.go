package main

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
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
		omit    []string
		idents  int
		unique  []string
		apis    int
		bodies  float64
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
secret data on purpose, for testing redaction and leak detection. The values are random.

Shapes of log. By default the log is a self-managed cluster's: every stage logged (half
the lines are RequestReceived), one apiserver, ` + strconv.Itoa(generate.BaseIdentities(1)) + ` identities sending everything, ~92% of
requests at Request or RequestResponse. Real logs differ, and a benchmark or test on one
shape proves little. These flags reshape it (attacks and labels stay valid with each):

  --omit-stages RequestReceived   a managed cluster's log (GKE and EKS do not log that
                                  stage): every line is one a detector must evaluate.
                                  ResponseStarted can be omitted too; then failed
                                  authentications (logged only at that stage) vanish.
  --identities N                  N distinct user names send the traffic: the cluster's
                                  own plus a population of nodes, workload service
                                  accounts, people and CI jobs, a few busy and a long tail.
                                  Fast and light at 100,000 or more.
  --unique user,source-ip,user-agent,name
                                  every request of the noise gets a fresh value of each
                                  field: a cardinality stress test (with --omit-stages
                                  RequestReceived, N events carry about N distinct users).
  --apiservers K                  an HA control plane: each client sticks to one of K
                                  apiservers, each with its own clock skew (±5 ms) and
                                  identity lease; their logs merged as a log shipper does,
                                  in blocks of about a second: rough, not strict, time order.
  --bodies FRACTION               the share of requests at Request/RequestResponse
                                  (0: Metadata only, no bodies; 1: every request).

--unique and --bodies reshape the noise only: attack requests keep their identities,
names and levels, so the detections that need them still fire.`,
		Example: `  # one million events (~1.4 GB, ~2 s; gzip takes longer), gzip-compressed
  kubesleuth generate --events 1000000 -o audit.log.gz

  # a small log with attacks, and the answer key
  kubesleuth generate --events 20000 --attacks --labels labels.jsonl -o audit.log

  # a managed (GKE/EKS-like) HA cluster: no RequestReceived, 500 identities, 3 apiservers
  kubesleuth generate --events 1000000 --attacks --omit-stages RequestReceived \
    --identities 500 --apiservers 3 -o managed.log

  # a large cluster: 100,000 distinct identities
  kubesleuth generate --events 1000000 --identities 100000 -o big.log

  # cardinality stress: 300,000 events, each request from a new user
  kubesleuth generate --events 300000 --omit-stages RequestReceived --unique user -o users.log

  # a Metadata-only audit policy
  kubesleuth generate --events 100000 --bodies 0 -o metadata.log`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if events <= 0 {
				return usagef("--events must be positive, got %d", events)
			}
			if attacks && events < generate.MinEventsWithAttacks {
				return usagef("--attacks needs --events of at least %d, got %d", generate.MinEventsWithAttacks, events)
			}
			opts := generate.Options{Events: events, Seed: seed, Attacks: attacks,
				OmitStages: omit, Identities: idents, Unique: unique, APIServers: apis}
			if cmd.Flags().Changed("bodies") {
				opts.Bodies = &bodies
			}
			if apis < 1 {
				return usagef("--apiservers must be between 1 and %d, got %d", generate.MaxAPIServers, apis)
			}
			if cmd.Flags().Changed("identities") && idents == 0 {
				return usagef("--identities must be at least %d, got 0", generate.BaseIdentities(apis))
			}
			if err := opts.Validate(); err != nil {
				return usagef("%s", flagMessage(err))
			}
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
	f.StringSliceVar(&omit, "omit-stages", nil, "stages not logged, comma-separated: "+strings.Join(generate.OmittableStages, ",")+" (managed clusters omit RequestReceived)")
	f.IntVar(&idents, "identities", 0, fmt.Sprintf("distinct user names sending the traffic, at least the cluster's own (default %d; one more per extra apiserver)", generate.BaseIdentities(1)))
	f.StringSliceVar(&unique, "unique", nil, "fields every request of the noise gets a fresh value of, comma-separated: "+strings.Join(generate.UniqueFields, ","))
	f.IntVar(&apis, "apiservers", 1, fmt.Sprintf("apiservers of an HA control plane whose logs are merged (1-%d)", generate.MaxAPIServers))
	f.Float64Var(&bodies, "bodies", 0, "share (0-1) of requests logged at Request/RequestResponse (default: the simulated policy's, ~0.92)")
	for _, sub := range generateSubcommands {
		cmd.AddCommand(sub(io))
	}
	return cmd
}

func runGenerate(ctx context.Context, std stdio, opts generate.Options, output, labels string) (err error) {
	// redact: generated test data, whose fake secrets are the point (redaction tests);
	// through the redacting stdout a generated log would lose them and run 20x slower
	var w io.Writer = terminalOf(std.out)
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
	if st.Unique > 0 {
		fmt.Fprintf(std.err, "fresh values for %d requests (--unique)\n", st.Unique)
	}
	if len(st.APIServers) > 1 {
		var parts []string
		for i, n := range st.APIServers {
			parts = append(parts, fmt.Sprintf("%d=%d", i+1, n))
		}
		fmt.Fprintf(std.err, "events per apiserver: %s\n", strings.Join(parts, " "))
	}
	if len(st.SecretValues) > 0 {
		fmt.Fprintf(std.err, "the log discloses %d secret values (Secrets logged at RequestResponse)\n", len(st.SecretValues))
	}
	return nil
}

// flagMessage turns an error of generate.Options.Validate into one that names the flag.
func flagMessage(err error) string {
	msg := strings.TrimPrefix(err.Error(), "generate: ")
	for _, p := range []struct{ prefix, flag string }{
		{"identities ", "--"}, {"apiservers ", "--"}, {"bodies ", "--"},
		{"cannot omit stage", "--omit-stages: "}, {"unknown unique field", "--unique: "},
	} {
		if strings.HasPrefix(msg, p.prefix) {
			return p.flag + msg
		}
	}
	return msg
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
