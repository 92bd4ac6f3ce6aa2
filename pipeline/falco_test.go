package pipeline

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubesleuth/kubesleuth/analyzer"
)

// falcoPayload is falcosidekick's FalcoPayload as it decodes Falco's JSON output:
// exactly these fields with these types (time as a time.Time: RFC 3339).
type falcoPayload struct {
	UUID         string                 `json:"uuid"`
	Output       string                 `json:"output"`
	Priority     string                 `json:"priority"`
	Rule         string                 `json:"rule"`
	Time         time.Time              `json:"time"`
	OutputFields map[string]interface{} `json:"output_fields"`
	Source       string                 `json:"source"`
	Tags         []string               `json:"tags"`
	Hostname     string                 `json:"hostname"`
}

var falcoPriorities = map[string]bool{"Emergency": true, "Alert": true, "Critical": true, "Error": true, "Warning": true, "Notice": true, "Informational": true, "Debug": true}

var nanoTime = regexp.MustCompile(`"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(Z|[+-]\d\d:\d\d)"`)

func testFinding(sev analyzer.Severity) analyzer.Finding {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 123456789, time.UTC)
	return analyzer.Finding{RuleID: "K8S-TEST-1", Title: "Test rule", Severity: sev, MITRE: []string{"T1552"},
		Subject:  analyzer.Subject{User: "alice", Namespace: "team-a", Resource: "secrets", Name: "db"},
		AuditIDs: []string{"id-1"}, FirstSeen: t0, LastSeen: t0.Add(time.Second), Count: 1, Message: "alice read secret db"}
}

// decodeFalco decodes every line strictly, as falcosidekick's payload, and checks the
// value constraints Falco's format has.
func decodeFalco(t *testing.T, b []byte) []falcoPayload {
	t.Helper()
	var out []falcoPayload
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Bytes()
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		var p falcoPayload
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("not a FalcoPayload: %v\n%s", err, line)
		}
		if !falcoPriorities[p.Priority] {
			t.Errorf("priority %q is not one of Falco's", p.Priority)
		}
		if !nanoTime.Match(line) {
			t.Errorf("time is not RFC 3339 with nanoseconds: %s", line)
		}
		if p.UUID == "" || p.Output == "" || p.Rule == "" || p.Source == "" || p.Hostname == "" || len(p.Tags) == 0 {
			t.Errorf("a field is empty: %+v", p)
		}
		if _, ok := p.OutputFields["subject"].(string); !ok {
			t.Errorf("output_fields.subject missing: %v", p.OutputFields)
		}
		if _, ok := p.OutputFields["audit_ids"].([]interface{}); !ok {
			t.Errorf("output_fields.audit_ids is not a list: %v", p.OutputFields)
		}
		out = append(out, p)
	}
	return out
}

// TestFalcoFormat: new and repeat alerts in the falco format decode strictly as
// falcosidekick's payload, with the priority mapped, the repeat's audit_ids those it
// adds, min severity applied, and the same uuid when the same alert is written again.
func TestFalcoFormat(t *testing.T) {
	var buf bytes.Buffer
	a := NewAlerts("stdout", &buf, FormatFalco, analyzer.Low)
	a.Hostname = "node-1"
	f := testFinding(analyzer.High)
	if err := a.Update(analyzer.Update{Kind: analyzer.Opened, Finding: f}); err != nil {
		t.Fatal(err)
	}
	g := f
	g.Count, g.AuditIDs, g.LastSeen = 3, []string{"id-1", "id-2", "id-3"}, f.LastSeen.Add(time.Minute)
	a.Update(analyzer.Update{Kind: analyzer.Grew, Finding: g, Added: 2, NewIDs: []string{"id-2", "id-3"}})
	a.Update(analyzer.Update{Kind: analyzer.Opened, Finding: testFinding(analyzer.Info)}) // below min
	if err := a.Finish(End{}); err != nil {
		t.Fatal(err)
	}
	ps := decodeFalco(t, buf.Bytes())
	if len(ps) != 2 {
		t.Fatalf("%d alerts, want new + repeat:\n%s", len(ps), buf.String())
	}
	if ps[0].Priority != "Error" || ps[0].Rule != "Test rule" || ps[0].Hostname != "node-1" || ps[0].Source != "k8s_audit" {
		t.Errorf("new alert: %+v", ps[0])
	}
	if ids := ps[1].OutputFields["audit_ids"].([]interface{}); len(ids) != 2 || ids[0] != "id-2" {
		t.Errorf("repeat's audit_ids %v, want the two it adds", ids)
	}
	if ps[0].Time != f.FirstSeen || ps[1].Time != g.LastSeen {
		t.Errorf("times %v %v", ps[0].Time, ps[1].Time)
	}
	if ps[0].UUID == ps[1].UUID {
		t.Errorf("two alerts share a uuid")
	}
	if again := NewFalcoPayload("new", f, 1, f.AuditIDs, "node-1"); again.UUID != ps[0].UUID {
		t.Errorf("the same alert got another uuid")
	}
	for sev, want := range map[analyzer.Severity]string{analyzer.Critical: "Critical", analyzer.Medium: "Warning", analyzer.Low: "Notice", analyzer.Info: "Informational"} {
		if got := FalcoPriority(sev); got != want {
			t.Errorf("%v → %s, want %s", sev, got, want)
		}
	}
}

