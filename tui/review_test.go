package tui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/kubesleuth/kubesleuth/index"
)

// TestTUITinyTerminal: at any size, down to nothing, the screen is exactly the terminal's
// size (a taller frame would push the status bar off), in every pane, with the help and
// the prompt open, and nothing panics.
func TestTUITinyTerminal(t *testing.T) {
	m := testModel(t, newFakeReader(), 80, 24, "")
	for _, sz := range [][2]int{{20, 5}, {0, 0}, {1, 1}, {10, 3}, {2, 2}, {30, 8}, {119, 11}, {130, 9}, {80, 24}} {
		w, h := sz[0], sz[1]
		m.Update(tea.WindowSizeMsg{Width: w, Height: h})
		check := func(what string) {
			t.Helper()
			s := m.Render()
			if w == 0 || h == 0 {
				if s != "" {
					t.Errorf("%dx%d %s: %q, want nothing", w, h, what, s)
				}
				return
			}
			assertScreen(t, s, w, h)
		}
		for range 3 {
			check(fmt.Sprintf("focus %d", m.focus))
			press(t, m, "j", "tab")
		}
		press(t, m, "?")
		check("help")
		press(t, m, "?", "/")
		check("prompt")
		press(t, m, "esc")
	}
	m.Update(tea.WindowSizeMsg{Width: 20, Height: 5})
	lines := strings.Split(m.Render(), "\n")
	if last := lines[len(lines)-1]; !strings.Contains(last, "search") {
		t.Errorf("at 20x5 the last line is not the status bar: %q", last)
	}
}

// TestTUIBackRestoresFocus: enter on a finding lists its evidence; esc comes back to the
// findings list with its cursor, not to the timeline.
func TestTUIBackRestoresFocus(t *testing.T) {
	m := testModel(t, newFakeReader(), 80, 24, "")
	press(t, m, "shift+tab", "j", "enter")
	if m.cur.Kind != ViewEvidence || m.focus != PaneTimeline {
		t.Fatalf("enter on a finding: view %v, focus %v", m.cur.Kind, m.focus)
	}
	press(t, m, "esc")
	if m.focus != PaneFindings || m.findings.Scroll.Cursor != 1 {
		t.Errorf("after back: focus %v, findings cursor %d; want the findings list, cursor 1", m.focus, m.findings.Scroll.Cursor)
	}
}

// TestTUIBackToUnloadedView: a view left before its results arrived has no rows to
// restore; back queries it again instead of showing an empty list for good.
func TestTUIBackToUnloadedView(t *testing.T) {
	m := testModel(t, newFakeReader(), 80, 24, "")
	_ = m.search("verb:delete")                     // its results never arrive: the user moved on
	drive(t, m, m.search(`user:"bob@example.com"`)) // a pivot from the loading view
	press(t, m, "esc")
	if m.cur.Query != "verb:delete" || len(m.timeline.Items) == 0 {
		t.Fatalf("back to the unloaded search: query %q, %d rows", m.cur.Query, len(m.timeline.Items))
	}
	for _, it := range m.timeline.Items {
		if it.Row.Verb != "delete" {
			t.Fatalf("row %s is a %s", it.Row.ID, it.Row.Verb)
		}
	}
}

// TestTUIBackClearsError: an error of the view left is not shown over the view restored.
func TestTUIBackClearsError(t *testing.T) {
	m := testModel(t, newFakeReader(), 80, 24, "")
	drive(t, m, m.search("nosuchfield:x"))
	if m.errText == "" {
		t.Fatal("a failed search shows no error")
	}
	drive(t, m, m.back())
	if m.errText != "" {
		t.Errorf("after back the error of the view left is still shown: %q", m.errText)
	}
}

// TestTUIPromptRejectsBadQuery: a query that does not parse is reported while the prompt
// stays open with the text to fix; the view does not change.
func TestTUIPromptRejectsBadQuery(t *testing.T) {
	m := testModel(t, newFakeReader(), 80, 24, "")
	press(t, m, "/")
	typeText(t, m, `user:"alice`)
	press(t, m, "enter")
	if m.promptKind != promptSearch || m.prompt.Value() != `user:"alice` || m.errText == "" || len(m.stack) != 0 {
		t.Errorf("bad query: prompt %v %q, error %q, stack %d; want the prompt open with an error", m.promptKind, m.prompt.Value(), m.errText, len(m.stack))
	}
	if s := m.Render(); !strings.Contains(s, "quote") {
		t.Errorf("the error is not on screen:\n%s", s)
	}
	press(t, m, "esc")
	if m.errText != "" {
		t.Errorf("esc leaves the error: %q", m.errText)
	}
}

