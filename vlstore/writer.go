package vlstore

import (
	"context"
	"fmt"
	"time"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/kubesleuth/kubesleuth/export"
	"github.com/kubesleuth/kubesleuth/index"
)

// recentIDs bounds the IDs a Writer remembers of what it sent: VictoriaLogs shows an
// event to queries about a second after it was sent, so a duplicate that close behind its
// first copy is caught here, and an older one by the store's answer.
const recentIDs = 1 << 17

// Writer is the write side of the store (index.EventStore) for one run (an ingest or a
// tail) of one case. One goroutine writes.
type Writer struct {
	c   *Client
	w   *export.Writer
	ctx context.Context
	// Run names this run in every document (kubesleuth.run): Verify counts them.
	Run          string
	added        int
	recent       map[index.EventID]struct{}
	ring         []index.EventID
	ringAt       int
	dropped0     int64 // the node's dropped-rows counter when the run began (-1: none)
	oldest       time.Time
	VerifyWithin time.Duration // how long Verify waits for the events to show (default 60 s)
	// Live (a tail): Commit only sends what is batched (VictoriaLogs acknowledged every
	// event); the caller runs Verify when the run ends. A tail checkpoints after every
	// batch, and a Verify waits for the store to show the events (a second or two).
	Live bool
}

var _ index.EventStore = (*Writer)(nil)

// NewWriter starts a run writing into the case c names.
func NewWriter(ctx context.Context, c *Client, run string) (*Writer, error) {
	ew, err := export.New(export.Options{URL: c.BaseURL(), Kind: export.VictoriaLogs, Case: c.Case, Run: run})
	if err != nil {
		return nil, err
	}
	w := &Writer{c: c, w: ew, ctx: ctx, Run: run, recent: map[index.EventID]struct{}{}, VerifyWithin: time.Minute}
	if w.dropped0, err = c.RowsDropped(ctx); err != nil {
		return nil, fmt.Errorf("reaching the event store: %w", err)
	}
	c.ForceFlush(ctx)
	return w, nil
}

// StatusOf says New: whether the store holds the event is asked per batch (Classify),
// not per event.
func (w *Writer) StatusOf(*auditv1.Event) (index.Status, error) { return index.New, nil }

// Classify asks the store which of ps it holds (one query per batch, within the batch's
// time range), and marks Done the events of the batch seen earlier in it or sent by this
// run moments ago.
func (w *Writer) Classify(ps []*index.Prepared) ([]index.Status, error) {
	out := make([]index.Status, len(ps))
	if len(ps) == 0 {
		return out, nil
	}
	lo, hi := ps[0].Row.Time, ps[0].Row.Time
	batch := make(map[string]bool, len(ps))
	for _, p := range ps {
		lo, hi = minT(lo, p.Row.Time), maxT(hi, p.Row.Time)
		batch[string(p.ID)] = false
	}
	// the IDs the store holds in the batch's time range, streamed: a list of the batch's
	// IDs in the query would pass VictoriaLogs' -search.maxQueryLen (16 KiB by default)
	q := fmt.Sprintf("kubesleuth.case:=%s AND %s | fields kubesleuth.id", quote(w.c.Case), timeFilter(lo, hi.Add(time.Nanosecond)))
	if err := w.c.Query(w.ctx, q, func(r map[string]string) error {
		if _, ok := batch[r["kubesleuth.id"]]; ok {
			batch[r["kubesleuth.id"]] = true
		}
		return nil
	}); err != nil {
		return nil, err
	}
	held := batch
	seen := map[index.EventID]bool{}
	for i, p := range ps {
		_, sent := w.recent[p.ID]
		if held[string(p.ID)] || sent || seen[p.ID] {
			out[i] = index.Done
		}
		seen[p.ID] = true
	}
	return out, nil
}

