package tui

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/kubesleuth/kubesleuth/index"
)

// TestTUIPagingByTime: scrolling to the end fetches the older pages; every event appears
// once, newest first.
func TestTUIPagingByTime(t *testing.T) {
	m := testModel(t, newFakeReader(), 160, 48, "")
	if n := len(m.timeline.Items); n != PageSize {
		t.Fatalf("first page has %d rows, want %d", n, PageSize)
	}
	for i := 0; i < 100 && !m.cur.Done; i++ {
		_ = m.Render() // the page size is the drawn one
		press(t, m, "pgdown")
	}
	items := m.timeline.Items
	seen := map[index.EventID]bool{}
	for i, it := range items {
		if seen[it.Row.ID] {
			t.Fatalf("event %s twice", it.Row.ID)
		}
		seen[it.Row.ID] = true
		if i > 0 && it.Row.Time.After(items[i-1].Row.Time) {
			t.Fatalf("row %d is newer than row %d", i, i-1)
		}
	}
	if len(items) != 300 || !m.cur.Done {
		t.Errorf("after scrolling to the end: %d rows (done %v), want all 300", len(items), m.cur.Done)
	}
}

// TestTUIBackRestoresFilterAndCursor: a pivot then esc gives back the previous rows,
// cursor and query without a query.
func TestTUIBackRestoresFilterAndCursor(t *testing.T) {
	m := testModel(t, newFakeReader(), 80, 24, "")
	press(t, m, "j", "j", "j")
	want, _ := m.timeline.Selected()
	press(t, m, "n")
	if !strings.HasPrefix(m.cur.Query, `namespace:"`) || len(m.stack) != 1 {
		t.Fatalf("pivot on namespace: query %q, stack %d", m.cur.Query, len(m.stack))
	}
	press(t, m, "esc")
	got, _ := m.timeline.Selected()
	if m.cur.Query != "" || len(m.stack) != 0 || got.Row.ID != want.Row.ID || m.timeline.Scroll.Cursor != 3 {
		t.Errorf("after back: query %q, stack %d, cursor %d on %s; want all events, cursor 3 on %s",
			m.cur.Query, len(m.stack), m.timeline.Scroll.Cursor, got.Row.ID, want.Row.ID)
	}
}

// TestTUISearchHistory: ↑ in the prompt recalls earlier queries.
func TestTUISearchHistory(t *testing.T) {
	m := testModel(t, newFakeReader(), 80, 24, "")
	for _, q := range []string{"verb:delete", "resource:secrets"} {
		press(t, m, "/")
		m.prompt.SetValue("")
		typeText(t, m, q)
		press(t, m, "enter")
	}
	if m.cur.Query != "resource:secrets" || m.timeline.Total == 0 {
		t.Fatalf("search: query %q, %d matches", m.cur.Query, m.timeline.Total)
	}
	press(t, m, "/", "up", "up")
	if v := m.prompt.Value(); v != "verb:delete" {
		t.Errorf("two ↑ give %q, want verb:delete", v)
	}
	press(t, m, "down")
	if v := m.prompt.Value(); v != "resource:secrets" {
		t.Errorf("↓ gives %q, want resource:secrets", v)
	}
	press(t, m, "esc")
	if m.promptKind != promptNone || m.cur.Query != "resource:secrets" {
		t.Errorf("esc in the prompt changed the view: %q", m.cur.Query)
	}
}

// TestTUIStaleResultsDropped: results of a query replaced by a newer one never show.
func TestTUIStaleResultsDropped(t *testing.T) {
	// the reader answers even cancelled queries, as a store that finished just before the
	// cancellation would: only the view generation can keep the old rows off the screen
	r := &deafReader{fakeReader: newFakeReader()}
	m := New(r, Options{CaseName: "case", Now: func() time.Time { return fixedNow }, ExportDir: t.TempDir()})
	drive(t, m, func() tea.Msg { return tea.WindowSizeMsg{Width: 80, Height: 24} })
	drive(t, m, m.Init())
	slow := m.search(`user:"bob@example.com"`) // started, its results not delivered yet
	drive(t, m, m.search(`user:"alice@example.com"`))
	drive(t, m, slow)
	if len(m.timeline.Items) == 0 {
		t.Fatal("the newer query's rows are not shown")
	}
	for _, it := range m.timeline.Items {
		if it.Row.User != "alice@example.com" {
			t.Fatalf("a row of %q from the replaced query is shown", it.Row.User)
		}
	}
	if m.busy {
		t.Error("still searching")
	}
	if r.cancelled == 0 {
		t.Error("the replaced query's context was not cancelled")
	}
}

// deafReader answers searches whether or not their context was cancelled, and counts
// the cancelled ones.
type deafReader struct {
	*fakeReader
	cancelled int
}

