package vlstore

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/kubesleuth/kubesleuth/index"
	"github.com/kubesleuth/kubesleuth/ingest/audit"
	"github.com/kubesleuth/kubesleuth/internal/generate"
	"github.com/kubesleuth/kubesleuth/internal/vlogstest"
)

// prepared reads n generated events starting at start as the ingest does.
func prepared(t *testing.T, n int, seed uint64, start time.Time) []*index.Prepared {
	t.Helper()
	var buf bytes.Buffer
	if _, err := generate.Audit(&buf, generate.Options{Events: n, Seed: seed, Start: start}); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(t.TempDir(), "audit.log")
	if err := os.WriteFile(log, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := audit.Open([]string{log}, audit.Options{Prepare: func() func(*auditv1.Event) any {
		return func(ev *auditv1.Event) any { p, _ := index.Prepare(ev); return p }
	}})
	if err != nil {
		t.Fatal(err)
	}
	var out []*index.Prepared
	if err := r.Each(context.Background(), func(rec audit.Record) error {
		out = append(out, rec.Prepared.(*index.Prepared))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestOldImportDetected: VictoriaLogs with a 30-day retention answers 2xx to events of
// months ago and drops them; the run's Commit fails with a *DroppedError that counts
// them, on one node (its vl_rows_dropped_total grew) and on a cluster (whose
// insert/select node does not count them: the count check after the import does).
// Recent events of the same run are kept, and the error says how many.
func TestOldImportDetected(t *testing.T) {
	old := prepared(t, 600, 7, time.Now().AddDate(0, -6, 0))
	recent := prepared(t, 400, 8, time.Now().Add(-time.Hour))
	for _, cluster := range []bool{false, true} {
		s := vlogstest.Start(t, vlogstest.Options{Cluster: cluster, Retention: "30d"})
		c, err := NewClient(s.URL, "old-import")
		if err != nil {
			t.Fatal(err)
		}
		w, err := NewWriter(context.Background(), c, "run-old")
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range append(append([]*index.Prepared(nil), old...), recent...) {
			if err := w.Add(p); err != nil {
				t.Fatal(err)
			}
		}
		err = w.Commit()
		var de *DroppedError
		if !errors.As(err, &de) {
			t.Fatalf("cluster=%v: an import older than the retention: Commit returned %v, want a *DroppedError", cluster, err)
		}
		if de.Sent != len(old)+len(recent) || de.Stored != len(recent) {
			t.Errorf("cluster=%v: sent %d stored %d, want %d and %d", cluster, de.Sent, de.Stored, len(old)+len(recent), len(recent))
		}
		if !cluster && de.DroppedCounter != int64(len(old)) {
			t.Errorf("one node: vl_rows_dropped_total grew by %d, want %d", de.DroppedCounter, len(old))
		}
		if !strings.Contains(err.Error(), "-retentionPeriod") {
			t.Errorf("the error does not say what to do: %v", err)
		}
		t.Logf("cluster=%v: %v", cluster, err)
	}
}

// TestImportWithinRetentionVerifies: the same check passes when everything was kept (a
// 100-year retention), so the failure above is the drop and not the check.
func TestImportWithinRetentionVerifies(t *testing.T) {
	ps := prepared(t, 800, 9, time.Now().AddDate(-3, 0, 0))
	s := vlogstest.Start(t, vlogstest.Options{})
	c, err := NewClient(s.URL, "kept")
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWriter(context.Background(), c, "run-kept")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if err := w.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Count(context.Background(), `kubesleuth.case:="kept"`); err != nil || n != len(ps) {
		t.Fatalf("the store holds %d events (%v), want %d", n, err, len(ps))
	}
}
