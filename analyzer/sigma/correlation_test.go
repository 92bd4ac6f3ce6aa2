package sigma

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kubesleuth/kubesleuth/analyzer"
)

// base rule documents for correlations
const (
	failedLogin = `title: Failed request
id: 5638f7c0-ac70-491d-8465-2a65075e0d86
name: failed_login
logsource:
    product: kubernetes
    service: audit
detection:
    selection:
        responseStatus.code: 401
    condition: selection
`
	listSecrets = `title: List secrets
name: recon_cmd_a
logsource: {product: kubernetes, service: audit}
detection:
    selection: {verb: list, objectRef.resource: secrets}
    condition: selection
`
	listConfigmaps = `title: List configmaps
name: recon_cmd_b
logsource: {product: kubernetes, service: audit}
detection:
    selection: {verb: list, objectRef.resource: configmaps}
    condition: selection
`
	listPods = `title: List pods
name: recon_cmd_c
logsource: {product: kubernetes, service: audit}
detection:
    selection: {verb: list, objectRef.resource: pods}
    condition: selection
`
)

func docs(ds ...string) string { return strings.Join(ds, "---\n") }

// count runs the rules over events (each an overlay, at its own second offset) and
// counts the findings of ruleID.
func count(t *testing.T, set *Set, ruleID string, evs ...ev) int {
	t.Helper()
	var lines []string
	for i, e := range evs {
		lines = append(lines, event(t, e.at, fmt.Sprintf(`{"auditID":"00000000-0000-0000-0000-%012d",%s`, i+1, strings.TrimPrefix(e.o, "{"))))
	}
	n := 0
	for _, f := range findings(t, set.Rules, lines...) {
		if f.RuleID == ruleID {
			n++
		}
	}
	return n
}

type ev struct {
	at int // seconds after the base time
	o  string
}

func TestEventCount(t *testing.T) {
	// the specification's "Many failed logins", on the audit log: >= 5 401s from one
	// address within an hour
	set := load(t, docs(failedLogin, `title: Many failed logins
id: 0e95725d-7320-415d-80f7-004da920fc11
author: Florian Roth
references: [https://example.com/brute]
correlation:
    type: event_count
    rules:
        - 5638f7c0-ac70-491d-8465-2a65075e0d86
    group-by:
        - sourceIPs
    timespan: 1h
    condition:
        gte: 5
level: high
`))
	if len(set.Rules) != 1 {
		t.Fatalf("rules = %v (the base rule fires only through the correlation)", ids(set.Rules))
	}
	r := set.Rules[0]
	if r.Kind != analyzer.KindThreshold || r.Threshold != 5 || r.Window.D().Hours() != 1 {
		t.Fatalf("rule = %+v", r)
	}
	denied := func(at int, ip string) ev {
		return ev{at, fmt.Sprintf(`{"responseStatus":{"code":401},"user":null,"sourceIPs":["%s"]}`, ip)}
	}
	var five, four, spread, twoIPs []ev
	for i := 0; i < 5; i++ {
		five = append(five, denied(i*600, "203.0.113.7"))
		spread = append(spread, denied(i*1000, "203.0.113.7")) // 4000 s: never 5 in an hour
		twoIPs = append(twoIPs, denied(i, fmt.Sprintf("203.0.113.%d", i%2)))
	}
	four = five[:4]
	if n := count(t, set, r.ID, five...); n != 1 {
		t.Errorf("5 in 40 min: %d findings, want 1", n)
	}
	for name, evs := range map[string][]ev{"4": four, "spread over 66 min": spread, "two addresses": twoIPs} {
		if n := count(t, set, r.ID, evs...); n != 0 {
			t.Errorf("%s: %d findings, want 0", name, n)
		}
	}
	// gt is one more than its value
	set = load(t, docs(failedLogin, "title: gt\ncorrelation:\n    type: event_count\n    rules: [failed_login]\n    group-by: [sourceIPs]\n    timespan: 1h\n    condition:\n        gt: 4\n"))
	if set.Rules[0].Threshold != 5 {
		t.Errorf("gt 4: threshold %d", set.Rules[0].Threshold)
	}
}

