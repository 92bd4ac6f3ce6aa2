package generate

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

var update = flag.Bool("update", false, "rewrite testdata/generated from the generator")

func gen(t testing.TB, opts Options) ([]byte, []byte, Stats) {
	t.Helper()
	var out, labels bytes.Buffer
	opts.Labels = &labels
	st, err := Audit(&out, opts)
	if err != nil {
		t.Fatalf("Audit(%+v): %v", opts, err)
	}
	return out.Bytes(), labels.Bytes(), st
}

func lines(b []byte) [][]byte {
	return bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
}

func decodeAll(t *testing.T, log []byte) []auditv1.Event {
	t.Helper()
	var evs []auditv1.Event
	for i, l := range lines(log) {
		var ev auditv1.Event
		dec := json.NewDecoder(bytes.NewReader(l))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ev); err != nil {
			t.Fatalf("line %d does not decode into auditv1.Event: %v\n%s", i+1, err, l)
		}
		evs = append(evs, ev)
	}
	return evs
}

func TestDeterministic(t *testing.T) {
	sum := func(o Options) [32]byte {
		log, labels, _ := gen(t, o)
		return sha256.Sum256(append(log, labels...))
	}
	for _, attacks := range []bool{false, true} {
		t.Run(fmt.Sprintf("attacks=%v", attacks), func(t *testing.T) {
			a := sum(Options{Events: 3000, Seed: 7, Attacks: attacks})
			b := sum(Options{Events: 3000, Seed: 7, Attacks: attacks})
			c := sum(Options{Events: 3000, Seed: 8, Attacks: attacks})
			if a != b {
				t.Errorf("same seed gave different output: %x vs %x", a, b)
			}
			if a == c {
				t.Errorf("seeds 7 and 8 gave the same output %x", a)
			}
		})
	}
}

// TestEventsAreApiserverShaped checks that every line decodes into the upstream type
// with no unknown field, and that re-encoding it with encoding/json (what the apiserver's
// log backend does) gives back exactly the same bytes: field order, omitted fields,
// escaping and timestamp format all match.
func TestEventsAreApiserverShaped(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"noise", Options{Events: 4000, Seed: 1}},
		{"attacks", Options{Events: 4000, Seed: 2, Attacks: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log, _, st := gen(t, tc.opts)
			ls := lines(log)
			if len(ls) != tc.opts.Events || st.Events != tc.opts.Events {
				t.Fatalf("got %d lines, Stats.Events %d, want %d", len(ls), st.Events, tc.opts.Events)
			}
			if st.Bytes != int64(len(log)) {
				t.Errorf("Stats.Bytes = %d, wrote %d", st.Bytes, len(log))
			}
			evs := decodeAll(t, log)
			ids := map[string]bool{}
			stages := map[string]int{}
			var prev int64
			for i, ev := range evs {
				if ev.Kind != "Event" || ev.APIVersion != "audit.k8s.io/v1" {
					t.Fatalf("line %d: kind/apiVersion %q/%q", i+1, ev.Kind, ev.APIVersion)
				}
				if len(ev.AuditID) != 36 || ev.Stage == "" || ev.RequestReceivedTimestamp.IsZero() || ev.StageTimestamp.IsZero() {
					t.Fatalf("line %d lacks auditID, stage or timestamps: %s", i+1, ls[i])
				}
				if ev.StageTimestamp.Before(&ev.RequestReceivedTimestamp) {
					t.Errorf("line %d: stageTimestamp before requestReceivedTimestamp", i+1)
				}
				if ts := ev.StageTimestamp.UnixMicro(); ts < prev {
					t.Errorf("line %d: stageTimestamp goes back in time", i+1)
				} else {
					prev = ts
				}
				if ev.Stage != auditv1.StageRequestReceived && ev.ResponseStatus == nil {
					t.Errorf("line %d: stage %s without responseStatus", i+1, ev.Stage)
				}
				if ev.Stage == auditv1.StageRequestReceived && (ev.ResponseStatus != nil || ev.RequestObject != nil || ev.Annotations != nil) {
					t.Errorf("line %d: RequestReceived carries response data", i+1)
				}
				if ev.Level == auditv1.LevelMetadata && (ev.RequestObject != nil || ev.ResponseObject != nil) {
					t.Errorf("line %d: Metadata level with bodies", i+1)
				}
				if ev.RequestObject != nil && !json.Valid(ev.RequestObject.Raw) {
					t.Errorf("line %d: requestObject is not JSON", i+1)
				}
				if ev.ResponseObject != nil && !json.Valid(ev.ResponseObject.Raw) {
					t.Errorf("line %d: responseObject is not JSON", i+1)
				}
				again, err := json.Marshal(&ev)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(again, ls[i]) {
					t.Fatalf("line %d differs from encoding/json's rendering of the same event:\n got %s\nwant %s", i+1, ls[i], again)
				}
				ids[string(ev.AuditID)] = true
				stages[string(ev.Stage)]++
			}
			if len(ids) != st.Requests {
				t.Errorf("Stats.Requests = %d, log has %d auditIDs", st.Requests, len(ids))
			}
			for k, v := range stages {
				if st.Stages[k] != v {
					t.Errorf("Stats.Stages[%s] = %d, log has %d", k, st.Stages[k], v)
				}
			}
			if stages["ResponseStarted"] == 0 || stages["RequestReceived"] == 0 || stages["ResponseComplete"] == 0 {
				t.Errorf("missing a stage: %v", stages)
			}
			if !bytes.Contains(log, []byte(`\u0026`)) || bytes.Contains(log, []byte("&")) {
				t.Errorf("requestURI '&' must be written as \\u0026")
			}
		})
	}
}

