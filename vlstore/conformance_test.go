package vlstore

// The conformance suite: the same queries, facets, histograms, time ranges, pages and
// fetches by ID against the case folder's store (bbolt + bleve) and VictoriaLogs (one
// node, and a cluster of two storage nodes behind an insert/select node), on the same
// generated case, each compared with a brute-force scan of the events. The query table
// is the bleve store's own (index/index_test.go, bruteForce), restated here because a
// test file of package index cannot be imported.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/index"
	"github.com/kubesleuth/kubesleuth/ingest/audit"
	"github.com/kubesleuth/kubesleuth/internal/generate"
	"github.com/kubesleuth/kubesleuth/internal/vlogstest"
)

type fixture struct {
	events []*auditv1.Event
	rows   []index.Row
	prep   []*index.Prepared
	// stores under test, by name
	stores  map[string]store
	names   []string
	finding analyzer.Finding
}

// store is what the suite asks of each event store.
type store interface {
	index.EventSearcher
	ResolveEvidence(f analyzer.Finding) ([]index.Row, error)
}

var start = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)

// generated writes two bursts 150 minutes apart (index_test.go's buildCaseOrder) and
// reads them back as the ingest does (the audit reader, index.Prepare).
func generated(t *testing.T, events int) *fixture {
	t.Helper()
	dir := t.TempDir()
	var buf bytes.Buffer
	if _, err := generate.Audit(&buf, generate.Options{Events: events / 2, Seed: 3, Attacks: true, Start: start}); err != nil {
		t.Fatal(err)
	}
	if _, err := generate.Audit(&buf, generate.Options{Events: events - events/2, Seed: 4, Attacks: true, Start: start.Add(150 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "audit.log")
	if err := os.WriteFile(log, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := audit.Open([]string{log}, audit.Options{Prepare: func() func(*auditv1.Event) any {
		return func(ev *auditv1.Event) any { p, _ := index.Prepare(ev); return p }
	}})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{stores: map[string]store{}}
	err = r.Each(context.Background(), func(rec audit.Record) error {
		p := rec.Prepared.(*index.Prepared)
		f.events = append(f.events, rec.Event)
		f.rows = append(f.rows, p.Row)
		f.prep = append(f.prep, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	f.finding = analyzer.Finding{RuleID: "t1", Severity: analyzer.High, AuditIDs: []string{string(f.events[10].AuditID), string(f.events[500].AuditID)}}
	return f
}

// addBleve writes the events into a case folder.
func (f *fixture) addBleve(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "case")
	w, err := index.Create(dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.prep {
		if err := w.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Finish(nil, []byte(`{}`), nil, nil); err != nil {
		t.Fatal(err)
	}
	w.Close()
	c, err := index.Open(dir, index.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	f.stores["bleve"] = c
	f.names = append(f.names, "bleve")
}

// addVL writes the events into a VictoriaLogs through the store's writer, in the
// pipeline's batches (Classify, then Add), and checks the run (Commit).
func (f *fixture) addVL(t *testing.T, name string, cluster bool) {
	s := vlogstest.Start(t, vlogstest.Options{Cluster: cluster})
	c, err := NewClient(strings.Replace(s.URL, "http://", Scheme+"://", 1), "conformance")
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWriter(context.Background(), c, "run-1")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(f.prep); i += index.BatchSize {
		batch := f.prep[i:min(i+index.BatchSize, len(f.prep))]
		st, err := w.Classify(batch)
		if err != nil {
			t.Fatal(err)
		}
		for j, p := range batch {
			if st[j] != index.New {
				t.Fatalf("event %s of a fresh store classified %v", p.ID, st[j])
			}
			if err := w.Add(p); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	f.stores[name] = NewSearcher(c)
	f.names = append(f.names, name)
}

func sortRows(rs []index.Row) {
	sort.SliceStable(rs, func(i, j int) bool {
		if !rs[i].Time.Equal(rs[j].Time) {
			return rs[i].Time.Before(rs[j].Time)
		}
		return rs[i].ID < rs[j].ID
	})
}

func ids(rs []index.Row) []index.EventID {
	out := make([]index.EventID, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

func minTime(a, b time.Time) time.Time { return minT(a, b) }
func maxTime(a, b time.Time) time.Time { return maxT(a, b) }

// words splits like bleve's standard analyzer does for these ASCII texts.
func words(s string) []string { return wordsOf(s) }

func latency(e *auditv1.Event) int64 {
	if e.StageTimestamp.IsZero() || e.RequestReceivedTimestamp.IsZero() {
		return -1
	}
	return e.StageTimestamp.Sub(e.RequestReceivedTimestamp.Time).Milliseconds()
}

func TestConformance(t *testing.T) {
	f := generated(t, 4000)
	f.addBleve(t)
	f.addVL(t, "victorialogs", false)
	f.addVL(t, "victorialogs-cluster", true)
	t.Run("queries", func(t *testing.T) { f.queries(t) })
	t.Run("facets and histograms", func(t *testing.T) { f.facetsAndHistograms(t) })
	t.Run("fetch by ID", func(t *testing.T) { f.fetch(t) })
	t.Run("hostile values", func(t *testing.T) { f.hostile(t) })
}

// hostile: values that are LogsQL syntax (quotes, pipes, parentheses, a filter that
// matches everything) are values, not query: every store finds the same (nothing, or the
// events whose field is that text), and none fails.
func (f *fixture) hostile(t *testing.T) {
	for _, text := range []string{
		`user:"a\"b"`, `user:"x) OR (*"`, `name:"| stats count()"`, `user:"\\"`, `"* OR kubesleuth.case:*"`,
		`namespace:"kube-system\" OR \"x"`, `user:é*`, `requestURI:"\" | delete _msg"`, `group:"\"]"`, `group:"a\"*"`,
	} {
		var totals []int
		for _, name := range f.names {
			res, err := f.stores[name].Search(context.Background(), index.Query{Text: text, Limit: 5, Facets: []string{"user"}})
			if err != nil {
				t.Errorf("%s %q: %v", name, text, err)
				continue
			}
			totals = append(totals, res.Total)
		}
		for _, n := range totals[1:] {
			if n != totals[0] {
				t.Errorf("%q: totals %v differ between %v", text, totals, f.names)
			}
		}
	}
}

func (f *fixture) queries(t *testing.T) {
	mid := f.rows[len(f.rows)/2].Time
	later := mid.Add(5 * time.Minute)
	first, last := f.rows[0].Time, f.rows[0].Time
	for _, r := range f.rows {
		first, last = minTime(first, r.Time), maxTime(last, r.Time)
	}
	hasGroup := func(ev *auditv1.Event, g string) bool { return slices.Contains(ev.User.Groups, g) }
	ref := func(ev *auditv1.Event) *auditv1.ObjectReference {
		if ev.ObjectRef == nil {
			return &auditv1.ObjectReference{}
		}
		return ev.ObjectRef
	}
	code := func(ev *auditv1.Event) int32 {
		if ev.ResponseStatus == nil {
			return 0
		}
		return ev.ResponseStatus.Code
	}
	// time clauses: the brute force applies the range they name (from, to)
	minute := func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04") }
	sec := func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05") }
	plus2 := time.FixedZone("+02:00", 2*3600)
	midM, laterM := mid.Truncate(time.Minute), later.Truncate(time.Minute)
	midS, laterS := mid.Truncate(time.Second), later.Truncate(time.Second)
	day := time.Date(mid.Year(), mid.Month(), mid.Day(), 0, 0, 0, 0, time.UTC)
	type bfCase = struct {
		name     string
		q        index.Query
		want     func(*auditv1.Event) bool
		nonEmpty bool
	}
	// the range the brute force applies instead of q.From, q.To (the time: clauses')
	ranges := map[string][2]time.Time{}
	tc := func(name string, q index.Query, want func(*auditv1.Event) bool, nonEmpty bool, from, to time.Time) bfCase {
		ranges[name] = [2]time.Time{from, to}
		return bfCase{name, q, want, nonEmpty}
	}
	all := func(*auditv1.Event) bool { return true }
	cutUS := f.rows[len(f.rows)/3].Time
	cases := []bfCase{
		tc("time range clause", index.Query{Text: "verb:get time:[" + minute(mid) + " TO " + minute(later) + "]"},
			func(e *auditv1.Event) bool { return e.Verb == "get" }, true, midM, laterM.Add(time.Minute)),
		tc("time bounds alone (the store walk)", index.Query{Text: "time:>=" + sec(mid) + " time:<" + sec(later)}, all, true, midS, laterS),
		tc("time up to a day, with From", index.Query{Text: "resource:secrets time:<=" + day.Format("2006-01-02"), From: mid},
			func(e *auditv1.Event) bool { return ref(e).Resource == "secrets" }, true, mid, day.Add(24*time.Hour)),
		tc("time range with a zone", index.Query{Text: "-verb:watch time:" + midM.In(plus2).Format("2006-01-02T15:04-07:00") + ".." + laterM.In(plus2).Format("2006-01-02T15:04-07:00")},
			func(e *auditv1.Event) bool { return e.Verb != "watch" }, true, midM, laterM.Add(time.Minute)),
		tc("time after, strictly", index.Query{Text: "verb:list time:>" + sec(mid)},
			func(e *auditv1.Event) bool { return e.Verb == "list" }, true, midS.Add(time.Second), time.Time{}),
		tc("time within a minute", index.Query{Text: "time:" + minute(mid)}, all, true, midM, midM.Add(time.Minute)),
		tc("time clauses that do not meet", index.Query{Text: "time:<" + sec(mid) + " time:>=" + sec(later)}, all, false, later, later),
		tc("time to the microsecond", index.Query{Text: "verb:get time:<=" + cutUS.UTC().Format("2006-01-02T15:04:05.000000Z")},
			func(e *auditv1.Event) bool { return e.Verb == "get" }, true, time.Time{}, cutUS.Truncate(time.Microsecond).Add(time.Microsecond)),
		{"everything", index.Query{Text: ""}, func(*auditv1.Event) bool { return true }, true},
		{"star in a range", index.Query{Text: "*", From: mid, To: later}, func(*auditv1.Event) bool { return true }, true},
		{"term", index.Query{Text: "verb:get"}, func(e *auditv1.Event) bool { return e.Verb == "get" }, true},
		{"conjunction", index.Query{Text: "verb:list resource:secrets"}, func(e *auditv1.Event) bool { return e.Verb == "list" && ref(e).Resource == "secrets" }, true},
		{"negation", index.Query{Text: "resource:secrets -verb:get"}, func(e *auditv1.Event) bool { return ref(e).Resource == "secrets" && e.Verb != "get" }, true},
		{"only negations", index.Query{Text: "-verb:get -verb:watch"}, func(e *auditv1.Event) bool { return e.Verb != "get" && e.Verb != "watch" }, true},
		{"prefix", index.Query{Text: "userAgent:kubectl*"}, func(e *auditv1.Event) bool { return strings.HasPrefix(e.UserAgent, "kubectl") }, true},
		{"value with colons", index.Query{Text: "group:system:masters"}, func(e *auditv1.Event) bool { return hasGroup(e, "system:masters") }, false},
		{"quoted value", index.Query{Text: `group:"system:authenticated" verb:create`}, func(e *auditv1.Event) bool { return hasGroup(e, "system:authenticated") && e.Verb == "create" }, true},
		{"numeric", index.Query{Text: "code:>=400"}, func(e *auditv1.Event) bool { return code(e) >= 400 }, true},
		// code and latency are fixed-width terms and buckets: every bound form
		{"code greater, fractional", index.Query{Text: "code:>399.5"}, func(e *auditv1.Event) bool { return code(e) >= 400 }, true},
		{"code below", index.Query{Text: "code:<300"}, func(e *auditv1.Event) bool { c := code(e); return c != 0 && c < 300 }, true},
		{"code at most", index.Query{Text: "code:<=201"}, func(e *auditv1.Event) bool { c := code(e); return c != 0 && c <= 201 }, true},
		{"code equals", index.Query{Text: "code:404"}, func(e *auditv1.Event) bool { return code(e) == 404 }, false},
		{"code above", index.Query{Text: "code:>200 verb:get"}, func(e *auditv1.Event) bool { return code(e) > 200 && e.Verb == "get" }, false},
		{"no code below zero", index.Query{Text: "code:<0"}, func(e *auditv1.Event) bool { return false }, false},
		{"latency zero", index.Query{Text: "latency:<=0"}, func(e *auditv1.Event) bool { return latency(e) == 0 }, false},
		{"latency above", index.Query{Text: "latency:>100"}, func(e *auditv1.Event) bool { return latency(e) > 100 }, false},
		{"range cutting hours", index.Query{Text: "verb:get", From: first.Add(90 * time.Second), To: last.Add(-70 * time.Second)}, func(e *auditv1.Event) bool { return e.Verb == "get" }, true},
		{"bare value", index.Query{Text: "kube-system"}, func(e *auditv1.Event) bool {
			r := ref(e)
			return r.Namespace == "kube-system" || r.Name == "kube-system" || r.Resource == "kube-system" || e.User.Username == "kube-system"
		}, true},
		{"term in a time range", index.Query{Text: "verb:update", From: mid, To: later}, func(e *auditv1.Event) bool { return e.Verb == "update" }, true},
		{"stage", index.Query{Text: "stage:RequestReceived subresource:exec"}, func(e *auditv1.Event) bool {
			return e.Stage == "RequestReceived" && ref(e).Subresource == "exec"
		}, true},
		{"no match", index.Query{Text: "user:nobody-at-all"}, func(*auditv1.Event) bool { return false }, false},
		// loose fields: groups find candidates, members are checked
		{"uri text", index.Query{Text: "requestURI:leases"}, func(e *auditv1.Event) bool { return slices.Contains(words(e.RequestURI), "leases") }, true},
		{"uri and verb in a range", index.Query{Text: "verb:get requestURI:secrets", From: mid, To: later.Add(time.Hour)}, func(e *auditv1.Event) bool {
			return e.Verb == "get" && slices.Contains(words(e.RequestURI), "secrets")
		}, true},
		{"negated uri", index.Query{Text: "verb:list -requestURI:watch"}, func(e *auditv1.Event) bool { return e.Verb == "list" && !slices.Contains(words(e.RequestURI), "watch") }, true},
		{"slow", index.Query{Text: "latency:>=40"}, func(e *auditv1.Event) bool { return latency(e) >= 40 }, true},
		{"fast gets", index.Query{Text: "verb:get latency:<3"}, func(e *auditv1.Event) bool { return e.Verb == "get" && latency(e) >= 0 && latency(e) < 3 }, true},
		{"latency equals", index.Query{Text: "latency:5"}, func(e *auditv1.Event) bool { return latency(e) == 5 }, true},
		{"auditID", index.Query{Text: "auditID:" + string(f.events[77].AuditID)}, func(e *auditv1.Event) bool { return e.AuditID == f.events[77].AuditID }, true},
		{"auditID and stage", index.Query{Text: "stage:ResponseComplete auditID:" + string(f.events[77].AuditID)}, func(e *auditv1.Event) bool {
			return e.AuditID == f.events[77].AuditID && e.Stage == "ResponseComplete"
		}, false},
		{"auditID prefix", index.Query{Text: "auditID:" + string(f.events[5].AuditID)[:3] + "*"}, func(e *auditv1.Event) bool {
			return strings.HasPrefix(string(e.AuditID), string(f.events[5].AuditID)[:3])
		}, true},
		{"wildcard", index.Query{Text: "name:*-?"}, func(e *auditv1.Event) bool {
			n := ref(e).Name
			return len(n) >= 2 && n[len(n)-2] == '-'
		}, false},
		{"reason text", index.Query{Text: "reason:rbac"}, func(e *auditv1.Event) bool {
			return slices.Contains(words(e.Annotations["authorization.k8s.io/reason"]), "rbac")
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var want []index.Row
			from, to := tc.q.From, tc.q.To
			if r, ok := ranges[tc.name]; ok {
				from, to = r[0], r[1]
			}
			for i, ev := range f.events {
				tm := f.rows[i].Time
				if (!from.IsZero() && tm.Before(from)) || (!to.IsZero() && !tm.Before(to)) {
					continue
				}
				if tc.want(ev) {
					want = append(want, f.rows[i])
				}
			}
			sortRows(want)
			if tc.nonEmpty && len(want) == 0 {
				t.Fatal("the brute force finds nothing: the case proves nothing")
			}
			for _, name := range f.names {
				s := f.stores[name]
				for _, newest := range []bool{false, true} {
					q := tc.q
					q.Limit, q.Newest = len(f.rows)+1, newest
					res, err := s.Search(context.Background(), q)
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					w := ids(want)
					if newest {
						slices.Reverse(w)
					}
					if res.Total != len(want) {
						t.Errorf("%s newest=%v: total %d, brute force %d", name, newest, res.Total, len(want))
					}
					if got := ids(res.Events); !slices.Equal(got, w) {
						i := 0
						for i < min(len(got), len(w)) && got[i] == w[i] {
							i++
						}
						t.Errorf("%s newest=%v: %d results differ from the brute force's %d, first at %d", name, newest, len(got), len(w), i)
						if i < min(len(got), len(w)) {
							t.Logf("got %s at %s, want %s", got[i], res.Events[i].Time.Format(time.RFC3339Nano), w[i])
						}
					}
				}
				if len(want) > 10 { // a page in the middle
					q := tc.q
					q.Limit, q.Offset = 5, 5
					res, err := s.Search(context.Background(), q)
					if err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(ids(res.Events), ids(want[5:10])) || res.Total != len(want) {
						t.Errorf("%s page 5..10: got %v (total %d)", name, ids(res.Events), res.Total)
					}
				}
			}
		})
	}
}

// facetsAndHistograms: each store's facet counts and histogram buckets equal the brute
// force's, over the whole case and a range, unfiltered and filtered, at intervals above,
// at and below a minute and one (7m) that does not divide an hour.
func (f *fixture) facetsAndHistograms(t *testing.T) {
	mid := f.rows[len(f.rows)/3].Time
	type rng struct{ from, to time.Time }
	ref := func(ev *auditv1.Event) *auditv1.ObjectReference {
		if ev.ObjectRef == nil {
			return &auditv1.ObjectReference{}
		}
		return ev.ObjectRef
	}
	match := map[string]func(*auditv1.Event) bool{
		"":                 func(*auditv1.Event) bool { return true },
		"resource:secrets": func(e *auditv1.Event) bool { return ref(e).Resource == "secrets" },
		"-verb:watch":      func(e *auditv1.Event) bool { return e.Verb != "watch" },
	}
	facetOf := map[string]func(index.Row) string{
		"user": func(r index.Row) string { return r.User }, "verb": func(r index.Row) string { return r.Verb },
		"namespace": func(r index.Row) string { return r.Namespace },
		"code": func(r index.Row) string {
			if r.Code == 0 {
				return ""
			}
			return fmt.Sprint(r.Code)
		},
	}
	facets := []string{"user", "verb", "namespace", "code"}
	for _, r := range []rng{{}, {mid, mid.Add(3 * time.Hour)}} {
		for text, m := range match {
			for _, iv := range []time.Duration{30 * time.Second, time.Minute, 7 * time.Minute} {
				count := map[string]map[string]int{}
				for _, fc := range facets {
					count[fc] = map[string]int{}
				}
				per := map[time.Time]int{}
				n := 0
				for i, ev := range f.events {
					tm := f.rows[i].Time
					if !r.from.IsZero() && (tm.Before(r.from) || !tm.Before(r.to)) {
						continue
					}
					if !m(ev) {
						continue
					}
					n++
					for _, fc := range facets {
						if v := facetOf[fc](f.rows[i]); v != "" { // a facet counts values only
							count[fc][v]++
						}
					}
					per[tm.Truncate(iv)]++
				}
				for _, name := range f.names {
					res, err := f.stores[name].Search(context.Background(), index.Query{Text: text, From: r.from, To: r.to, Facets: facets, FacetSize: 5, Histogram: iv})
					if err != nil {
						t.Fatalf("%s %q: %v", name, text, err)
					}
					if res.Total != n {
						t.Errorf("%s %q: total %d, brute %d", name, text, res.Total, n)
					}
					for _, field := range facets {
						fc := res.Facets[field]
						if len(fc) == 0 || len(fc) > 5 {
							t.Errorf("%s %q: facet %s has %d values", name, text, field, len(fc))
						}
						for i, v := range fc {
							if v.Count != count[field][v.Value] {
								t.Errorf("%s %q facet %s %q: %d, brute %d", name, text, field, v.Value, v.Count, count[field][v.Value])
							}
							if i == len(fc)-1 { // nothing left out counts more than the last shown
								for val, k := range count[field] {
									if k > v.Count && !slices.ContainsFunc(fc, func(x index.FacetCount) bool { return x.Value == val }) {
										t.Errorf("%s %q facet %s misses %q (%d)", name, text, field, val, k)
									}
								}
							}
						}
					}
					sum := 0
					for _, b := range res.Histogram {
						sum += b.Count
						if b.Count != per[b.Start] {
							t.Errorf("%s %q %s: bucket %s: %d, brute %d", name, text, iv, b.Start, b.Count, per[b.Start])
						}
					}
					if sum != n || len(res.Histogram) == 0 {
						t.Errorf("%s %q %s: histogram sums to %d over %d buckets, want %d", name, text, iv, sum, len(res.Histogram), n)
					}
				}
			}
		}
	}
}

// fetch: an event by its ID is the same bytes in every store (those index.Prepare made),
// and so are its row, its context (Around) and a finding's evidence.
func (f *fixture) fetch(t *testing.T) {
	for _, i := range []int{0, 100, len(f.rows) / 2, len(f.rows) - 1} {
		p := f.prep[i]
		for _, name := range f.names {
			s := f.stores[name]
			raw, err := s.Event(p.ID)
			if err != nil {
				t.Fatalf("%s: event %s: %v", name, p.ID, err)
			}
			if !bytes.Equal(raw, p.JSON()) {
				t.Errorf("%s: event %s: %d bytes differ from the %d stored", name, p.ID, len(raw), len(p.JSON()))
			}
			var ev auditv1.Event
			if err := json.Unmarshal(raw, &ev); err != nil || index.IDOf(&ev) != p.ID {
				t.Errorf("%s: event %s does not decode to itself: %v", name, p.ID, err)
			}
			row, err := s.Row(p.ID)
			if err != nil {
				t.Fatal(err)
			}
			if a, b := fmt.Sprintf("%+v", row), fmt.Sprintf("%+v", p.Row); a != b {
				t.Errorf("%s: row %s:\n got %s\nwant %s", name, p.ID, a, b)
			}
			around, err := s.Around(context.Background(), p.ID, 3)
			if err != nil {
				t.Fatal(err)
			}
			all := append([]index.Row(nil), f.rows...)
			sortRows(all)
			at := slices.IndexFunc(all, func(r index.Row) bool { return r.ID == p.ID })
			if want := ids(all[max(0, at-3):min(len(all), at+4)]); !slices.Equal(ids(around), want) {
				t.Errorf("%s: around %s: %v, want %v", name, p.ID, ids(around), want)
			}
		}
	}
	// a page's events at once (export): the same bytes as one by one
	for _, name := range f.names {
		m, ok := f.stores[name].(interface {
			Messages(context.Context, []index.Row) (map[index.EventID]json.RawMessage, error)
		})
		if !ok {
			continue
		}
		rows := append([]index.Row(nil), f.rows[1000:1450]...)
		rows = append(rows, index.Row{ID: "nope/none", Time: f.rows[1000].Time})
		got, err := m.Messages(context.Background(), rows)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 450 {
			t.Errorf("%s: Messages returned %d events of 450", name, len(got))
		}
		for i, p := range f.prep[1000:1450] {
			if !bytes.Equal(got[p.ID], p.JSON()) {
				t.Errorf("%s: Messages: event %d differs", name, 1000+i)
				break
			}
		}
	}
	for _, name := range f.names {
		if _, err := f.stores[name].Event("nope/none"); err == nil || !errors.Is(err, index.ErrNotFound) {
			t.Errorf("%s: an unknown ID: %v, want ErrNotFound", name, err)
		}
		ev, err := f.stores[name].ResolveEvidence(f.finding)
		if err != nil {
			t.Fatal(err)
		}
		var want []index.Row
		for _, r := range f.rows {
			if slices.Contains(f.finding.AuditIDs, r.AuditID) {
				want = append(want, r)
			}
		}
		sortRows(want)
		got := append([]index.Row(nil), ev...)
		sortRows(got)
		if !slices.Equal(ids(got), ids(want)) || len(want) < 2 {
			t.Errorf("%s: evidence %v, want %v", name, ids(got), ids(want))
		}
	}
}
