package pipeline

import (
	"context"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/ingest/audit"
)

type analyzerMatched = analyzer.Matched

// Files is the Source over a list of audit log files read once (scan, ingest): the
// reader of ingest/audit with its parallel decoding, its account of bad input and its
// duplicate filter (every auditID+stage of the run: a batch run is bounded by its input).
type Files struct {
	r         *audit.Reader
	opts      audit.Options
	newWorker func() Worker
}

// NewFiles reads inputs (already expanded) with opts; opts.Prepare is the pipeline's.
func NewFiles(inputs []audit.Input, opts audit.Options) *Files {
	f := &Files{opts: opts}
	// the reader asks for its per-goroutine hooks when Each starts
	f.opts.Prepare = func() func(*auditv1.Event) any {
		w := f.newWorker()
		return func(ev *auditv1.Event) any {
			work := w(ev)
			if work.stored == nil && !work.known && work.storeErr == nil {
				return work.matched // a pointer boxes without an allocation: scan's case
			}
			return &work
		}
	}
	f.r = audit.NewReader(inputs, f.opts)
	return f
}

// Reader is the underlying reader: its Summary, Inputs, TotalBytes and BytesRead.
func (f *Files) Reader() *audit.Reader { return f.r }

// Each implements Source.
func (f *Files) Each(ctx context.Context, newWorker func() Worker, fn func(Record) error) error {
	f.newWorker = newWorker
	return f.r.Each(ctx, func(rec audit.Record) error {
		return fn(Record{Event: rec.Event, Pos: rec.Source, Work: unbox(rec.Prepared)})
	})
}

// Reject takes back an event the store could not hold: it is bad input, reported at its
// place through the reader's OnError and counted as skipped instead of read.
func (f *Files) Reject(e *audit.InputError) {
	sum := f.r.Summary()
	sum.Events--
	sum.Skipped[e.Reason]++
	for _, fs := range sum.Files {
		if fs.Path == e.File {
			fs.Events--
			fs.Skipped[e.Reason]++
		}
	}
	if f.opts.OnError != nil {
		f.opts.OnError(e)
	}
}

// unbox undoes the boxing of a Worker's result into the reader's Prepared.
func unbox(v any) Work {
	switch w := v.(type) {
	case *Work:
		return *w
	case *analyzerMatched:
		return Work{matched: w}
	}
	return Work{}
}

// OpenFiles expands command-line arguments (files, folders, globs, "-") as audit.Open
// does, what the expansion skipped reported as opts.Notes.
func OpenFiles(args []string, opts audit.Options) (*Files, error) {
	inputs, notes, err := audit.ExpandNotes(args)
	if err != nil {
		return nil, err
	}
	opts.Notes = append(notes, opts.Notes...)
	return NewFiles(inputs, opts), nil
}
