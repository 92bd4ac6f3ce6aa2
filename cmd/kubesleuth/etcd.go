package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/analyzer/secrets"
	"github.com/kubesleuth/kubesleuth/ingest/etcd"
)

func init() { register(newEtcdCmd) }

type etcdOptions struct {
	snapshot         string
	endpoints        []string
	cacert, cert     string
	key              string
	encryptionConfig string
	output           string
	failOn           string
	showKeys         bool
	pageSize         int64
	timeout          time.Duration
	noCarve          bool
	noHistory        bool
	tableLimit       int
}

func newEtcdCmd(io stdio) *cobra.Command {
	var o etcdOptions
	cmd := &cobra.Command{
		Use:   "etcd (--snapshot FILE | --endpoints URLS) [--encryption-config FILE]",
		Short: "Find secrets stored in the clear or under the wrong key in etcd",
		Long: `etcd reads an etcd snapshot (etcdctl snapshot save, or a member's member/snap/db) or a live
etcd, and answers: which secrets can anyone holding this data read, and is encryption at
rest really in force?

For every secret it reports the state of the latest value (plaintext, or encrypted by
which provider and key, read from the k8s:enc: prefix without any key) and how many
older plaintext revisions of it are still in etcd's history. A snapshot also shows
deleted secrets whose plaintext history remains, and remnants: revisions carved from
freed database pages that compaction removed but defragmentation has not yet erased.

With --encryption-config (the apiserver's EncryptionConfiguration), each value is also
judged against it (current write key, a stale key, a key the file no longer holds) and
decrypted with the apiserver's own transformers to prove the keys open it. KMS values
need the KMS plugin and are judged by envelope only.

ConfigMaps are checked for credential-looking values (private keys, cloud keys, tokens,
passwords), and resources the config encrypts (configmaps, custom resources) for objects
still in plaintext. Values are never printed: equality is shown by fingerprints (the
first 12 hex digits of a SHA-256), and --show-keys lists data key names only.

Exit codes: 0 no finding at or above --fail-on; 1 a finding at or above --fail-on;
2 usage error or unreadable input (not bbolt, truncated, locked, wrong TLS).`,
		Example: `  etcdctl snapshot save snap.db && kubesleuth etcd --snapshot snap.db
  kubesleuth etcd --snapshot snap.db --encryption-config /etc/kubernetes/enc.yaml -o json
  kubesleuth etcd --endpoints https://10.0.0.5:2379 --cacert /etc/kubernetes/pki/etcd/ca.crt \
    --cert /etc/kubernetes/pki/apiserver-etcd-client.crt --key /etc/kubernetes/pki/apiserver-etcd-client.key
  kubesleuth etcd --snapshot snap.db -o json | jq '.secrets[] | select(.state=="plaintext") | .key'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runEtcd(cmd, io, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.snapshot, "snapshot", "", "etcd snapshot or db file to read")
	f.StringSliceVar(&o.endpoints, "endpoints", nil, "live etcd endpoints (comma-separated URLs)")
	f.StringVar(&o.cacert, "cacert", "", "CA certificate to verify the etcd server (the apiserver's --etcd-cafile)")
	f.StringVar(&o.cert, "cert", "", "client certificate (the apiserver's --etcd-certfile)")
	f.StringVar(&o.key, "key", "", "client key (the apiserver's --etcd-keyfile)")
	f.StringVar(&o.encryptionConfig, "encryption-config", "", "the apiserver's EncryptionConfiguration file (--encryption-provider-config)")
	f.StringVarP(&o.output, "output", "o", "table", "output format: table, json or jsonl (jsonl: one finding per line)")
	f.StringVar(&o.failOn, "fail-on", "", "exit 1 when a finding is at or above this severity (info, low, medium, high, critical); default: never")
	f.BoolVar(&o.showKeys, "show-keys", false, "list each secret's data key names (never values)")
	f.Int64Var(&o.pageSize, "page-size", 500, "keys per request on a live etcd")
	f.DurationVar(&o.timeout, "timeout", 10*time.Second, "timeout for connecting and for each request on a live etcd")
	f.BoolVar(&o.noCarve, "no-carve", false, "do not carve free pages of a snapshot for remnants")
	f.BoolVar(&o.noHistory, "no-history", false, "live etcd: do not read older revisions of secrets (one request per revision)")
	f.IntVar(&o.tableLimit, "table-limit", 25, "table output: findings shown per rule (0: all)")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"table", "json", "jsonl"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("fail-on", cobra.FixedCompletions(severityNames(), cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func runEtcd(cmd *cobra.Command, io stdio, o etcdOptions) error {
	if err := checkOutput(o.output, "table", "json", "jsonl"); err != nil {
		return err
	}
	threshold, failing, err := failThreshold(o.failOn)
	if err != nil {
		return err
	}
	switch {
	case o.snapshot == "" && len(o.endpoints) == 0:
		return usagef("give --snapshot FILE or --endpoints URLS")
	case o.snapshot != "" && len(o.endpoints) > 0:
		return usagef("give --snapshot or --endpoints, not both")
	case o.snapshot != "" && (o.cacert != "" || o.cert != "" || o.key != ""):
		return usagef("--cacert, --cert and --key are for --endpoints")
	}
	// Failed decryptions and the config loader log through klog; the report says it all.
	klog.SetLogger(logr.Discard())
	ctx := cmd.Context()
	start := time.Now()
	var cfg *secrets.Config
	if o.encryptionConfig != "" {
		if cfg, err = secrets.LoadConfig(ctx, o.encryptionConfig); err != nil {
			return usageError{err}
		}
	}
	a := secrets.New(ctx, secrets.Options{Config: cfg, ShowKeys: o.showKeys})
	var source, hash string
	var carve *etcd.CarveStats
	if o.snapshot != "" {
		s, err := etcd.OpenSnapshot(o.snapshot)
		if err != nil {
			return usageError{err}
		}
		defer s.Close()
		source = o.snapshot
		hashDone := make(chan struct{})
		var hashErr error
		go func() { hash, hashErr = s.HashState(); close(hashDone) }()
		if err := s.Each(ctx, func(r etcd.Record) error { a.Observe(r); return nil }); err != nil {
			return inputError(ctx, err)
		}
		if !o.noCarve {
			st, err := s.Remnants(ctx, "/registry/secrets/", func(r etcd.Record) error { a.ObserveRemnant(r); return nil })
			if err != nil {
				fmt.Fprintf(io.err, "kubesleuth: carving free pages: %v\n", err)
			} else {
				carve = &st
			}
		}
		<-hashDone
		s.Close() // unmap before building the report: peak memory is what a big snapshot costs
		if hashErr != nil {
			return usageError{hashErr}
		}
		a.SetSnapshotHash(hash)
	} else {
		history := secrets.WantsHistory
		if o.noHistory {
			history = nil
		}
		l, err := etcd.DialLive(ctx, etcd.LiveOptions{Endpoints: o.endpoints, CACert: o.cacert, Cert: o.cert, Key: o.key,
			PageSize: o.pageSize, Timeout: o.timeout, History: history})
		if err != nil {
			return usageError{err}
		}
		defer l.Close()
		source = strings.Join(o.endpoints, ",")
		if err := l.Each(ctx, etcd.KeyPrefix, func(r etcd.Record) error { a.Observe(r); return nil }); err != nil {
			return inputError(ctx, err)
		}
	}
	rep := a.Result()
	rep.Summary.Source, rep.Summary.SnapshotSHA256, rep.Summary.Carve = source, hash, carve
	rep.Summary.Elapsed = time.Since(start).Round(time.Millisecond).String()

	switch o.output {
	case "json":
		if err := writeEtcdJSON(io.out, rep); err != nil {
			return err
		}
	case "jsonl":
		enc := json.NewEncoder(io.out)
		for _, f := range rep.Findings {
			if err := enc.Encode(f); err != nil {
				return err
			}
		}
		printEtcdSummary(io.err, rep.Summary)
	default:
		if o.showKeys {
			printEtcdSecrets(io.out, rep.Secrets)
		}
		printEtcdFindings(io.out, rep.Findings, o.tableLimit)
		printEtcdSummary(io.out, rep.Summary)
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

// inputError makes a read error exit 2, unless the run was interrupted (exit 130).
func inputError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return usageError{err}
}

// writeEtcdJSON writes the report as one indented JSON document, element by element:
// encoding it whole would hold the entire text (hundreds of MB for a large cluster) in
// memory twice over.
func writeEtcdJSON(w io.Writer, rep secrets.Report) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	put := func(v any, indent string) error {
		b, err := json.MarshalIndent(v, indent, "  ")
		if err != nil {
			return err
		}
		_, err = bw.Write(b)
		return err
	}
	list := func(name string, n int, at func(i int) any, last bool) error {
		fmt.Fprintf(bw, "  %q: [", name)
		for i := 0; i < n; i++ {
			if i > 0 {
				bw.WriteString(",")
			}
			bw.WriteString("\n    ")
			if err := put(at(i), "    "); err != nil {
				return err
			}
		}
		if n > 0 {
			bw.WriteString("\n  ")
		}
		bw.WriteString("]")
		if !last {
			bw.WriteString(",")
		}
		bw.WriteString("\n")
		return nil
	}
	bw.WriteString("{\n  \"summary\": ")
	if err := put(rep.Summary, "  "); err != nil {
		return err
	}
	bw.WriteString(",\n")
	if err := list("secrets", len(rep.Secrets), func(i int) any { return rep.Secrets[i] }, false); err != nil {
		return err
	}
	if err := list("remnants", len(rep.Remnants), func(i int) any { return rep.Remnants[i] }, false); err != nil {
		return err
	}
	if err := list("findings", len(rep.Findings), func(i int) any { return rep.Findings[i] }, true); err != nil {
		return err
	}
	bw.WriteString("}\n")
	return bw.Flush()
}

func printEtcdSecrets(w io.Writer, ss []secrets.Secret) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tTYPE\tREV\tSTATE\tPROVIDER\tKEY NAME\tOLD PLAINTEXT\tDATA KEYS")
	for _, s := range ss {
		state := s.State
		if s.Deleted {
			state = "deleted"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%d\t%s\n", s.Key, dash(s.Type), s.Revision, state, dash(s.Provider), dash(s.KeyName),
			s.OldPlaintextRevisions, dash(strings.Join(s.DataKeys, ",")))
	}
	tw.Flush()
	fmt.Fprintln(w)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// printEtcdFindings shows at most limit findings per rule: a snapshot of a large cluster
// can have a finding per secret, and -o json has them all.
func printEtcdFindings(w io.Writer, fs []analyzer.Finding, limit int) {
	if len(fs) == 0 {
		fmt.Fprintln(w, "No findings.")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEVERITY\tRULE\tTITLE\tSUBJECT\tCOUNT")
	shown, hidden := map[string]int{}, map[string]int{}
	for _, f := range fs {
		if limit > 0 && shown[f.RuleID] >= limit {
			hidden[f.RuleID]++
			continue
		}
		shown[f.RuleID]++
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", strings.ToUpper(f.Severity.String()), f.RuleID, clip(f.Title, 60), clip(f.Subject.String(), 70), f.Count)
	}
	tw.Flush()
	var ids []string
	for id := range hidden {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		fmt.Fprintf(w, "… and %d more %s findings (-o json lists all)\n", hidden[id], id)
	}
}

func printEtcdSummary(w io.Writer, s secrets.Summary) {
	fmt.Fprintf(w, "\nRead %d revisions from %s in %s", s.Revisions, s.Source, s.Elapsed)
	if s.SnapshotSHA256 != "" {
		fmt.Fprintf(w, " (snapshot checksum: %s)", s.SnapshotSHA256)
	}
	fmt.Fprintln(w, ".")
	if s.EncryptionConfig != "" {
		fmt.Fprintf(w, "Judged against %s.\n", s.EncryptionConfig)
	}
	fmt.Fprintf(w, "Secrets: %d (%d plaintext, %d encrypted, %d undecodable); %d deleted with history left; %d older plaintext revisions; %d remnants carved.\n",
		s.Secrets, s.ByState[secrets.StatePlaintext], s.ByState[secrets.StateEncrypted], s.ByState[secrets.StateUndecodable],
		s.DeletedSecrets, s.OldPlaintextRevisions, s.Remnants)
	if len(s.ByKeyStatus) > 0 {
		fmt.Fprintf(w, "Against the config: %d as it writes now, %d as it wrote before (an older key, or plaintext), %d under a key it does not hold.\n",
			s.ByKeyStatus["current"], s.ByKeyStatus["stale"], s.ByKeyStatus["absent"])
	}
	fmt.Fprintln(w)
	printCounts(w, "NAMESPACE", s.ByNamespace, 15)
	printCounts(w, "TYPE", s.ByType, 15)
	if len(s.ByProvider) > 0 {
		var ps []string
		for p := range s.ByProvider {
			ps = append(ps, p)
		}
		sort.Strings(ps)
		fmt.Fprint(w, "By provider:")
		for _, p := range ps {
			if p == "" {
				continue
			}
			fmt.Fprintf(w, " %s=%d", p, s.ByProvider[p])
		}
		fmt.Fprintln(w)
	}
	if s.Undecodable > 0 {
		fmt.Fprintf(w, "%d values could not be decoded:\n", s.Undecodable)
		for i, u := range s.UndecodableValues {
			if i == 20 {
				fmt.Fprintf(w, "  … and %d more (-o json lists all)\n", s.Undecodable-20)
				break
			}
			fmt.Fprintf(w, "  %s (revision %d): %s\n", u.Key, u.Revision, u.Error)
		}
	}
}

func printCounts(w io.Writer, title string, m map[string]*secrets.StateCounts, limit int) {
	if len(m) == 0 {
		return
	}
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		if m[names[i]].Total != m[names[j]].Total {
			return m[names[i]].Total > m[names[j]].Total
		}
		return names[i] < names[j]
	})
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "%s\tSECRETS\tPLAINTEXT\tENCRYPTED\t\n", title)
	for i, n := range names {
		if i == limit {
			fmt.Fprintf(tw, "(%d more)\t\t\t\t\n", len(names)-limit)
			break
		}
		c := m[n]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t\n", n, c.Total, c.Plaintext, c.Encrypted)
	}
	tw.Flush()
	fmt.Fprintln(w)
}
