package secrets_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/kubesleuth/kubesleuth/analyzer/secrets"
	"github.com/kubesleuth/kubesleuth/internal/etcdtest"
)

var benchSnap struct {
	once      sync.Once
	dir       string
	snap, cfg string
	err       error
}

// benchSnapshot generates a 20,000-secret snapshot once per test binary. The 100,000
// secret figure (≤ 10 s, ≤ 300 MB) is measured end to end on the binary by make bench.
func benchSnapshot(b *testing.B) (string, string) {
	benchSnap.once.Do(func() {
		benchSnap.dir, benchSnap.err = os.MkdirTemp("", "kubesleuth-bench-")
		if benchSnap.err != nil {
			return
		}
		benchSnap.snap = filepath.Join(benchSnap.dir, "snap.db")
		benchSnap.cfg = filepath.Join(benchSnap.dir, "enc.yaml")
		var res etcdtest.GenResult
		res, benchSnap.err = etcdtest.GenerateSnapshot(context.Background(), benchSnap.snap, etcdtest.GenOptions{Secrets: 20000, Seed: 1})
		if benchSnap.err == nil {
			benchSnap.err = os.WriteFile(benchSnap.cfg, res.Config, 0o600)
		}
	})
	if benchSnap.err != nil {
		b.Fatal(benchSnap.err)
	}
	return benchSnap.snap, benchSnap.cfg
}

// BenchmarkSnapshotScan measures the whole snapshot path: open and verify, every
// revision decoded and judged, free pages carved, the report built.
func BenchmarkSnapshotScan(b *testing.B) {
	snap, cfgPath := benchSnapshot(b)
	for _, withConfig := range []bool{false, true} {
		name := map[bool]string{false: "envelopes", true: "decrypt"}[withConfig]
		b.Run(name, func(b *testing.B) {
			var cfg *secrets.Config
			if withConfig {
				var err error
				if cfg, err = secrets.LoadConfig(context.Background(), cfgPath); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				rep := scanFile(b, snap, cfg)
				if rep.Summary.Secrets == 0 {
					b.Fatal("no secrets")
				}
			}
			b.ReportMetric(float64(20000*b.N)/b.Elapsed().Seconds(), "secrets/s")
		})
	}
}
