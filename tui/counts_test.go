package tui

import (
	"fmt"
	"strings"
	"testing"
)

// TestTUIEtcdStatusCountsSecrets: the etcd view's status bar counts secrets, not events.
func TestTUIEtcdStatusCountsSecrets(t *testing.T) {
	m := testModel(t, newFakeReader(), 160, 48, "")
	if s := m.statusView(200); !strings.Contains(s, "200/300 events") {
		t.Errorf("the search view's status bar: %q", s)
	}
	press(t, m, "E")
	s := m.statusView(200)
	if !strings.Contains(s, "3/3 secrets") || strings.Contains(s, "events") {
		t.Errorf("the etcd view's status bar does not count 3 secrets: %q", s)
	}
	press(t, m, "esc")
	if s := m.statusView(200); !strings.Contains(s, "200/300 events") {
		t.Errorf("back in the search view, the status bar: %q", s)
	}
}

// TestTUIEvidenceCodeOfRequestReceived: in a finding's detail, an evidence event with
// no response (stage RequestReceived) shows code "-", as the timeline does, not 0.
func TestTUIEvidenceCodeOfRequestReceived(t *testing.T) {
	r := newFakeReader()
	r.rows[0].Stage, r.rows[0].Code = "RequestReceived", 0 // evidence of KS-EXEC-001
	m := testModel(t, r, 160, 48, "")
	press(t, m, "shift+tab") // findings: the first, KS-EXEC-001, is in the detail pane
	var got []string
	for _, l := range m.detail.Lines() {
		if strings.Contains(l, "get pods prod/obj-") {
			got = append(got, l)
		}
	}
	if len(got) != 2 {
		t.Fatalf("evidence lines %q, want 2:\n%s", got, strings.Join(m.detail.Lines(), "\n"))
	}
	if !strings.Contains(got[0], "prod/obj-0  -  10.0.0.1") {
		t.Errorf("the RequestReceived event shows %q, want code -", got[0])
	}
	if !strings.Contains(got[1], "prod/obj-5  403  10.0.0.3") {
		t.Errorf("the completed event shows %q, want code 403", got[1])
	}
}

// TestTUIPositionCountsOnlyEvents: "n of N" in the identity and etcd views counts the
// events or secrets, not the burst and state headers; on a header it is the place of
// the first event under it.
func TestTUIPositionCountsOnlyEvents(t *testing.T) {
	for _, c := range []struct {
		key           string
		total         int
		first, header int // the place shown at the start, and on the second header
	}{
		{"I", 75, 1, 38}, // system:node:worker-1: two bursts of 37 and 38 events
		{"E", 3, 1, 2},   // plaintext (1), encrypted (2)
	} {
		m := testModel(t, newFakeReader(), 160, 48, "")
		press(t, m, c.key)
		want := func(what string, n int) {
			t.Helper()
			s := m.Render()
			if pos := fmt.Sprintf(" — %d of %d", n, c.total); !strings.Contains(s, pos) {
				t.Errorf("view %s, %s: the title lacks %q:\n%s", c.key, what, pos, s)
			}
		}
		want("start", c.first)
		press(t, m, "G")
		want("last", c.total)
		second := -1
		for i, it := range m.timeline.Items {
			if it.Row == nil && it.Secret == nil && i > 0 {
				second = i
				break
			}
		}
		if second < 0 {
			t.Fatalf("view %s has no second header", c.key)
		}
		m.timeline.Scroll.Cursor = second
		want("second header", c.header)
	}
}

// TestTUIHelpMentionsWheel: the help says the mouse wheel scrolls the focused pane.
func TestTUIHelpMentionsWheel(t *testing.T) {
	m := testModel(t, newFakeReader(), 80, 24, "")
	press(t, m, "?")
	if s := m.Render(); !strings.Contains(s, "wheel") || !strings.Contains(s, "scroll focused pane") {
		t.Errorf("the help does not mention the mouse wheel:\n%s", s)
	}
}
