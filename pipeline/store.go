package pipeline

import (
	"errors"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/index"
	"github.com/kubesleuth/kubesleuth/ingest/audit"
)

// Store is the event-store stage: every event the engine observes is stored (redacted on
// the decoding goroutines), each event once by its identity (auditID + stage).
type Store struct {
	es index.EventStore
	// ObserveStored: the engine observes events the store already holds (Done) as well.
	// An ingest leaves it false: its engine is restored from the case, which saw them.
	// A tail sets it: its engine is restored from the tail's checkpoint, which may be
	// older than the store (events stored after the checkpoint, before a kill).
	ObserveStored bool
	// OnBadEvent is called for an event the store cannot hold (a *index.BadEventError:
	// an auditID it cannot key), as bad input at its place; a non-nil return ends the
	// run (strict reading). Nil: the event is skipped silently.
	OnBadEvent func(rec Record, e *audit.InputError) error
	// Added counts, per source file, the events this run added to the store.
	Added map[string]int

	buf []Record
}

// NewStore wraps an event store for a pipeline.
func NewStore(es index.EventStore) *Store {
	return &Store{es: es, Added: map[string]int{}}
}

func (s *Store) worker(m *analyzer.Matcher) Worker {
	return func(ev *auditv1.Event) Work {
		// a re-ingest of overlapping files costs a lookup per event, not a redaction and
		// a rule pass
		if !s.ObserveStored {
			if st, err := s.es.StatusOf(ev); err == nil && st == index.Done {
				return Work{known: true}
			}
		}
		p, err := index.Prepare(ev)
		return Work{matched: m.Match(ev), stored: p, storeErr: err}
	}
}

func (s *Store) queue(p *Pipeline, rec Record) error {
	s.buf = append(s.buf, rec)
	if len(s.buf) >= index.BatchSize {
		return s.process(p)
	}
	return nil
}

// process classifies the buffered events against the store, stores the new ones, and
// lets the engine observe what it has not seen, in order.
func (s *Store) process(p *Pipeline) error {
	if len(s.buf) == 0 {
		return nil
	}
	ps := make([]*index.Prepared, 0, len(s.buf))
	for i := range s.buf {
		w := &s.buf[i].Work
		if w.storeErr != nil {
			var be *index.BadEventError
			if !errors.As(w.storeErr, &be) {
				return &StoreError{w.storeErr}
			}
			// an event the case cannot store is bad input like the reader's own
			rec := s.buf[i]
			e := &audit.InputError{File: rec.Pos.File, Line: rec.Pos.Line, Offset: rec.Pos.Offset, Reason: audit.Reason(be.Reason), Msg: be.Msg}
			if s.OnBadEvent != nil {
				if err := s.OnBadEvent(rec, e); err != nil {
					return err
				}
			}
			w.known, w.storeErr = true, nil
			w.matched = nil
			continue
		}
		if !w.known {
			ps = append(ps, w.stored)
		}
	}
	st, err := s.es.Classify(ps)
	if err != nil {
		return &StoreError{err}
	}
	i := 0
	for _, rec := range s.buf {
		w := rec.Work
		if w.known {
			continue
		}
		status := st[i]
		i++
		switch status {
		case index.Done:
			if s.ObserveStored {
				p.Engine.ObserveMatched(rec.Event, w.matched)
			}
		case index.Pending:
			p.Engine.ObserveMatched(rec.Event, w.matched)
			if err := s.es.Reindex(w.stored); err != nil {
				return &StoreError{err}
			}
		case index.New:
			p.Engine.ObserveMatched(rec.Event, w.matched)
			s.Added[rec.Pos.File]++
			if err := s.es.Add(w.stored); err != nil {
				return &StoreError{err}
			}
		}
		if err := p.deliver(); err != nil {
			return err
		}
	}
	clear(s.buf)
	s.buf = s.buf[:0]
	return nil
}
