package index

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	bolt "go.etcd.io/bbolt"
)

// maxBuckets bounds a histogram; a finer interval over a long range is refused.
const maxBuckets = 5000

func unfiltered(text string) bool {
	t := strings.TrimSpace(text)
	return t == "" || t == "*"
}

// Search runs q. An unfiltered query without facets is a cursor walk over the time-ordered
// store (no sort, no index); everything else goes to bleve with a time-range clause, sorted
// by the indexed time, one page at a time. Total is exact either way.
func (c *Case) Search(ctx context.Context, q Query) (*Result, error) {
	start := time.Now()
	if q.Limit <= 0 {
		q.Limit = 50
	}
	if q.Offset < 0 {
		q.Offset = 0
	}
	var res *Result
	var err error
	if unfiltered(q.Text) && len(q.Facets) == 0 {
		res, err = c.walk(ctx, q)
	} else {
		res, err = c.bleveSearch(ctx, q)
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
		if hist == nil {
			// the page is a short walk; the total comes from the minute counts
			k, v := cur.Seek(first)
			if q.Newest {
				k, v = cur.Seek(last)
			}
			for n := 0; in(k) && len(res.Events) < q.Limit; n++ {
				if n >= q.Offset {
					var r Row
					if err := json.Unmarshal(v, &r); err != nil {
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
			res.Total, err = countRange(ctx, tx, first, last)
			return err
		}
		// counting is a key-only walk; rows are decoded only for the page
		n := 0
		var k, v []byte
		if q.Newest {
			k, v = cur.Seek(last)
		} else {
			k, v = cur.Seek(first)
		}
		for ; in(k); n++ {
			if n&0xfff == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			if n >= q.Offset && len(res.Events) < q.Limit {
				var r Row
				if err := json.Unmarshal(v, &r); err != nil {
					return fmt.Errorf("decoding row: %w", err)
				}
				res.Events = append(res.Events, r)
			}
			if hist != nil {
				hist.add(keyTime(k))
			}
			if q.Newest {
				k, v = cur.Prev()
			} else {
				k, v = cur.Next()
			}
		}
		res.Total = n
		return nil
	})
	if hist != nil {
		res.Histogram = hist.buckets
	}
	return res, err
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
	n := int(math.Ceil(float64(to.Sub(from)) / float64(iv)))
	if n < 1 {
		n = 1
	}
	if n > maxBuckets {
		return nil, fmt.Errorf("histogram: %s over %s is %d intervals (at most %d): choose a longer interval or a shorter range", iv, to.Sub(from), n, maxBuckets)
	}
	from = from.Truncate(iv)
	h := &histogram{from: from, interval: iv}
	for t := from; t.Before(to); t = t.Add(iv) {
		h.buckets = append(h.buckets, Bucket{Start: t.UTC()})
	}
	return h, nil
}

func (h *histogram) add(t time.Time) {
	i := int(t.Sub(h.from) / h.interval)
	if i >= 0 && i < len(h.buckets) {
		h.buckets[i].Count++
	}
}

// parseQuery builds the bleve query for text and the time range.
func parseQuery(text string, from, to time.Time) (query.Query, error) {
	var parts []query.Query
	if unfiltered(text) {
		parts = append(parts, bleve.NewMatchAllQuery())
	} else {
		q, err := ParseQuery(text)
		if err != nil {
			return nil, err
		}
		parts = append(parts, q)
	}
	if !from.IsZero() || !to.IsZero() {
		t := true
		f := false
		dq := bleve.NewDateRangeInclusiveQuery(from, to, &t, &f)
		dq.SetField("time")
		parts = append(parts, dq)
	}
	if len(parts) == 1 {
		return parts[0], nil
	}
	return bleve.NewConjunctionQuery(parts...), nil
}

func (c *Case) bleveSearch(ctx context.Context, q Query) (*Result, error) {
	bq, err := parseQuery(q.Text, q.From, q.To)
	if err != nil {
		return nil, err
	}
	req := bleve.NewSearchRequestOptions(bq, q.Limit, q.Offset, false)
	if q.Newest {
		req.SortBy([]string{"-time", "-_id"})
	} else {
		req.SortBy([]string{"time", "_id"})
	}
	size := q.FacetSize
	if size <= 0 {
		size = 10
	}
	for _, f := range q.Facets {
		if !facetFields[f] && f != "code" {
			return nil, fmt.Errorf("cannot facet on %q (facet fields: %s)", f, strings.Join(FacetFields(), ", "))
		}
		req.AddFacet(f, bleve.NewFacetRequest(f, size))
	}
	sr, err := c.idx.SearchInContext(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("search %q: %w", q.Text, err)
	}
	res := &Result{Total: int(sr.Total)}
	err = c.db.View(func(tx *bolt.Tx) error {
		for _, h := range sr.Hits {
			r, err := rowOf(tx, EventID(h.ID))
			if err != nil {
				return err
			}
			res.Events = append(res.Events, r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(sr.Facets) > 0 {
		res.Facets = map[string][]FacetCount{}
		for name, fr := range sr.Facets {
			res.Facets[name] = facetCounts(fr)
		}
	}
	if q.Histogram > 0 && res.Total > 0 {
		if res.Histogram, err = c.bleveHistogram(ctx, q); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func facetCounts(fr *search.FacetResult) []FacetCount {
	out := []FacetCount{}
	if fr.Terms != nil {
		for _, t := range fr.Terms.Terms() {
			out = append(out, FacetCount{Value: t.Term, Count: t.Count})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Value < out[j].Value
	})
	return out
}

// bleveHistogram counts matches per interval with date-range facets over the range (or
// the case's span when unbounded).
func (c *Case) bleveHistogram(ctx context.Context, q Query) ([]Bucket, error) {
	from, to := q.From, q.To
	if from.IsZero() || to.IsZero() {
		info, err := c.Info()
		if err != nil {
			return nil, err
		}
		if from.IsZero() && info.First != nil {
			from = *info.First
		}
		if to.IsZero() && info.Last != nil {
			to = info.Last.Add(time.Nanosecond)
		}
	}
	h, err := newHistogram(from, to, q.Histogram)
	if err != nil {
		return nil, err
	}
	fr := bleve.NewFacetRequest("time", len(h.buckets))
	for i, b := range h.buckets {
		s, e := b.Start, b.Start.Add(q.Histogram)
		fr.AddDateTimeRange(itoa(i), s, e)
	}
	bq, err := parseQuery(q.Text, q.From, q.To)
	if err != nil {
		return nil, err
	}
	req := bleve.NewSearchRequestOptions(bq, 0, 0, false)
	req.AddFacet("h", fr)
	sr, err := c.idx.SearchInContext(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("histogram %q: %w", q.Text, err)
	}
	if f := sr.Facets["h"]; f != nil {
		for _, dr := range f.DateRanges {
			var i int
			if _, err := fmt.Sscan(dr.Name, &i); err == nil && i < len(h.buckets) {
				h.buckets[i].Count = dr.Count
			}
		}
	}
	return h.buckets, nil
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
		n += int(binary.BigEndian.Uint64(v))
	}
	return n, nil
}
