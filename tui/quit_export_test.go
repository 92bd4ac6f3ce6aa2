package tui

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
)

// TestTUIQuitWaitsForExport: q while an export is being written says "saving…" and
// quits once the file is whole, also when an annotation write ends after the export; a
// failed export stops the quit and shows the error.
func TestTUIQuitWaitsForExport(t *testing.T) {
	path := func(m *Model) string {
		return filepath.Join(m.opts.ExportDir, "kubesleuth-search-20260303T090000Z.jsonl")
	}
	quits := func(cmd tea.Cmd) bool {
		if cmd == nil {
			return false
		}
		_, ok := cmd().(tea.QuitMsg)
		return ok
	}
	t.Run("export", func(t *testing.T) {
		m := testModel(t, newFakeReader(), 80, 24, "")
		_, export := m.Update(keyMsg("x"))
		if export == nil {
			t.Fatal("x started no export")
		}
		if _, quit := m.Update(keyMsg("q")); quit != nil || m.quitting {
			t.Fatal("q quit while the export was being written")
		}
		if s := m.Render(); !strings.Contains(s, "saving…") {
			t.Errorf("the screen does not say it is saving:\n%s", s)
		}
		_, next := m.Update(export())
		if !m.quitting || !quits(next) {
			t.Fatalf("the export ended but the program did not quit (error %q)", m.errText)
		}
		if n := countLines(t, path(m)); n != 300 {
			t.Errorf("the export has %d lines, want all 300 matches", n)
		}
	})
	t.Run("export then write", func(t *testing.T) {
		m := testModel(t, newFakeReader(), 80, 24, "")
		_, write := m.Update(keyMsg("b"))
		_, export := m.Update(keyMsg("x"))
		m.Update(keyMsg("q"))
		if _, next := m.Update(export()); next != nil || m.quitting {
			t.Fatal("quit with the bookmark not saved yet")
		}
		if s := m.Render(); !strings.Contains(s, "saving…") {
			t.Errorf("the screen does not say it is saving:\n%s", s)
		}
		if _, next := m.Update(write()); !m.quitting || !quits(next) {
			t.Fatal("the bookmark is saved but the program did not quit")
		}
	})
	t.Run("write then export", func(t *testing.T) {
		m := testModel(t, newFakeReader(), 80, 24, "")
		_, write := m.Update(keyMsg("b"))
		_, export := m.Update(keyMsg("x"))
		m.Update(keyMsg("q"))
		if _, next := m.Update(write()); next != nil || m.quitting {
			t.Fatal("quit with the export still being written")
		}
		if _, next := m.Update(export()); !m.quitting || !quits(next) {
			t.Fatal("the export ended but the program did not quit")
		}
		if n := countLines(t, path(m)); n != 300 {
			t.Errorf("the export has %d lines, want all 300 matches", n)
		}
	})
	t.Run("failed export", func(t *testing.T) {
		m := testModel(t, newFakeReader(), 80, 24, "")
		file := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(file, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		m.opts.ExportDir = filepath.Join(file, "exports") // cannot be created
		_, export := m.Update(keyMsg("x"))
		m.Update(keyMsg("q"))
		if _, next := m.Update(export()); next != nil || m.quitting {
			t.Fatal("quit although the export failed")
		}
		if !strings.Contains(m.errText, "export") {
			t.Errorf("the failed export says %q", m.errText)
		}
		if s := m.Render(); strings.Contains(s, "saving…") {
			t.Errorf("the screen still says saving after the export failed:\n%s", s)
		}
	})
}