// Add sends a new event (batched).
func (w *Writer) Add(p *index.Prepared) error {
	if err := w.w.Add(w.ctx, p); err != nil {
		return err
	}
	w.added++
	if w.oldest.IsZero() || p.Row.Time.Before(w.oldest) {
		w.oldest = p.Row.Time
	}
	if len(w.ring) < recentIDs {
		w.ring = append(w.ring, p.ID)
	} else {
		delete(w.recent, w.ring[w.ringAt])
		w.ring[w.ringAt] = p.ID
		w.ringAt = (w.ringAt + 1) % recentIDs
	}
	w.recent[p.ID] = struct{}{}
	return nil
}

// Reindex is never asked: the store has no groups, so no event is Pending.
func (w *Writer) Reindex(p *index.Prepared) error { return nil }

// Flush sends what is batched.
func (w *Writer) Flush() error { return w.w.Flush(w.ctx) }

// Commit sends what is batched and checks that the store kept every event sent (Verify;
// not when Live).
func (w *Writer) Commit() error {
	if err := w.Flush(); err != nil || w.Live {
		return err
	}
	return w.Verify(w.ctx)
}

// Added is the number of events this run sent.
func (w *Writer) Added() int { return w.added }

// DroppedError is a run whose events the store accepted (2xx) and did not keep.
type DroppedError struct {
	Store          string
	Sent, Stored   int
	DroppedCounter int64 // vl_rows_dropped_total's growth during the run (-1: not exposed)
	Oldest         time.Time
}

func (e *DroppedError) Error() string {
	how := "it holds fewer than it accepted"
	if e.DroppedCounter > 0 {
		how = fmt.Sprintf("its vl_rows_dropped_total grew by %d", e.DroppedCounter)
	}
	return fmt.Sprintf("the event store %s accepted %d events of this run but keeps %d (%s): VictoriaLogs drops events older than its -retentionPeriod while answering 2xx; the oldest event sent is of %s: restart every storage node with a -retentionPeriod reaching it (e.g. -retentionPeriod=100y) and ingest again into a new case",
		e.Store, e.Sent, e.Stored, how, e.Oldest.UTC().Format(time.RFC3339))
}

// Verify waits until the store shows every event this run sent (see Verifier).
func (w *Writer) Verify(ctx context.Context) error {
	v := &Verifier{Client: w.c, Run: w.Run, Sent: w.w.Sent(), Dropped0: w.dropped0, Oldest: w.oldest, Within: w.VerifyWithin}
	return v.Verify(ctx)
}

// Verifier checks that VictoriaLogs keeps every event of a run that it accepted.
type Verifier struct {
	Client *Client
	Run    string
	Sent   int
	// Dropped0 is Client.RowsDropped before the run (-1: not exposed; 0 when unknown).
	Dropped0 int64
	Oldest   time.Time // the oldest event sent, for the message
	Within   time.Duration
}

// Verify waits until the store shows the run's Sent events, and fails with a
// *DroppedError when it keeps fewer: when the node's dropped-rows counter grew, or when
// the count stopped growing short of Sent for 5 s (VictoriaLogs shows what it keeps within
// a second or two), or when Within (default 60 s) passed.
func (v *Verifier) Verify(ctx context.Context) error {
	within := v.Within
	if within <= 0 {
		within = time.Minute
	}
	filter := fmt.Sprintf("kubesleuth.case:=%s AND kubesleuth.run:=%s", quote(v.Client.Case), quote(v.Run))
	v.Client.ForceFlush(ctx)
	deadline := time.Now().Add(within)
	last, stableSince := -1, time.Now()
	for {
		n, err := v.Client.Count(ctx, filter)
		if err != nil {
			return err
		}
		if n >= v.Sent {
			return nil
		}
		d, err := v.Client.RowsDropped(ctx)
		if err != nil {
			return err
		}
		grew := int64(-1)
		if v.Dropped0 >= 0 && d >= 0 {
			grew = d - v.Dropped0
		}
		if n != last {
			last, stableSince = n, time.Now()
		}
		if (grew > 0 && time.Since(stableSince) > time.Second) || time.Since(stableSince) > 5*time.Second || time.Now().After(deadline) {
			return &DroppedError{Store: v.Client.base, Sent: v.Sent, Stored: n, DroppedCounter: grew, Oldest: v.Oldest}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func minT(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxT(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
