package index

import (
	"container/heap"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search/query"
	bolt "go.etcd.io/bbolt"
)

// plan is a filtered query split between the group documents and the members.
type plan struct {
	// groups selects the groups that may hold matches (nil: every group).
	groups query.Query
	// verify checks each member of a selected group (nil: every member matches).
	verify *rowMatcher
	// byAuditID lists the auditIDs of a positive auditID clause: the members are found
	// through the ID index instead of the groups.
	byAuditID []string
	from, to  uint64 // time prefixes, [from, to)
}

// looseFields are not part of a group's signature: a group cannot answer them exactly.
var looseFields = map[string]bool{"auditID": true, "requestURI": true, "latency": true}

func planQuery(q Query) (*plan, error) {
	p := &plan{from: 0, to: math.MaxUint64}
	if !q.From.IsZero() {
		p.from = timePrefix(q.From)
	}
	if !q.To.IsZero() {
		p.to = timePrefix(q.To)
	}
	var cs []Clause
	if !unfiltered(q.Text) {
		var err error
		if cs, err = ParseClauses(q.Text); err != nil {
			return nil, err
		}
	}
	b := bleve.NewBooleanQuery()
	must, mustNot, loose := 0, 0, false
	for _, c := range cs {
		if !looseFields[c.Field] {
			if c.Not {
				b.AddMustNot(clauseQuery(c))
				mustNot++
			} else {
				b.AddMust(clauseQuery(c))
				must++
			}
			continue
		}
		loose = true
		if c.Not {
			continue // a group holding one match may hold others that do not match
		}
		switch c.Field {
		case "auditID":
			if !strings.ContainsAny(c.Value, "*?") {
				p.byAuditID = append(p.byAuditID, c.Value)
			}
		case "requestURI":
			b.AddMust(clauseQuery(c)) // the group's URIs are its members' union
			must++
		case "latency":
			v, _ := strconv.ParseFloat(c.Value, 64)
			b.AddMust(latencyQuery(c.Op, v))
			must++
		}
	}
	if loose {
		m, err := newRowMatcher(cs)
		if err != nil {
			return nil, err
		}
		p.verify = m
	}
	if !q.From.IsZero() || !q.To.IsZero() {
		// the groups of the hours the range touches; members are cut to it exactly
		lo, hi := "", ""
		if !q.From.IsZero() {
			lo = hourTerm(q.From)
		}
		if !q.To.IsZero() {
			hi = hourTerm(q.To)
		}
		t := true
		tq := bleve.NewTermRangeInclusiveQuery(lo, hi, &t, &t)
		tq.SetField("hour")
		b.AddMust(tq)
		must++
	}
	if must+mustNot > 0 {
		if must == 0 {
			b.AddMust(bleve.NewMatchAllQuery())
		}
		p.groups = b
	}
	return p, nil
}

// matchedGroup is one group with matches: every member (whole) or the listed ones.
type matchedGroup struct {
	gid   uint64
	h     groupHeader
	sig   signature
	whole bool
	keys  [][]byte // the matching members when !whole (in order); loaded lazily when whole
	n     int
}

func (g *matchedGroup) first() uint64 {
	if g.whole {
		return g.h.Tmin
	}
	return prefixOf(g.keys[0])
}

func (g *matchedGroup) last() uint64 {
	if g.whole {
		return g.h.Tmax
	}
	return prefixOf(g.keys[len(g.keys)-1])
}

