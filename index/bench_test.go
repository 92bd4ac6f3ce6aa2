package index

import (
	"context"
	"os"
	"testing"
)

// BenchmarkIngest is the store + index cost of 5,000 generated events (decode included);
// make bench reports the 1M-event figures from scripts/bench-case.sh.
func BenchmarkIngest(b *testing.B) {
	for b.Loop() {
		buildCase(b, 5000)
	}
	b.ReportMetric(float64(5000*b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkSearch runs typical queries on a 20,000-event case.
func BenchmarkSearch(b *testing.B) {
	f := buildCase(b, 20000)
	c, err := Open(f.dir, OpenOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	for _, q := range []struct {
		name string
		q    Query
	}{
		{"newest50", Query{Newest: true}},
		{"user", Query{Text: "user:alice@example.com"}},
		{"secrets", Query{Text: "resource:secrets -verb:watch"}},
		{"facet-user", Query{Text: "*", Facets: []string{"user"}, Limit: 1}},
	} {
		b.Run(q.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := c.Search(context.Background(), q.q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOpen is what every command and the TUI pay before their first query: the
// integrity checks (record, stats, counts) and opening the store and the index. On
// KUBESLEUTH_BENCH_CASE (make bench-tui's 1M-event case) when set, else on 20,000
// generated events.
func BenchmarkOpen(b *testing.B) {
	dir := os.Getenv("KUBESLEUTH_BENCH_CASE")
	if dir == "" {
		dir = buildCase(b, 20000).dir
	}
	for b.Loop() {
		c, err := Open(dir, OpenOptions{})
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}
