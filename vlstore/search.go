package vlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/index"
)

// Searcher is the read side of the store (index.EventSearcher) for one case.
type Searcher struct{ c *Client }

var _ index.EventSearcher = (*Searcher)(nil)

// NewSearcher reads the case c names.
func NewSearcher(c *Client) *Searcher { return &Searcher{c: c} }

// rowFields are the document fields a Row is read from (see fieldOf).
var rowFields = []string{"_time", "kubesleuth.id", "auditID", "stage", "user.name", "impersonatedUser.username",
	"source.ip", "user_agent.original", "event.action", "objectRef.apiGroup", "orchestrator.resource.type",
	"objectRef.subresource", "orchestrator.namespace", "orchestrator.resource.name", "http.response.status_code",
	"annotations.authorization.k8s.io/decision", "requestURI", "level", "user.groups", "sourceIPs",
	"annotations.authorization.k8s.io/reason", "kubesleuth.latency_ms"}

func fieldsPipe() string {
	q := make([]string, len(rowFields))
	for i, f := range rowFields {
		q[i] = quote(f)
	}
	return " | fields " + strings.Join(q, ", ")
}

// Pages are in (time, ID) order, as in the bleve store. VictoriaLogs sorts strings
// naturally (runs of digits as numbers: "3e…" before "12…"), so the ID's order is that
// of kubesleuth.key, the ID spelt in letters (export.SortKey).
const order = " | sort by (_time, kubesleuth.key)"
const orderDesc = " | sort by (_time desc, kubesleuth.key desc)"

func rowOf(m map[string]string) (index.Row, error) {
	t, err := time.Parse(time.RFC3339Nano, m["_time"])
	if err != nil {
		return index.Row{}, fmt.Errorf("VictoriaLogs answered an event without a readable _time")
	}
	r := index.Row{
		ID: index.EventID(m["kubesleuth.id"]), AuditID: m["auditID"], Stage: m["stage"], Time: t.UTC(),
		User: m["user.name"], Impersonate: m["impersonatedUser.username"], SourceIP: m["source.ip"],
		UserAgent: m["user_agent.original"], Verb: m["event.action"], APIGroup: m["objectRef.apiGroup"],
		Resource: m["orchestrator.resource.type"], Subresource: m["objectRef.subresource"],
		Namespace: m["orchestrator.namespace"], Name: m["orchestrator.resource.name"],
		Decision: m["annotations.authorization.k8s.io/decision"], URI: m["requestURI"], Level: m["level"],
		Reason: m["annotations.authorization.k8s.io/reason"], Latency: -1,
	}
	if v := m["http.response.status_code"]; v != "" {
		r.Code, _ = strconv.Atoi(v)
	}
	if v := m["kubesleuth.latency_ms"]; v != "" {
		r.Latency, _ = strconv.ParseInt(v, 10, 64)
	}
	for _, a := range []struct {
		f  string
		to *[]string
	}{{"user.groups", &r.Groups}, {"sourceIPs", &r.SourceIPs}} {
		if v := m[a.f]; v != "" {
			if err := json.Unmarshal([]byte(v), a.to); err != nil {
				return r, fmt.Errorf("event %s: %s is not a JSON array of strings", r.ID, a.f)
			}
		}
	}
	return r, nil
}

func (s *Searcher) rows(ctx context.Context, q string) ([]index.Row, error) {
	var out []index.Row
	err := s.c.Query(ctx, q, func(m map[string]string) error {
		r, err := rowOf(m)
		if err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	return out, err
}

// page is the rows [offset, offset+limit) of the filter's matches in (time, ID) order.
// VictoriaLogs finds the newest or oldest N by time alone without sorting every match
// (a sort by a second field made the newest 50 of a million events take 2.5 s): the
// page is the first offset+limit by time, less those at the last one's time, plus the
// events at that time in ID order (a second query, usually of a few events).
func (s *Searcher) page(ctx context.Context, filter string, newest bool, offset, limit int) ([]index.Row, error) {
	n := offset + limit
	dir := ""
	if newest {
		dir = " desc"
	}
	rows, err := s.rows(ctx, fmt.Sprintf("%s | sort by (_time%s) limit %d%s", filter, dir, n, fieldsPipe()))
	if err != nil {
		return nil, err
	}
	if len(rows) == n {
		edge := rows[n-1].Time
		kept := rows[:0]
		for _, r := range rows {
			if !r.Time.Equal(edge) {
				kept = append(kept, r)
			}
		}
		ts := edge.Format(time.RFC3339Nano)
		ties, err := s.rows(ctx, fmt.Sprintf("%s AND _time:[%s, %s] | sort by (kubesleuth.key%s) limit %d%s", filter, ts, ts, dir, n-len(kept), fieldsPipe()))
		if err != nil {
			return nil, err
		}
		rows = append(kept, ties...)
	}
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if newest {
			a, b = b, a
		}
		if !a.Time.Equal(b.Time) {
			return a.Time.Before(b.Time)
		}
		return a.ID < b.ID
	})
	if offset >= len(rows) {
		return []index.Row{}, nil
	}
	return rows[offset:min(len(rows), n)], nil
}

