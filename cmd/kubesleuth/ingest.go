package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	"github.com/kubesleuth/kubesleuth/analyzer/secrets"
	"github.com/kubesleuth/kubesleuth/index"
	"github.com/kubesleuth/kubesleuth/ingest/audit"
	"github.com/kubesleuth/kubesleuth/ingest/etcd"
	"github.com/kubesleuth/kubesleuth/pipeline"
)

func init() { register(newIngestCmd) }

const defaultCase = "./kubesleuth-case"

type ingestOptions struct {
	read      readFlags
	caseDir   string
	detect    detectFlags
	etcdSnap  string
	encConfig string
	store     string
}

func newIngestCmd(io stdio) *cobra.Command {
	var o ingestOptions
	cmd := &cobra.Command{
		Use:   "ingest [--case DIR] [FILE|DIR|GLOB...] [--etcd-snapshot FILE [--encryption-config FILE]]",
		Short: "Add audit logs to a case folder: decode, detect, redact, index",
		Long: `ingest reads kube-apiserver audit logs (every format scan reads), runs the detection
engine, redacts secret values into fingerprints, and adds the events and findings to the
case folder (--case, default ./kubesleuth-case) for kubesleuth search.

An event's identity is auditID + stage: ingesting the same or overlapping files again
adds nothing. A file with the size and SHA-256 of a source already in the case is not
read again (recorded with same_as); an overlapping or grown file is read, and each event
already in the case is skipped. New files extend the case, and the stateful detectors continue from the state
the last ingest saved. An ingest killed at any moment leaves a case that opens; running the
same command again completes it. case.json records every source (path, size, SHA-256,
events, time range, ingest time, tool version): see kubesleuth case info.

Exit codes: 0 done; 2 usage error or unreadable input; 3 the input held no audit event
(no case is created); 4 writing the case failed or the case is damaged; 130 interrupted
(SIGINT), 143 (SIGTERM): the case stays consistent and the same command completes it.`,
		Example: `  kubesleuth ingest --case ./incident-42 /var/log/kubernetes/audit/
  kubesleuth ingest --case ./incident-42 audit-2026-11-21.log.gz   # extends the case`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runIngest(cmd, io, o, args)
		},
	}
	fs := cmd.Flags()
	o.read.register(fs)
	fs.StringVar(&o.caseDir, "case", defaultCase, "case folder (created when missing)")
	o.detect.register(fs)
	fs.StringVar(&o.etcdSnap, "etcd-snapshot", "", "also analyse this etcd snapshot's secrets at rest (replaces the case's previous etcd result)")
	fs.StringVar(&o.encConfig, "encryption-config", "", "the apiserver's EncryptionConfiguration, to check (and decrypt) the snapshot's secrets")
	fs.StringVar(&o.store, "store", "", storeFlagHelp)
	return cmd
}

