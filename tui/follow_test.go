package tui

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/exp/teatest/v2"
	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/index"
	"github.com/kubesleuth/kubesleuth/tui/common"
)

// liveEvents stores n events of user live-follower after the case's newest event
// through w, the finding f staged with them, and commits: what tail does each second.
func liveEvents(t *testing.T, w *index.Writer, user string, after time.Time, from, n int, f []analyzer.Finding) {
	t.Helper()
	for i := from; i < from+n; i++ {
		at := after.Add(time.Duration(i+1) * time.Second)
		ev := &auditv1.Event{
			Level: auditv1.LevelMetadata, AuditID: types.UID(fmt.Sprintf("live-follow-%04d", i)),
			Stage: auditv1.StageResponseComplete, RequestURI: "/api/v1/namespaces/default/configmaps/live-cm",
			Verb: "get", User: authnv1.UserInfo{Username: user}, SourceIPs: []string{"10.9.9.9"},
			ObjectRef:                &auditv1.ObjectReference{Resource: "configmaps", Namespace: "default", Name: "live-cm", APIVersion: "v1"},
			ResponseStatus:           &metav1.Status{Code: 200},
			RequestReceivedTimestamp: metav1.NewMicroTime(at), StageTimestamp: metav1.NewMicroTime(at.Add(time.Millisecond)),
		}
		p, err := index.Prepare(ev)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	if f != nil {
		w.Progress(f)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
}

// TestTUIFollowLiveWriter runs the program with Follow on a case that a live writer in
// the same test holds (through OpenReader: the writer's socket) and adds to: the new
// events appear at the top of the timeline, the new finding in the findings pane, the
// histogram counts them, and the responder's selection stays on the row it was on.
func TestTUIFollowLiveWriter(t *testing.T) {
	dir := generatedCase(t)
	w, err := index.Create(dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.ServeReads(); err != nil {
		t.Fatal(err)
	}
	have, err := w.Findings()
	if err != nil {
		t.Fatal(err)
	}
	r, err := index.OpenReader(dir, index.OpenOptions{Writable: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	before, err := r.Findings() // the engine's and the etcd snapshot's
	if err != nil {
		t.Fatal(err)
	}
	info, err := r.Info()
	if err != nil || info.Last == nil || info.First == nil {
		t.Fatalf("info through the live writer: %+v %v", info, err)
	}
	m := New(r, Options{CaseName: "case", Now: func() time.Time { return fixedNow }, ExportDir: t.TempDir(),
		Follow: true, FollowEvery: 50 * time.Millisecond})
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(160, 48))
	var screen bytes.Buffer
	// wait looks for what in the output since the last action (mark): one read may hold
	// the answers to two waits
	mark := 0
	act := func() { mark = screen.Len() }
	out := io.TeeReader(tm.Output(), &screen)
	wait := func(what string) {
		t.Helper()
		if bytes.Contains(screen.Bytes()[mark:], []byte(what)) {
			return
		}
		teatest.WaitFor(t, out, func([]byte) bool { return bytes.Contains(screen.Bytes()[mark:], []byte(what)) },
			teatest.WithDuration(90*time.Second), teatest.WithCheckInterval(20*time.Millisecond))
	}
	newest, err := r.Search(context.Background(), index.Query{Text: "*", Limit: 3, Newest: true})
	if err != nil || len(newest.Events) != 3 {
		t.Fatalf("the newest events: %v", err)
	}
	wait("following")
	// every stage: a row's place is then its row number
	act()
	tm.Type("=")
	wait("every stage of every request")
	act()
	tm.Type("j")
	tm.Type("j")
	wait(string(newest.Events[2].ID)) // the detail pane shows the selection

	// critical and older than every other finding: the first rows of the findings pane
	finding := func(rule string, before time.Duration) analyzer.Finding {
		return analyzer.Finding{RuleID: rule, Title: "live follow test finding", Severity: analyzer.Critical,
			Subject: analyzer.Subject{User: "finding-subject"}, AuditIDs: []string{"live-follow-0000"}, FirstSeen: info.First.Add(-before),
			LastSeen: info.Last.Add(time.Second), Count: 1, Message: "live"}
	}
	fs := append(append([]analyzer.Finding(nil), have...), finding("KS-QZXONE", time.Second))
	act()
	liveEvents(t, w, "qzx-follower", *info.Last, 0, 3, fs)
	wait("qzx")
	wait("QZXONE") // the renderer draws only the cells that changed: "KS-" may be there already
	act()
	liveEvents(t, w, "jwv-follower", *info.Last, 3, 2, append(fs, finding("KS-JWVTWO", 2*time.Second)))
	wait("jwv")
	wait("JWVTWO")
	tm.Type("q")
	fm := tm.FinalModel(t, teatest.WithFinalTimeout(60*time.Second)).(*Model)

	res, err := r.Search(context.Background(), index.Query{Text: "*", Limit: 8, Newest: true})
	if err != nil {
		t.Fatal(err)
	}
	wantTotal := res.Total
	// every stage shown: the list's rows are the case's newest events, the five new ones first
	var shown []index.Row
	for _, it := range fm.timeline.Items[:8] {
		if it.Row == nil {
			t.Fatalf("a non-event row in the search view: %+v", it)
		}
		shown = append(shown, *it.Row)
	}
	for i := 0; i < 5; i++ {
		if want := fmt.Sprintf("live-follow-%04d", 4-i); shown[i].AuditID != want {
			t.Errorf("row %d is %s, want the new %s", i+1, shown[i].AuditID, want)
		}
	}
	sel, ok := fm.timeline.Selected()
	if !ok || sel.Row == nil || fm.timeline.Scroll.Cursor != 7 || sel.Row.ID != newest.Events[2].ID || shown[7].ID != sel.Row.ID {
		t.Errorf("selection: cursor %d on %+v, want row 8 (the row selected before 5 new ones arrived)", fm.timeline.Scroll.Cursor, sel.Row)
	}
	if fm.timeline.Total != wantTotal {
		t.Errorf("timeline total %d, the case holds %d", fm.timeline.Total, wantTotal)
	}
	if len(fm.findings.All) != len(before)+2 {
		t.Errorf("findings: %d, want %d (the two new ones)", len(fm.findings.All), len(before)+2)
	}
}

// TestFollowKeepsPlace ticks a following model by hand (deterministic) over a case a
// live writer adds to: new rows go above the loaded ones with their places shifted, the
// cursor stays on its row, the window stays where it was away from the top, the
// histogram counts every event, and a window left by a jump counts the new matches
// without loading them.
func TestFollowKeepsPlace(t *testing.T) {
	dir := generatedCase(t)
	w, err := index.Create(dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.ServeReads(); err != nil {
		t.Fatal(err)
	}
	r, err := index.OpenReader(dir, index.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	info, _ := r.Info()
	m := New(r, Options{CaseName: "case", Now: func() time.Time { return fixedNow }, Context: common.NewContext(),
		ExportDir: t.TempDir(), Follow: true, FollowEvery: time.Millisecond})
	drive(t, m, func() tea.Msg { return tea.WindowSizeMsg{Width: 160, Height: 48} })
	drive(t, m, m.Init())
	// the panes learn their heights when drawn: a test that scrolls draws after each step
	press := func(t *testing.T, m *Model, keys ...string) {
		for _, k := range keys {
			press(t, m, k)
			m.View()
		}
	}
	followOnce := func(t *testing.T, m *Model) { followOnce(t, m); m.View() }
	m.View()
	press(t, m, "=")
	total := m.timeline.Total
	// away from the top: the window must not move
	press(t, m, "pgdown", "down", "down")
	cur, off := m.timeline.Scroll.Cursor, m.timeline.Scroll.Offset
	sel, _ := m.timeline.Selected()
	if off == 0 {
		t.Fatalf("pgdown left the window at the top (cursor %d)", cur)
	}
	followOnce(t, m) // nothing new: nothing moves
	if m.timeline.Scroll.Cursor != cur || m.timeline.Total != total {
		t.Fatalf("an idle tick moved the cursor %d→%d, total %d→%d", cur, m.timeline.Scroll.Cursor, total, m.timeline.Total)
	}
	for round, n := range []int{3, 2} {
		liveEvents(t, w, "qzx-follower", *info.Last, round*10, n, nil)
		followOnce(t, m)
		total += n
		cur += n
		off += n
		now, _ := m.timeline.Selected()
		if m.timeline.Total != total || m.timeline.Scroll.Cursor != cur || m.timeline.Scroll.Offset != off || now.Row == nil || now.Row.ID != sel.Row.ID {
			t.Fatalf("round %d: total %d cursor %d offset %d on %v; want %d, %d, %d on %s", round, m.timeline.Total,
				m.timeline.Scroll.Cursor, m.timeline.Scroll.Offset, now.Row, total, cur, off, sel.Row.ID)
		}
		for i, it := range m.timeline.Items[:cur+1] {
			if it.Pos != i+1 {
				t.Fatalf("round %d: row %d has place %d", round, i+1, it.Pos)
			}
		}
		sum := 0
		for _, c := range m.cur.Hist {
			sum += c
		}
		if sum != total {
			t.Errorf("round %d: the histogram counts %d events, the case holds %d", round, sum, total)
		}
	}
	// at the top: the new rows come into sight, the selection stays on its row
	press(t, m, "g")
	press(t, m, "down")
	sel, _ = m.timeline.Selected()
	liveEvents(t, w, "jwv-follower", *info.Last, 30, 2, nil)
	followOnce(t, m)
	if now, _ := m.timeline.Selected(); m.timeline.Scroll.Offset != 0 || m.timeline.Scroll.Cursor != 3 || now.Row.ID != sel.Row.ID {
		t.Errorf("at the top: offset %d cursor %d, want 0 and 3 on the same row", m.timeline.Scroll.Offset, m.timeline.Scroll.Cursor)
	}
	if top := m.timeline.Items[0]; top.Row == nil || top.Row.User != "jwv-follower" {
		t.Errorf("the newest row is %+v, want a new one", top.Row)
	}
	total += 2
	// on the newest row: the newest row, as tail -f
	press(t, m, "g")
	liveEvents(t, w, "vkp-follower", *info.Last, 35, 2, nil)
	followOnce(t, m)
	total += 2
	if now, _ := m.timeline.Selected(); m.timeline.Scroll.Cursor != 0 || now.Row == nil || now.Row.AuditID != "live-follow-0036" {
		t.Errorf("on the newest row: cursor %d on %+v, want the newest new event", m.timeline.Scroll.Cursor, now.Row)
	}
	// more than a page arrives: the newest page
	liveEvents(t, w, "vkp-follower", *info.Last, 100, PageSize+50, nil)
	followOnce(t, m)
	total += PageSize + 50
	if now, _ := m.timeline.Selected(); m.cur.Newer != 0 || m.timeline.Total != total || now.Row == nil || now.Row.AuditID != fmt.Sprintf("live-follow-%04d", 100+PageSize+49) {
		t.Errorf("a page and more on the newest row: newer %d, total %d (want %d), on %+v", m.cur.Newer, m.timeline.Total, total, now.Row)
	}
	// a window in time: the new matches are counted above it, not loaded
	press(t, m, "@")
	for _, c := range info.First.Add(time.Minute).UTC().Format("2006-01-02T15:04") {
		press(t, m, string(c))
	}
	press(t, m, "enter")
	if m.cur.Newer == 0 {
		t.Fatal("the jump left no newer matches: the test does not test a window")
	}
	newer, loaded := m.cur.Newer, len(m.timeline.Items)
	liveEvents(t, w, "jwv-follower", *info.Last, 40, 4, nil)
	followOnce(t, m)
	if m.cur.Newer != newer+4 || len(m.timeline.Items) != loaded || m.timeline.Total != total+4 {
		t.Errorf("a window in time: newer %d→%d, rows %d→%d, total %d (want %d)", newer, m.cur.Newer, loaded, len(m.timeline.Items), m.timeline.Total, total+4)
	}
}
