package index

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/ingest/audit"
	"github.com/kubesleuth/kubesleuth/internal/generate"
)

type fixture struct {
	dir    string
	events []*auditv1.Event
	rows   []Row
}

var start = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)

// buildCase writes a generated log with attacks into a new case (no detection engine:
// the index is what is under test) and keeps the events for brute-force comparison.
func buildCase(t testing.TB, events int) *fixture { return buildCaseOrder(t, events, false) }

// buildCaseOrder writes two bursts 150 minutes apart (groups of several hours, closed
// during the ingest); reversed puts the later burst first, so the earlier one arrives
// after its hours' groups were closed.
func buildCaseOrder(t testing.TB, events int, reversed bool) *fixture {
	t.Helper()
	dir := t.TempDir()
	var parts [2]bytes.Buffer
	if _, err := generate.Audit(&parts[0], generate.Options{Events: events / 2, Seed: 3, Attacks: true, Start: start}); err != nil {
		t.Fatal(err)
	}
	if _, err := generate.Audit(&parts[1], generate.Options{Events: events - events/2, Seed: 4, Attacks: true, Start: start.Add(150 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if reversed {
		parts[0], parts[1] = parts[1], parts[0]
	}
	var buf bytes.Buffer
	buf.Write(parts[0].Bytes())
	buf.Write(parts[1].Bytes())
	log := filepath.Join(dir, "audit.log")
	if err := os.WriteFile(log, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	f := &fixture{dir: filepath.Join(dir, "case")}
	w, err := Create(f.dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	r, err := audit.Open([]string{log}, audit.Options{Prepare: func() func(*auditv1.Event) any {
		return func(ev *auditv1.Event) any { p, _ := Prepare(ev); return p }
	}})
	if err != nil {
		t.Fatal(err)
	}
	err = r.Each(context.Background(), func(rec audit.Record) error {
		p := rec.Prepared.(*Prepared)
		f.events = append(f.events, rec.Event)
		f.rows = append(f.rows, p.Row)
		return w.Add(p)
	})
	if err != nil {
		t.Fatal(err)
	}
	fs := []analyzer.Finding{{RuleID: "t1", Severity: analyzer.High, AuditIDs: []string{string(f.events[10].AuditID)}}}
	if err := w.Finish(fs, []byte(`{}`), nil, []SourceInfo{{Path: log, Kind: "audit"}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return f
}

func sortRows(rs []Row) {
	sort.SliceStable(rs, func(i, j int) bool {
		if !rs[i].Time.Equal(rs[j].Time) {
			return rs[i].Time.Before(rs[j].Time)
		}
		return rs[i].ID < rs[j].ID
	})
}

func ids(rs []Row) []EventID {
	out := make([]EventID, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

// TestSearchEqualsBruteForce compares every query's total and full result list (in
// time order) with a scan of the same events.
func TestSearchEqualsBruteForce(t *testing.T) {
	bruteForce(t, buildCase(t, 6000))
}

// TestSearchEqualsBruteForceSmallGroups repeats it on a case whose groups hold at most 7
// events and span 10 minutes: many groups per signature, and merges across them.
func TestSearchEqualsBruteForceSmallGroups(t *testing.T) {
	defer func(m int, s time.Duration) { maxMembers, sliceLen = m, s }(maxMembers, sliceLen)
	maxMembers, sliceLen = 7, 10*time.Minute
	bruteForce(t, buildCase(t, 3000))
}

// TestSearchEqualsBruteForceOutOfOrder: events older than groups already closed (a log
// whose parts come in the wrong order) open new groups; results stay exact.
func TestSearchEqualsBruteForceOutOfOrder(t *testing.T) {
	bruteForce(t, buildCaseOrder(t, 4000, true))
}

func bruteForce(t *testing.T, f *fixture) {
	c, err := Open(f.dir, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
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
	cases := []struct {
		name     string
		q        Query
		want     func(*auditv1.Event) bool
		nonEmpty bool
	}{
		{"everything", Query{Text: ""}, func(*auditv1.Event) bool { return true }, true},
		{"star in a range", Query{Text: "*", From: mid, To: later}, func(*auditv1.Event) bool { return true }, true},
		{"term", Query{Text: "verb:get"}, func(e *auditv1.Event) bool { return e.Verb == "get" }, true},
		{"conjunction", Query{Text: "verb:list resource:secrets"}, func(e *auditv1.Event) bool { return e.Verb == "list" && ref(e).Resource == "secrets" }, true},
		{"negation", Query{Text: "resource:secrets -verb:get"}, func(e *auditv1.Event) bool { return ref(e).Resource == "secrets" && e.Verb != "get" }, true},
		{"only negations", Query{Text: "-verb:get -verb:watch"}, func(e *auditv1.Event) bool { return e.Verb != "get" && e.Verb != "watch" }, true},
		{"prefix", Query{Text: "userAgent:kubectl*"}, func(e *auditv1.Event) bool { return strings.HasPrefix(e.UserAgent, "kubectl") }, true},
		{"value with colons", Query{Text: "group:system:masters"}, func(e *auditv1.Event) bool { return hasGroup(e, "system:masters") }, false},
		{"quoted value", Query{Text: `group:"system:authenticated" verb:create`}, func(e *auditv1.Event) bool { return hasGroup(e, "system:authenticated") && e.Verb == "create" }, true},
		{"numeric", Query{Text: "code:>=400"}, func(e *auditv1.Event) bool { return code(e) >= 400 }, true},
		// code and latency are fixed-width terms and buckets: every bound form
		{"code greater, fractional", Query{Text: "code:>399.5"}, func(e *auditv1.Event) bool { return code(e) >= 400 }, true},
		{"code below", Query{Text: "code:<300"}, func(e *auditv1.Event) bool { c := code(e); return c != 0 && c < 300 }, true},
		{"code at most", Query{Text: "code:<=201"}, func(e *auditv1.Event) bool { c := code(e); return c != 0 && c <= 201 }, true},
		{"code equals", Query{Text: "code:404"}, func(e *auditv1.Event) bool { return code(e) == 404 }, false},
		{"code above", Query{Text: "code:>200 verb:get"}, func(e *auditv1.Event) bool { return code(e) > 200 && e.Verb == "get" }, false},
		{"no code below zero", Query{Text: "code:<0"}, func(e *auditv1.Event) bool { return false }, false},
		{"latency zero", Query{Text: "latency:<=0"}, func(e *auditv1.Event) bool { return latency(e) == 0 }, false},
		{"latency above", Query{Text: "latency:>100"}, func(e *auditv1.Event) bool { return latency(e) > 100 }, false},
		{"range cutting hours", Query{Text: "verb:get", From: first.Add(90 * time.Second), To: last.Add(-70 * time.Second)}, func(e *auditv1.Event) bool { return e.Verb == "get" }, true},
		{"bare value", Query{Text: "kube-system"}, func(e *auditv1.Event) bool {
			r := ref(e)
			return r.Namespace == "kube-system" || r.Name == "kube-system" || r.Resource == "kube-system" || e.User.Username == "kube-system"
		}, true},
		{"term in a time range", Query{Text: "verb:update", From: mid, To: later}, func(e *auditv1.Event) bool { return e.Verb == "update" }, true},
		{"stage", Query{Text: "stage:RequestReceived subresource:exec"}, func(e *auditv1.Event) bool {
			return e.Stage == "RequestReceived" && ref(e).Subresource == "exec"
		}, true},
		{"no match", Query{Text: "user:nobody-at-all"}, func(*auditv1.Event) bool { return false }, false},
		// loose fields: groups find candidates, members are checked
		{"uri text", Query{Text: "requestURI:leases"}, func(e *auditv1.Event) bool { return slices.Contains(words(e.RequestURI), "leases") }, true},
		{"uri and verb in a range", Query{Text: "verb:get requestURI:secrets", From: mid, To: later.Add(time.Hour)}, func(e *auditv1.Event) bool {
			return e.Verb == "get" && slices.Contains(words(e.RequestURI), "secrets")
		}, true},
		{"negated uri", Query{Text: "verb:list -requestURI:watch"}, func(e *auditv1.Event) bool { return e.Verb == "list" && !slices.Contains(words(e.RequestURI), "watch") }, true},
		{"slow", Query{Text: "latency:>=40"}, func(e *auditv1.Event) bool { return latency(e) >= 40 }, true},
		{"fast gets", Query{Text: "verb:get latency:<3"}, func(e *auditv1.Event) bool { return e.Verb == "get" && latency(e) >= 0 && latency(e) < 3 }, true},
		{"latency equals", Query{Text: "latency:5"}, func(e *auditv1.Event) bool { return latency(e) == 5 }, true},
		{"auditID", Query{Text: "auditID:" + string(f.events[77].AuditID)}, func(e *auditv1.Event) bool { return e.AuditID == f.events[77].AuditID }, true},
		{"auditID and stage", Query{Text: "stage:ResponseComplete auditID:" + string(f.events[77].AuditID)}, func(e *auditv1.Event) bool {
			return e.AuditID == f.events[77].AuditID && e.Stage == "ResponseComplete"
		}, false},
		{"auditID prefix", Query{Text: "auditID:" + string(f.events[5].AuditID)[:3] + "*"}, func(e *auditv1.Event) bool {
			return strings.HasPrefix(string(e.AuditID), string(f.events[5].AuditID)[:3])
		}, true},
		{"wildcard", Query{Text: "name:*-?"}, func(e *auditv1.Event) bool {
			n := ref(e).Name
			return len(n) >= 2 && n[len(n)-2] == '-'
		}, false},
		{"reason text", Query{Text: "reason:rbac"}, func(e *auditv1.Event) bool {
			return slices.Contains(words(e.Annotations["authorization.k8s.io/reason"]), "rbac")
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var want []Row
			for i, ev := range f.events {
				tm := f.rows[i].Time
				if (!tc.q.From.IsZero() && tm.Before(tc.q.From)) || (!tc.q.To.IsZero() && !tm.Before(tc.q.To)) {
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
			for _, newest := range []bool{false, true} {
				q := tc.q
				q.Limit, q.Newest = len(f.rows)+1, newest
				res, err := c.Search(context.Background(), q)
				if err != nil {
					t.Fatal(err)
				}
				w := ids(want)
				if newest {
					slices.Reverse(w)
				}
				if res.Total != len(want) {
					t.Errorf("newest=%v: total %d, brute force %d", newest, res.Total, len(want))
				}
				if got := ids(res.Events); !slices.Equal(got, w) {
					t.Errorf("newest=%v: %d results differ from the brute force's %d", newest, len(got), len(w))
				}
			}
			// a page in the middle
			if len(want) > 10 {
				q := tc.q
				q.Limit, q.Offset = 5, 5
				res, err := c.Search(context.Background(), q)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(ids(res.Events), ids(want[5:10])) || res.Total != len(want) {
					t.Errorf("page 5..10: got %v (total %d)", ids(res.Events), res.Total)
				}
			}
		})
	}
}

func TestFacetsAndHistogram(t *testing.T) {
	f := buildCase(t, 5000)
	c, err := Open(f.dir, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	mid := f.rows[len(f.rows)/3].Time
	type rng struct{ from, to time.Time }
	for _, r := range []rng{{}, {mid, mid.Add(3 * time.Hour)}} {
		for _, text := range []string{"", "resource:secrets", "-verb:watch"} {
			res, err := c.Search(context.Background(), Query{Text: text, From: r.from, To: r.to, Facets: []string{"user", "verb"}, FacetSize: 5, Histogram: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			cs, _ := ParseClauses(text)
			count := map[string]map[string]int{"user": {}, "verb": {}}
			perMinute := map[time.Time]int{}
			n := 0
			for i, ev := range f.events {
				if tm := f.rows[i].Time; !r.from.IsZero() && (tm.Before(r.from) || !tm.Before(r.to)) {
					continue
				}
				if !bruteMatch(cs, ev) {
					continue
				}
				n++
				// a facet counts values, and an event without one has none (no "" value)
				if u := f.rows[i].User; u != "" {
					count["user"][u]++
				}
				count["verb"][ev.Verb]++
				perMinute[f.rows[i].Time.Truncate(time.Minute)]++
			}
			if res.Total != n {
				t.Errorf("%q: total %d, brute %d", text, res.Total, n)
			}
			for field, fc := range res.Facets {
				if len(fc) == 0 {
					t.Errorf("%q: facet %s empty", text, field)
				}
				for i, v := range fc {
					if v.Count != count[field][v.Value] {
						t.Errorf("%q facet %s %q: %d, brute %d", text, field, v.Value, v.Count, count[field][v.Value])
					}
					// the top values: nothing left out counts more than the last shown
					if i == len(fc)-1 {
						for val, k := range count[field] {
							if k > v.Count && !slices.ContainsFunc(fc, func(x FacetCount) bool { return x.Value == val }) {
								t.Errorf("%q facet %s misses %q (%d)", text, field, val, k)
							}
						}
					}
				}
			}
			sum := 0
			for _, b := range res.Histogram {
				sum += b.Count
				if b.Count != perMinute[b.Start] {
					t.Errorf("%q: histogram bucket %s: %d, brute %d", text, b.Start, b.Count, perMinute[b.Start])
				}
			}
			if sum != n || len(res.Histogram) == 0 {
				t.Errorf("%q: histogram sums to %d over %d buckets, want %d", text, sum, len(res.Histogram), n)
			}
		}
	}
}

// words splits like bleve's standard analyzer does for these ASCII texts: lower case,
// letters and digits.
func words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	})
}

// latency in milliseconds, -1 without both timestamps.
func latency(e *auditv1.Event) int64 {
	if e.StageTimestamp.IsZero() || e.RequestReceivedTimestamp.IsZero() {
		return -1
	}
	return e.StageTimestamp.Sub(e.RequestReceivedTimestamp.Time).Milliseconds()
}

// bruteMatch evaluates the simple clauses used by TestFacetsAndHistogram.
func bruteMatch(cs []Clause, ev *auditv1.Event) bool {
	for _, c := range cs {
		var v string
		switch c.Field {
		case "resource":
			if ev.ObjectRef != nil {
				v = ev.ObjectRef.Resource
			}
		case "verb":
			v = ev.Verb
		}
		if (v == c.Value) == c.Not {
			return false
		}
	}
	return true
}

func TestEventsFindingsAnnotations(t *testing.T) {
	f := buildCase(t, 2000)
	c, err := Open(f.dir, OpenOptions{Writable: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := f.rows[100]
	raw, err := c.Event(r.ID)
	if err != nil {
		t.Fatal(err)
	}
	var ev auditv1.Event
	if err := json.Unmarshal(raw, &ev); err != nil || IDOf(&ev) != r.ID {
		t.Fatalf("stored event %s: %v (id %s)", r.ID, err, IDOf(&ev))
	}
	if _, err := c.Event("nope/none"); err == nil {
		t.Error("Event of an unknown ID: no error")
	}
	around, err := c.Around(context.Background(), r.ID, 3)
	if err != nil || len(around) != 7 || around[3].ID != r.ID {
		t.Errorf("Around: %d rows, %v", len(around), err)
	}
	fs, err := c.Findings()
	if err != nil || len(fs) != 1 {
		t.Fatalf("findings: %v %v", fs, err)
	}
	ev10, err := c.ResolveEvidence(fs[0])
	if err != nil || len(ev10) == 0 || ev10[0].AuditID != fs[0].AuditIDs[0] {
		t.Errorf("evidence: %v %v", ev10, err)
	}
	a := Annotation{Target: Target{Kind: "event", ID: string(r.ID)}, Bookmarked: true, Note: "look here"}
	if err := c.Annotate(a); err != nil {
		t.Fatal(err)
	}
	as, _ := c.Annotations()
	if len(as) != 1 || as[0].Note != "look here" {
		t.Errorf("annotations: %+v", as)
	}
	a.Bookmarked, a.Note = false, ""
	if err := c.Annotate(a); err != nil {
		t.Fatal(err)
	}
	if as, _ := c.Annotations(); len(as) != 0 {
		t.Errorf("cleared annotation still there: %+v", as)
	}
	info, err := c.Info()
	if err != nil || info.Events != len(f.rows) || !info.Complete || info.First == nil {
		t.Errorf("info: %+v %v", info, err)
	}
}

// TestWalkHistogram checks the unfiltered histogram (minute counts plus walked edges)
// against the events, for intervals above, at and below a minute and ranges cutting minutes.
func TestWalkHistogram(t *testing.T) {
	f := buildCase(t, 3000)
	c, err := Open(f.dir, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	from := f.rows[100].Time.Add(17 * time.Second)
	to := from.Add(3*time.Hour + 41*time.Second)
	for _, iv := range []time.Duration{30 * time.Second, time.Minute, 7 * time.Minute} {
		for _, r := range [][2]time.Time{{}, {from, to}} {
			res, err := c.Search(context.Background(), Query{From: r[0], To: r[1], Histogram: iv})
			if err != nil {
				t.Fatal(err)
			}
			want := map[time.Time]int{}
			n := 0
			for _, row := range f.rows {
				if !r[0].IsZero() && (row.Time.Before(r[0]) || !row.Time.Before(r[1])) {
					continue
				}
				want[row.Time.Truncate(iv)]++
				n++
			}
			sum := 0
			for _, b := range res.Histogram {
				sum += b.Count
				if b.Count != want[b.Start] {
					t.Errorf("interval %s range %v: bucket %s: %d, want %d", iv, !r[0].IsZero(), b.Start, b.Count, want[b.Start])
				}
			}
			if sum != n || res.Total != n {
				t.Errorf("interval %s range %v: histogram sum %d, total %d, want %d", iv, !r[0].IsZero(), sum, res.Total, n)
			}
		}
	}
}

// TestAnnotateWhileOthersRead: a case open for annotations (a TUI) does not lock out
// another reader (a search), which sees the notes written meanwhile.
func TestAnnotateWhileOthersRead(t *testing.T) {
	f := buildCase(t, 2000)
	tui, err := Open(f.dir, OpenOptions{Writable: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tui.Close()
	search, err := Open(f.dir, OpenOptions{Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatalf("a second open while one is writable: %v", err)
	}
	defer search.Close()
	a := Annotation{Target: Target{Kind: "finding", ID: "KS-X alice"}, Bookmarked: true}
	if err := tui.Annotate(a); err != nil {
		t.Fatal(err)
	}
	if err := search.Annotate(a); err == nil {
		t.Error("a read-only open annotated")
	}
	as, err := search.Annotations()
	if err != nil || len(as) != 1 || as[0].Target != a.Target {
		t.Errorf("the other reader sees %+v, %v", as, err)
	}
	fi, err := os.Stat(filepath.Join(f.dir, notesFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("notes file: %v, mode %v", err, fi.Mode().Perm())
	}
}

// TestFindingsOrder: most severe first; within a severity by time, findings without a
// time (secrets at rest, one per secret) after the others.
func TestFindingsOrder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "case")
	w, err := Create(dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	at := func(m int) time.Time { return start.Add(time.Duration(m) * time.Minute) }
	audit := []analyzer.Finding{
		{RuleID: "late-high", Severity: analyzer.High, FirstSeen: at(9)},
		{RuleID: "crit", Severity: analyzer.Critical, FirstSeen: at(5)},
		{RuleID: "early-high", Severity: analyzer.High, FirstSeen: at(1)},
	}
	etcd := &EtcdResult{Findings: []analyzer.Finding{{RuleID: "etcd-high", Severity: analyzer.High}, {RuleID: "etcd-crit", Severity: analyzer.Critical}}}
	if err := w.Finish(audit, nil, etcd, nil); err != nil {
		t.Fatal(err)
	}
	w.Close()
	c, err := Open(dir, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fs, err := c.Findings()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range fs {
		got = append(got, f.RuleID)
	}
	want := []string{"crit", "etcd-crit", "early-high", "late-high", "etcd-high"}
	if !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
