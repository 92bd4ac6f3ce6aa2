package tui

import (
	"os"
	"runtime"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/kubesleuth/kubesleuth/index"
)

// Benchmarks on a real case: KUBESLEUTH_BENCH_CASE=DIR (make bench-tui uses the 1M-event
// case of make bench). They report
//
//	first-screen-ms  New → findings and the first timeline page applied → View
//	full-screen-ms   the same plus the histogram
//	pivot-ms         a pivot on the selected event's user: the query and View
//	heap-MB / sys-MB memory in use after the run (the process's Go heap and all it holds)
//
// Commands run one after another here (bubbletea runs them concurrently), so the figures
// are an upper bound.

func benchCase(b *testing.B) *index.Case {
	dir := os.Getenv("KUBESLEUTH_BENCH_CASE")
	if dir == "" {
		b.Skip("set KUBESLEUTH_BENCH_CASE to a case folder (make bench-tui)")
	}
	c, err := index.Open(dir, index.OpenOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

func BenchmarkFirstScreen(b *testing.B) {
	c := benchCase(b)
	var first, full time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		m := New(c, Options{CaseName: "bench"})
		m.Update(tea.WindowSizeMsg{Width: 160, Height: 48})
		var got time.Duration
		driveThen(b, m, m.Init(), func() {
			if got == 0 && !m.timeline.Loading && !m.findings.Loading {
				_ = m.Render()
				got = time.Since(start)
			}
		})
		_ = m.Render()
		first += got
		full += time.Since(start)
	}
	b.ReportMetric(float64(first.Milliseconds())/float64(b.N), "first-screen-ms")
	b.ReportMetric(float64(full.Milliseconds())/float64(b.N), "full-screen-ms")
	reportMem(b)
}

func BenchmarkPivot(b *testing.B) {
	c := benchCase(b)
	m := New(c, Options{CaseName: "bench"})
	m.Update(tea.WindowSizeMsg{Width: 160, Height: 48})
	driveThen(b, m, m.Init(), nil)
	var took time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		driveThen(b, m, func() tea.Msg { return keyMsg("u") }, nil)
		_ = m.Render()
		took += time.Since(start)
		if m.timeline.Total == 0 || len(m.stack) != 1 {
			b.Fatalf("the pivot found nothing (stack %d, total %d)", len(m.stack), m.timeline.Total)
		}
		driveThen(b, m, func() tea.Msg { return keyMsg("esc") }, nil)
	}
	b.ReportMetric(float64(took.Milliseconds())/float64(b.N), "pivot-ms")
	reportMem(b)
}

func reportMem(b *testing.B) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MB")
	b.ReportMetric(float64(ms.Sys)/(1<<20), "sys-MB")
}
