package tui

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubesleuth/kubesleuth/internal/canary"
	"github.com/kubesleuth/kubesleuth/internal/testbin"
)

// TestExportsHoldNoCanary: a case made by the real binary from the canary inputs
// (internal/canary: secrets planted in every place they can sit) is opened in the TUI,
// and every export (events and findings as JSONL and CSV, the etcd view) is searched for
// the canaries in every encoding, as are the annotations a responder pastes a token into.
func TestExportsHoldNoCanary(t *testing.T) {
	bin := testbin.Path(t)
	dir := t.TempDir()
	set, err := canary.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	et, err := set.WriteEtcd(context.Background(), filepath.Join(dir, "etcd"))
	if err != nil {
		t.Fatal(err)
	}
	et.Server.Close()
	caseDir := filepath.Join(dir, "case")
	args := []string{"ingest", "-q", "--case", caseDir, "--etcd-snapshot", et.Snapshot}
	for _, p := range set.Files {
		args = append(args, p)
	}
	if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("ingest: %v\n%s", err, out)
	}
	c := openCase(t, caseDir)
	m := testModel(t, c, 160, 48, "")
	// a note with a token pasted in
	press(t, m, "m")
	typeText(t, m, "saw curl -H 'Authorization: Bearer "+set.Canaries[0].Value+"'")
	press(t, m, "enter")
	press(t, m, "x", "X", "shift+tab", "x", "X", "E", "x", "X")
	files, _ := filepath.Glob(filepath.Join(m.opts.ExportDir, "*"))
	if len(files) < 5 {
		t.Fatalf("only %d exports written (%v); status %q %q", len(files), files, m.message, m.errText)
	}
	for _, f := range append(files, filepath.Join(caseDir, "notes.json")) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 {
			t.Errorf("%s is empty", f)
		}
		if filepath.Base(f) == "notes.json" && !strings.Contains(string(b), "Bearer sha256:") {
			t.Errorf("the note was not saved redacted: %s", b)
		}
		for _, l := range set.Leaks(b) {
			t.Errorf("%s leaks %s", filepath.Base(f), l)
		}
	}
}
