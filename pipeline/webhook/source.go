package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"time"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/kubesleuth/kubesleuth/ingest/audit"
	"github.com/kubesleuth/kubesleuth/pipeline"
)

// Source is the pipeline.LiveSource over a spool: the batches in the order they were
// acknowledged, decoded (EventList items, audit.k8s.io/v1 and v1beta1) as the file
// readers decode them. Its position is a spool Pos; a checkpoint's Committed releases
// the segments before it.
//
// Events of one batch that are bad (no auditID, a wrong type) are reported to OnError
// with the segment and the record's offset, counted, and skipped: the rest of the batch
// is processed. A duplicate (auditID + stage seen within Dedup: the apiserver re-sent a
// batch whose answer it missed) is dropped; after a restart the filter is first warmed
// with the records kept before the checkpoint (its segment and the one before: see
// Spool.Release), so that a batch spooled just before a crash, unanswered, and re-sent
// after it is dropped too. A re-send of a batch older than that is processed again.
//
// Each returns only on ctx's end or fn's (or the spool's) error.
type Source struct {
	Spool *Spool
	// Opts are the reader options: MaxLineBytes must hold the largest body accepted.
	Opts audit.Options
	// Dedup is the duplicate filter's window of event time (default 2 min).
	Dedup time.Duration
	// ChunkBytes bounds what is handed to the decoders at once. Default 4 MiB.
	ChunkBytes int64
	// Poll is how long the source waits for a commit before it calls OnBatch again while
	// idle (default 200 ms).
	Poll time.Duration

	// Events and Bad count the events handed on and those skipped as bad input.
	Events, Bad atomic.Int64

	onBatch func() error
	pos     atomic.Pointer[Pos]
	resumed bool
	moved   bool
}

// SetOnBatch implements pipeline.LiveSource.
func (s *Source) SetOnBatch(fn func() error) { s.onBatch = fn }

// Position implements pipeline.LiveSource.
func (s *Source) Position() (json.RawMessage, bool) {
	p := s.current()
	b, _ := json.Marshal(p)
	return b, s.moved
}

func (s *Source) current() Pos {
	if p := s.pos.Load(); p != nil {
		return *p
	}
	return s.Spool.Start()
}

// Lag is how far the source is behind the spool's durable end, in bytes.
func (s *Source) Lag() int64 { return s.Spool.After(s.current()) }

// Resume implements pipeline.LiveSource.
func (s *Source) Resume(raw json.RawMessage) error {
	if len(raw) == 0 {
		return nil
	}
	var p Pos
	if err := json.Unmarshal(raw, &p); err != nil {
		return fmt.Errorf("spool position: %v", err)
	}
	if err := s.Spool.Check(p); err != nil {
		return err
	}
	s.resumed = true
	s.pos.Store(&p)
	return nil
}

// Committed implements pipeline.LiveSource: segments before the checkpoint go, and an
// idle source has nothing more to checkpoint until it reads again.
func (s *Source) Committed(raw json.RawMessage) {
	s.moved = false
	var p Pos
	if json.Unmarshal(raw, &p) == nil {
		s.Spool.Release(p)
	}
}

// Each implements pipeline.Source.
func (s *Source) Each(ctx context.Context, newWorker func() pipeline.Worker, fn func(pipeline.Record) error) error {
	if s.ChunkBytes <= 0 {
		s.ChunkBytes = 4 << 20
	}
	if s.Poll <= 0 {
		s.Poll = 200 * time.Millisecond
	}
	n := s.Opts.Workers
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	workers := make([]pipeline.Worker, n)
	for i := range workers {
		workers[i] = newWorker()
	}
	dedup := pipeline.NewDedup(s.Dedup)
	start := s.current()
	if s.resumed {
		if err := s.warm(ctx, start, dedup); err != nil {
			return err
		}
	}
	r := s.Spool.NewReader(start)
	defer r.Close()
	s.pos.Store(&start)
	// the starting position is checkpointed before anything is read
	if s.onBatch != nil {
		if err := s.onBatch(); err != nil {
			return err
		}
	}
	var batches []Batch
	var data []byte
	var offs []int // each record's start in data
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var err error
		batches, err = r.Read(s.ChunkBytes, batches[:0])
		if err != nil {
			return err
		}
		if len(batches) == 0 {
			if s.onBatch != nil {
				if err := s.onBatch(); err != nil {
					return err
				}
			}
			t := time.NewTimer(s.Poll)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-s.Spool.Notify():
			case <-t.C:
			}
			t.Stop()
			continue
		}
		data, offs = data[:0], offs[:0]
		for _, b := range batches {
			offs = append(offs, len(data))
			data = append(append(data, b.Body...), '\n')
		}
		place := func(line int) (Batch, int) {
			i := min(max(line-1, 0), len(batches)-1)
			return batches[i], offs[i]
		}
		onErr := func(e *audit.InputError) {
			s.Bad.Add(1)
			b, base := place(e.Line)
			e.File = recordName(s.Spool, b.At)
			e.Offset = e.Offset - int64(base)
			e.Line = 0
			if s.Opts.OnError != nil {
				s.Opts.OnError(e)
			}
		}
		// a chunk is handed over whole: a checkpoint never holds an engine that saw half
		// of what its position has not passed
		err = pipeline.DecodeChunk(context.WithoutCancel(ctx), data, workers, s.Opts, onErr, func(ev *auditv1.Event, src audit.Source, w pipeline.Work) error {
			if dedup.Seen(ev) {
				return nil
			}
			s.Events.Add(1)
			b, _ := place(src.Line)
			return fn(pipeline.Record{Event: ev, Pos: pipeline.Position{File: segmentName(s.Spool, b.At.Seg), Offset: b.At.Off}, Work: w})
		})
		if err != nil {
			return err
		}
		p := r.Pos()
		s.pos.Store(&p)
		s.moved = true
		clear(batches)
		if s.onBatch != nil {
			if err := s.onBatch(); err != nil {
				return err
			}
		}
	}
}

// warm feeds the duplicate filter with the records kept before start.
func (s *Source) warm(ctx context.Context, start Pos, dedup *pipeline.Dedup) error {
	from := s.Spool.Start()
	if from.Seg+1 < start.Seg {
		from.Seg = start.Seg - 1
	}
	r := s.Spool.NewReader(from)
	r.Until = &start
	defer r.Close()
	nop := []pipeline.Worker{func(*auditv1.Event) pipeline.Work { return pipeline.Work{} }}
	for {
		bs, err := r.Read(s.ChunkBytes, nil)
		if err != nil || len(bs) == 0 {
			return err
		}
		var data []byte
		for _, b := range bs {
			data = append(append(data, b.Body...), '\n')
		}
		err = pipeline.DecodeChunk(ctx, data, nop, s.Opts, func(*audit.InputError) {}, func(ev *auditv1.Event, _ audit.Source, _ pipeline.Work) error {
			dedup.Seen(ev)
			return nil
		})
		if err != nil {
			return err
		}
	}
}

// segmentName names a segment in events' positions (the case's sources).
func segmentName(sp *Spool, n uint64) string {
	return filepath.Join(filepath.Base(sp.Dir()), fmt.Sprintf("%s%016d%s", segPrefix, n, segSuffix))
}

// recordName names a record for errors: the segment file and the record's offset.
func recordName(sp *Spool, p Pos) string {
	return fmt.Sprintf("%s@%d", segmentName(sp, p.Seg), p.Off)
}