// TestPosterRetriesAndDrops: a webhook sink retries an endpoint that fails (5xx) until it
// answers, in order; when the endpoint stays down, the alerts beyond the bounded queue
// and those failing after the retries are dropped, counted and reported, and the
// pipeline never blocks on it.
func TestPosterRetriesAndDrops(t *testing.T) {
	var mu sync.Mutex
	var got []string
	var fails atomic.Int32
	fails.Store(3)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fails.Add(-1) >= 0 {
			w.WriteHeader(503)
			return
		}
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, string(b))
		mu.Unlock()
	}))
	defer srv.Close()
	var reports []string
	var rmu sync.Mutex
	p := &Poster{URL: srv.URL, Backoff: time.Millisecond, OnDrop: func(s string) { rmu.Lock(); reports = append(reports, s); rmu.Unlock() }}
	a := NewPostAlerts(p, FormatFalco, analyzer.Info)
	for i := 0; i < 5; i++ {
		f := testFinding(analyzer.Medium)
		f.RuleID = "R" + string(rune('A'+i))
		a.Update(analyzer.Update{Kind: analyzer.Opened, Finding: f})
	}
	a.Flush()
	p.Close(10 * time.Second)
	if len(got) != 5 {
		t.Fatalf("%d alerts delivered, want 5", len(got))
	}
	for i, body := range got {
		ps := decodeFalco(t, []byte(body+"\n"))
		if want := "R" + string(rune('A'+i)); ps[0].OutputFields["kubesleuth.rule_id"] != want {
			t.Errorf("alert %d is %v, want %s (order kept)", i, ps[0].OutputFields["kubesleuth.rule_id"], want)
		}
	}
	if p.Sent.Load() != 5 || p.Dropped.Load() != 0 || len(reports) != 0 {
		t.Errorf("sent %d dropped %d reports %q", p.Sent.Load(), p.Dropped.Load(), reports)
	}

	// an endpoint that is down: a queue of 3, 2 retries
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }))
	defer down.Close()
	reports = nil
	p2 := &Poster{URL: down.URL, QueueMax: 3, Retries: 2, Backoff: 20 * time.Millisecond, ReportEvery: time.Hour, OnDrop: func(s string) { rmu.Lock(); reports = append(reports, s); rmu.Unlock() }}
	a2 := NewPostAlerts(p2, FormatJSONL, analyzer.Info)
	start := time.Now()
	for i := 0; i < 50; i++ {
		f := testFinding(analyzer.Medium)
		f.RuleID = "D" + strings.Repeat("x", i)
		a2.Update(analyzer.Update{Kind: analyzer.Opened, Finding: f})
		a2.Flush()
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the sink blocked the pipeline for %v", d)
	}
	p2.Close(2 * time.Second)
	if p2.Sent.Load() != 0 || p2.Dropped.Load() != 50 {
		t.Errorf("sent %d, dropped %d, want 0 and 50 (all counted)", p2.Sent.Load(), p2.Dropped.Load())
	}
	rmu.Lock()
	defer rmu.Unlock()
	if len(reports) == 0 || !strings.Contains(strings.Join(reports, "\n"), "dropped") {
		t.Errorf("drops not reported: %q", reports)
	}
}
