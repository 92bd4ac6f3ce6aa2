package sigma

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/ingest/audit"
	"github.com/kubesleuth/kubesleuth/internal/generate"
)

// benchRules is the catalog and the SigmaHQ rules.
func benchRules(b *testing.B) (catalog, sig []*analyzer.Rule, al analyzer.Allowlists) {
	b.Helper()
	catalog, err := analyzer.BuiltinRules()
	if err != nil {
		b.Fatal(err)
	}
	al, _ = analyzer.DefaultAllowlists()
	set, err := Load(Options{Allowlists: al}, sigmaHQ)
	if err != nil || len(set.Rules) == 0 {
		b.Skipf("SigmaHQ rules not beside the checkout: %v", err)
	}
	return catalog, set.Rules, al
}

// generated decodes n generated events (with the attack scenarios) once.
func generated(b *testing.B, n int) []*auditv1.Event {
	b.Helper()
	var buf bytes.Buffer
	if _, err := generate.Audit(&buf, generate.Options{Events: n, Seed: 1, Attacks: true}); err != nil {
		b.Fatal(err)
	}
	f := filepath.Join(b.TempDir(), "gen.jsonl")
	if err := os.WriteFile(f, buf.Bytes(), 0o600); err != nil {
		b.Fatal(err)
	}
	r, err := audit.Open([]string{f}, audit.Options{})
	if err != nil {
		b.Fatal(err)
	}
	var evs []*auditv1.Event
	if err := r.Each(context.Background(), func(rec audit.Record) error { evs = append(evs, rec.Event); return nil }); err != nil {
		b.Fatal(err)
	}
	return evs
}

