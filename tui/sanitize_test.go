package tui

import (
	"strings"
	"testing"

	"github.com/kubesleuth/kubesleuth/tui/common"
)

// TestTUINoEscapesFromData: an event whose user agent and user name hold a color change,
// an OSC 8 hyperlink, a clear-screen and a C1 CSI must reach the screen as inert text, in
// the timeline, the JSON and YAML detail, the finding detail and the status bar.
func TestTUINoEscapesFromData(t *testing.T) {
	for _, keys := range [][]string{
		{"j", "j"},                  // the event in the timeline and its JSON detail
		{"j", "j", "y"},             // YAML
		{"j", "j", "z"},             // unfolded
		{"shift+tab", "j"},          // the finding about it
		{"j", "j", "a"},             // pivot on the user agent: the query is shown too
		{"j", "j", "u", "I"},        // identity view of the user
		{"j", "j", "m", "\x1b[31m"}, // a note typed with an escape: the prompt shows it inert
	} {
		m := testModel(t, newFakeReader(), 160, 48, "")
		for _, k := range keys {
			if strings.HasPrefix(k, "\x1b") {
				typeText(t, m, k)
				continue
			}
			press(t, m, k)
		}
		s := m.Render()
		for _, bad := range []string{"\x1b]", "\x1b[31m", "\x1b[2J", "\u009b", "\x07"} {
			if strings.Contains(s, bad) {
				t.Errorf("keys %q: the screen holds %q from the data", keys, bad)
			}
		}
		if !strings.Contains(s, "mallory") && len(keys) < 4 {
			t.Errorf("keys %q: the evil event is not on screen:\n%s", keys, s)
		}
	}
}

// TestCleanBidi: bidirectional overrides cannot make a user name read backwards.
func TestCleanBidi(t *testing.T) {
	for in, want := range map[string]string{
		"admin\u202egnp.exe":    "admin?gnp.exe",
		"a\u2066b\u2069c":       "a?b?c",
		"system:serviceaccount": "system:serviceaccount",
		"żółw ✓":                "żółw ✓",
	} {
		if got := common.Clean(in); got != want {
			t.Errorf("Clean(%q) = %q, want %q", in, got, want)
		}
	}
}
