package pipeline

import (
	"hash/maphash"
	"time"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// dedupMax bounds one generation of the duplicate filter (~40 bytes a key): at 20,000
// events/s a 2-minute window would hold 2.4 M keys; the cap makes a generation end early
// instead, so the filter never holds more than 2 × dedupMax keys.
const dedupMax = 1 << 20

// dedupWindow drops an event whose auditID + stage was seen within the window of event
// time, in two generations: keys of the current one and the one before are remembered,
// so a duplicate up to one to two windows apart is caught, and memory is bounded by the
// window (and dedupMax), not by every auditID ever seen. A live log repeats an event when
// a file is read twice (a copy and its original); the repeat comes soon after.
type dedupWindow struct {
	window    time.Duration
	seed      maphash.Seed
	cur, prev map[uint64]struct{}
	start     time.Time // event time the current generation began
}

func newDedupWindow(w time.Duration) *dedupWindow {
	return &dedupWindow{window: w, seed: maphash.MakeSeed(), cur: map[uint64]struct{}{}, prev: map[uint64]struct{}{}}
}

// seen records ev and reports whether it was seen within the window.
func (d *dedupWindow) seen(ev *auditv1.Event) bool {
	t := ev.RequestReceivedTimestamp.Time
	if d.start.IsZero() {
		d.start = t
	}
	if t.Sub(d.start) > d.window || len(d.cur) >= dedupMax {
		d.prev, d.cur = d.cur, make(map[uint64]struct{}, len(d.cur))
		d.start = t
	}
	var h maphash.Hash
	h.SetSeed(d.seed)
	h.WriteString(string(ev.AuditID))
	h.WriteByte(0)
	h.WriteString(string(ev.Stage))
	k := h.Sum64()
	if _, ok := d.cur[k]; ok {
		return true
	}
	if _, ok := d.prev[k]; ok {
		return true
	}
	d.cur[k] = struct{}{}
	return false
}

// Dedup is the duplicate filter of a live source other than Follow (the webhook: the
// apiserver re-sends a batch whose answer it did not get): auditID + stage seen within a
// window of event time, bounded like Follow's (see dedupWindow).
type Dedup struct{ d *dedupWindow }

// NewDedup makes a filter over window (default 2 min when ≤ 0).
func NewDedup(window time.Duration) *Dedup {
	if window <= 0 {
		window = 2 * time.Minute
	}
	return &Dedup{newDedupWindow(window)}
}

// Seen records ev and reports whether it was seen within the window.
func (d *Dedup) Seen(ev *auditv1.Event) bool { return d.d.seen(ev) }
