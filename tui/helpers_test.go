package tui

import (
	"bytes"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"

	"github.com/kubesleuth/kubesleuth/index"
	"github.com/kubesleuth/kubesleuth/tui/common"
)

// fixedNow is the clock of test models (annotation times, export names).
var fixedNow = time.Date(2026, 3, 3, 9, 0, 0, 0, time.UTC)

// testModel is a model over r at w×h with UTC times and a fixed clock, loaded: Init's
// commands have run and their results are applied.
func testModel(t testing.TB, r index.Reader, w, h int, query string) *Model {
	t.Helper()
	m := New(r, Options{CaseName: "case", Query: query, Now: func() time.Time { return fixedNow },
		Context: common.NewContext(), ExportDir: t.TempDir()})
	drive(t, m, func() tea.Msg { return tea.WindowSizeMsg{Width: w, Height: h} })
	drive(t, m, m.Init())
	return m
}

// drive runs cmd and every command its messages lead to, synchronously, applying each
// message to m: the test stands in for bubbletea's loop, so results are deterministic.
func drive(t testing.TB, m *Model, cmd tea.Cmd) { driveThen(t, m, cmd, nil) }

// driveThen is drive with a hook after each message.
func driveThen(t testing.TB, m *Model, cmd tea.Cmd, after func()) {
	t.Helper()
	queue := []tea.Cmd{cmd}
	for n := 0; len(queue) > 0; n++ {
		if n > 10000 {
			t.Fatal("drive: commands do not settle")
		}
		c := queue[0]
		queue = queue[1:]
		if c == nil {
			continue
		}
		switch msg := c().(type) {
		case nil, tea.QuitMsg:
		case followTickMsg:
			// a following model's next tick: a test ticks it itself (followOnce)
		case tea.BatchMsg:
			queue = append(queue, msg...)
		default:
			_, next := m.Update(msg)
			queue = append(queue, next)
			if after != nil {
				after()
			}
		}
	}
}

// press sends keys to m (each string is one key: "u", "enter", "esc", "tab", …).
func press(t testing.TB, m *Model, keys ...string) {
	t.Helper()
	for _, k := range keys {
		drive(t, m, func() tea.Msg { return keyMsg(k) })
	}
}

func keyMsg(k string) tea.KeyPressMsg {
	switch k {
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "tab":
		return tea.KeyPressMsg{Code: tea.KeyTab}
	case "shift+tab":
		return tea.KeyPressMsg{Code: tea.KeyTab, Mod: tea.ModShift}
	case "up":
		return tea.KeyPressMsg{Code: tea.KeyUp}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "pgdown":
		return tea.KeyPressMsg{Code: tea.KeyPgDown}
	case "pgup":
		return tea.KeyPressMsg{Code: tea.KeyPgUp}
	case "backspace":
		return tea.KeyPressMsg{Code: tea.KeyBackspace}
	}
	r := []rune(k)[0]
	return tea.KeyPressMsg{Code: r, Text: k}
}

// typeText types s into the focused input.
func typeText(t testing.TB, m *Model, s string) {
	t.Helper()
	for _, r := range s {
		press(t, m, string(r))
	}
}

// pinned renders s as a terminal with profile p would receive it (bubbletea downsamples
// the same way), so golden files do not depend on the test machine's terminal.
func pinned(s string, p colorprofile.Profile) string {
	var b bytes.Buffer
	w := &colorprofile.Writer{Forward: &b, Profile: p}
	_, _ = w.Write([]byte(s))
	return b.String()
}

func pinnedWidth(s string) int { return common.Width(s) }

// followOnce is one tick of a following model, and everything it leads to.
func followOnce(t testing.TB, m *Model) {
	t.Helper()
	_, cmd := m.Update(followTickMsg{})
	drive(t, m, cmd)
}
