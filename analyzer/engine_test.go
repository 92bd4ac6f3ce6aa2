package analyzer

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

func testEngine(t testing.TB) *Engine {
	t.Helper()
	rules, err := LoadRuleFiles("testdata/engine_rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	al, err := DefaultAllowlists()
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEngine(rules, Config{Allowlists: al})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

const micro = "2006-01-02T15:04:05.000000Z"

var t0 = time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC)

// ev builds an event from JSON fields merged onto a minimal ResponseComplete event.
func ev(t testing.TB, i int, at time.Duration, fields string) *auditv1.Event {
	t.Helper()
	base := fmt.Sprintf(`{"level":"Metadata","auditID":"id-%d","stage":"ResponseComplete","user":{"username":"alice"},"sourceIPs":["10.0.0.1"],"responseStatus":{"code":200},"requestReceivedTimestamp":%q,"stageTimestamp":%q}`,
		i, t0.Add(at).Format(micro), t0.Add(at).Format(micro))
	var m map[string]any
	json.Unmarshal([]byte(base), &m)
	if err := json.Unmarshal([]byte(fields), &m); err != nil {
		t.Fatalf("fields %s: %v", fields, err)
	}
	b, _ := json.Marshal(m)
	var e auditv1.Event
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	return &e
}

func byRule(fs []Finding) map[string][]Finding {
	m := map[string][]Finding{}
	for _, f := range fs {
		m[f.RuleID] = append(m[f.RuleID], f)
	}
	return m
}

func TestMatchRuleFoldsRepeats(t *testing.T) {
	e := testEngine(t)
	exec := `{"verb":"create","requestURI":"/api/v1/namespaces/shop/pods/web-0/exec?command=sh&command=-c&command=id&container=web","objectRef":{"resource":"pods","subresource":"exec","namespace":"shop","name":"web-0"}}`
	e.Observe(ev(t, 1, 0, exec))
	e.Observe(ev(t, 2, time.Minute, exec))
	e.Observe(ev(t, 3, 2*time.Hour, exec)) // beyond the 1h fold: a new finding
	e.Observe(ev(t, 4, 2*time.Hour, `{"verb":"get","objectRef":{"resource":"pods","namespace":"shop","name":"web-0"}}`))
	e.Observe(ev(t, 5, 2*time.Hour, `{"stage":"RequestReceived","verb":"create","objectRef":{"resource":"pods","subresource":"exec","namespace":"shop","name":"web-0"}}`))
	got := byRule(e.Result().Findings)["T-EXEC-001"]
	if len(got) != 2 || got[0].Count != 2 || got[1].Count != 1 {
		t.Fatalf("findings = %+v", got)
	}
	f := got[0]
	if f.Message != "exec sh -c id in shop/web-0" || strings.Join(f.AuditIDs, ",") != "id-1,id-2" || f.Subject.User != "alice" || f.Subject.Name != "web-0" {
		t.Errorf("finding = %+v", f)
	}
	if !f.FirstSeen.Equal(t0) || !f.LastSeen.Equal(t0.Add(time.Minute)) || f.Severity != Medium || f.MITRE[0] != "T1609" {
		t.Errorf("finding times/severity = %+v", f)
	}
}

func TestNeedsBodyNotEvaluable(t *testing.T) {
	e := testEngine(t)
	pod := `{"verb":"create","objectRef":{"resource":"pods","namespace":"shop","name":"p"},"requestObject":{"kind":"Pod","spec":{"containers":[{"name":"c","securityContext":{"privileged":true}}]}}}`
	e.Observe(ev(t, 1, 0, strings.Replace(pod, `"verb"`, `"level":"Request","verb"`, 1)))
	e.Observe(ev(t, 2, 0, `{"verb":"create","objectRef":{"resource":"pods","namespace":"shop","name":"q"}}`)) // Metadata: no body
	dep := `{"level":"RequestResponse","verb":"create","objectRef":{"resource":"deployments","namespace":"shop","name":"d"},"requestObject":{"kind":"Deployment","spec":{"template":{"spec":{"initContainers":[{"name":"i","securityContext":{"privileged":true}}],"containers":[{"name":"c"}]}}}}}`
	e.Observe(ev(t, 3, 0, dep))
	res := e.Result()
	if got := byRule(res.Findings)["T-PRIV-001"]; len(got) != 2 {
		t.Errorf("privileged findings = %+v", got)
	}
	if len(res.NotEvaluable) != 1 || res.NotEvaluable[0] != (RuleCoverage{RuleID: "T-PRIV-001", Needs: "request", Events: 1}) {
		t.Errorf("not evaluable = %+v", res.NotEvaluable)
	}
}

func TestThresholdDistinctFirstSeenSequence(t *testing.T) {
	e := testEngine(t)
	i := 0
	obs := func(at time.Duration, fields string) { i++; e.Observe(ev(t, i, at, fields)) }
	// threshold: 2 denials (no), then 3 within 10 minutes from another IP (yes)
	obs(0, `{"sourceIPs":["203.0.113.1"],"responseStatus":{"code":403},"verb":"list"}`)
	obs(20*time.Minute, `{"sourceIPs":["203.0.113.1"],"responseStatus":{"code":403},"verb":"list"}`)
	for k := 0; k < 3; k++ {
		obs(time.Duration(k)*time.Minute, `{"sourceIPs":["203.0.113.2"],"responseStatus":{"code":401},"verb":"list"}`)
	}
	// distinct: the same secret 3 times (no), then 3 different (yes)
	for k := 0; k < 3; k++ {
		obs(time.Minute, `{"user":{"username":"bob"},"verb":"get","objectRef":{"resource":"secrets","namespace":"a","name":"s1"}}`)
	}
	for k := 0; k < 3; k++ {
		obs(time.Minute, fmt.Sprintf(`{"user":{"username":"eve"},"verb":"get","objectRef":{"resource":"secrets","namespace":"a","name":"s%d"}}`, k))
	}
	// first_seen: during learning (no), after learning a new pair (yes), the same pair again (no)
	obs(5*time.Minute, `{"user":{"username":"carol"},"verb":"delete","objectRef":{"resource":"pods"}}`)
	obs(2*time.Hour, `{"user":{"username":"carol"},"verb":"delete","objectRef":{"resource":"pods"}}`)
	obs(2*time.Hour, `{"user":{"username":"dave"},"verb":"create","objectRef":{"resource":"pods"}}`)
	obs(3*time.Hour, `{"user":{"username":"dave"},"verb":"create","objectRef":{"resource":"pods"}}`)
	// sequence: workload before RBAC (no), RBAC then workload by the same user (yes)
	obs(3*time.Hour, `{"user":{"username":"mallory"},"verb":"patch","objectRef":{"resource":"deployments"}}`)
	obs(3*time.Hour+time.Minute, `{"user":{"username":"mallory"},"verb":"create","objectRef":{"resource":"clusterrolebindings"}}`)
	obs(3*time.Hour+2*time.Minute, `{"user":{"username":"trent"},"verb":"patch","objectRef":{"resource":"deployments"}}`)
	obs(3*time.Hour+3*time.Minute, `{"user":{"username":"mallory"},"verb":"patch","objectRef":{"resource":"deployments"}}`)

	got := byRule(e.Result().Findings)
	if f := got["T-AUTH-001"]; len(f) != 1 || f[0].Subject.SourceIP != "203.0.113.2" || f[0].Count != 3 || len(f[0].AuditIDs) != 3 || !f[0].FirstSeen.Equal(t0) {
		t.Errorf("threshold: %+v", f)
	}
	if f := got["T-SECRET-001"]; len(f) != 1 || f[0].Subject.User != "eve" || f[0].Count != 3 {
		t.Errorf("distinct: %+v", f)
	}
	// carol was first seen while learning; dave and (later) mallory are new after it
	if f := got["T-FIRST-001"]; len(f) != 2 || f[0].Subject.User != "dave" || f[1].Subject.User != "mallory" {
		t.Errorf("first_seen: %+v", f)
	}
	if f := got["T-CHAIN-001"]; len(f) != 1 || f[0].Subject.User != "mallory" || len(f[0].AuditIDs) != 2 {
		t.Errorf("sequence: %+v", f)
	}
}

// TestStateBoundedAndRestored: 10,000 identities stay within max_keys, and a restored
// engine continues a burst begun before the save.
func TestStateBoundedAndRestored(t *testing.T) {
	e := testEngine(t)
	for i := 0; i < 30000; i++ {
		e.Observe(ev(t, i, time.Duration(i)*time.Millisecond, fmt.Sprintf(`{"user":{"username":"u%d"},"verb":"get","objectRef":{"resource":"secrets","namespace":"a","name":"s"}}`, i%10000)))
	}
	for id, n := range e.StateKeys() {
		if n > 10000 {
			t.Errorf("rule %s remembers %d keys, more than max_keys", id, n)
		}
	}
	e = testEngine(t)
	e.Observe(ev(t, 1, 0, `{"sourceIPs":["198.51.100.7"],"responseStatus":{"code":403}}`))
	e.Observe(ev(t, 2, time.Minute, `{"sourceIPs":["198.51.100.7"],"responseStatus":{"code":403}}`))
	saved, err := e.SaveState()
	if err != nil {
		t.Fatal(err)
	}
	e2 := testEngine(t)
	if err := e2.RestoreState(saved); err != nil {
		t.Fatal(err)
	}
	e2.Observe(ev(t, 3, 2*time.Minute, `{"sourceIPs":["198.51.100.7"],"responseStatus":{"code":403}}`))
	if f := byRule(e2.Result().Findings)["T-AUTH-001"]; len(f) != 1 || f[0].Count != 3 {
		t.Errorf("restored engine did not continue the burst: %+v", f)
	}
	if err := e2.RestoreState([]byte(`{"version":99}`)); err == nil {
		t.Error("restoring another version succeeded")
	}
}

func TestRuleErrorsNameFileRuleAndCEL(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ yaml, want string }{
		{"rules:\n  - id: KS-X-001\n    title: t\n    severity: high\n    match: verb ==\n", "bad.yaml: rule KS-X-001: match: ERROR"},
		{"rules:\n  - id: KS-X-001\n    title: t\n    severity: high\n    match: verb\n", "bad.yaml: rule KS-X-001: match must return bool"},
		{"rules:\n  - id: KS-X-001\n    title: t\n    severity: severe\n    match: 'true'\n", "unknown severity"},
		{"rules:\n  - id: lower\n    title: t\n    match: 'true'\n", `id "lower" must look like`},
		{"rules:\n  - id: KS-X-001\n    title: t\n    kind: threshold\n    match: 'true'\n", "kind threshold needs key"},
		{"rules:\n  - id: KS-X-001\n    title: t\n    match: 'true'\n    bogus: 1\n", "unknown field"},
	} {
		p := dir + "/bad.yaml"
		os.WriteFile(p, []byte(tc.yaml), 0o600)
		rules, err := LoadRuleFiles(p)
		if err == nil {
			_, err = NewEngine(rules, Config{})
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

func TestHelpers(t *testing.T) {
	if got := ExecCommand("/api/v1/namespaces/a/pods/b/exec?command=cat&command=%2Fvar%2Frun%2Fsecrets%2Ftoken&stdout=true"); strings.Join(got, " ") != "cat /var/run/secrets/token" {
		t.Errorf("ExecCommand = %q", got)
	}
	for ref, want := range map[string]ImageRef{
		"nginx":                         {"docker.io", "library/nginx", "latest", ""},
		"nginx:1.25":                    {"docker.io", "library/nginx", "1.25", ""},
		"registry.k8s.io/pause:3.9":     {"registry.k8s.io", "pause", "3.9", ""},
		"localhost:5000/a/b@sha256:abc": {"localhost:5000", "a/b", "", "sha256:abc"},
		"bitnami/kubectl":               {"docker.io", "bitnami/kubectl", "latest", ""},
	} {
		if got := ParseImage(ref); got != want {
			t.Errorf("ParseImage(%q) = %+v, want %+v", ref, got, want)
		}
	}
	for ip, want := range map[string]string{"127.0.0.1": "loopback", "10.1.2.3": "private", "169.254.169.254": "link-local", "8.8.8.8": "public", "100.64.1.1": "private", "fd00::1": "private", "x": "invalid"} {
		if got := IPClass(ip); got != want {
			t.Errorf("IPClass(%s) = %s, want %s", ip, got, want)
		}
	}
	var obj any
	json.Unmarshal([]byte(`{"kind":"SecretList","items":[{"metadata":{"name":"a"},"type":"Opaque","data":{"password":"cGFzcw=="}}],"note":"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0iLCJpYXQiOjF9.c2lnbmF0dXJlc2lnbmF0dXJl"}`), &obj)
	places := SecretMaterial(obj)
	if len(places) != 2 || places[0] != (SecretPlace{Path: "items[0].data.password", Kind: "secret-data"}) || places[1] != (SecretPlace{Path: "note", Kind: "jwt"}) {
		t.Errorf("SecretMaterial = %+v", places)
	}
}