type label struct {
	AuditID  string `json:"auditID"`
	Stage    string `json:"stage"`
	Scenario string `json:"scenario"`
}

func TestAttackLabels(t *testing.T) {
	log, labelBytes, st := gen(t, Options{Events: 5000, Seed: 3, Attacks: true})
	evs := decodeAll(t, log)
	byKey := map[string]*auditv1.Event{}
	for i := range evs {
		byKey[string(evs[i].AuditID)+"/"+string(evs[i].Stage)] = &evs[i]
	}
	counts := map[string]int{}
	for i, l := range lines(labelBytes) {
		var lb label
		if err := json.Unmarshal(l, &lb); err != nil {
			t.Fatalf("labels line %d: %v", i+1, err)
		}
		ev := byKey[lb.AuditID+"/"+lb.Stage]
		if ev == nil {
			t.Fatalf("label %+v names no event of the log", lb)
		}
		if want, ok := signatures[lb.Scenario]; !ok {
			t.Errorf("label with unknown scenario %q", lb.Scenario)
		} else if !want(ev) {
			b, _ := json.Marshal(ev)
			t.Errorf("event labelled %s does not look like it: %s", lb.Scenario, b)
		}
		counts[lb.Scenario]++
	}
	for _, name := range Scenarios() {
		if counts[name] == 0 {
			t.Errorf("scenario %s has no event", name)
		}
		if counts[name] != st.Scenarios[name] {
			t.Errorf("Stats.Scenarios[%s] = %d, labels file has %d", name, st.Scenarios[name], counts[name])
		}
	}
	// Enumeration: one identity, 30 distinct secrets, within a few minutes.
	seen := map[string]bool{}
	var first, last int64
	for _, ev := range evs {
		if ev.ObjectRef != nil && ev.ObjectRef.Resource == "secrets" && ev.Verb == "get" && ev.User.Username == "system:serviceaccount:prod:web" && ev.Stage == "ResponseComplete" {
			seen[ev.ObjectRef.Namespace+"/"+ev.ObjectRef.Name] = true
			if first == 0 {
				first = ev.StageTimestamp.UnixMicro()
			}
			last = ev.StageTimestamp.UnixMicro()
		}
	}
	if len(seen) < 30 || last-first > 5*minute {
		t.Errorf("enumeration: %d distinct secrets over %ds, want >= 30 within 5 min", len(seen), (last-first)/sec)
	}
}

