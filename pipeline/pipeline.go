// Package pipeline owns a run: sources in, the parallel matcher pool, the detection
// engine's serial stage, the event store, out to sinks.
//
//	Source ──► decoding goroutines: decode, rule CEL (Matcher), store's redaction ──►
//	       serial stage, in input order: dedup, event store, Engine.ObserveMatched ──►
//	       finding updates ──► Sinks (stdout lines, JSON lines, the case, alerts)
//
// The commands (scan, ingest, tail; next serve and report) are short wirings of it: they
// parse flags, pick a Source, the sinks and the store, and map the typed errors of Run to
// exit codes.
//
// A Source yields events with their position (a file and line or offset; later a webhook
// batch). Files reads a list of files once; Follow follows a live log across rotation. A
// Sink receives finding updates as they open, grow and close, then the end of the run.
// The event store is index.EventStore (bbolt + bleve today).
//
// Failure modes: Run returns the first error of the source (an *audit.InputError under
// strict reading, an I/O error), of the store (a write failure, a *index.DamagedError),
// of a sink (a write failure: a *SinkError), or ctx's error when cancelled. What was
// flushed before stays valid: the store opens, a checkpoint is consistent.
package pipeline

import (
	"context"
	"errors"
	"fmt"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/index"
	"github.com/kubesleuth/kubesleuth/ingest/audit"
)

// Position says where an event was read: a file (or "-", or a webhook batch's name), the
// line it starts on (1-based, 0 unknown) and its byte offset in the decompressed stream.
type Position = audit.Source

// Record is one event as a Source hands it to the serial stage.
type Record struct {
	Event *auditv1.Event
	Pos   Position
	// Work is what the Worker returned for Event on the decoding goroutine.
	Work Work
}

// Work is what the decoding goroutines computed for one event: the rules' matches and
// the store's redacted form. Sources carry it from their Worker to Record unchanged.
type Work struct {
	matched  *analyzer.Matched
	stored   *index.Prepared
	storeErr error
	known    bool // the store already holds the event, analysed: nothing was computed
}

// Worker is the per-event work of one decoding goroutine. Make one per goroutine.
type Worker func(*auditv1.Event) Work

// Source yields audit events in order. Each runs newWorker() once per decoding goroutine
// and that function on every event the goroutine decodes (rule evaluation, redaction:
// the work that needs no order), then calls fn in input order with the results. It stops
// at fn's first error or when ctx is done.
type Source interface {
	Each(ctx context.Context, newWorker func() Worker, fn func(Record) error) error
}

// Sink receives findings as they change, in the serial stage (one goroutine).
type Sink interface {
	// Update is called for every finding update (opened, grew, closed).
	Update(u analyzer.Update) error
	// Flush is called after each batch of events a live source read (and at the end):
	// what the sink buffered must be written out, an alert no later than this.
	Flush() error
	// Finish is called once at the end of a run that was not cancelled.
	Finish(end End) error
}

// End is what a run concluded: the engine's result.
type End struct {
	Result analyzer.Result
}

// SinkError wraps a sink's failure (a write to stdout, a file or an alert endpoint), for
// the exit code: it is kubesleuth's own failure, not bad input.
type SinkError struct {
	Sink string
	Err  error
}

func (e *SinkError) Error() string { return fmt.Sprintf("%s: %v", e.Sink, e.Err) }
func (e *SinkError) Unwrap() error { return e.Err }

// StoreError wraps a failure of the event store (a write, a damaged file).
type StoreError struct{ Err error }

func (e *StoreError) Error() string { return e.Err.Error() }
func (e *StoreError) Unwrap() error { return e.Err }

// Pipeline is one run's wiring. Engine is required; Store and Sinks are optional.
type Pipeline struct {
	Source Source
	Engine *analyzer.Engine
	// Store, when set, receives every event the engine observes (the case).
	Store *Store
	Sinks []Sink
	// OnRecord is called for every record in the serial stage, before anything else
	// (progress counts).
	OnRecord func(Record)

	// Delivered counts the finding updates handed to the sinks.
	Delivered int

	updates []analyzer.Update
}

// Run reads the source to its end (or until ctx is done) through the pipeline. On a
// clean end it flushes the store's buffer and every sink and calls Finish on the sinks.
func (p *Pipeline) Run(ctx context.Context) error {
	if p.Engine == nil {
		return errors.New("pipeline: no engine")
	}
	if len(p.Sinks) > 0 {
		p.Engine.OnUpdate(func(u analyzer.Update) { p.updates = append(p.updates, u) })
	}
	err := p.Source.Each(ctx, p.newWorker, p.handle)
	if err == nil && p.Store != nil {
		err = p.Store.process(p)
	}
	if err == nil {
		err = p.deliver()
	}
	if err == nil {
		err = p.flushSinks()
	}
	if err != nil {
		return err
	}
	end := End{Result: p.Engine.Result()}
	for _, s := range p.Sinks {
		if err := s.Finish(end); err != nil {
			return &SinkError{Sink: fmt.Sprintf("%T", s), Err: err}
		}
	}
	return nil
}

func (p *Pipeline) newWorker() Worker {
	m := p.Engine.NewMatcher()
	if p.Store == nil {
		return func(ev *auditv1.Event) Work { return Work{matched: m.Match(ev)} }
	}
	return p.Store.worker(m)
}

func (p *Pipeline) handle(rec Record) error {
	if p.OnRecord != nil {
		p.OnRecord(rec)
	}
	if p.Store != nil {
		return p.Store.queue(p, rec)
	}
	p.Engine.ObserveMatched(rec.Event, rec.Work.matched)
	if len(p.updates) > 0 {
		return p.deliver()
	}
	return nil
}

// deliver hands the updates the engine made to every sink.
func (p *Pipeline) deliver() error {
	for _, u := range p.updates {
		for _, s := range p.Sinks {
			if err := s.Update(u); err != nil {
				return &SinkError{Sink: fmt.Sprintf("%T", s), Err: err}
			}
		}
	}
	p.Delivered += len(p.updates)
	clear(p.updates)
	p.updates = p.updates[:0]
	return nil
}

// Flush writes out what the store and the sinks buffered: a live source calls it after
// each batch it read (through its batch hook), before a checkpoint.
func (p *Pipeline) Flush() error {
	if p.Store != nil {
		if err := p.Store.process(p); err != nil {
			return err
		}
	}
	if err := p.deliver(); err != nil {
		return err
	}
	return p.flushSinks()
}

func (p *Pipeline) flushSinks() error {
	for _, s := range p.Sinks {
		if err := s.Flush(); err != nil {
			return &SinkError{Sink: fmt.Sprintf("%T", s), Err: err}
		}
	}
	return nil
}