func runIngest(cmd *cobra.Command, io stdio, o ingestOptions, args []string) error {
	if len(args) == 0 && o.etcdSnap == "" {
		return usagef("no input: give audit log files, folders or globs, or --etcd-snapshot (standard input is not accepted: case.json records each file's SHA-256)")
	}
	if o.encConfig != "" && o.etcdSnap == "" {
		return usagef("--encryption-config goes with --etcd-snapshot")
	}
	start := time.Now()
	tuneIngestGC()
	eng, _, err := o.detect.engine(io.err)
	if err != nil {
		return usageError{err}
	}
	ropts := o.read.options(io.err, nil)
	var inputs []audit.Input
	if len(args) > 0 {
		var notes []*audit.InputError
		if inputs, notes, err = audit.ExpandNotes(args); err != nil {
			return usageError{err}
		}
		ropts.Notes = append(notes, ropts.Notes...)
	}
	for _, in := range inputs {
		if in.Path == audit.StdinName {
			return usagef("ingest reads files, not standard input (case.json records each file's SHA-256)")
		}
		// a FIFO or device is read once: its SHA-256 for the chain of custody cannot be taken
		if fi, err := os.Stat(in.Path); err == nil && !fi.Mode().IsRegular() {
			return usagef("%s is not a regular file (a pipe or device): ingest records each file's SHA-256, so copy it to a file first, or use kubesleuth scan", safeText(in.Path))
		}
	}
	var etcdRes *index.EtcdResult
	var etcdSrc *index.SourceInfo
	if o.etcdSnap != "" {
		if etcdRes, etcdSrc, err = analyseSnapshot(cmd, o.etcdSnap, o.encConfig); err != nil {
			return err
		}
	}

	_, statErr := os.Stat(o.caseDir)
	newCase := os.IsNotExist(statErr)
	if err := checkStoreFlag(o.caseDir, o.store); err != nil {
		return err
	}
	w, err := index.Create(o.caseDir, version)
	if err != nil {
		return err
	}
	defer w.Close()
	w.SetContext(cmd.Context())
	inputs, known, sums, err := skipIngested(inputs, w.Info().Sources)
	if err != nil {
		return usageError{err}
	}
	for _, k := range known {
		fmt.Fprintf(io.err, "%s: already in the case (same size and SHA-256 as %s), not read again\n", safeText(k.Path), safeText(k.SameAs))
	}
	// the reader hashes the bytes it reads: a file that grows or changes while it is
	// read is recorded with the size and SHA-256 of what its events were read from
	ropts.Digest = true
	src := pipeline.NewFiles(inputs, ropts)
	r := src.Reader()
	if st, err := w.EngineState(); err != nil {
		return err
	} else if st != nil {
		if err := eng.RestoreState(st); err != nil {
			return fmt.Errorf("restoring the detectors' state from %s: %w", o.caseDir, err)
		}
	}

	es, finishStore, err := caseStore(cmd.Context(), w, o.store, o.caseDir, false)
	if err != nil {
		return err
	}
	var events atomic.Int64
	store := pipeline.NewStore(es)
	store.OnBadEvent = func(_ pipeline.Record, e *audit.InputError) error {
		src.Reject(e)
		if o.read.strict {
			return e
		}
		return nil
	}
	bar := startProgress(io.err, r.TotalBytes(), r.BytesRead, events.Load)
	p := &pipeline.Pipeline{Source: src, Engine: eng, Store: store, OnRecord: func(pipeline.Record) { events.Add(1) }}
	err = p.Run(cmd.Context())
	bar.Stop()
	if err != nil {
		return readError(err)
	}
	added := store.Added
	sum := r.Summary()
	nothing := sum.Events == 0 && len(known) == 0 && etcdRes == nil
	if nothing && newCase {
		// do not leave an empty case behind
		w.Close()
		os.RemoveAll(o.caseDir)
		return noEventsError{nothingRead(sum)}
	}
	res := eng.Result()
	state, err := eng.SaveState()
	if err != nil {
		return fmt.Errorf("saving the detectors' state: %w", err)
	}
	now := time.Now().UTC()
	var sources []index.SourceInfo
	for i, in := range r.Inputs() {
		size, sha := in.Size, sums[in.Path]
		if d := r.Digest(i); d.OK {
			size, sha = d.Size, d.SHA256
		} else if sha == "" {
			h := hashFile(in.Path)
			if h.err != nil {
				return h.err
			}
			sha = h.sum
		}
		si := index.SourceInfo{Path: in.Path, AbsPath: absPath(in.Path), Kind: "audit", Size: size, SHA256: sha, IngestedAt: now, ToolVersion: version, Events: added[in.Path]}
		for _, f := range sum.Files {
			if f.Path == in.Path {
				si.Read, si.First, si.Last = f.Events, f.First, f.Last
			}
		}
		sources = append(sources, si)
	}
	for _, k := range known {
		k.IngestedAt, k.ToolVersion = now, version
		sources = append(sources, k)
	}
	if etcdSrc != nil {
		etcdSrc.IngestedAt = now
		sources = append(sources, *etcdSrc)
	}
	if err := finishStore(); err != nil {
		return err
	}
	if err := w.Finish(res.Findings, state, etcdRes, sources); err != nil {
		return err
	}
	info := w.Info()
	if info.Store != nil {
		info.Events = info.Store.Events
	}
	skipped := ""
	if len(known) > 0 {
		skipped = fmt.Sprintf(" (%d already in the case, not read again)", len(known))
	}
	fmt.Fprintf(io.err, "Ingested %d events (%d new) from %d input(s)%s into %s in %s: %d events, %d findings in the case.\n",
		sum.Events, es.Added(), len(sources), skipped, o.caseDir, time.Since(start).Round(time.Millisecond), info.Events, info.Findings)
	if nothing {
		return noEventsError{nothingRead(sum)}
	}
	return nil
}