// maxBuckets bounds a histogram as the bleve store does.
const maxBuckets = 5000

// Search runs q: the page, the total and the histogram's range in VictoriaLogs, one
// query each (and one per facet).
func (s *Searcher) Search(ctx context.Context, q index.Query) (*index.Result, error) {
	start := time.Now()
	q, err := index.ApplyTime(q)
	if err != nil {
		return nil, err
	}
	if q.Limit <= 0 {
		q.Limit = 50
	}
	if q.Offset < 0 {
		q.Offset = 0
	}
	res := &index.Result{Events: []index.Row{}}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return res, nil
	}
	filter, err := LogsQL(s.c.Case, q.Text, q.From, q.To)
	if err != nil {
		return nil, err
	}
	if res.Events, err = s.page(ctx, filter, q.Newest, q.Offset, q.Limit); err != nil {
		return nil, err
	}
	if res.Events == nil {
		res.Events = []index.Row{}
	}
	var tmin, tmax time.Time
	err = s.c.Query(ctx, filter+" | stats count() as n, min(_time) as tmin, max(_time) as tmax", func(m map[string]string) error {
		res.Total, _ = strconv.Atoi(m["n"])
		tmin, _ = time.Parse(time.RFC3339Nano, m["tmin"])
		tmax, _ = time.Parse(time.RFC3339Nano, m["tmax"])
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(q.Facets) > 0 {
		res.Facets = map[string][]index.FacetCount{}
		size := q.FacetSize
		if size <= 0 {
			size = 10
		}
		for _, f := range q.Facets {
			fc, err := s.facet(ctx, filter, f, size)
			if err != nil {
				return nil, err
			}
			res.Facets[f] = fc
		}
	}
	if q.Histogram > 0 && res.Total > 0 {
		from, to := q.From, q.To
		if from.IsZero() {
			from = tmin
		}
		if to.IsZero() {
			to = tmax.Add(time.Nanosecond)
		}
		if res.Histogram, err = s.histogram(ctx, filter, from, to, q.Histogram); err != nil {
			return nil, err
		}
	}
	res.Took = time.Since(start)
	return res, nil
}

// facet is the top size values of field among the filter's matches, by count (then
// value), without the empty value.
func (s *Searcher) facet(ctx context.Context, filter, field string, size int) ([]index.FacetCount, error) {
	df := fieldOf[field]
	if df == "" || !validFacet(field) {
		return nil, fmt.Errorf("--facet %s: facets are %s", field, strings.Join(index.FacetFields(), ", "))
	}
	qf := quote(df)
	q := fmt.Sprintf("%s AND %s:* | stats by (%s) count() as n | sort by (n desc, %s) limit %d", filter, qf, qf, qf, size)
	out := []index.FacetCount{}
	err := s.c.Query(ctx, q, func(m map[string]string) error {
		n, _ := strconv.Atoi(m["n"])
		out = append(out, index.FacetCount{Value: m[df], Count: n})
		return nil
	})
	return out, err
}

func validFacet(f string) bool {
	for _, x := range index.FacetFields() {
		if x == f {
			return true
		}
	}
	return false
}

// histogram counts the matches per interval iv over [from, to), buckets starting at
// from truncated to iv (time.Time.Truncate, as the bleve store does).
func (s *Searcher) histogram(ctx context.Context, filter string, from, to time.Time, iv time.Duration) ([]index.Bucket, error) {
	from = from.Truncate(iv)
	n := int(math.Ceil(float64(to.Sub(from)) / float64(iv)))
	if to.Sub(from) >= time.Duration(math.MaxInt64) || n > maxBuckets {
		return nil, fmt.Errorf("histogram: %s intervals from %s to %s are more than %d: choose a longer interval or a shorter range",
			iv, from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339), maxBuckets)
	}
	if n < 1 {
		n = 1
	}
	buckets := make([]index.Bucket, n)
	for i := range buckets {
		buckets[i].Start = from.Add(time.Duration(i) * iv).UTC()
	}
	// VictoriaLogs aligns _time buckets to the Unix epoch, shifted back by offset (a
	// zone's: "offset 2h" starts days at 22:00 UTC): shift them onto from
	off := time.Duration(from.UnixNano() % int64(iv))
	if off < 0 {
		off += iv
	}
	off = (iv - off) % iv
	q := fmt.Sprintf("%s AND %s | stats by (_time:%dns offset %dns) count() as n", filter, timeFilter(from, to), iv.Nanoseconds(), off.Nanoseconds())
	err := s.c.Query(ctx, q, func(m map[string]string) error {
		t, err := time.Parse(time.RFC3339Nano, m["_time"])
		if err != nil {
			return fmt.Errorf("VictoriaLogs answered a histogram bucket without a readable time")
		}
		c, _ := strconv.Atoi(m["n"])
		if i := int(t.Sub(from) / iv); i >= 0 && i < len(buckets) {
			buckets[i].Count += c
		}
		return nil
	})
	return buckets, err
}