func TestValueCount(t *testing.T) {
	// the specification's "Failed login": distinct user accounts per source
	set := load(t, docs(failedLogin, `title: Failed login
id: 0e95725d-7320-415d-80f7-004da920fc12
correlation:
    type: value_count
    rules:
        - failed_login
    group-by:
        - sourceIPs
    timespan: 1d
    condition:
        field: user.username
        gte: 3
`))
	r := set.Rules[0]
	if r.Kind != analyzer.KindDistinct || r.Threshold != 3 {
		t.Fatalf("rule = %+v", r)
	}
	try := func(at int, user string) ev {
		return ev{at, fmt.Sprintf(`{"responseStatus":{"code":401},"user":{"username":"%s"},"sourceIPs":["198.51.100.9"]}`, user)}
	}
	if n := count(t, set, r.ID, try(0, "a"), try(10, "b"), try(20, "a"), try(30, "c")); n != 1 {
		t.Errorf("3 users: %d findings", n)
	}
	if n := count(t, set, r.ID, try(0, "a"), try(10, "b"), try(20, "a"), try(30, "b")); n != 0 {
		t.Errorf("2 users: %d findings", n)
	}
	if n := count(t, set, r.ID, try(0, "a"), try(10, "b"), try(90000, "c")); n != 0 {
		t.Errorf("3 users over 25 hours: %d findings", n)
	}
}

func TestTemporal(t *testing.T) {
	// the specification's reconnaissance example: three rules in any order within 5m by
	// the same user on the same... (here: the same source)
	set := load(t, docs(`correlation:
    type: temporal
    rules:
        - recon_cmd_a
        - recon_cmd_b
        - recon_cmd_c
    group-by:
        - user.username
        - sourceIPs
    timespan: 5m
title: Recon
id: 11111111-0000-4000-8000-000000000001
`, listSecrets, listConfigmaps, listPods))
	if len(set.Rules) != 1 {
		t.Fatalf("rules = %v", ids(set.Rules))
	}
	r := set.Rules[0]
	list := func(at int, res, user string) ev {
		return ev{at, fmt.Sprintf(`{"verb":"list","objectRef":{"resource":"%s"},"user":{"username":"%s"}}`, res, user)}
	}
	if n := count(t, set, r.ID, list(0, "pods", "eve"), list(30, "secrets", "eve"), list(60, "pods", "eve"), list(90, "configmaps", "eve")); n != 1 {
		t.Errorf("pods, secrets, configmaps: %d findings", n)
	}
	if n := count(t, set, r.ID, list(0, "pods", "eve"), list(30, "secrets", "eve"), list(60, "pods", "eve")); n != 0 {
		t.Errorf("two of three: %d findings", n)
	}
	if n := count(t, set, r.ID, list(0, "pods", "eve"), list(30, "secrets", "eve"), list(60, "configmaps", "bob")); n != 0 {
		t.Errorf("two users: %d findings", n)
	}
	if n := count(t, set, r.ID, list(0, "pods", "eve"), list(30, "secrets", "eve"), list(400, "configmaps", "eve")); n != 0 {
		t.Errorf("over 5 minutes: %d findings", n)
	}
}

func TestTemporalOrdered(t *testing.T) {
	set := load(t, docs(`title: Binding then a system pod
id: 11111111-0000-4000-8000-000000000002
correlation:
    type: temporal_ordered
    rules:
        - binding
        - system_pod
    group-by:
        - user.username
    timespan: 1h
level: critical
`, `title: Binding created
name: binding
logsource: {product: kubernetes, service: audit}
detection:
    selection: {verb: create, objectRef.resource: clusterrolebindings}
    condition: selection
`, `title: Pod in kube-system
name: system_pod
logsource: {product: kubernetes, service: audit}
detection:
    selection: {verb: create, objectRef.resource: pods, objectRef.namespace: kube-system}
    condition: selection
`))
	r := set.Rules[0]
	if r.Kind != analyzer.KindSequence || len(r.Steps) != 2 || r.Severity != analyzer.Critical {
		t.Fatalf("rule = %+v", r)
	}
	bind := func(at int, user string) ev {
		return ev{at, fmt.Sprintf(`{"objectRef":{"resource":"clusterrolebindings","namespace":null},"user":{"username":"%s"}}`, user)}
	}
	pod := func(at int, user string) ev {
		return ev{at, fmt.Sprintf(`{"objectRef":{"namespace":"kube-system"},"user":{"username":"%s"}}`, user)}
	}
	if n := count(t, set, r.ID, bind(0, "mallory"), pod(600, "mallory")); n != 1 {
		t.Errorf("in order: %d findings", n)
	}
	if n := count(t, set, r.ID, pod(0, "mallory"), bind(600, "mallory")); n != 0 {
		t.Errorf("reversed: %d findings", n)
	}
	if n := count(t, set, r.ID, bind(0, "mallory"), pod(600, "alice")); n != 0 {
		t.Errorf("two users: %d findings", n)
	}
	if n := count(t, set, r.ID, bind(0, "mallory"), pod(4000, "mallory")); n != 0 {
		t.Errorf("after the timespan: %d findings", n)
	}
}

