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

// BenchmarkSigmaOverhead times the catalog alone and the catalog with the SigmaHQ rules
// event by event over the same 200,000 generated events: each event goes through every
// engine in turn (whoever goes first pays for bringing the event into the cache, so the
// order rotates), three passes, and each event's fastest time per engine is summed (the
// machine is shared: load drifts over seconds, so engines compared on the same event at
// the same moment see the same machine). The timer's own cost is subtracted.
// overhead-% is what the 16 Sigma rules add to the catalog's cost per event;
// matching-overhead-% the same with their messages replaced by a short constant, which
// leaves out the redaction of each new finding's message (the attribution holds URLs, on
// which the redactor is slow).
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
	// the cost of reading the clock twice
	clock := int64(1 << 62)
	for i := 0; i < 100000; i++ {
		t0 := nanotime()
		clock = min(clock, nanotime()-t0)
	}
	best := make([][]int64, len(configs))
	for k := range best {
		best[k] = make([]int64, len(evs))
		for i := range best[k] {
			best[k][i] = 1 << 62
		}
	}
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		for pass := 0; pass < 3; pass++ {
			engs := make([]*analyzer.Engine, len(compiled))
			for k := range compiled {
				engs[k] = compiled[k].Fresh()
			}
			for i, ev := range evs {
				for j := range engs {
					k := (i + j) % len(engs)
					t0 := nanotime()
					engs[k].Observe(ev)
					best[k][i] = min(best[k][i], nanotime()-t0-clock)
				}
			}
		}
	}
	total := make([]float64, len(configs))
	for k := range best {
		for _, d := range best[k] {
			total[k] += float64(max(d, 0))
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
