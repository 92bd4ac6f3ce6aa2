package index

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// maxBuckets bounds a histogram; a finer interval over a long range is refused.
const maxBuckets = 5000

func unfiltered(text string) bool {
	t := strings.TrimSpace(text)
	return t == "" || t == "*"
}

// Search runs q. An unfiltered query without facets is a cursor walk over the time-ordered
// store (no sort, no index); everything else is a group search (groupsearch.go): bleve
// finds the groups, the store counts, facets and orders their members. Total, facets and
// histogram are exact either way.
func (c *Case) Search(ctx context.Context, q Query) (_ *Result, err error) {
	defer guard(c.dir, storeFile, &err)()
	start := time.Now()
	if q, err = ApplyTime(q); err != nil {
		return nil, err
	}
	if q.Limit <= 0 {
		q.Limit = 50
	}
	if q.Offset < 0 {
		q.Offset = 0
	}
	var res *Result
	if unfiltered(q.Text) && len(q.Facets) == 0 {
		res, err = c.walk(ctx, q)
	} else {
		res, err = c.groupSearch(ctx, q)
	}
	if err != nil {
		return nil, err
	}
	if res.Events == nil {
		res.Events = []Row{}
	}
	res.Took = time.Since(start)
	return res, nil
}

// walk pages through [From, To) in the time bucket and counts it.
func (c *Case) walk(ctx context.Context, q Query) (*Result, error) {
	res := &Result{}
	var lo, hi []byte
	if !q.From.IsZero() {
		lo = timeKey(q.From, "")
	}
	if !q.To.IsZero() {
		hi = timeKey(q.To, "")
	}
	var hist *histogram
	err := c.db.View(func(tx *bolt.Tx) error {
		cur := tx.Bucket(bTime).Cursor()
		first, last := boundsOf(cur, lo, hi)
		if first == nil {
			return nil
		}
		if q.Histogram > 0 {
			from, to := q.From, q.To
			if from.IsZero() {
				from = keyTime(first)
			}
			if to.IsZero() {
				to = keyTime(last).Add(time.Nanosecond)
			}
			var err error
			if hist, err = newHistogram(from, to, q.Histogram); err != nil {
				return err
			}
		}
		in := func(k []byte) bool {
			return k != nil && (lo == nil || string(k) >= string(lo)) && (hi == nil || string(k) < string(hi))
		}
		// the page is a short walk; counts come from the minute counts
		k, v := cur.Seek(first)
		if q.Newest {
			k, v = cur.Seek(last)
		}
		for n := 0; in(k) && len(res.Events) < q.Limit; n++ {
			if n >= q.Offset {
				var r Row
				if err := c.sigs.decodeRow(tx, k, v, &r); err != nil {
					return fmt.Errorf("decoding row: %w", err)
				}
				res.Events = append(res.Events, r)
			}
			if q.Newest {
				k, v = cur.Prev()
			} else {
				k, v = cur.Next()
			}
		}
		var err error
		if res.Total, err = countRange(ctx, tx, first, last); err != nil {
			return err
		}
		if hist != nil {
			return minuteHistogram(ctx, tx, first, last, hist)
		}
		return nil
	})
	if hist != nil {
		res.Histogram = hist.buckets
	}
	return res, err
}

// minuteHistogram adds the time keys in [first, last] to h: a minute inside one bucket
// adds its count, others (the two edges, buckets shorter than a minute) are walked.
func minuteHistogram(ctx context.Context, tx *bolt.Tx, first, last []byte, h *histogram) error {
	cur := tx.Bucket(bTime).Cursor()
	walk := func(from, to []byte) { // keys in [from, to]
		for k, _ := cur.Seek(from); k != nil && string(k) <= string(to); k, _ = cur.Next() {
			h.add(keyTime(k))
		}
	}
	fm, lm := minuteKey(first), minuteKey(last)
	if string(fm) == string(lm) {
		walk(first, last)
		return nil
	}
	nextMin := timeKey(keyTime(fm).Add(time.Minute), "")
	walk(first, nextMin[:8])
	walk(timeKey(keyTime(lm), ""), last)
	mc := tx.Bucket(bMinutes).Cursor()
	i := 0
	for k, v := mc.Seek(nextMin[:8]); k != nil && string(k) < string(lm); k, v = mc.Next() {
		if i++; i&0xfff == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if len(k) != 8 || len(v) != 8 {
			return damaged(storeFile, "a per-minute count does not decode")
		}
		t := keyTime(k)
		if h.index(t) == h.index(t.Add(time.Minute-1)) {
			if j := h.index(t); j >= 0 && j < len(h.buckets) {
				h.buckets[j].Count += int(binary.BigEndian.Uint64(v))
			}
			continue
		}
		walk(timeKey(t, ""), timeKey(t.Add(time.Minute-1), "\xff"))
	}
	return nil
}

