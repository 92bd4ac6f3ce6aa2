// Command record runs the scenarios against real control planes and writes the fixtures
// of testdata/realapiserver (`make record-apiserver`): one cluster with PolicyDefault for
// benign.jsonl and attacks.jsonl, one with PolicyNoRequestReceived and one with
// PolicyMetadata for a subset of the scenarios, one whose nodes answer exec, attach,
// port-forward and logs (the kubelet stand-in) for the streaming scenarios, and
// labels.jsonl naming the events of every scenario run.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/kubesleuth/kubesleuth/internal/realcluster"
)

func main() {
	out := flag.String("out", "testdata/realapiserver", "folder for the fixtures")
	keep := flag.String("keep", "", "keep the clusters' folders (logs, certificates) under this folder")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *out, *keep); err != nil {
		log.Printf("record: %v", err)
		os.Exit(1)
	}
}

// setup runs first on the no-RequestReceived and Metadata clusters and is left out of
// their files; subset is what they record: enough to show how each shape changes with the
// policy.
var setup = map[string]bool{"nodes-join": true, "cluster-setup": true}

var subset = map[string]bool{
	"developer-kubectl": true, "patch-types": true,
	"failed-logins": true, "anonymous-probes": true, "exec-shell": true, "port-forward": true,
	"privileged-pod": true, "privileged-deployment": true, "cluster-admin-binding": true,
	"token-request": true, "secret-list-cluster-wide": true, "cluster-admin-binding-patched": true,
	"impersonation-system-masters": true, "secret-enumeration": true,
	"denial-burst": true, "control-plane-taint-removed": true,
}

// streaming is what the cluster with the kubelet stand-in records.
var streaming = map[string]bool{
	"developer-kubectl": true, "exec-shell": true, "exec-cloud-metadata": true, "attach": true,
	"cp-out-of-pod": true, "port-forward": true, "privileged-pod": true,
}

type output struct {
	file string
	kind string // scenarios of this kind go to file ("" = all)
}

func run(ctx context.Context, out, keep string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	labels, err := os.OpenFile(filepath.Join(out, "labels.jsonl"), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer labels.Close()
	var summary []realcluster.FixtureStats

	// The default policy: every scenario; the benign ones and the attacks in two files.
	st, err := record(ctx, keep, "default", realcluster.PolicyDefault, false, nil, realcluster.Scenarios(), out, labels,
		[]output{{"benign.jsonl", realcluster.KindBenign}, {"attacks.jsonl", realcluster.KindAttack}})
	if err != nil {
		return err
	}
	summary = append(summary, st...)
	var pre, sub, stream []realcluster.Scenario
	for _, s := range realcluster.Scenarios() {
		if setup[s.Name] {
			pre = append(pre, s)
			continue
		}
		if subset[s.Name] {
			sub = append(sub, s)
		}
		if streaming[s.Name] {
			stream = append(stream, s)
		}
	}
	for _, v := range []struct {
		name, policy, file string
		standIn            bool
		scenarios          []realcluster.Scenario
	}{
		{"no-requestreceived", realcluster.PolicyNoRequestReceived, "no-requestreceived.jsonl", false, sub},
		{"metadata", realcluster.PolicyMetadata, "metadata-only.jsonl", false, sub},
		{"kubelet-standin", realcluster.PolicyDefault, "kubelet-standin.jsonl", true, stream},
	} {
		st, err := record(ctx, keep, v.name, v.policy, v.standIn, pre, v.scenarios, out, labels, []output{{v.file, ""}})
		if err != nil {
			return err
		}
		summary = append(summary, st...)
	}
	b, _ := json.MarshalIndent(summary, "", "  ")
	fmt.Println(string(b))
	return nil
}

// record starts a cluster with policy (its nodes answered by the kubelet stand-in when
// standIn), runs pre (not written) and then scenarios, and writes the events of each
// output's scenarios to its file, and their labels.
func record(ctx context.Context, keep, name, policy string, standIn bool, pre, scenarios []realcluster.Scenario, out string, labels *os.File, outs []output) ([]realcluster.FixtureStats, error) {
	opts := realcluster.Options{Policy: policy}
	if keep != "" {
		opts.Dir = filepath.Join(keep, name)
		if err := os.RemoveAll(opts.Dir); err != nil {
			return nil, err
		}
	}
	log.Printf("%s: starting a cluster", name)
	c, err := realcluster.New(opts)
	if c != nil {
		defer c.Stop()
	}
	if err != nil {
		return nil, err
	}
	d := realcluster.NewDriver(ctx, c, log.Printf)
	d.KubeletStandIn = standIn
	// Each output file covers the span of its scenarios: the first from the apiserver's
	// readiness (the controllers starting, minting their tokens), the next from where the
	// previous ended.
	spans := map[string][2]time.Time{}
	var errs []error
	from := c.ReadyAt
	for _, s := range pre {
		if err := d.Run(s); err != nil {
			return nil, fmt.Errorf("%s/%s: %w", name, s.Name, err)
		}
	}
	if len(pre) > 0 {
		from = time.Now().UTC()
	}
	skip := len(d.Runs)
	for _, o := range outs {
		for _, s := range scenarios {
			if o.kind != "" && s.Kind != o.kind {
				continue
			}
			if err := d.Run(s); err != nil {
				errs = append(errs, fmt.Errorf("%s/%s: %w", name, s.Name, err))
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
		}
		to := time.Now().UTC().Add(time.Second)
		time.Sleep(1500 * time.Millisecond) // the last ResponseComplete events reach the file
		spans[o.file] = [2]time.Time{from, to}
		from = to
	}
	if err := d.StopNodes(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	files, err := realcluster.LogFiles(c.AuditLogPath)
	if err != nil {
		return nil, err
	}
	red := realcluster.NewRedactor(d.Secrets(), d.ShapeToken)
	var stats []realcluster.FixtureStats
	for _, o := range outs {
		sp := spans[o.file]
		st, err := realcluster.WriteFixture(filepath.Join(out, o.file), files, sp[0], sp[1], red, realcluster.NewThinner(3, time.Minute), func(e *realcluster.Event) { d.Attribute(e) })
		if err != nil {
			return nil, err
		}
		stats = append(stats, st)
		if err := d.WriteLabels(labels, o.file, o.kind, red, skip); err != nil {
			return nil, err
		}
	}
	return stats, nil
}