func (d *deafReader) Search(ctx context.Context, q index.Query) (*index.Result, error) {
	if ctx.Err() != nil {
		d.cancelled++
	}
	return d.fakeReader.Search(context.Background(), q)
}

// TestTUIResize: every size from tiny to large fills the screen exactly.
func TestTUIResize(t *testing.T) {
	m := testModel(t, newFakeReader(), 160, 48, "")
	for _, sz := range [][2]int{{80, 24}, {100, 30}, {120, 40}, {200, 60}, {40, 12}, {80, 24}} {
		m.Update(tea.WindowSizeMsg{Width: sz[0], Height: sz[1]})
		assertScreen(t, m.Render(), sz[0], sz[1])
		press(t, m, "?")
		assertScreen(t, m.Render(), sz[0], sz[1])
		press(t, m, "?")
	}
}

// TestTUIMouseWheel: the wheel scrolls the focused list.
func TestTUIMouseWheel(t *testing.T) {
	m := testModel(t, newFakeReader(), 80, 24, "")
	_ = m.Render() // the program renders before any input: panes know their height
	wheel := func(b tea.MouseButton) {
		drive(t, m, func() tea.Msg { return tea.MouseWheelMsg{Button: b} })
	}
	wheel(tea.MouseWheelDown)
	wheel(tea.MouseWheelDown)
	if m.timeline.Scroll.Offset != 6 || m.timeline.Scroll.Cursor != 6 {
		t.Errorf("two wheel steps down: offset %d cursor %d, want 6 6", m.timeline.Scroll.Offset, m.timeline.Scroll.Cursor)
	}
	wheel(tea.MouseWheelUp)
	if m.timeline.Scroll.Offset != 3 {
		t.Errorf("wheel up: offset %d, want 3", m.timeline.Scroll.Offset)
	}
	before := m.timeline.Scroll
	wheel(tea.MouseWheelLeft)
	wheel(tea.MouseWheelRight)
	if m.timeline.Scroll != before {
		t.Errorf("a sideways wheel moved the list: %+v, want %+v", m.timeline.Scroll, before)
	}
}

// TestTUIExport: x and X write every match of the view, 0600, and say where.
func TestTUIExport(t *testing.T) {
	m := testModel(t, newFakeReader(), 80, 24, "")
	press(t, m, "x")
	path := filepath.Join(m.opts.ExportDir, "kubesleuth-search-20260303T090000Z.jsonl")
	if !strings.Contains(m.message, path) {
		t.Fatalf("status %q does not name %s (error %q)", m.message, path, m.errText)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("export file: %v, mode %v", err, st.Mode())
	}
	if n := countLines(t, path); n != 300 {
		t.Errorf("JSONL export has %d lines, want all 300 matches", n)
	}
	press(t, m, "shift+tab", "X")
	if n := countLines(t, filepath.Join(m.opts.ExportDir, "kubesleuth-findings-20260303T090000Z.csv")); n != 5 {
		t.Errorf("CSV export of the findings has %d lines, want header + 4", n)
	}
}

func countLines(t *testing.T, path string) int {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	for sc := bufio.NewScanner(f); sc.Scan(); n++ {
	}
	return n
}

// TestTUINotesAndBookmarks: b and m save in the case; the lists mark them.
func TestTUINotesAndBookmarks(t *testing.T) {
	r := newFakeReader()
	m := testModel(t, r, 160, 48, "")
	press(t, m, "b", "m")
	typeText(t, m, "first look")
	press(t, m, "enter", "shift+tab", "m")
	typeText(t, m, "escalate")
	press(t, m, "enter")
	as, _ := r.Annotations()
	if len(as) != 2 {
		t.Fatalf("annotations in the case: %+v", as)
	}
	byKind := map[string]index.Annotation{as[0].Target.Kind: as[0], as[1].Target.Kind: as[1]}
	ev, fi := byKind["event"], byKind["finding"]
	if ev.Target.Kind != "event" || !ev.Bookmarked || ev.Note != "first look" || !ev.Updated.Equal(fixedNow) {
		t.Errorf("event annotation %+v", ev)
	}
	if fi.Target.Kind != "finding" || fi.Bookmarked || fi.Note != "escalate" {
		t.Errorf("finding annotation %+v", fi)
	}
	s := m.Render()
	if !strings.Contains(s, "★✎") || !strings.Contains(s, "escalate") {
		t.Errorf("marks or note not shown:\n%s", s)
	}
	press(t, m, "tab", "b") // back on the timeline: remove the bookmark, keep the note
	for _, a := range must(r.Annotations()) {
		if a.Target.Kind == "event" && (a.Bookmarked || a.Note != "first look") {
			t.Errorf("after b again: %+v", a)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