// boundsOf returns the first and last keys within [lo, hi), or nil when the range is empty.
func boundsOf(cur *bolt.Cursor, lo, hi []byte) (first, last []byte) {
	var k []byte
	if lo == nil {
		k, _ = cur.First()
	} else {
		k, _ = cur.Seek(lo)
	}
	if k == nil || (hi != nil && string(k) >= string(hi)) {
		return nil, nil
	}
	first = append([]byte(nil), k...)
	if hi == nil {
		k, _ = cur.Last()
	} else {
		k, _ = cur.Seek(hi)
		if k == nil {
			k, _ = cur.Last()
		} else {
			k, _ = cur.Prev()
		}
	}
	return first, append([]byte(nil), k...)
}

type histogram struct {
	from     time.Time
	interval time.Duration
	buckets  []Bucket
}

func newHistogram(from, to time.Time, iv time.Duration) (*histogram, error) {
	if iv <= 0 {
		return nil, fmt.Errorf("histogram: the interval must be positive, not %s", iv)
	}
	from = from.Truncate(iv)
	// time.Time.Sub saturates at 292 years: a case spanning 1700 to 2200 (times the reader
	// accepts) made a 1 ns histogram look small and then loop for centuries
	n, ok := intervals(to, from, iv)
	if !ok || n > maxBuckets {
		return nil, fmt.Errorf("histogram: %s intervals from %s to %s are more than %d: choose a longer interval or a shorter range",
			iv, from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339), maxBuckets)
	}
	if n < 1 {
		n = 1
	}
	h := &histogram{from: from, interval: iv, buckets: make([]Bucket, 0, n+1)}
	for t := from; t.Before(to) && len(h.buckets) <= maxBuckets; t = t.Add(iv) {
		h.buckets = append(h.buckets, Bucket{Start: t.UTC()})
	}
	return h, nil
}

// intervals is how many whole intervals iv lie between from and t (t >= from), rounded
// up, computed on 128 bits: ok is false when the count does not fit an int.
func intervals(t, from time.Time, iv time.Duration) (int, bool) {
	q, rem, ok := spanDiv(t, from, iv)
	if !ok {
		return 0, false
	}
	if rem > 0 {
		q++
	}
	return q, q >= 0
}

// spanDiv divides the time from 'from' to t (t >= from) by iv without the 292-year
// limit of time.Duration.
func spanDiv(t, from time.Time, iv time.Duration) (q int, rem uint64, ok bool) {
	ds := t.Unix() - from.Unix()
	dn := int64(t.Nanosecond()) - int64(from.Nanosecond())
	if dn < 0 {
		ds--
		dn += 1e9
	}
	if ds < 0 {
		return 0, 0, false
	}
	hi, lo := bits.Mul64(uint64(ds), 1e9)
	var c uint64
	lo, c = bits.Add64(lo, uint64(dn), 0)
	hi += c
	if hi >= uint64(iv) {
		return 0, 0, false
	}
	quo, r := bits.Div64(hi, lo, uint64(iv))
	if quo > math.MaxInt32 {
		return 0, 0, false
	}
	return int(quo), r, true
}

func (h *histogram) index(t time.Time) int {
	if t.Before(h.from) {
		return -1
	}
	q, _, ok := spanDiv(t, h.from, h.interval)
	if !ok {
		return math.MaxInt32
	}
	return q
}

func (h *histogram) add(t time.Time) {
	i := h.index(t)
	if i >= 0 && i < len(h.buckets) {
		h.buckets[i].Count++
	}
}

// facetFields are the fields --facet accepts.
var facetFields = map[string]bool{
	"verb": true, "user": true, "namespace": true, "resource": true, "sourceIP": true,
	"userAgent": true, "name": true,
}

// FacetFields lists the fields --facet accepts.
func FacetFields() []string {
	var out []string
	for f := range facetFields {
		out = append(out, f)
	}
	out = append(out, "code")
	sort.Strings(out)
	return out
}

// countRange counts the time keys in [first, last] (both present): whole minutes from the
// minute counts, the two edge minutes by walking them.
func countRange(ctx context.Context, tx *bolt.Tx, first, last []byte) (int, error) {
	fm, lm := minuteKey(first), minuteKey(last)
	cur := tx.Bucket(bTime).Cursor()
	walkTo := func(from, to []byte) int { // keys in [from, to]
		n := 0
		for k, _ := cur.Seek(from); k != nil && string(k) <= string(to); k, _ = cur.Next() {
			n++
		}
		return n
	}
	if string(fm) == string(lm) || tx.Bucket(bMinutes) == nil {
		return walkTo(first, last), nil
	}
	// first's minute: from first to the end of that minute; last's minute: its start to last
	nextMin := timeKey(keyTime(fm).Add(time.Minute), "")
	n := 0
	for k, _ := cur.Seek(first); k != nil && string(k) < string(nextMin); k, _ = cur.Next() {
		n++
	}
	n += walkTo(timeKey(keyTime(lm), ""), last)
	mc := tx.Bucket(bMinutes).Cursor()
	i := 0
	for k, v := mc.Seek(nextMin[:8]); k != nil && string(k) < string(lm); k, v = mc.Next() {
		if i++; i&0xfff == 0 && ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if len(v) != 8 {
			return 0, damaged(storeFile, "a per-minute count does not decode")
		}
		n += int(binary.BigEndian.Uint64(v))
	}
	return n, nil
}
