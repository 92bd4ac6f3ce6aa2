package analyzer_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/ingest/audit"
	"github.com/kubesleuth/kubesleuth/internal/generate"
)

// BenchmarkEngine: the whole built-in catalog over a realistic generated log (mostly
// control-plane noise, with attacks). Reports ns per event; decoding is not included.
func BenchmarkEngine(b *testing.B) {
	r, err := audit.Open([]string{"../testdata/generated/small.jsonl"}, audit.Options{})
	if err != nil {
		b.Fatal(err)
	}
	var events []*auditv1.Event
	if err := r.Each(context.Background(), func(rec audit.Record) error {
		events = append(events, rec.Event)
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	rules, err := analyzer.BuiltinRules()
	if err != nil {
		b.Fatal(err)
	}
	al, _ := analyzer.DefaultAllowlists()
	compiled, err := analyzer.NewEngine(rules, analyzer.Config{Allowlists: al})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		eng := compiled.Fresh() // compiling the catalog is not per-event work
		for _, ev := range events {
			eng.Observe(ev)
		}
		n += len(events)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/event")
	b.ReportMetric(float64(len(rules)), "rules")
}

// BenchmarkEngineState10kIdentities: the whole catalog with 10,000 identities each
// reading secrets, being denied, minting tokens and writing RBAC, so that every
// stateful rule holds keys for all of them. Reports the heap the engine keeps
// (MB-heap) and the keys it remembers; the acceptance bound is a 400 MB scan.
func BenchmarkEngineState10kIdentities(b *testing.B) {
	rules, err := analyzer.BuiltinRules()
	if err != nil {
		b.Fatal(err)
	}
	al, _ := analyzer.DefaultAllowlists()
	t0 := time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC)
	mk := func(i, k int) *auditv1.Event {
		user := fmt.Sprintf("system:serviceaccount:team-%d:app-%d", i%100, i)
		at := metav1.NewMicroTime(t0.Add(time.Duration(k*10000+i) * 10 * time.Millisecond))
		ev := &auditv1.Event{Level: auditv1.LevelMetadata, AuditID: types.UID(fmt.Sprintf("%d-%d", i, k)), Stage: auditv1.StageResponseComplete,
			User: authnv1.UserInfo{Username: user, Groups: []string{"system:serviceaccounts", "system:authenticated"},
				Extra: map[string]authnv1.ExtraValue{"authentication.kubernetes.io/credential-id": {fmt.Sprintf("JTI=%d", i)}}},
			SourceIPs: []string{fmt.Sprintf("10.%d.%d.%d", i/65536, (i/256)%256, i%256)}, UserAgent: "app/1.0",
			RequestReceivedTimestamp: at, StageTimestamp: at, ResponseStatus: &metav1.Status{Code: 200}}
		switch k % 4 {
		case 0:
			ev.Verb, ev.ObjectRef = "get", &auditv1.ObjectReference{Resource: "secrets", Namespace: "team", Name: fmt.Sprintf("s-%d", k)}
		case 1:
			ev.Verb, ev.ObjectRef, ev.ResponseStatus = "list", &auditv1.ObjectReference{Resource: "pods", Namespace: "other"}, &metav1.Status{Code: 403}
		case 2:
			ev.Verb, ev.ObjectRef = "create", &auditv1.ObjectReference{Resource: "serviceaccounts", Subresource: "token", Namespace: "team", Name: "x"}
		case 3:
			ev.Verb, ev.ObjectRef = "create", &auditv1.ObjectReference{Resource: "rolebindings", APIGroup: "rbac.authorization.k8s.io", Namespace: "team", Name: "rb"}
		}
		return ev
	}
	for n := 0; n < b.N; n++ {
		eng, err := analyzer.NewEngine(rules, analyzer.Config{Allowlists: al})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		for k := 0; k < 8; k++ {
			for i := 0; i < 10000; i++ {
				eng.Observe(mk(i, k))
			}
		}
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		keys := 0
		for _, v := range eng.StateKeys() {
			keys += v
		}
		b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/(1<<20), "MB-heap")
		b.ReportMetric(float64(keys), "state-keys")
		b.ReportMetric(float64(len(eng.Result().Findings)), "findings")
	}
}

// BenchmarkEngineShapes: the whole catalog over two shapes of generated log (decoding not
// included), as scripts/bench.sh measures scan end to end: the generator's default (a
// self-managed cluster: half the lines RequestReceived, a few dozen identities) and a
// managed one (GKE/EKS: no RequestReceived, 500 identities, 3 apiservers). The matcher's
// cost per event must not depend on the shape. Reports ns/event (wall) and
// cpu-ns/event (user+system time of the process, steadier on a shared machine).
func BenchmarkEngineShapes(b *testing.B) {
	rules, err := analyzer.BuiltinRules()
	if err != nil {
		b.Fatal(err)
	}
	al, _ := analyzer.DefaultAllowlists()
	compiled, err := analyzer.NewEngine(rules, analyzer.Config{Allowlists: al})
	if err != nil {
		b.Fatal(err)
	}
	for _, shape := range []struct {
		name string
		opts generate.Options
	}{
		{"default", generate.Options{Events: 60000, Seed: 1, Attacks: true}},
		{"managed", generate.Options{Events: 60000, Seed: 1, Attacks: true, OmitStages: []string{"RequestReceived"}, Identities: 500, APIServers: 3}},
	} {
		var buf bytes.Buffer
		if _, err := generate.Audit(&buf, shape.opts); err != nil {
			b.Fatal(err)
		}
		file := filepath.Join(b.TempDir(), shape.name+".jsonl")
		if err := os.WriteFile(file, buf.Bytes(), 0o600); err != nil {
			b.Fatal(err)
		}
		r, err := audit.Open([]string{file}, audit.Options{})
		if err != nil {
			b.Fatal(err)
		}
		var events []*auditv1.Event
		if err := r.Each(context.Background(), func(rec audit.Record) error {
			events = append(events, rec.Event)
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		b.Run(shape.name, func(b *testing.B) {
			b.ReportAllocs()
			var r0, r1 syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
			b.ResetTimer()
			n := 0
			for i := 0; i < b.N; i++ {
				eng := compiled.Fresh()
				m := eng.NewMatcher()
				for _, ev := range events {
					eng.ObserveMatched(ev, m.Match(ev))
				}
				n += len(events)
			}
			b.StopTimer()
			syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
			cpu := (r1.Utime.Nano() - r0.Utime.Nano()) + (r1.Stime.Nano() - r0.Stime.Nano())
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/event")
			b.ReportMetric(float64(cpu)/float64(n), "cpu-ns/event")
		})
	}
}