// signatures say what an event of each scenario looks like; without --attacks no event
// of the log may match any of them.
var signatures = map[string]func(ev *auditv1.Event) bool{
	"exec-shell": func(ev *auditv1.Event) bool {
		return sub(ev) == "exec" && strings.Contains(ev.RequestURI, "command=%2Fbin%2Fsh") || execTarget(ev)
	},
	"exec-cloud-metadata": func(ev *auditv1.Event) bool {
		return sub(ev) == "exec" && strings.Contains(ev.RequestURI, "169.254.169.254") || execTarget(ev)
	},
	"exec-sa-token-read": func(ev *auditv1.Event) bool {
		return sub(ev) == "exec" && strings.Contains(ev.RequestURI, "serviceaccount%2Ftoken") || execTarget(ev)
	},
	"privileged-pod": func(ev *auditv1.Event) bool {
		return res(ev) == "pods" && ev.Verb == "create" && ev.User.Username == "bob@example.com" &&
			(ev.Stage == "RequestReceived" || bytes.Contains(ev.RequestObject.Raw, []byte(`"privileged":true`)) && bytes.Contains(ev.RequestObject.Raw, []byte(`"hostPID":true`)))
	},
	"debug-daemonset": func(ev *auditv1.Event) bool { return res(ev) == "daemonsets" && ev.Verb == "create" },
	"cluster-admin-binding": func(ev *auditv1.Event) bool {
		return ev.Verb == "create" && (res(ev) == "clusterrolebindings" || res(ev) == "serviceaccounts" && sub(ev) == "")
	},
	"token-request": func(ev *auditv1.Event) bool {
		return res(ev) == "serviceaccounts" && sub(ev) == "token" && !strings.HasPrefix(ev.User.Username, "system:node:")
	},
	"token-use-public-ip": backdoorPublic,
	"secret-list-cluster-wide": func(ev *auditv1.Event) bool {
		return res(ev) == "secrets" && ev.Verb == "list" && ev.ObjectRef.Namespace == ""
	},
	"secret-enumeration": func(ev *auditv1.Event) bool {
		return res(ev) == "secrets" && ev.Verb == "get" && ev.User.Username == "system:serviceaccount:prod:web" && public(ev)
	},
	"anonymous-access": func(ev *auditv1.Event) bool {
		return ev.User.Username == "system:anonymous" && ev.ResponseStatus != nil && ev.ResponseStatus.Code == 200 ||
			ev.User.Username == "system:anonymous" && ev.Stage == "RequestReceived"
	},
	"auth-scan": func(ev *auditv1.Event) bool {
		return public(ev) && (ev.ResponseStatus != nil && (ev.ResponseStatus.Code == 401 || ev.ResponseStatus.Code == 403) || ev.Stage == "RequestReceived")
	},
	"offensive-user-agent": func(ev *auditv1.Event) bool { return strings.HasPrefix(ev.UserAgent, "peirates/") },
	"events-deleted": func(ev *auditv1.Event) bool {
		return res(ev) == "events" && (ev.Verb == "delete" || ev.Verb == "deletecollection")
	},
	"mutating-webhook":   func(ev *auditv1.Event) bool { return res(ev) == "mutatingwebhookconfigurations" && ev.Verb == "create" },
	"csr-system-masters": func(ev *auditv1.Event) bool { return res(ev) == "certificatesigningrequests" && backdoorPublic(ev) },
	"impersonation-system-admin": func(ev *auditv1.Event) bool {
		return ev.ImpersonatedUser != nil && ev.ImpersonatedUser.Username == "system:admin"
	},
	"port-forward": func(ev *auditv1.Event) bool {
		return ev.User.Username == "bob@example.com" && res(ev) == "pods" && ev.ObjectRef.Namespace == "payments"
	},
	"nodes-proxy": func(ev *auditv1.Event) bool { return res(ev) == "nodes" && sub(ev) == "proxy" },
}

// execTarget is the kubectl exec's preliminary read of the pod, from the stolen kubeconfig.
func execTarget(ev *auditv1.Event) bool {
	return ev.User.Username == "alice@example.com" && public(ev) && res(ev) == "pods" && ev.Verb == "get"
}

func res(ev *auditv1.Event) string {
	if ev.ObjectRef == nil {
		return ""
	}
	return ev.ObjectRef.Resource
}

func sub(ev *auditv1.Event) string {
	if ev.ObjectRef == nil {
		return ""
	}
	return ev.ObjectRef.Subresource
}