// Event returns one redacted event as stored (the bytes index.Prepare made).
func (s *Searcher) Event(id index.EventID) (json.RawMessage, error) {
	var out json.RawMessage
	q := fmt.Sprintf("kubesleuth.case:=%s AND kubesleuth.id:=%s | limit 1 | fields _msg", quote(s.c.Case), quote(string(id)))
	err := s.c.Query(context.Background(), q, func(m map[string]string) error {
		out = json.RawMessage(m["_msg"])
		return nil
	})
	if err == nil && out == nil {
		err = fmt.Errorf("event %s: %w", id, index.ErrNotFound)
	}
	return out, err
}

// Row returns the summary of one event.
func (s *Searcher) Row(id index.EventID) (index.Row, error) {
	rs, err := s.rows(context.Background(), fmt.Sprintf("kubesleuth.case:=%s AND kubesleuth.id:=%s | limit 1%s", quote(s.c.Case), quote(string(id)), fieldsPipe()))
	if err != nil {
		return index.Row{}, err
	}
	if len(rs) == 0 {
		return index.Row{}, fmt.Errorf("event %s: %w", id, index.ErrNotFound)
	}
	return rs[0], nil
}

// Around returns up to n events before and n after id (and id itself) in time order.
func (s *Searcher) Around(ctx context.Context, id index.EventID, n int) ([]index.Row, error) {
	r, err := s.Row(id)
	if err != nil {
		return nil, err
	}
	cs := "kubesleuth.case:=" + quote(s.c.Case)
	ts := r.Time.Format(time.RFC3339Nano)
	// the events at id's own time, then n on each side of that time: enough to cut
	// n before and n after id in the (time, ID) order
	same, err := s.rows(ctx, fmt.Sprintf("%s AND _time:[%s, %s]%s%s", cs, ts, ts, order, fieldsPipe()))
	if err != nil {
		return nil, err
	}
	before, err := s.rows(ctx, fmt.Sprintf("%s AND _time:<%s%s limit %d%s", cs, ts, orderDesc, n, fieldsPipe()))
	if err != nil {
		return nil, err
	}
	after, err := s.rows(ctx, fmt.Sprintf("%s AND _time:>%s%s limit %d%s", cs, ts, order, n, fieldsPipe()))
	if err != nil {
		return nil, err
	}
	var all []index.Row
	for i := len(before) - 1; i >= 0; i-- {
		all = append(all, before[i])
	}
	all = append(all, same...)
	all = append(all, after...)
	at := -1
	for i, x := range all {
		if x.ID == id {
			at = i
		}
	}
	if at < 0 {
		return nil, fmt.Errorf("event %s: %w", id, index.ErrNotFound)
	}
	lo, hi := max(0, at-n), min(len(all), at+n+1)
	return all[lo:hi], nil
}

// ResolveEvidence maps f's evidence auditIDs to the stored events, every stage of each,
// in time order (in batches of 100 auditIDs a query: VictoriaLogs bounds a query to 16 KiB).
func (s *Searcher) ResolveEvidence(f analyzer.Finding) ([]index.Row, error) {
	var out []index.Row
	for i := 0; i < len(f.AuditIDs); i += 100 {
		part := f.AuditIDs[i:min(i+100, len(f.AuditIDs))]
		qs := make([]string, len(part))
		for j, a := range part {
			qs[j] = quote(a)
		}
		rs, err := s.rows(context.Background(), fmt.Sprintf("kubesleuth.case:=%s AND auditID:in(%s)%s%s", quote(s.c.Case), strings.Join(qs, ","), order, fieldsPipe()))
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}

// errNoStore is returned by OpenCase for a case whose events are in its folder.
var errNoStore = errors.New("the case's events are in its folder, not in VictoriaLogs")

// Messages returns the stored events of rows (index.Prepare's bytes) by ID, 200 IDs a
// query within the rows' time range: a page of events for export costs a few queries,
// not one per event. An ID the store does not hold is absent from the map.
func (s *Searcher) Messages(ctx context.Context, rows []index.Row) (map[index.EventID]json.RawMessage, error) {
	out := make(map[index.EventID]json.RawMessage, len(rows))
	for i := 0; i < len(rows); i += 200 {
		part := rows[i:min(i+200, len(rows))]
		lo, hi := part[0].Time, part[0].Time
		ids := make([]string, len(part))
		for j, r := range part {
			lo, hi = minT(lo, r.Time), maxT(hi, r.Time)
			ids[j] = quote(string(r.ID))
		}
		q := fmt.Sprintf("kubesleuth.case:=%s AND %s AND kubesleuth.id:in(%s) | fields kubesleuth.id, _msg",
			quote(s.c.Case), timeFilter(lo, hi.Add(time.Nanosecond)), strings.Join(ids, ","))
		if err := s.c.Query(ctx, q, func(m map[string]string) error {
			out[index.EventID(m["kubesleuth.id"])] = json.RawMessage(m["_msg"])
			return nil
		}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Messages is Searcher.Messages for the case.
func (c *Case) Messages(ctx context.Context, rows []index.Row) (map[index.EventID]json.RawMessage, error) {
	return c.s.Messages(ctx, rows)
}