// BenchmarkEngineWithSigma: the engine's cost per event (decoding excluded) over 50,000
// generated events, for no rule (the engine's own cost), the catalog alone, the catalog with the 16 SigmaHQ rules, the
// Sigma rules alone, and the Sigma rules evaluated directly in Go (no CEL; the same
// prefilters) for comparison with the translation.
func BenchmarkEngineWithSigma(b *testing.B) {
	catalog, sig, al := benchRules(b)
	evs := generated(b, 50000)
	engine := func(name string, rules []*analyzer.Rule) {
		b.Run(name, func(b *testing.B) {
			compiled, err := analyzer.NewEngine(rules, analyzer.Config{Allowlists: al})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				eng := compiled.Fresh()
				for _, ev := range evs {
					eng.Observe(ev)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
			b.ReportMetric(float64(len(rules)), "rules")
		})
	}
	engine("none", nil)
	engine("catalog", catalog)
	engine("catalog+sigma", append(append([]*analyzer.Rule(nil), catalog...), sig...))
	engine("sigma", sig)
	b.Run("sigma-direct", func(b *testing.B) {
		files := map[string][]byte{}
		paths, _ := filepath.Glob(filepath.Join(sigmaHQ, "*.yml"))
		for _, p := range paths {
			files[p], _ = os.ReadFile(p)
		}
		d := newDirect(Options{Allowlists: al}, files)
		b.ReportAllocs()
		b.ResetTimer()
		n := 0
		for i := 0; i < b.N; i++ {
			for _, ev := range evs {
				n += len(d.match(ev))
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
		b.ReportMetric(float64(n)/float64(b.N), "matches")
	})
}

// BenchmarkScan1M is `kubesleuth scan`'s pipeline (decode on every core, rules on the
// decoding goroutines, state serial) over the 1M-event bench file of make bench
// (~/.cache/kubesleuth-bench, or KUBESLEUTH_BENCH_FILE), the catalog alone and the
// catalog with the SigmaHQ rules, alternately (-benchtime Nx: N rounds of both). It
// reports the fastest wall time and the least process CPU time of each (the machine is
// shared: the minimum is the least disturbed) and the overheads. Skipped without the file.
func BenchmarkScan1M(b *testing.B) {
	file := os.Getenv("KUBESLEUTH_BENCH_FILE")
	if file == "" {
		home, _ := os.UserHomeDir()
		file = filepath.Join(home, ".cache", "kubesleuth-bench", "audit-1000000-seed-1-attacks.jsonl")
	}
	if _, err := os.Stat(file); err != nil {
		b.Skipf("no bench file: %v (make bench writes it)", err)
	}
	catalog, sig, al := benchRules(b)
	var compiled [2]*analyzer.Engine
	for i, rs := range [][]*analyzer.Rule{catalog, append(append([]*analyzer.Rule(nil), catalog...), sig...)} {
		e, err := analyzer.NewEngine(rs, analyzer.Config{Allowlists: al})
		if err != nil {
			b.Fatal(err)
		}
		compiled[i] = e
	}
	wall := [2]float64{1e30, 1e30}
	cpu := [2]float64{1e30, 1e30}
	var findings [2]int
	var events int64
	for i := 0; i < b.N; i++ {
		for k := range compiled {
			eng := compiled[k].Fresh()
			var n atomic.Int64
			c0, t0 := cpuTime(), nanotime()
			r, err := audit.Open([]string{file}, audit.Options{Prepare: func() func(*auditv1.Event) any {
				m := eng.NewMatcher()
				return func(ev *auditv1.Event) any { return m.Match(ev) }
			}})
			if err != nil {
				b.Fatal(err)
			}
			if err := r.Each(context.Background(), func(rec audit.Record) error {
				n.Add(1)
				m, _ := rec.Prepared.(*analyzer.Matched)
				eng.ObserveMatched(rec.Event, m)
				return nil
			}); err != nil {
				b.Fatal(err)
			}
			findings[k] = len(eng.Result().Findings)
			wall[k] = min(wall[k], float64(nanotime()-t0)/1e9)
			cpu[k] = min(cpu[k], float64(cpuTime()-c0)/1e9)
			events = n.Load()
		}
	}
	b.ReportMetric(wall[0], "catalog-s")
	b.ReportMetric(wall[1], "with-sigma-s")
	b.ReportMetric(100*(wall[1]/wall[0]-1), "overhead-%")
	b.ReportMetric(cpu[0], "catalog-cpu-s")
	b.ReportMetric(cpu[1], "with-sigma-cpu-s")
	b.ReportMetric(100*(cpu[1]/cpu[0]-1), "cpu-overhead-%")
	b.ReportMetric(float64(events), "events")
	b.ReportMetric(float64(findings[1]-findings[0]), "sigma-findings")
}

// BenchmarkSigmaOverhead alternates the catalog alone and the catalog with the SigmaHQ
// rules over the same 200,000 generated events in slices of 20,000 (each slice replayed
// on an engine that saw the events before it, so state and memos are warm), and sums the
// fastest pass of each slice (the machine is shared: the minimum is the least disturbed).
// overhead-% is what the 16 Sigma rules add to the catalog's cost per event;
// matching-overhead-% is the same with their messages replaced by a short constant,
// which leaves out the redaction of each new finding's message (the attribution holds
// URLs, which the redactor is slow on).
func BenchmarkSigmaOverhead(b *testing.B) {
	catalog, sig, al := benchRules(b)
	evs := generated(b, 200000)
	short := make([]*analyzer.Rule, len(sig))
	for i, r := range sig {
		cp := *r
		cp.Message = `"sigma"`
		short[i] = &cp
	}
	configs := [][]*analyzer.Rule{catalog, append(append([]*analyzer.Rule(nil), catalog...), sig...), append(append([]*analyzer.Rule(nil), catalog...), short...)}
	compiled := make([]*analyzer.Engine, len(configs))
	for i, rs := range configs {
		e, err := analyzer.NewEngine(rs, analyzer.Config{Allowlists: al})
		if err != nil {
			b.Fatal(err)
		}
		compiled[i] = e
	}
	const slice = 20000
	total := make([]float64, len(configs))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		clear(total)
		for lo := 0; lo < len(evs); lo += slice {
			part := evs[lo:min(lo+slice, len(evs))]
			best := []float64{1e18, 1e18, 1e18}
			for round := 0; round < 5; round++ {
				for k := range compiled {
					eng := compiled[k].Fresh()
					for _, ev := range evs[max(0, lo-slice):lo] { // warm state and memos, untimed
						eng.Observe(ev)
					}
					t0 := nanotime()
					for _, ev := range part {
						eng.Observe(ev)
					}
					best[k] = min(best[k], float64(nanotime()-t0))
				}
			}
			for k := range total {
				total[k] += best[k]
			}
		}
	}
	b.ReportMetric(total[0]/float64(len(evs)), "catalog-ns/event")
	b.ReportMetric(total[1]/float64(len(evs)), "with-sigma-ns/event")
	b.ReportMetric(100*(total[1]/total[0]-1), "overhead-%")
	b.ReportMetric(100*(total[2]/total[0]-1), "matching-overhead-%")
}

func nanotime() int64 { return time.Now().UnixNano() }

// cpuTime is the process's user and system CPU time in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