// TestTUIHistogramStaleWidth: after two resizes the histogram of the last width is shown
// even when the one for the earlier width answers last.
func TestTUIHistogramStaleWidth(t *testing.T) {
	m := testModel(t, newFakeReader(), 100, 30, "")
	_, narrow := m.Update(tea.WindowSizeMsg{Width: 60, Height: 30})
	_, wide := m.Update(tea.WindowSizeMsg{Width: 160, Height: 30})
	if narrow == nil || wide == nil {
		t.Fatal("a resize did not ask for a histogram")
	}
	drive(t, m, wide)
	drive(t, m, narrow)
	if m.cur.histKey != m.histWant {
		t.Fatalf("histogram shown is for %q, the screen wants %q", m.cur.histKey, m.histWant)
	}
	for _, l := range strings.Split(m.hist.View(160, 2), "\n") {
		if strings.HasSuffix(strings.TrimRight(stripANSI(l), " "), "events") {
			t.Errorf("an empty bar row: %q", l)
		}
	}
}

func stripANSI(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == 0x1b {
			for i < len(s) && s[i] != 'm' {
				i++
			}
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// noBucketReader answers a histogram that matches nothing with no buckets, as the case
// does.
type noBucketReader struct{ *fakeReader }

func (r noBucketReader) Search(ctx context.Context, q index.Query) (*index.Result, error) {
	res, err := r.fakeReader.Search(ctx, q)
	if err == nil && res.Total == 0 {
		res.Histogram = nil
	}
	return res, err
}

// TestTUIHistogramNothingMatches: a query that matches nothing says so in the histogram
// instead of counting for ever.
func TestTUIHistogramNothingMatches(t *testing.T) {
	m := New(noBucketReader{newFakeReader()}, Options{CaseName: "case", ExportDir: t.TempDir()})
	drive(t, m, func() tea.Msg { return tea.WindowSizeMsg{Width: 80, Height: 24} })
	drive(t, m, m.Init())
	drive(t, m, m.search(`user:"nobody"`))
	s := m.Render()
	if strings.Contains(s, "counting") || !strings.Contains(s, "none match") {
		t.Errorf("the histogram of a query without matches:\n%s", strings.Split(s, "\n")[0])
	}
}

// orderReader runs Annotate like the case and records the order of the writes.
type orderReader struct {
	*fakeReader
	mu     sync.Mutex
	writes []bool // Bookmarked of each write
	fail   bool
}

func (r *orderReader) Annotate(a index.Annotation) error {
	if r.fail {
		return errors.New("case is read-only")
	}
	r.mu.Lock()
	r.writes = append(r.writes, a.Bookmarked)
	r.mu.Unlock()
	return r.fakeReader.Annotate(a)
}

func loaded(t *testing.T, r index.Reader, w, h int) *Model {
	t.Helper()
	m := New(r, Options{CaseName: "case", Now: func() time.Time { return fixedNow }, ExportDir: t.TempDir()})
	drive(t, m, func() tea.Msg { return tea.WindowSizeMsg{Width: w, Height: h} })
	drive(t, m, m.Init())
	return m
}

// TestTUIAnnotationWritesInOrder: b b quickly sets then removes a bookmark. bubbletea
// runs commands on their own goroutines in any order, so the second write must not be
// able to reach the case before the first: the case must end without the bookmark, as
// the screen shows.
func TestTUIAnnotationWritesInOrder(t *testing.T) {
	r := &orderReader{fakeReader: newFakeReader()}
	m := loaded(t, r, 80, 24)
	_, first := m.Update(keyMsg("b"))
	_, second := m.Update(keyMsg("b"))
	// the second command (if any) runs first, as a goroutine scheduled earlier would
	drive(t, m, second)
	drive(t, m, first)
	it, _ := m.timeline.Selected()
	target := index.Target{Kind: "event", ID: string(it.Row.ID)}
	if a, ok := r.notes[target]; ok && a.Bookmarked {
		t.Errorf("the case kept the bookmark (writes %v) while the screen shows it removed", r.writes)
	}
	if a, _ := m.Annotation(target); a.Bookmarked {
		t.Error("the screen shows the bookmark")
	}
	if !slices.Equal(r.writes, []bool{true, false}) {
		t.Errorf("writes %v, want set then removed", r.writes)
	}
}

// TestTUIQuitWaitsForWrites: q with a write in flight quits once it is in the case; a
// failed write stops the quit and says it was not saved.
func TestTUIQuitWaitsForWrites(t *testing.T) {
	for _, fail := range []bool{false, true} {
		r := &orderReader{fakeReader: newFakeReader(), fail: fail}
		m := loaded(t, r, 80, 24)
		_, write := m.Update(keyMsg("b"))
		_, quit := m.Update(keyMsg("q"))
		if quit != nil || m.quitting {
			t.Fatalf("fail=%v: quit before the bookmark was saved", fail)
		}
		drive(t, m, write)
		if m.quitting == fail {
			t.Errorf("fail=%v: quitting %v", fail, m.quitting)
		}
		if fail && !strings.Contains(m.errText, "not saved") {
			t.Errorf("a failed write says %q", m.errText)
		}
	}
}

// TestTUINotesShown: a note on an event shows in its detail, and a note made on a
// finding from the detail pane shows there at once.
func TestTUINotesShown(t *testing.T) {
	m := testModel(t, newFakeReader(), 160, 48, "")
	press(t, m, "m")
	typeText(t, m, "first look")
	press(t, m, "enter", "b")
	detail := strings.Join(m.detail.Lines(), "\n")
	if !strings.Contains(detail, "first look") || !strings.Contains(detail, "bookmarked") {
		t.Errorf("the event's note and bookmark are not in its detail:\n%s", detail)
	}
	press(t, m, "shift+tab", "shift+tab", "m") // the detail pane, showing the first finding
	typeText(t, m, "escalate")
	press(t, m, "enter")
	if detail := strings.Join(m.detail.Lines(), "\n"); !strings.Contains(detail, "escalate") {
		t.Errorf("the finding's note is not in its detail:\n%s", detail)
	}
}

// TestTUIExportNames: two exports in one second both land (the second does not fail on
// the first's name), the findings export is named so, and whatever the query holds
// every file is written 0600 inside the export folder.
func TestTUIExportNames(t *testing.T) {
	m := testModel(t, newFakeReader(), 80, 24, "")
	drive(t, m, m.search(`name:"../../../tmp/x"`))
	press(t, m, "x", "x", "shift+tab", "X")
	if m.errText != "" {
		t.Fatalf("export: %s", m.errText)
	}
	var names []string
	err := filepath.WalkDir(filepath.Dir(m.opts.ExportDir), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		st, _ := d.Info()
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v", p, st.Mode().Perm())
		}
		rel, _ := filepath.Rel(m.opts.ExportDir, p)
		names = append(names, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"kubesleuth-findings-20260303T090000Z.csv", "kubesleuth-search-20260303T090000Z-2.jsonl", "kubesleuth-search-20260303T090000Z.jsonl"}
	if !slices.Equal(names, want) {
		t.Errorf("exports %q, want %q", names, want)
	}
}

// TestTUIKeysGiveFeedback: a key that cannot act where it is pressed says why.
func TestTUIKeysGiveFeedback(t *testing.T) {
	for _, keys := range [][]string{
		{"shift+tab", "z"},  // fold on a finding's detail
		{"shift+tab", "y"},  // YAML on a finding's detail
		{"enter", "enter"},  // enter in the detail pane
		{"d"},               // no such key
		{"I", "k", "enter"}, // enter on a burst header
		{"E", "k", "c"},     // context of a header
		{"E", "j", "b"},     // bookmark on a secret at rest
	} {
		m := testModel(t, newFakeReader(), 80, 24, "")
		press(t, m, keys...)
		if m.message == "" && m.errText == "" {
			t.Errorf("keys %q: no feedback", keys)
		}
	}
}

// TestTUIDetailFollowsSelection: the detail never keeps showing an event that is no
// longer selectable (a search without matches, a header).
func TestTUIDetailFollowsSelection(t *testing.T) {
	m := testModel(t, newFakeReader(), 80, 24, "")
	drive(t, m, m.search(`user:"nobody"`))
	if d := strings.Join(m.detail.Lines(), "\n"); strings.Contains(d, "auditID") {
		t.Errorf("an empty result still shows an event:\n%s", d)
	}
	press(t, m, "esc", "I", "k") // the identity view's first burst header
	if d := strings.Join(m.detail.Lines(), "\n"); strings.Contains(d, "auditID") {
		t.Errorf("a burst header still shows an event:\n%s", d)
	}
}

// TestTUIHelpEveryKey: at 80x24 the help shows every key of the view.
func TestTUIHelpEveryKey(t *testing.T) {
	for _, view := range [][]string{nil, {"E"}, {"I"}} {
		m := testModel(t, newFakeReader(), 80, 24, "")
		press(t, m, view...)
		press(t, m, "?")
		// every key is on one of the help's screens (it scrolls when they do not fit)
		s := m.Render()
		for range 60 {
			press(t, m, "j")
			s += m.Render()
		}
		for _, g := range m.helpGroups() {
			for _, k := range g.Keys {
				h := k.Help()
				if !strings.Contains(s, h.Desc) {
					t.Errorf("view %v: the help lacks %s %q:\n%s", view, h.Key, h.Desc, s)
				}
			}
		}
	}
}

// failingEventReader fails to fetch events, with an error that quotes the event ID.
type failingEventReader struct{ *fakeReader }

func (r failingEventReader) Event(id index.EventID) (json.RawMessage, error) {
	return nil, fmt.Errorf("event %s: %w", id, index.ErrNotFound)
}

// TestTUIDetailErrorClean: an error naming an event ID from the data is drawn inert.
func TestTUIDetailErrorClean(t *testing.T) {
	f := newFakeReader()
	f.rows[299].ID = "evil\x1b]0;pwned\x07\x1b[2J/ResponseComplete"
	m := New(failingEventReader{f}, Options{CaseName: "case", ExportDir: t.TempDir()})
	drive(t, m, func() tea.Msg { return tea.WindowSizeMsg{Width: 160, Height: 48} })
	drive(t, m, m.Init())
	s := m.Render()
	if !strings.Contains(s, "pwned") {
		t.Fatalf("the error is not shown:\n%s", s)
	}
	for _, bad := range []string{"\x1b]0", "\x07", "\x1b[2J"} {
		if strings.Contains(s, bad) {
			t.Errorf("the screen holds %q from the data", bad)
		}
	}
}

// TestTUIHistogramOfJoinedViews: the secret and evidence views' histograms count the
// rows they show (the secret view joins the requests naming the secret with the lists
// revealing it, which its query alone does not match).
func TestTUIHistogramOfJoinedViews(t *testing.T) {
	for _, keys := range [][]string{{"E", "S"}, {"shift+tab", "enter"}} {
		m := testModel(t, noBucketReader{newFakeReader()}, 80, 24, "")
		press(t, m, keys...)
		rows, counted := 0, 0
		for _, it := range m.timeline.Items {
			if it.Row != nil {
				rows++
			}
		}
		for _, c := range m.hist.Events {
			counted += c
		}
		if rows == 0 || counted != rows {
			t.Errorf("keys %q: the histogram counts %d events, the view shows %d", keys, counted, rows)
		}
	}
}

// TestTUIPivotOnImpersonatingFinding: a finding on an impersonating request shows
// "alice (as system:admin)"; u and I on it follow alice, who is in the log.
func TestTUIPivotOnImpersonatingFinding(t *testing.T) {
	f := newFakeReader()
	f.finds[0].Subject.User, f.finds[0].Subject.Impersonated = "alice@example.com", "system:admin"
	for _, k := range []string{"u", "I"} {
		m := testModel(t, f, 80, 24, "")
		press(t, m, "shift+tab", k)
		if m.cur.Query != `user:"alice@example.com"` || m.timeline.Total == 0 {
			t.Errorf("%s on the finding: query %q, %d events", k, m.cur.Query, m.timeline.Total)
		}
	}
}

// limitReader caps every search at limit results, as a large case caps the whole-view
// queries of the identity and secret views.
type limitReader struct {
	*fakeReader
	limit int
}

func (r limitReader) Search(ctx context.Context, q index.Query) (*index.Result, error) {
	q.Limit = min(q.Limit, r.limit)
	return r.fakeReader.Search(ctx, q)
}

// TestTUIWholeViewsSayWhenCut: when the identity or secret view holds more events than
// its query loads, the view says so at the top.
func TestTUIWholeViewsSayWhenCut(t *testing.T) {
	for _, keys := range [][]string{{"I"}, {"E", "S"}} {
		m := testModel(t, limitReader{newFakeReader(), 5}, 80, 24, "")
		press(t, m, keys...)
		if len(m.timeline.Items) == 0 || !strings.Contains(m.timeline.Items[0].Header, "only the first") {
			t.Errorf("keys %q: the cut view does not say so: %+v", keys, m.timeline.Items[:min(len(m.timeline.Items), 1)])
		}
	}
}