func public(ev *auditv1.Event) bool {
	for _, ip := range ev.SourceIPs {
		a, err := netip.ParseAddr(ip)
		if err == nil && !a.IsPrivate() && !a.IsLoopback() {
			return true
		}
	}
	return false
}

func backdoorPublic(ev *auditv1.Event) bool {
	return ev.User.Username == "system:serviceaccount:kube-system:"+backdoorSA && public(ev)
}

func TestNoAttackWithoutAttacks(t *testing.T) {
	log, labels, st := gen(t, Options{Events: 20000, Seed: 4})
	if len(labels) != 0 || len(st.Scenarios) != 0 {
		t.Fatalf("labels or scenario counts without --attacks: %d bytes, %v", len(labels), st.Scenarios)
	}
	for _, ev := range decodeAll(t, log) {
		for name, match := range signatures {
			if match(&ev) {
				b, _ := json.Marshal(ev)
				t.Errorf("scenario %s appears without --attacks: %s", name, b)
			}
		}
		if public(&ev) {
			t.Errorf("request from a public address without --attacks: %v", ev.SourceIPs)
		}
	}
}

// TestSecretValues checks that Stats.SecretValues lists exactly the values the log
// discloses, so that tests downstream can look for every one of them.
func TestSecretValues(t *testing.T) {
	for _, attacks := range []bool{false, true} {
		log, _, st := gen(t, Options{Events: 8000, Seed: 5, Attacks: attacks})
		disclosed := disclosedValues(t, decodeAll(t, log))
		if len(disclosed) == 0 {
			t.Fatalf("attacks=%v: the log discloses no secret value; the leaky policy rule should", attacks)
		}
		checkSecretValues(t, fmt.Sprintf("attacks=%v", attacks), disclosed, st.SecretValues)
	}
}

// disclosedValues returns every secret value the events' Secret bodies hold, decoded:
// data maps, list items and kubectl's last-applied-configuration annotation.
func disclosedValues(t *testing.T, evs []auditv1.Event) map[string]bool {
	t.Helper()
	disclosed := map[string]bool{}
	for _, ev := range evs {
		for _, o := range []*runtime.Unknown{ev.RequestObject, ev.ResponseObject} {
			if o == nil || res(&ev) != "secrets" {
				continue
			}
			var obj struct {
				Data     map[string][]byte `json:"data"`
				Metadata struct {
					Annotations map[string]string `json:"annotations"`
				} `json:"metadata"`
				Items []struct {
					Data map[string][]byte `json:"data"`
				} `json:"items"`
			}
			if err := json.Unmarshal(o.Raw, &obj); err != nil {
				t.Fatal(err)
			}
			all := []map[string][]byte{obj.Data}
			for _, it := range obj.Items {
				all = append(all, it.Data)
			}
			if la := obj.Metadata.Annotations["kubectl.kubernetes.io/last-applied-configuration"]; la != "" {
				var applied struct {
					Data map[string][]byte `json:"data"`
				}
				if err := json.Unmarshal([]byte(la), &applied); err != nil {
					t.Fatalf("last-applied-configuration: %v", err)
				}
				all = append(all, applied.Data)
			}
			for _, d := range all {
				for _, v := range d {
					disclosed[string(v)] = true
				}
			}
		}
	}
	return disclosed
}

// checkSecretValues fails unless Stats.SecretValues lists exactly the disclosed values.
func checkSecretValues(t *testing.T, what string, disclosed map[string]bool, listed []string) {
	t.Helper()
	for v := range disclosed {
		if !slices.Contains(listed, v) {
			t.Errorf("%s: disclosed value (fingerprint %x) missing from Stats.SecretValues", what, sha256.Sum256([]byte(v)))
		}
	}
	for _, v := range listed {
		if !disclosed[v] {
			t.Errorf("%s: Stats.SecretValues lists a value (fingerprint %x) the log does not hold", what, sha256.Sum256([]byte(v)))
		}
	}
}

func TestOptionErrors(t *testing.T) {
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{Events: 0}, "events must be positive"},
		{Options{Events: -5}, "events must be positive"},
		{Options{Events: 999, Attacks: true}, "attack scenarios need at least 1000 events"},
	} {
		_, err := Audit(io.Discard, tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Audit(%+v) = %v, want error containing %q", tc.opts, err, tc.want)
		}
	}
}

