package tui

import (
	"fmt"
	"strings"
	"testing"

	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/exp/golden"
)

// The golden files under testdata/ are each component's View and whole screens at 80x24
// and 160x48 with the color profile pinned to ANSI256 (and ASCII for the no-color
// screens). `go test ./tui/ -run Golden -update` rewrites them; review the diff.

var sizes = [][2]int{{80, 24}, {160, 48}}

func TestGoldenComponents(t *testing.T) {
	for _, sz := range sizes {
		w, h := sz[0], sz[1]
		t.Run(fmt.Sprintf("%dx%d", w, h), func(t *testing.T) {
			m := testModel(t, newFakeReader(), w, h, "")
			l := ComputeLayout(w, h, false)
			tw := w
			if l.Side {
				tw = w - l.FindingsW - 1
			}
			check := func(name, s string) {
				t.Run(name, func(t *testing.T) {
					assertBlock(t, s)
					golden.RequireEqual(t, pinned(s, colorprofile.ANSI256))
				})
			}
			check("findings", m.findings.View(l.FindingsW, l.FindingsH, true))
			check("timeline", m.timeline.View(tw, l.TimelineH, true))
			check("detail_event_json", m.detail.View(w, l.DetailH, false))
			m.detail.ToggleYAML()
			check("detail_event_yaml", m.detail.View(w, l.DetailH, true))
			m.detail.ToggleYAML()
			m.detail.ToggleFold()
			check("detail_event_unfolded", m.detail.View(w, l.DetailH, true))
			check("histogram", m.hist.View(w, max(l.Hist, 1)))
			check("statusbar", m.statusView(w))
			// the help takes the histogram's lines too, as Render gives them
			check("help", m.help.View("Keys: search view", m.helpGroups(), w, l.Body+l.Hist))
			press(t, m, "shift+tab") // findings: the detail shows the finding
			check("detail_finding", m.detail.View(w, l.DetailH, false))
		})
	}
}

func TestGoldenScreens(t *testing.T) {
	views := []struct {
		name string
		keys []string
	}{
		{"start", nil},
		{"identity", []string{"I"}},
		{"pivot_user", []string{"j", "u"}},
		{"context", []string{"j", "j", "c"}},
		{"etcd", []string{"E"}},
		{"secret", []string{"E", "S"}}, // the etcd view opens on its first secret
		{"evidence", []string{"shift+tab", "enter"}},
		{"help", []string{"?"}},
		{"search_prompt", []string{"/"}},
	}
	for _, sz := range sizes {
		for _, v := range views {
			t.Run(fmt.Sprintf("%s_%dx%d", v.name, sz[0], sz[1]), func(t *testing.T) {
				m := testModel(t, newFakeReader(), sz[0], sz[1], "")
				press(t, m, v.keys...)
				s := m.Render()
				assertScreen(t, s, sz[0], sz[1])
				golden.RequireEqual(t, pinned(s, colorprofile.ANSI256))
			})
		}
		t.Run(fmt.Sprintf("nocolor_%dx%d", sz[0], sz[1]), func(t *testing.T) {
			m := testModel(t, newFakeReader(), sz[0], sz[1], "")
			s := pinned(m.Render(), colorprofile.ASCII)
			if strings.Contains(s, "\x1b[38") || strings.Contains(s, "\x1b[48") {
				t.Error("the ASCII profile still has colors")
			}
			for _, sev := range []string{"CRIT", "HIGH"} {
				if !strings.Contains(s, sev) {
					t.Errorf("without color, severity %s is not spelled out", sev)
				}
			}
			golden.RequireEqual(t, s)
		})
	}
}

// assertBlock checks a pane is a rectangle: every line the same width.
func assertBlock(t *testing.T, s string) {
	t.Helper()
	lines := strings.Split(s, "\n")
	w := pinnedWidth(lines[0])
	for i, l := range lines {
		if pinnedWidth(l) != w {
			t.Fatalf("line %d is %d cells wide, line 0 is %d:\n%s", i, pinnedWidth(l), w, s)
		}
	}
}

// assertScreen checks the screen fills w×h exactly: nothing wraps or scrolls.
func assertScreen(t *testing.T, s string, w, h int) {
	t.Helper()
	lines := strings.Split(s, "\n")
	if len(lines) != h {
		t.Fatalf("screen has %d lines, want %d", len(lines), h)
	}
	for i, l := range lines {
		if pinnedWidth(l) != w {
			t.Fatalf("line %d is %d cells wide, want %d: %q", i, pinnedWidth(l), w, l)
		}
	}
}

// TestGoldenInvestigationScreens are the screens of issue 17 at 80x24 and 160x48: the
// findings grouped by rule (61 etcd findings in one row), a filtered findings list, a
// full-screen detail, the bookmarks and notes view, and a jump in time.
func TestGoldenInvestigationScreens(t *testing.T) {
	views := []struct {
		name string
		keys []string
		text map[int]string // typed into the prompt after the key at that index
	}{
		{"findings_grouped", []string{"shift+tab", "j", "j"}, nil},
		{"findings_filtered", []string{"shift+tab", "/", "enter"}, map[int]string{1: "sev:>=high -source:etcd"}},
		{"detail_fullscreen", []string{"shift+tab", "f"}, nil},
		{"notes", []string{"j", "b", "m", "enter", "shift+tab", "b", "tab", "B"}, map[int]string{2: "exfiltration starts here"}},
		{"time_jump", []string{"@", "enter"}, map[int]string{0: "08:30"}},
	}
	for _, sz := range sizes {
		for _, v := range views {
			t.Run(fmt.Sprintf("%s_%dx%d", v.name, sz[0], sz[1]), func(t *testing.T) {
				m := testModel(t, floodedReader(), sz[0], sz[1], "")
				for i, k := range v.keys {
					press(t, m, k)
					if s, ok := v.text[i]; ok {
						typeText(t, m, s)
					}
				}
				s := m.Render()
				assertScreen(t, s, sz[0], sz[1])
				golden.RequireEqual(t, pinned(s, colorprofile.ANSI256))
			})
		}
	}
}