// The specification's field name aliases: each rule's events are grouped by their own
// field.
func TestAliases(t *testing.T) {
	set := load(t, docs(`title: Impersonated after an error
id: 11111111-0000-4000-8000-000000000003
correlation:
    type: temporal
    rules:
        - internal_error
        - impersonated_create
    group-by:
        - actor
    timespan: 10s
    aliases:
        actor:
            internal_error: user.username
            impersonated_create: impersonatedUser.username
`, `title: internal error
name: internal_error
logsource: {product: kubernetes, service: audit}
detection:
    selection:
        responseStatus.code: 500
    condition: selection
`, `title: create as another user
name: impersonated_create
logsource: {product: kubernetes, service: audit}
detection:
    selection:
        verb: create
        impersonatedUser.username|exists: true
    condition: selection
`))
	r := set.Rules[0]
	errEv := func(at int, user string) ev {
		return ev{at, fmt.Sprintf(`{"verb":"get","responseStatus":{"code":500},"user":{"username":"%s"}}`, user)}
	}
	imp := func(at int, as string) ev {
		return ev{at, fmt.Sprintf(`{"user":{"username":"admin"},"impersonatedUser":{"username":"%s"}}`, as)}
	}
	if n := count(t, set, r.ID, errEv(0, "carol"), imp(5, "carol")); n != 1 {
		t.Errorf("same actor: %d findings\nkey: %s", n, r.Key)
	}
	if n := count(t, set, r.ID, errEv(0, "carol"), imp(5, "dave")); n != 0 {
		t.Errorf("different actors: %d findings", n)
	}
}

func TestCorrelationGenerate(t *testing.T) {
	set := load(t, docs(failedLogin, "title: many\ngenerate: true\ncorrelation:\n    type: event_count\n    rules: [failed_login]\n    group-by: [sourceIPs]\n    timespan: 1h\n    condition: {gte: 2}\n"))
	if got := ids(set.Rules); len(got) != 2 || got[0] != "5638f7c0-ac70-491d-8465-2a65075e0d86" {
		t.Fatalf("generate: true: rules %v, want the base rule and the correlation", got)
	}
}

func TestCorrelationUnsupported(t *testing.T) {
	corr := func(body string) string {
		return docs(failedLogin, "title: c\nid: c-1\ncorrelation:\n"+indent(body))
	}
	for name, c := range map[string]struct{ yaml, want string }{
		"value_sum":     {corr("type: value_sum\nrules: [failed_login]\ngroup-by: [sourceIPs]\ntimespan: 1h\ncondition: {field: x, gt: 5}"), "does not sum"},
		"lt":            {corr("type: event_count\nrules: [failed_login]\ngroup-by: [sourceIPs]\ntimespan: 1h\ncondition: {lt: 5}"), "condition lt"},
		"range":         {corr("type: event_count\nrules: [failed_login]\ngroup-by: [sourceIPs]\ntimespan: 1h\ncondition: {gt: 100, lte: 200}"), "need the count at the end"},
		"unknown rule":  {corr("type: event_count\nrules: [nope]\ngroup-by: [sourceIPs]\ntimespan: 1h\ncondition: {gte: 5}"), "\"nope\", which is not loaded"},
		"bad timespan":  {corr("type: event_count\nrules: [failed_login]\ngroup-by: [sourceIPs]\ntimespan: 1y\ncondition: {gte: 5}"), "timespan"},
		"no condition":  {corr("type: event_count\nrules: [failed_login]\ngroup-by: [sourceIPs]\ntimespan: 1h"), "needs a condition"},
		"partial order": {corr("type: temporal_ordered\nrules: [failed_login, failed_login]\ngroup-by: [sourceIPs]\ntimespan: 1h\ncondition: {gte: 1}"), "every step"},
	} {
		us := unsupportedOf(t, c.yaml)
		if len(us) != 1 || !strings.Contains(us[0].Reason, c.want) || us[0].RuleID != "c-1" {
			t.Errorf("%s: unsupported = %v, want one for c-1 containing %q", name, us, c.want)
		}
	}
}