type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.n -= len(p); w.n < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestWriteErrors(t *testing.T) {
	_, err := Audit(&failingWriter{n: 3 << 20}, Options{Events: 10000})
	if err == nil || !strings.Contains(err.Error(), "writing audit log: disk full") {
		t.Errorf("log write failure: got %v", err)
	}
	_, err = Audit(io.Discard, Options{Events: 5000, Attacks: true, Labels: &failingWriter{n: 100}})
	if err == nil || !strings.Contains(err.Error(), "writing labels: disk full") {
		t.Errorf("labels write failure: got %v", err)
	}
}

func TestEventSize(t *testing.T) {
	// The benchmarks rely on ~1.5 GB per million events.
	_, _, st := gen(t, Options{Events: 50000, Seed: 1})
	if avg := float64(st.Bytes) / float64(st.Events); avg < 1300 || avg > 1600 {
		t.Errorf("average event size %.0f B, want 1300-1600", avg)
	}
}

// TestSmallSample keeps testdata/generated/small.jsonl and its labels in step with the
// generator (kubesleuth generate --events 2000 --seed 1 --attacks); -update rewrites them.
func TestSmallSample(t *testing.T) {
	log, labels, st := gen(t, Options{Events: 2000, Seed: 1, Attacks: true})
	dir := filepath.Join("..", "..", "testdata", "generated")
	for _, f := range []struct {
		name string
		data []byte
	}{{"small.jsonl", log}, {"small.labels.jsonl", labels}} {
		path := filepath.Join(dir, f.name)
		if *update {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, f.data, 0o600); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -update)", err)
		}
		if !bytes.Equal(got, f.data) {
			t.Errorf("%s is out of date: run go test ./internal/generate -run TestSmallSample -update", path)
		}
	}
	readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range Scenarios() {
		if row := fmt.Sprintf("| %s | %d |", name, st.Scenarios[name]); !bytes.Contains(readme, []byte(row)) {
			t.Errorf("%s/README.md lacks the row %q", dir, row)
		}
	}
}

func TestLabelsAreJSON(t *testing.T) {
	_, labels, _ := gen(t, Options{Events: 1500, Seed: 9, Attacks: true})
	sc := bufio.NewScanner(bytes.NewReader(labels))
	n := 0
	for sc.Scan() {
		var m map[string]string
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil || len(m) != 3 {
			t.Fatalf("label line %q: %v", sc.Text(), err)
		}
		n++
	}
	if n == 0 {
		t.Fatal("no labels")
	}
}

func BenchmarkGenerate(b *testing.B) {
	b.ReportAllocs()
	st, err := Audit(io.Discard, Options{Events: b.N, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(st.Bytes / int64(b.N))
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func TestExactCountSmall(t *testing.T) {
	for _, n := range []int{1, 2, 3, 10, 999} {
		log, _, st := gen(t, Options{Events: n, Seed: uint64(n)})
		if got := bytes.Count(log, []byte("\n")); got != n || st.Events != n {
			t.Errorf("Events=%d: wrote %d lines, Stats.Events %d", n, got, st.Events)
		}
	}
}

// TestAttacksCompleteAtMinimum checks that the smallest allowed log still holds every
// event of every scenario: the end of the run is kept for attack events still to come.
func TestAttacksCompleteAtMinimum(t *testing.T) {
	_, _, small := gen(t, Options{Events: MinEventsWithAttacks, Seed: 11, Attacks: true})
	_, _, big := gen(t, Options{Events: 30000, Seed: 11, Attacks: true})
	total := 0
	for _, name := range Scenarios() {
		if small.Scenarios[name] != big.Scenarios[name] {
			t.Errorf("%s: %d events at the minimum size, %d in a large log", name, small.Scenarios[name], big.Scenarios[name])
		}
		total += big.Scenarios[name]
	}
	if total > attackReserve {
		t.Errorf("scenarios write %d events, more than the %d reserved for them", total, attackReserve)
	}
	if small.Events != MinEventsWithAttacks {
		t.Errorf("wrote %d events, want %d", small.Events, MinEventsWithAttacks)
	}
}
