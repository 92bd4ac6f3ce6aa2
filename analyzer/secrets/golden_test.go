package secrets_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubesleuth/kubesleuth/analyzer/secrets"
	"github.com/kubesleuth/kubesleuth/ingest/etcd"
	"github.com/kubesleuth/kubesleuth/internal/etcdtest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

const goldenDir = "../../testdata/etcd"

// scanFile runs the whole snapshot path (records, remnants, hash) the way the command does.
func scanFile(t testing.TB, path string, cfg *secrets.Config) secrets.Report {
	t.Helper()
	ctx := context.Background()
	s, err := etcd.OpenSnapshot(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := secrets.New(ctx, secrets.Options{Config: cfg, ShowKeys: true})
	if err := s.Each(ctx, func(r etcd.Record) error { a.Observe(r); return nil }); err != nil {
		t.Fatal(err)
	}
	st, err := s.Remnants(ctx, "/registry/secrets/", func(r etcd.Record) error { a.ObserveRemnant(r); return nil })
	if err != nil {
		t.Fatal(err)
	}
	h, err := s.HashState()
	if err != nil {
		t.Fatal(err)
	}
	a.SetSnapshotHash(h)
	rep := a.Result()
	rep.Summary.Carve, rep.Summary.SnapshotSHA256 = &st, h
	return rep
}

// TestGeneratedSnapshotGolden pins the whole report for the generated cluster (every
// kind of state once per hundred secrets): values are random but seeded, so names,
// states, fingerprints and findings are stable; only encryption nonces vary, and they
// never reach the report.
func TestGeneratedSnapshotGolden(t *testing.T) {
	dir := t.TempDir()
	snap, cfgPath := filepath.Join(dir, "snap.db"), filepath.Join(dir, "enc.yaml")
	res, err := etcdtest.GenerateSnapshot(context.Background(), snap, etcdtest.GenOptions{Secrets: 100, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, res.Config, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := secrets.LoadConfig(context.Background(), cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.KMSNotDecrypted {
		t.Error("the generated config has a kms v2 provider")
	}
	rep := scanFile(t, snap, cfg)
	if rep.Summary.SnapshotSHA256 != etcd.HashOK {
		t.Errorf("hash %q", rep.Summary.SnapshotSHA256)
	}
	if rep.Summary.Remnants != res.Counts["compacted-remnant"] || rep.Summary.DeletedSecrets != res.Counts["deleted"] {
		t.Errorf("remnants %d deleted %d, generated %v", rep.Summary.Remnants, rep.Summary.DeletedSecrets, res.Counts)
	}
	for _, r := range rep.Remnants {
		if r.State != secrets.StatePlaintext || r.Fingerprint == "" {
			t.Errorf("remnant %+v", r)
		}
	}
	b, err := json.MarshalIndent(struct {
		Summary  secrets.Summary   `json:"summary"`
		Secrets  []secrets.Secret  `json:"secrets"`
		Remnants []secrets.Remnant `json:"remnants"`
		Findings any               `json:"findings"`
	}{rep.Summary, rep.Secrets, rep.Remnants, rep.Findings}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.ReplaceAll(b, []byte(dir), []byte("$TMP"))
	golden := filepath.Join(goldenDir, "generated-100.golden.json")
	if *update {
		if err := os.MkdirAll(goldenDir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(b, want) {
		gl, wl := strings.Split(string(b), "\n"), strings.Split(string(want), "\n")
		for i := range min(len(gl), len(wl)) {
			if gl[i] != wl[i] {
				t.Fatalf("report differs from %s at line %d:\n got %s\nwant %s\n(go test -update rewrites it)", golden, i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("report differs from %s in length (%d vs %d lines)", golden, len(gl), len(wl))
	}
}
