package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/kubesleuth/kubesleuth/analyzer"
)

// Live is a long-running run over a followed log (tail; next, the webhook's serve): the
// engine forgets closed findings, the duplicate filter is windowed, and a checkpoint is
// written atomically after batches (at most every CheckpointEvery, and after every
// batch that alerted), so that a restart after SIGKILL loses no event and alerts
// nothing twice into a resumable sink.
type Live struct {
	// Follow is the followed log (tail), or Source another live source (serve's
	// webhook spool): exactly one is set.
	Follow *Follow
	Source LiveSource
	Engine *analyzer.Engine
	Store  *Store // optional: the case
	// Sinks by name: the name keys the sink's position in the checkpoint.
	Sinks     []NamedSink
	StatePath string
	// CheckpointEvery bounds how often the checkpoint is written when events flow
	// without alerts. Default 1 s.
	CheckpointEvery time.Duration
	// OnCheckpoint, when set, is called after each checkpoint written (tests, progress).
	OnCheckpoint func(*Checkpoint)
	// OnRecord, when set, is called for every record in the serial stage (Pipeline's).
	OnRecord func(Record)

	p         *Pipeline
	last      time.Time
	delivered int
	dirty     bool
	written   bool
}

// LiveSource is a Source with a durable position that a live run checkpoints with the
// engine's state and the sinks' positions (the webhook's spool; Follow keeps its own
// FileState field in the checkpoint).
type LiveSource interface {
	Source
	// SetOnBatch installs the hook to call after each batch handed to fn (the position
	// is then the one to resume from) and when the source is idle.
	SetOnBatch(func() error)
	// Position is where a run resumed from a checkpoint taken now starts (opaque JSON),
	// and whether it moved since the last Committed (else a checkpoint is not needed).
	Position() (json.RawMessage, bool)
	// Resume starts the next Each at a checkpointed Position.
	Resume(json.RawMessage) error
	// Committed is told each Position once a checkpoint holding it is durable: what lies
	// before it may be released.
	Committed(json.RawMessage)
}

// NamedSink is a sink with the name its checkpointed position is kept under.
type NamedSink struct {
	Name string
	Sink Sink
}

// Run follows until ctx is done, then flushes the sinks, writes the checkpoint, and
// returns ctx's error (its cause says which signal). A failure of the source, the store
// or a sink is returned at once; the last checkpoint written stays valid.
func (l *Live) Run(ctx context.Context) error {
	if l.CheckpointEvery <= 0 {
		l.CheckpointEvery = time.Second
	}
	cp, err := LoadCheckpoint(l.StatePath)
	if err != nil {
		return err
	}
	if cp != nil {
		if len(cp.Engine) > 0 {
			if err := l.Engine.RestoreState(cp.Engine); err != nil {
				return &StateError{l.StatePath, err}
			}
		}
		if l.Source != nil {
			if err := l.Source.Resume(cp.Source); err != nil {
				return &StateError{l.StatePath, err}
			}
		} else {
			st := cp.File
			l.Follow.Resume = &st
		}
		for _, ns := range l.Sinks {
			if r, ok := ns.Sink.(Resumable); ok {
				if err := r.Resume(cp.Sinks[ns.Name]); err != nil {
					return &SinkError{Sink: ns.Name, Err: err}
				}
			}
		}
	}
	l.Engine.SetForget(true)
	var src Source = l.Follow
	if l.Source != nil {
		src = l.Source
		l.Source.SetOnBatch(l.batch)
	} else {
		l.Follow.OnBatch = l.batch
	}
	l.p = &Pipeline{Source: src, Engine: l.Engine, Store: l.Store, OnRecord: l.OnRecord}
	for _, ns := range l.Sinks {
		l.p.Sinks = append(l.p.Sinks, ns.Sink)
	}
	l.last = time.Now()
	err = l.p.Run(ctx)
	if err == nil || !errors.Is(err, ctx.Err()) || ctx.Err() == nil {
		return err
	}
	// stopped: flush (every grouped repeat written), then the checkpoint
	for _, s := range l.p.Sinks {
		if a, ok := s.(*Alerts); ok {
			if e := a.flush(true); e != nil {
				return &SinkError{Sink: a.Name, Err: e}
			}
		}
	}
	if e := l.p.Flush(); e != nil {
		return e
	}
	if e := l.checkpoint(); e != nil {
		return e
	}
	return err
}

// batch runs after each batch the follower handed over, and when it is idle.
func (l *Live) batch() error {
	if err := l.p.Flush(); err != nil {
		return err
	}
	if l.Source != nil {
		if _, moved := l.Source.Position(); moved {
			l.dirty = true
		}
	} else if st := l.Follow.State(); st.Offset > 0 || st.Ino != 0 {
		l.dirty = true
	}
	// without a store, a batch that alerted is checkpointed at once (an alert stream that
	// cannot be cut back repeats less after a kill); with one, a checkpoint is a commit
	// of the store, made every CheckpointEvery
	alerted := l.Store == nil && l.p.Delivered != l.delivered
	if !l.written || l.dirty && (alerted || time.Since(l.last) >= l.CheckpointEvery) {
		return l.checkpoint()
	}
	return nil
}

// Checkpoint builds the checkpoint of this moment.
func (l *Live) snapshot() (*Checkpoint, error) {
	state, err := l.Engine.SaveState()
	if err != nil {
		return nil, fmt.Errorf("saving the detectors' state: %w", err)
	}
	cp := &Checkpoint{Engine: state, Sinks: map[string]json.RawMessage{}}
	if l.Source != nil {
		cp.Source, _ = l.Source.Position()
	} else {
		cp.File = l.Follow.State()
	}
	for _, ns := range l.Sinks {
		if r, ok := ns.Sink.(Resumable); ok {
			pos, err := r.Position()
			if err != nil {
				return nil, &SinkError{Sink: ns.Name, Err: err}
			}
			if pos != nil {
				cp.Sinks[ns.Name] = pos
			}
		}
	}
	return cp, nil
}

func (l *Live) checkpoint() error {
	// the store first: a checkpoint never stands past an event the store could lose
	if l.Store != nil {
		var staged []*Findings
		for _, ns := range l.Sinks {
			if f, ok := ns.Sink.(*Findings); ok && f.stage(time.Now()) {
				staged = append(staged, f)
			}
		}
		if err := l.Store.es.Commit(); err != nil {
			return &StoreError{err}
		}
		for _, f := range staged {
			f.dirty = false
		}
		// a failed Commit leaves them dirty: staged again at the next checkpoint
	}
	cp, err := l.snapshot()
	if err != nil {
		return err
	}
	if err := cp.Save(l.StatePath); err != nil {
		return err
	}
	l.last, l.delivered, l.dirty, l.written = time.Now(), l.p.Delivered, false, true
	if l.Source != nil {
		l.Source.Committed(cp.Source)
	}
	if l.OnCheckpoint != nil {
		l.OnCheckpoint(cp)
	}
	return nil
}
