package realcluster

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/kubesleuth/kubesleuth/analyzer/redact"
)

func TestRedactor(t *testing.T) {
	static := "0123456789abcdef0123456789abcdef"
	jwt := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6cHJvZDp3ZWIifQ.c2lnbmF0dXJlLW9mLXRoZS1hcGlzZXJ2ZXI"
	shape := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6a3ViZS1zeXN0ZW06YmFja2Rvb3IifQ.b3RoZXItc2lnbmF0dXJl"
	other := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjb250cm9sbGVyIn0.Y29udHJvbGxlci1zaWc" // not known: a controller's token
	r := NewRedactor([]string{static, jwt, "password", shape}, shape)
	line := `{"user":{"username":"kubernetes-admin"},"requestObject":{"spec":{"token":"` + static + `"}},` +
		`"responseObject":{"status":{"token":"` + jwt + `"},"data":{"token":"` + base64.StdEncoding.EncodeToString([]byte(other)) + `"},` +
		`"kept":"` + shape + `","word":"password"}}`
	out := string(r.Line([]byte(line)))
	for _, secret := range []string{static, jwt, other, base64.StdEncoding.EncodeToString([]byte(other)), shape} {
		if strings.Contains(out, secret) {
			t.Errorf("%.20s... survived: %s", secret, out)
		}
	}
	for _, want := range []string{
		`"token":"` + redact.Fingerprint([]byte(static)) + `"`,
		`"token":"` + redact.Fingerprint([]byte(jwt)) + `"`,
		`"token":"` + base64.StdEncoding.EncodeToString([]byte(redact.Fingerprint([]byte(other)))) + `"`,
		`"kept":"` + shape[:strings.LastIndexByte(shape, '.')+1] + ShapeSignature + `"`,
		`"word":"password"`, `"username":"kubernetes-admin"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %s in %s", want, out)
		}
	}
	if l := r.Leaks([]byte(out)); len(l) != 0 {
		t.Errorf("leaks after redaction: %v", l)
	}
	if l := r.Leaks([]byte(line)); len(l) != 3 { // static, jwt and shape; "other" only the regexp finds
		t.Errorf("leaks before redaction: %v", l)
	}
	plain := []byte(`{"kind":"Event","user":{"username":"alice"}}`)
	if got := r.Line(plain); !bytes.Equal(got, plain) {
		t.Errorf("a line without credentials changed: %s", got)
	}
}

func TestThinner(t *testing.T) {
	th := NewThinner(2, time.Minute)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mk := func(id, user, res, sub, verb string, at time.Duration, stage string) *Event {
		e := &Event{}
		e.AuditID = typesUID(id)
		e.Stage = auditStage(stage)
		e.User.Username = user
		e.Verb = verb
		e.ObjectRef = objRef(res, sub, "kube-node-lease", "node-1")
		e.RequestReceivedTimestamp.Time = t0.Add(at)
		return e
	}
	var kept []string
	for i, at := range []time.Duration{0, 10 * time.Second, 20 * time.Second, 30 * time.Second, 70 * time.Second, 80 * time.Second, 131 * time.Second} {
		for _, st := range []string{"RequestReceived", "ResponseComplete"} {
			if th.KeepEvent(mk(string(rune('a'+i)), Node1, "leases", "", "update", at, st)) {
				kept = append(kept, string(rune('a'+i))+st[:4])
			}
		}
	}
	// First two, then one a minute after the last kept (10s -> 70s -> 131s).
	if got := strings.Join(kept, ","); got != "aRequ,aResp,bRequ,bResp,eRequ,eResp,gRequ,gResp" {
		t.Errorf("kept %s", got)
	}
	for i := 0; i < 5; i++ {
		if !th.KeepEvent(mk("p"+string(rune('0'+i)), Alice, "pods", "status", "patch", time.Duration(i)*time.Second, "ResponseComplete")) {
			t.Errorf("a person's status patch was thinned")
		}
		if !th.KeepEvent(mk("c"+string(rune('0'+i)), Alice, "configmaps", "", "update", time.Duration(i)*time.Second, "ResponseComplete")) {
			t.Errorf("a configmap update was thinned")
		}
	}
	n := 0
	for i := 0; i < 5; i++ {
		if th.KeepEvent(mk("s"+string(rune('0'+i)), "system:serviceaccount:kube-system:deployment-controller", "deployments", "status", "update", time.Duration(i)*time.Second, "ResponseComplete")) {
			n++
		}
	}
	if n != 2 {
		t.Errorf("kept %d of 5 controller status updates in 5s, want 2", n)
	}
}

func TestAttribute(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d := &Driver{}
	d.Runs = []*Run{
		{Label: Label{Scenario: "one", Start: t0, End: t0.Add(10 * time.Second)}, actors: map[string]bool{Alice: true},
			caused: []objPrefix{{"team-a", "shop"}}, ids: map[string]bool{}, users: map[string]bool{}},
		{Label: Label{Scenario: "two", Start: t0.Add(20 * time.Second), End: t0.Add(30 * time.Second)}, actors: map[string]bool{"": true},
			ids: map[string]bool{}, users: map[string]bool{}},
	}
	ev := func(id, user string, at time.Duration, ns, name string) *Event {
		e := &Event{}
		e.AuditID = typesUID(id)
		e.User.Username = user
		e.RequestReceivedTimestamp.Time = t0.Add(at)
		if ns != "" {
			e.ObjectRef = objRef("pods", "", ns, name)
		}
		return e
	}
	rs := "system:serviceaccount:kube-system:replicaset-controller"
	for _, tc := range []struct {
		e    *Event
		want string
	}{
		{ev("1", Alice, time.Second, "", ""), "one"},
		{ev("1", Alice, time.Second, "", ""), "one"}, // a second stage of the same request
		{ev("2", Bob, 2*time.Second, "", ""), ""},
		{ev("3", rs, 3*time.Second, "team-a", "shop-5d8f-abcde"), "one"},
		{ev("4", rs, 3*time.Second, "team-a", "shopping-1"), ""}, // prefix, not the object
		{ev("5", Alice, 15*time.Second, "", ""), ""},             // between runs
		{ev("6", "", 25*time.Second, "", ""), "two"},
		{ev("7", Bob, 25*time.Second, "", ""), ""},
		{ev("8", Alice, time.Hour, "", ""), ""},
	} {
		if got := d.Attribute(tc.e); got != tc.want {
			t.Errorf("event %s by %q at %s: %q, want %q", tc.e.AuditID, tc.e.User.Username, tc.e.RequestReceivedTimestamp.Sub(t0), got, tc.want)
		}
	}
	if r := d.Runs[0]; strings.Join(r.AuditIDs, ",") != "1,3" || r.Events != 3 || strings.Join(r.Users, ",") != Alice+","+rs {
		t.Errorf("run one: ids %v events %d users %v", r.AuditIDs, r.Events, r.Users)
	}
}

// TestFixtures checks the committed fixtures of testdata/realapiserver without a cluster:
// every line is an audit event, the labels name events of their file, no credential is
// left but the one JWT-shaped token, and the facts the README states hold in them.
func TestFixtures(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "realapiserver")
	files := map[string]map[string][]Event{} // file -> auditID -> events
	for _, f := range []string{"benign.jsonl", "attacks.jsonl", "no-requestreceived.jsonl", "metadata-only.jsonl", "kubelet-standin.jsonl"} {
		evs, err := ReadEvents(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			t.Fatalf("%s: no events", f)
		}
		m := map[string][]Event{}
		for _, e := range evs {
			m[string(e.AuditID)] = append(m[string(e.AuditID)], e)
			raw := string(e.Raw)
			for _, jwt := range jwtRe.FindAllString(raw, -1) {
				if !strings.HasSuffix(jwt, "."+ShapeSignature) {
					t.Errorf("%s: auditID %s: a JWT that is not the fixture's shape token (%s)", f, e.AuditID, redact.Fingerprint([]byte(jwt)))
				}
			}
			for _, b := range b64JWTRe.FindAllString(raw, -1) {
				if dec, err := base64.StdEncoding.DecodeString(b); err == nil && jwtRe.Match(dec) {
					t.Errorf("%s: auditID %s: a base64-encoded JWT", f, e.AuditID)
				}
			}
		}
		files[f] = m
	}

	lf, err := os.Open(filepath.Join(dir, "labels.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	sc := bufio.NewScanner(lf)
	sc.Buffer(nil, 1<<20)
	scenarios := map[string]bool{}
	for _, s := range Scenarios() {
		scenarios[s.Name] = true
	}
	n := 0
	for sc.Scan() {
		n++
		var l Label
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("labels.jsonl:%d: %v", n, err)
		}
		if !scenarios[l.Scenario] {
			t.Errorf("labels.jsonl:%d: unknown scenario %q", n, l.Scenario)
		}
		m := files[l.File]
		if m == nil {
			t.Fatalf("labels.jsonl:%d: unknown file %q", n, l.File)
		}
		if l.Err != "" {
			t.Errorf("labels.jsonl:%d: %s failed when recorded: %s", n, l.Scenario, l.Err)
		}
		if len(l.AuditIDs) == 0 {
			t.Errorf("labels.jsonl:%d: %s has no events", n, l.Scenario)
		}
		for _, id := range l.AuditIDs {
			evs := m[id]
			if len(evs) == 0 {
				t.Errorf("labels.jsonl:%d: %s: auditID %s not in %s", n, l.Scenario, id, l.File)
				continue
			}
			if ts := evs[0].RequestReceivedTimestamp.Time; ts.Before(l.Start) || ts.After(l.End) {
				t.Errorf("labels.jsonl:%d: %s: auditID %s at %s outside its span", n, l.Scenario, id, ts)
			}
		}
	}
	if n == 0 {
		t.Fatal("labels.jsonl is empty")
	}

	// Facts (README, "what a real apiserver writes").
	var fails, execs, policyRR int
	for f, m := range files {
		for id, evs := range m {
			last := evs[len(evs)-1]
			if last.Code() == 401 {
				fails++
				if len(evs) != 1 || last.Stage != "ResponseStarted" || last.User.Username != "" {
					t.Errorf("%s: 401 %s: stages %s user %q", f, id, stages(evs), last.User.Username)
				}
			}
			if last.Resource() == "pods/exec" && last.Verb == "get" {
				execs++
				if last.Code() != 101 {
					t.Errorf("%s: websocket exec %s: code %d", f, id, last.Code())
				}
			}
			if f == "no-requestreceived.jsonl" {
				for _, e := range evs {
					if e.Stage == "RequestReceived" {
						t.Errorf("%s: a RequestReceived event", f)
					}
				}
			}
			if f == "metadata-only.jsonl" {
				for _, e := range evs {
					if e.Level != "Metadata" || e.RequestObject != nil || e.ResponseObject != nil {
						t.Errorf("%s: %s at level %s with bodies", f, id, e.Level)
					}
				}
			} else if last.Level == "RequestResponse" {
				policyRR++
			}
		}
	}
	if fails == 0 || execs == 0 || policyRR == 0 {
		t.Errorf("fixtures lack the shapes the README describes: %d failed logins, %d websocket execs, %d RequestResponse requests", fails, execs, policyRR)
	}
}

func typesUID(s string) types.UID       { return types.UID(s) }
func auditStage(s string) auditv1.Stage { return auditv1.Stage(s) }
func objRef(res, sub, ns, name string) *auditv1.ObjectReference {
	return &auditv1.ObjectReference{Resource: res, Subresource: sub, Namespace: ns, Name: name}
}