// groupSearch answers a filtered query (or any query with facets): bleve selects the
// groups, the store's group headers give counts and facet values, members are read only
// where needed (the edges of a time range, loose clauses, the page, fine histograms).
func (c *Case) groupSearch(ctx context.Context, q Query) (*Result, error) {
	p, err := planQuery(q)
	if err != nil {
		return nil, err
	}
	size := q.FacetSize
	if size <= 0 {
		size = 10
	}
	for _, f := range q.Facets {
		if !facetFields[f] && f != "code" {
			return nil, fmt.Errorf("cannot facet on %q (facet fields: %s)", f, strings.Join(FacetFields(), ", "))
		}
	}
	var gids []uint64
	if p.groups != nil && p.byAuditID == nil {
		if gids, err = c.selectGroups(ctx, p.groups); err != nil {
			return nil, err
		}
	}
	res := &Result{}
	err = c.db.View(func(tx *bolt.Tx) error {
		var gs []*matchedGroup
		var err error
		if p.byAuditID != nil {
			gs, err = c.byAuditID(tx, p)
		} else {
			gs, err = c.matchGroups(ctx, tx, p, gids)
		}
		if err != nil {
			return err
		}
		for _, g := range gs {
			res.Total += g.n
		}
		if len(q.Facets) > 0 {
			res.Facets = map[string][]FacetCount{}
			for _, f := range q.Facets {
				res.Facets[f] = facet(gs, f, size)
			}
		}
		if q.Histogram > 0 && res.Total > 0 {
			if res.Histogram, err = groupHistogram(ctx, tx, gs, q); err != nil {
				return err
			}
		}
		if q.Limit > 0 && res.Total > q.Offset {
			res.Events, err = c.page(tx, gs, q)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// selectGroups runs the group query and returns the matching group numbers, sorted.
func (c *Case) selectGroups(ctx context.Context, bq query.Query) (_ []uint64, err error) {
	defer guard(c.dir, indexDir+"/", &err)()
	n, err := c.idx.DocCount()
	if err != nil {
		return nil, damaged(indexDir+"/", "unreadable: %v", err)
	}
	req := bleve.NewSearchRequestOptions(bq, int(n)+1, 0, false)
	req.Score = "none"
	req.SortBy([]string{"_id"})
	sr, err := c.idx.SearchInContext(ctx, req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, damaged(indexDir+"/", "the search failed: %v", err)
	}
	out := make([]uint64, 0, len(sr.Hits))
	for _, h := range sr.Hits {
		g, err := docGid(h.ID)
		if err != nil {
			return nil, damaged(indexDir+"/", "a document of %d bytes does not name a group", len(h.ID))
		}
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// matchGroups reads the selected groups (every group when gids is nil and the plan has
// no group query) and checks members where the group alone cannot tell.
func (c *Case) matchGroups(ctx context.Context, tx *bolt.Tx, p *plan, gids []uint64) ([]*matchedGroup, error) {
	var out []*matchedGroup
	gb, mb := tx.Bucket(bGroups), tx.Bucket(bMembers)
	tb := tx.Bucket(bTime)
	n := 0
	visit := func(gid uint64, hv []byte) error {
		if n++; n&0x3ff == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		h, err := decodeHeader(hv)
		if err != nil {
			return fmt.Errorf("group %d: %w", gid, err)
		}
		if h.Tmax < p.from || h.Tmin >= p.to {
			return nil
		}
		g := &matchedGroup{gid: gid, h: h}
		if p.verify == nil && h.Tmin >= p.from && h.Tmax < p.to {
			g.whole, g.n = true, h.Count
		} else {
			var r Row
			var merr error
			err := eachMember(mb.Get(gidKey(gid)), func(k []byte) bool {
				tp := prefixOf(k)
				if tp < p.from || tp >= p.to {
					return true
				}
				if p.verify != nil {
					raw := tb.Get(k)
					r = Row{}
					if raw == nil {
						merr = damaged(storeFile, "a member of group %d has no row", gid)
						return false
					}
					if merr = c.sigs.decodeRow(tx, k, raw, &r); merr != nil {
						return false
					}
					if !p.verify.match(&r) {
						return true
					}
				}
				g.keys = append(g.keys, k)
				return true
			})
			if err == nil {
				err = merr
			}
			if err != nil {
				return fmt.Errorf("group %d: %w", gid, err)
			}
			if g.n = len(g.keys); g.n == 0 {
				return nil
			}
		}
		if g.sig, err = decodeSignature(h.sig); err != nil {
			return fmt.Errorf("group %d: %w", gid, err)
		}
		out = append(out, g)
		return nil
	}
	if p.groups == nil {
		cur := gb.Cursor()
		for k, v := cur.First(); k != nil; k, v = cur.Next() {
			if err := visit(binary.BigEndian.Uint64(k), v); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	for _, gid := range gids {
		v := gb.Get(gidKey(gid))
		if v == nil {
			continue // written by an ingest that did not finish its store transaction
		}
		if err := visit(gid, v); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// byAuditID answers a query with a positive auditID clause from the ID index: each
// stage of the auditID is checked against every clause.
func (c *Case) byAuditID(tx *bolt.Tx, p *plan) ([]*matchedGroup, error) {
	cur := tx.Bucket(bEvents).Cursor()
	tb := tx.Bucket(bTime)
	var keys [][]byte
	for _, a := range p.byAuditID {
		pre := []byte(a + "/")
		for k, v := cur.Seek(pre); k != nil && strings.HasPrefix(string(k), string(pre)); k, v = cur.Next() {
			tk, ok := timeKeyOf(v, k)
			if !ok {
				return nil, damaged(storeFile, "an entry of the ID index does not decode")
			}
			tp := prefixOf(tk)
			if tp < p.from || tp >= p.to {
				continue
			}
			raw := tb.Get(tk)
			if raw == nil {
				return nil, damaged(storeFile, "an event of the ID index has no row")
			}
			var r Row
			if err := c.sigs.decodeRow(tx, tk, raw, &r); err != nil {
				return nil, err
			}
			if !p.verify.match(&r) {
				continue
			}
			keys = append(keys, tk)
		}
	}
	var out []*matchedGroup
	for _, k := range keys {
		var r Row
		if err := c.sigs.decodeRow(tx, k, tb.Get(k), &r); err != nil {
			return nil, err
		}
		// one pseudo-group per event: its signature gives the facet values
		out = append(out, &matchedGroup{keys: [][]byte{k}, n: 1, sig: sigOfRow(&r)})
	}
	return out, nil
}

func sigOfRow(r *Row) signature {
	s, _ := decodeSignature(signatureOf(r))
	return s
}

// facet counts the values of field over the matches and returns the top size, most
// frequent first (ties by value).
func facet(gs []*matchedGroup, field string, size int) []FacetCount {
	counts := map[string]int{}
	var vals []string
	for _, g := range gs {
		vals = g.sig.facetValues(field, vals[:0])
		for _, v := range vals {
			counts[v] += g.n
		}
	}
	out := make([]FacetCount, 0, len(counts))
	for v, n := range counts {
		out = append(out, FacetCount{Value: v, Count: n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Value < out[j].Value
	})
	if len(out) > size {
		out = out[:size]
	}
	return out
}

// members returns a whole group's member keys.
func members(tx *bolt.Tx, g *matchedGroup) ([][]byte, error) {
	if !g.whole {
		return g.keys, nil
	}
	var keys [][]byte
	err := eachMember(tx.Bucket(bMembers).Get(gidKey(g.gid)), func(k []byte) bool {
		keys = append(keys, k)
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("group %d: %w", g.gid, err)
	}
	return keys, nil
}

// groupHistogram counts matches per interval: a whole group within one interval adds its
// count, others add each member.
func groupHistogram(ctx context.Context, tx *bolt.Tx, gs []*matchedGroup, q Query) ([]Bucket, error) {
	from, to := q.From, q.To
	if from.IsZero() || to.IsZero() {
		lo, hi := uint64(math.MaxUint64), uint64(0)
		for _, g := range gs {
			lo, hi = min(lo, g.first()), max(hi, g.last())
		}
		if from.IsZero() {
			from = prefixTime(lo)
		}
		if to.IsZero() {
			to = prefixTime(hi).Add(time.Nanosecond)
		}
	}
	h, err := newHistogram(from, to, q.Histogram)
	if err != nil {
		return nil, err
	}
	for i, g := range gs {
		if i&0x3ff == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if g.whole {
			if j := h.index(prefixTime(g.h.Tmin)); j == h.index(prefixTime(g.h.Tmax)) {
				if j >= 0 && j < len(h.buckets) {
					h.buckets[j].Count += g.n
				}
				continue
			}
		}
		keys, err := members(tx, g)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			h.add(keyTime(k))
		}
	}
	return h.buckets, nil
}

// cursor walks one group's matching members in the page's order.
type cursor struct {
	keys [][]byte
	pos  int
}

type cursorHeap struct {
	cs     []*cursor
	newest bool
}

func (h *cursorHeap) Len() int { return len(h.cs) }
func (h *cursorHeap) Less(i, j int) bool {
	a, b := string(h.cs[i].keys[h.cs[i].pos]), string(h.cs[j].keys[h.cs[j].pos])
	if h.newest {
		return a > b
	}
	return a < b
}
func (h *cursorHeap) Swap(i, j int) { h.cs[i], h.cs[j] = h.cs[j], h.cs[i] }
func (h *cursorHeap) Push(x any)    { h.cs = append(h.cs, x.(*cursor)) }
func (h *cursorHeap) Pop() any {
	c := h.cs[len(h.cs)-1]
	h.cs = h.cs[:len(h.cs)-1]
	return c
}

// page merges the groups' members in time order (newest first when asked) and returns
// rows Offset..Offset+Limit. Groups join the merge only when the merge reaches their
// first time, so a page reads the members of the groups it shows, not of every match.
func (c *Case) page(tx *bolt.Tx, gs []*matchedGroup, q Query) ([]Row, error) {
	order := append([]*matchedGroup(nil), gs...)
	if q.Newest {
		sort.Slice(order, func(i, j int) bool { return order[i].last() > order[j].last() })
	} else {
		sort.Slice(order, func(i, j int) bool { return order[i].first() < order[j].first() })
	}
	h := &cursorHeap{newest: q.Newest}
	next := 0
	activate := func(g *matchedGroup) error {
		keys, err := members(tx, g)
		if err != nil {
			return err
		}
		if q.Newest {
			rev := make([][]byte, len(keys))
			for i, k := range keys {
				rev[len(keys)-1-i] = k
			}
			keys = rev
		}
		if len(keys) > 0 {
			heap.Push(h, &cursor{keys: keys})
		}
		return nil
	}
	need := q.Offset + q.Limit
	var keys [][]byte
	for len(keys) < need {
		for next < len(order) {
			if h.Len() > 0 {
				top := prefixOf(h.cs[0].keys[h.cs[0].pos])
				g := order[next]
				if (!q.Newest && g.first() > top) || (q.Newest && g.last() < top) {
					break
				}
			}
			if err := activate(order[next]); err != nil {
				return nil, err
			}
			next++
		}
		if h.Len() == 0 {
			break
		}
		c := h.cs[0]
		keys = append(keys, c.keys[c.pos])
		if c.pos++; c.pos == len(c.keys) {
			heap.Pop(h)
		} else {
			heap.Fix(h, 0)
		}
	}
	if len(keys) <= q.Offset {
		return nil, nil
	}
	tb := tx.Bucket(bTime)
	rows := make([]Row, 0, len(keys)-q.Offset)
	for _, k := range keys[q.Offset:] {
		var r Row
		raw := tb.Get(k)
		if raw == nil {
			return nil, damaged(storeFile, "a group member at %s has no row", keyTime(k).Format(time.RFC3339Nano))
		}
		if err := c.sigs.decodeRow(tx, k, raw, &r); err != nil {
			return nil, fmt.Errorf("decoding row: %w", err)
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// latencyQuery finds the groups whose latency buckets may hold a member that meets the
// clause (the members are checked exactly afterwards).
func latencyQuery(op string, v float64) query.Query {
	b := latencyBucket(int64(math.Ceil(v)))
	if v < 0 {
		b = 0
	}
	t := true
	var q *query.TermRangeQuery
	switch op {
	case ">", ">=":
		q = bleve.NewTermRangeInclusiveQuery(latencyTerm(latencyBucket(int64(math.Floor(v)))), "", &t, nil)
	case "<", "<=":
		q = bleve.NewTermRangeInclusiveQuery("", latencyTerm(b), nil, &t)
	default:
		q = bleve.NewTermRangeInclusiveQuery(latencyTerm(b), latencyTerm(b), &t, &t)
	}
	q.SetField("latency")
	return q
}