// The specification's complete example, as written: a chain of correlations over
// Windows rules. Nothing of it can run on an audit log, and each part says why.
func TestSpecificationCorrelationExample(t *testing.T) {
	y := `title: Correlation - Multiple Failed Logins Followed by Successful Login
id: b180ead8-d58f-40b2-ae54-c8940995b9b6
status: experimental
description: Detects multiple failed logins by a single user followed by a successful login of that user
references:
    - https://reference.com
author: Florian Roth (Nextron Systems)
date: 2023-06-16
correlation:
    type: temporal_ordered
    rules:
        - multiple_failed_login
        - successful_login
    group-by:
        - User
    timespan: 10m
falsepositives:
    - Unlikely
level: high
---
title: Multiple failed logons
id: a8418a5a-5fc4-46b5-b23b-6c73beb19d41
description: Detects multiple failed logins within a certain amount of time
name: multiple_failed_login
correlation:
    type: event_count
    rules:
        - failed_login
    group-by:
        - User
    timespan: 10m
    condition:
        gte: 10
---
title: Single failed login
id: 53ba33fd-3a50-4468-a5ef-c583635cfa92
name: failed_login
logsource:
    product: windows
    service: security
detection:
    selection:
        EventID:
            - 529
            - 4625
    condition: selection
---
title: Successful login
id: 4d0a2c83-c62c-4ed4-b475-c7e23a9269b8
description: Detects a successful login
name: successful_login
logsource:
    product: windows
    service: security
detection:
    selection:
        EventID:
            - 528
            - 4624
    condition: selection
`
	al, _ := analyzer.DefaultAllowlists()
	set := Parse(Options{Allowlists: al}, []byte(y), "mr_example.yml")
	if len(set.Rules) != 0 {
		t.Errorf("rules = %v", ids(set.Rules))
	}
	want := map[string]string{
		"b180ead8-d58f-40b2-ae54-c8940995b9b6": "chain of correlations",
		"a8418a5a-5fc4-46b5-b23b-6c73beb19d41": "kubesleuth reads Kubernetes audit logs",
	}
	for _, u := range set.Unsupported {
		if w, ok := want[u.RuleID]; ok && strings.Contains(u.Reason, w) {
			delete(want, u.RuleID)
		}
	}
	if len(want) > 0 {
		t.Errorf("missing reasons %v in %v", want, set.Unsupported)
	}
}

