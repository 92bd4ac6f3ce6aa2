package sigma

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/ingest/audit"
)

// baseEvent is a ResponseComplete pod creation by alice; tests override what they need.
const baseEvent = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"id",
"stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/pods","verb":"create",
"user":{"username":"alice","uid":"u-1","groups":["developers","system:authenticated"]},
"sourceIPs":["10.1.2.3"],"userAgent":"kubectl/v1.32.4 (linux/amd64) kubernetes/4cb5f07",
"objectRef":{"resource":"pods","namespace":"default","name":"web","apiVersion":"v1"},
"responseStatus":{"metadata":{},"code":201},
"requestObject":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"web"},"spec":{"containers":[{"name":"web","image":"nginx:1.27"}]}},
"requestReceivedTimestamp":"2026-03-10T10:00:00.000000Z","stageTimestamp":"2026-03-10T10:00:00.010000Z"}`

// merge overlays o on b: maps merge key by key, null deletes, anything else replaces.
func merge(b, o any) any {
	bm, ok1 := b.(map[string]any)
	om, ok2 := o.(map[string]any)
	if !ok1 || !ok2 {
		return o
	}
	out := map[string]any{}
	for k, v := range bm {
		out[k] = v
	}
	for k, v := range om {
		if v == nil {
			delete(out, k)
			continue
		}
		out[k] = merge(out[k], v)
	}
	return out
}

// event is baseEvent with an overlay (JSON object text), numbered n: its auditID and a
// time n seconds after the base.
func event(t testing.TB, n int, overlay string) string {
	t.Helper()
	var b, o any
	if err := json.Unmarshal([]byte(baseEvent), &b); err != nil {
		t.Fatal(err)
	}
	if overlay == "" {
		overlay = "{}"
	}
	if err := json.Unmarshal([]byte(overlay), &o); err != nil {
		t.Fatalf("overlay %s: %v", overlay, err)
	}
	m := merge(b, o).(map[string]any)
	if _, set := o.(map[string]any)["auditID"]; !set {
		m["auditID"] = fmt.Sprintf("00000000-0000-0000-0000-%012d", n)
	}
	if _, set := o.(map[string]any)["requestReceivedTimestamp"]; !set {
		at := time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Second)
		m["requestReceivedTimestamp"] = at.Format("2006-01-02T15:04:05.000000Z")
		m["stageTimestamp"] = at.Add(10 * time.Millisecond).Format("2006-01-02T15:04:05.000000Z")
	}
	out, _ := json.Marshal(m)
	return string(out)
}

// findings runs rules over events (JSON lines) through the audit decoder and a fresh
// engine, and returns the findings.
func findings(t testing.TB, rules []*analyzer.Rule, lines ...string) []analyzer.Finding {
	t.Helper()
	al, _ := analyzer.DefaultAllowlists()
	eng, err := analyzer.NewEngine(rules, analyzer.Config{Allowlists: al})
	if err != nil {
		for _, r := range rules {
			t.Logf("%s: %s", r.ID, r.Match)
		}
		t.Fatalf("engine: %v", err)
	}
	f := filepath.Join(t.TempDir(), "audit.jsonl")
	if err := os.WriteFile(f, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var bad []string
	r, err := audit.Open([]string{f}, audit.Options{OnError: func(e *audit.InputError) { bad = append(bad, e.Error()) }})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Each(context.Background(), func(rec audit.Record) error { eng.Observe(rec.Event); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(bad) > 0 {
		t.Fatalf("fixture events rejected by the decoder: %v", bad)
	}
	res := eng.Result()
	if len(res.EvalErrors) > 0 {
		t.Errorf("CEL evaluation errors (translations must be total): %v", res.EvalErrors)
	}
	return res.Findings
}

const header = `title: Test rule
id: 11111111-2222-4333-8444-555555555555
author: Test Author
references:
    - https://example.com/rule
logsource:
    product: kubernetes
    service: audit
level: high
tags:
    - attack.t1609
    - attack.execution
`

// load parses Sigma YAML and fails the test on anything unsupported.
func load(t testing.TB, y string) *Set {
	t.Helper()
	al, _ := analyzer.DefaultAllowlists()
	al.Operators = append(al.Operators, "ops-bot", "team-*-deployer")
	set := Parse(Options{Allowlists: al}, []byte(y), "test.yml")
	for _, u := range set.Unsupported {
		t.Fatalf("unsupported: %s", u)
	}
	return set
}

// rule is one detection (YAML under "detection:") as an engine rule.
func rule(t testing.TB, detection string) *analyzer.Rule {
	t.Helper()
	set := load(t, header+"detection:\n"+indent(detection))
	if len(set.Rules) != 1 {
		t.Fatalf("want 1 rule, got %d", len(set.Rules))
	}
	return set.Rules[0]
}

func indent(s string) string {
	lines := strings.Split(strings.Trim(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "    " + l
	}
	return strings.Join(lines, "\n") + "\n"
}

// fires reports whether r fires on the event made from overlay.
func fires(t testing.TB, r *analyzer.Rule, overlay string) bool {
	t.Helper()
	return len(findings(t, []*analyzer.Rule{r}, event(t, 1, overlay))) > 0
}

// unsupportedOf parses YAML and returns its unsupported entries.
func unsupportedOf(t testing.TB, y string) []Unsupported {
	t.Helper()
	al, _ := analyzer.DefaultAllowlists()
	return Parse(Options{Allowlists: al}, []byte(y), "test.yml").Unsupported
}

// matchCase: a detection and overlays it must and must not fire on.
type matchCase struct {
	name      string
	detection string
	fire      []string
	miss      []string
}

func runCases(t *testing.T, cases []matchCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := rule(t, c.detection)
			for _, o := range c.fire {
				if !fires(t, r, o) {
					t.Errorf("did not fire on %s\nCEL: %s", o, r.Match)
				}
			}
			for _, o := range c.miss {
				if fires(t, r, o) {
					t.Errorf("fired on %s\nCEL: %s", o, r.Match)
				}
			}
		})
	}
}

func ids(rs []*analyzer.Rule) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}
