package analyzer_test

import (
	"context"
	"testing"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/ingest/audit"
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
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		eng, err := analyzer.NewEngine(rules, analyzer.Config{Allowlists: al})
		if err != nil {
			b.Fatal(err)
		}
		for _, ev := range events {
			eng.Observe(ev)
		}
		n += len(events)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/event")
	b.ReportMetric(float64(len(rules)), "rules")
}