func TestFilters(t *testing.T) {
	// the specification's filter example, on the audit log: administrator accounts start
	// with adm_
	y := docs(`title: Secret read
id: 6f3e2987-db24-4c78-a860-b4f4095a7095
logsource: {product: kubernetes, service: audit}
detection:
    selection: {verb: get, objectRef.resource: secrets}
    condition: selection
`, `title: Exec
id: df0841c0-9846-4e9f-ad8a-7df91571771b
name: exec_rule
logsource: {product: kubernetes, service: audit}
detection:
    selection: {objectRef.subresource: exec}
    condition: selection
`, `title: Secret deleted
id: 0a0a0a0a-0000-4000-8000-000000000000
logsource: {product: kubernetes, service: audit}
detection:
    selection: {verb: delete, objectRef.resource: secrets}
    condition: selection
`, `title: Filter Administrator account
description: The valid administrator account start with adm_
logsource:
    product: kubernetes
    service: audit
filter:
    rules:
        - 6f3e2987-db24-4c78-a860-b4f4095a7095 # by id
        - exec_rule                            # by name
    selection:
        user.username|startswith: 'adm_'
    condition: selection
`)
	set := load(t, y)
	if len(set.Rules) != 3 {
		t.Fatalf("rules = %v", ids(set.Rules))
	}
	get := `{"verb":"get","objectRef":{"resource":"secrets"},`
	exec := `{"verb":"get","objectRef":{"resource":"pods","subresource":"exec"},`
	del := `{"verb":"delete","objectRef":{"resource":"secrets"},`
	for _, c := range []struct {
		rule, o string
		want    int
	}{
		{"6f3e2987-db24-4c78-a860-b4f4095a7095", get + `"user":{"username":"alice"}}`, 1},
		{"6f3e2987-db24-4c78-a860-b4f4095a7095", get + `"user":{"username":"adm_alice"}}`, 0},
		{"df0841c0-9846-4e9f-ad8a-7df91571771b", exec + `"user":{"username":"adm_alice"}}`, 0},
		{"df0841c0-9846-4e9f-ad8a-7df91571771b", exec + `"user":{"username":"bob"}}`, 1},
		{"0a0a0a0a-0000-4000-8000-000000000000", del + `"user":{"username":"adm_alice"}}`, 1}, // not named by the filter
	} {
		if n := count(t, set, c.rule, ev{0, c.o}); n != c.want {
			t.Errorf("%s on %s: %d findings, want %d", c.rule, c.o, n, c.want)
		}
	}
	if !strings.Contains(set.Rules[0].Description, "Filter Administrator account") {
		t.Errorf("the filtered rule does not say so: %q", set.Rules[0].Description)
	}

	// a filter naming a correlation filters the events it counts
	set = load(t, docs(failedLogin, "title: many\nid: many-1\ncorrelation:\n    type: event_count\n    rules: [failed_login]\n    group-by: [sourceIPs]\n    timespan: 1h\n    condition: {gte: 2}\n",
		"title: not the scanner\nlogsource: {product: kubernetes, service: audit}\nfilter:\n    rules: [many-1]\n    scanner:\n        userAgent|startswith: 'probe/'\n    condition: scanner\n"))
	d := func(ua string) ev {
		return ev{0, fmt.Sprintf(`{"responseStatus":{"code":401},"userAgent":"%s"}`, ua)}
	}
	if n := count(t, set, "many-1", d("probe/1"), d("probe/1"), d("probe/1")); n != 0 {
		t.Errorf("filtered events counted: %d findings", n)
	}
	if n := count(t, set, "many-1", d("curl/8"), d("curl/8")); n != 1 {
		t.Errorf("unfiltered: %d findings", n)
	}

	// filters that apply to nothing, or to another log source, are reported
	for name, c := range map[string]struct{ yaml, want string }{
		"unknown rule": {docs(failedLogin, "title: f\nlogsource: {product: kubernetes, service: audit}\nfilter:\n    rules: [nope]\n    s: {verb: get}\n    condition: s\n"), "\"nope\", which is not loaded"},
		"windows":      {docs(failedLogin, "title: f\nlogsource: {product: windows}\nfilter:\n    rules: [failed_login]\n    s: {User: x}\n    condition: s\n"), "kubesleuth reads Kubernetes audit logs"},
		"broken":       {docs(failedLogin, "title: f\nlogsource: {product: kubernetes, service: audit}\nfilter:\n    rules: [failed_login]\n    s: {verb|nope: x}\n    condition: s\n"), "unknown modifier"},
	} {
		al, _ := analyzer.DefaultAllowlists()
		set := Parse(Options{Allowlists: al}, []byte(c.yaml), "test.yml")
		us := set.Unsupported
		if len(us) != 1 || !strings.Contains(us[0].Reason, c.want) {
			t.Errorf("%s: unsupported = %v, want %q", name, us, c.want)
		}
		if len(set.Rules) != 1 || strings.Contains(set.Rules[0].Match, "!") {
			t.Errorf("%s: the rule it names does not run unfiltered: %v", name, set.Rules)
		}
	}
}
