package report

import (
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubesleuth/kubesleuth/analyzer"
)

// TestLocate: the first line holding each auditID, in plain and gzip files, across
// lines longer than the read buffer, with pretty-printed ("auditID": "x") JSON too; a
// file whose size changed since the custody recorded it is not searched.
func TestLocate(t *testing.T) {
	dir := t.TempDir()
	long := strings.Repeat("x", 3<<20) // longer than the 1 MiB buffer
	plain := `{"auditID":"a1","stage":"RequestReceived"}
{"auditID":"a1","stage":"ResponseComplete"}
{"junk":"` + long + `"}
{"auditID":"b2"}
{
  "auditID": "c3"
}
`
	p1 := filepath.Join(dir, "audit.log")
	if err := os.WriteFile(p1, []byte(plain), 0o600); err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("{\"auditID\":\"z0\"}\n\n{\"auditID\":\"d4\"}\n"))
	zw.Close()
	p2 := filepath.Join(dir, "audit-1.log.gz")
	if err := os.WriteFile(p2, gz.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	files := []locFile{{path: p1, name: "audit.log"}, {path: p2, name: "audit-1.log.gz"}}
	got, err := locate(context.Background(), files, map[string]bool{"a1": true, "b2": true, "c3": true, "d4": true, "nope": true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Location{"a1": {"audit.log", 1, 0}, "b2": {"audit.log", 4, 0}, "c3": {"audit.log", 6, 0}, "d4": {"audit-1.log.gz", 3, 0}}
	if len(got) != len(want) {
		t.Errorf("located %v, want %v", got, want)
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s at %+v, want %+v", id, got[id], w)
		}
	}
	files[0].size = 10 // the custody says another size: the file changed
	got, _ = locate(context.Background(), files, map[string]bool{"a1": true}, nil)
	if _, ok := got["a1"]; ok {
		t.Error("a file whose size changed was searched")
	}
}

// TestCounterBounded: a trail of years stays bounded (per hour past the cap) and its
// histogram keeps every event and about targetBuckets bars.
func TestCounterBounded(t *testing.T) {
	c := NewCounter()
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	n := 0
	for d := time.Duration(0); d < 3*365*24*time.Hour; d += 7 * time.Minute {
		c.Add(start.Add(d))
		n++
	}
	if c.unit != time.Hour || len(c.m) > counterMaxKeys {
		t.Errorf("unit %v, %d keys", c.unit, len(c.m))
	}
	h := c.histogram()
	sum := 0
	for _, v := range h.counts {
		sum += v
	}
	if sum != n || len(h.counts) > targetBuckets || len(h.counts) < targetBuckets/10 {
		t.Errorf("%d events in %d bars of %v, want %d events", sum, len(h.counts), h.interval, n)
	}
}

func TestTacticOf(t *testing.T) {
	for _, c := range []struct {
		mitre []string
		want  string
	}{{[]string{"T1552.007"}, "Credential Access"}, {[]string{"t1609"}, "Execution"}, {[]string{"T9999", "T1098.001"}, "Persistence"}, {nil, Unmapped}, {[]string{"T9999"}, Unmapped}} {
		if got := TacticOf(c.mitre); got != c.want {
			t.Errorf("TacticOf(%v) = %q, want %q", c.mitre, got, c.want)
		}
	}
}

// TestReadRefusesBadIndexes: a saved report whose indexes point outside its lists is
// refused, not rendered into a panic.
func TestReadRefusesBadIndexes(t *testing.T) {
	rep := &Report{SchemaVersion: Version, Findings: []Finding{{Finding: analyzer.Finding{RuleID: "KS-X-1"}}}, Tactics: []Tactic{{Name: "x", Findings: []int{0}}}}
	var b bytes.Buffer
	if err := Write(&b, rep, "json"); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(bytes.NewReader(b.Bytes())); err != nil {
		t.Fatalf("a good report: %v", err)
	}
	bad := strings.Replace(b.String(), "\"findings\": [\n        0\n      ]", "\"findings\": [\n        7\n      ]", 1)
	if bad == b.String() {
		t.Fatal("the test did not change the index")
	}
	if _, err := Read(strings.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "names finding 7") {
		t.Errorf("a tactic naming finding 7 of 1: %v", err)
	}
	if _, err := Read(strings.NewReader(`{"schema_version": 2}`)); err == nil {
		t.Error("schema_version 2 accepted")
	}
}

// TestWritersOnAnEmptyReport: every writer renders a report without findings, etcd or
// notes (a clean cluster), and none invents content.
func TestWritersOnAnEmptyReport(t *testing.T) {
	rep, err := build(input{scope: Scope{Mode: "files", Sources: []Source{}}}, Options{Catalog: NewCatalog(nil), Now: time.Unix(0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range Formats {
		var b bytes.Buffer
		if err := Write(&b, rep, f); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if f == "md" && !strings.Contains(b.String(), "No findings.") {
			t.Errorf("md of no findings:\n%s", b.String())
		}
	}
}