type hashResult struct {
	sum string
	err error
}

// skipIngested sets aside the inputs a finished ingest already read: same size and SHA-256
// as a recorded audit source. Only files whose size matches a recorded source are hashed
// here (before reading); their sums are returned by path for hashInputs. Re-running an
// ingest over the same files therefore costs one hash per file, not a store lookup per
// event. Overlapping or grown files are read, and their events deduplicated one by one.
func skipIngested(ins []audit.Input, recorded []index.SourceInfo) (read []audit.Input, known []index.SourceInfo, sums map[string]string, err error) {
	bySize := map[int64][]index.SourceInfo{}
	for _, s := range recorded {
		if s.Kind == "audit" && s.SHA256 != "" {
			bySize[s.Size] = append(bySize[s.Size], s)
		}
	}
	sums = map[string]string{}
	for _, in := range ins {
		cands := bySize[in.Size]
		if len(cands) == 0 {
			read = append(read, in)
			continue
		}
		h := hashFile(in.Path)
		if h.err != nil {
			return nil, nil, nil, h.err
		}
		sums[in.Path] = h.sum
		same := ""
		for _, c := range cands {
			if c.SHA256 == h.sum {
				same = c.Path
				if c.SameAs != "" {
					same = c.SameAs
				}
				break
			}
		}
		if same == "" {
			read = append(read, in)
			continue
		}
		known = append(known, index.SourceInfo{Path: in.Path, AbsPath: absPath(in.Path), Kind: "audit", Size: in.Size, SHA256: h.sum, SameAs: same})
	}
	return read, known, sums, nil
}

func hashFile(path string) hashResult {
	f, err := os.Open(path)
	if err != nil {
		return hashResult{err: fmt.Errorf("hashing %s: %w", path, err)}
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return hashResult{err: fmt.Errorf("hashing %s: %w", path, err)}
	}
	return hashResult{sum: hex.EncodeToString(h.Sum(nil))}
}

// analyseSnapshot runs the secrets-at-rest analysis on an etcd snapshot (as kubesleuth
// etcd does, without carving free pages) for the case.
func analyseSnapshot(cmd *cobra.Command, path, encConfig string) (*index.EtcdResult, *index.SourceInfo, error) {
	ctx := cmd.Context()
	klog.SetLogger(logr.Discard())
	var cfg *secrets.Config
	var err error
	if encConfig != "" {
		if cfg, err = secrets.LoadConfig(ctx, encConfig); err != nil {
			return nil, nil, usageError{err}
		}
	}
	a := secrets.New(ctx, secrets.Options{Config: cfg})
	s, err := etcd.OpenSnapshot(path)
	if err != nil {
		return nil, nil, usageError{err}
	}
	defer s.Close()
	if err := s.Each(ctx, func(r etcd.Record) error { a.Observe(r); return nil }); err != nil {
		return nil, nil, inputError(ctx, err)
	}
	s.Close()
	rep := a.Result()
	h := hashFile(path)
	if h.err != nil {
		return nil, nil, usageError{h.err}
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, usageError{err}
	}
	src := &index.SourceInfo{Path: path, AbsPath: absPath(path), Kind: "etcd-snapshot", Size: fi.Size(), SHA256: h.sum, Read: len(rep.Secrets), Events: len(rep.Secrets), ToolVersion: version}
	return &index.EtcdResult{Secrets: rep.Secrets, Findings: rep.Findings}, src, nil
}

// absPath is p made absolute ("" for standard input or when the working folder is gone).
func absPath(p string) string {
	if p == "" || p == "-" {
		return ""
	}
	a, err := filepath.Abs(p)
	if err != nil {
		return ""
	}
	return a
}
