package tui

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/index"
	"github.com/kubesleuth/kubesleuth/tui/common"
)

// The tests of issue 17 ("the TUI at 3 a.m."), one or more per point; each failed before
// the change it tests.

// floodedReader is the fake case with 60 plaintext-secret findings of one etcd rule, as
// an etcd snapshot gives them (issue 17, point 1).
func floodedReader() *fakeReader {
	r := newFakeReader()
	for i := 0; i < 60; i++ {
		r.finds = append(r.finds, analyzer.Finding{RuleID: "KS-ETCD-001", Title: "Secret stored in plaintext in etcd", Severity: analyzer.High,
			Subject: analyzer.Subject{Key: fmt.Sprintf("/registry/secrets/ns-%02d/s", i)}, Count: 1, Message: "plaintext"})
	}
	return r
}

func plain(s string) string { return stripANSI(s) }

// Point 1: a rule's many findings are one group row; filters by severity, rule and
// source; sort by time.
func TestFindingsGroupedFilteredSorted(t *testing.T) {
	m := testModel(t, floodedReader(), 160, 48, "")
	if len(m.findings.All) != 64 {
		t.Fatalf("%d findings", len(m.findings.All))
	}
	if n := len(m.findings.Rows); n != 4 {
		t.Errorf("grouped: %d rows, want 4 (61 KS-ETCD-001 in one)", n)
	}
	s := plain(m.findings.View(100, 12, true))
	if !strings.Contains(s, "▸ 61 subjects: Secret stored in plaintext") {
		t.Errorf("no collapsed group of 61:\n%s", s)
	}
	press(t, m, "shift+tab", "j", "j") // the KS-ETCD-001 group (after CRIT, HIGH KS-SEC-002)
	if g, ok := m.findings.SelectedGroup(); !ok || g.RuleID != "KS-ETCD-001" {
		t.Fatalf("cursor not on the etcd group: %+v", m.findings.Rows[m.findings.Scroll.Cursor])
	}
	press(t, m, "enter")
	if n := len(m.findings.Rows); n != 4+61 {
		t.Errorf("expanded: %d rows", n)
	}
	for _, tc := range []struct {
		filter string
		want   int
	}{{"sev:critical", 1}, {"sev:>=high", 63}, {"source:audit", 3}, {"-source:etcd", 3}, {"rule:KS-ETCD-*", 61}, {"-rule:KS-ETCD-001 sev:>=medium", 3}, {"shell", 1}} {
		press(t, m, "/")
		m.prompt.SetValue(tc.filter)
		press(t, m, "enter")
		if len(m.findings.Items) != tc.want || m.errText != "" {
			t.Errorf("findings filter %q: %d findings (error %q), want %d", tc.filter, len(m.findings.Items), m.errText, tc.want)
		}
		if !strings.Contains(m.findings.Title(), tc.filter) {
			t.Errorf("the title %q does not say the filter", m.findings.Title())
		}
		press(t, m, "esc", "esc") // dismiss the message, then clear the filter
	}
	if len(m.findings.Items) != 64 {
		t.Errorf("esc did not clear the filter: %d", len(m.findings.Items))
	}
	press(t, m, "/")
	m.prompt.SetValue("sevrity:high")
	press(t, m, "enter")
	if !strings.Contains(m.errText, "unknown field") {
		t.Errorf("a bad findings filter: %q", m.errText)
	}
	press(t, m, "esc", "r", "s")
	for i := 1; i < len(m.findings.Items); i++ {
		if m.findings.Items[i].FirstSeen.Before(m.findings.Items[i-1].FirstSeen) {
			t.Fatalf("s: finding %d is older than %d", i, i-1)
		}
	}
}

// Point 2: identities shortened, columns sized by content, the detail pane wraps and
// goes full screen.
func TestIdentitiesNotCut(t *testing.T) {
	for in, want := range map[string]string{"system:serviceaccount:kube-system:kube-metrics-agent": "sa:kube-system/kube-metrics-agent",
		"system:node:worker-1": "node:worker-1", "alice@example.com": "alice@example.com", "system:serviceaccount:x": "system:serviceaccount:x"} {
		if got := common.ShortUser(in); got != want {
			t.Errorf("ShortUser(%q) = %q, want %q", in, got, want)
		}
	}
	r := newFakeReader()
	r.rows[299].User = "system:serviceaccount:kube-system:kube-metrics-agent"
	m := testModel(t, r, 80, 24, "")
	if s := plain(m.timeline.View(95, 10, true)); !strings.Contains(s, "sa:kube-system/kube-metrics-agent") {
		t.Errorf("the user is cut in the timeline pane of a 160-column screen:\n%s", s)
	}
	// the detail: a long authorization reason is wrapped, not cut
	long := strings.Repeat("RBAC: allowed by ClusterRoleBinding \"very-long-binding-name\" of ClusterRole ", 3)
	m.detail.SetEvent("e", []byte(`{"annotations":{"authorization.k8s.io/reason":"`+strings.ReplaceAll(long, `"`, `\"`)+`"}}`))
	d := plain(m.detail.View(80, 20, true))
	if !strings.Contains(strings.Join(strings.Fields(d), " "), `of ClusterRole RBAC: allowed`) {
		t.Errorf("the reason is not wrapped whole:\n%s", d)
	}
	press(t, m, "f")
	s := plain(m.Render())
	if !m.fullDetail || strings.Contains(s, "Findings (") || !strings.Contains(s, "Detail:") {
		t.Errorf("f: not full screen:\n%s", s)
	}
	press(t, m, "esc")
	if m.fullDetail {
		t.Error("esc did not leave full screen")
	}
}

// Point 3: the prompt's prefill ends with a space, so the next clause is not glued.
func TestPromptPrefillNotGlued(t *testing.T) {
	m := testModel(t, newFakeReader(), 80, 24, "")
	press(t, m, "u", "/")
	if v := m.prompt.Value(); !strings.HasSuffix(v, `" `) {
		t.Fatalf("prefill %q does not end with a space", v)
	}
	typeText(t, m, "verb:watch")
	press(t, m, "enter")
	if !strings.HasSuffix(m.cur.Query, `" verb:watch`) || m.timeline.Total == 0 {
		t.Errorf("query %q, %d events", m.cur.Query, m.timeline.Total)
	}
	press(t, m, "/")
	m.prompt.SetValue(`user:"bob@example.com"resource:secrets`)
	press(t, m, "enter")
	if !strings.Contains(m.errText, "glued") || m.promptKind != promptSearch {
		t.Errorf("a glued value: error %q, prompt open %v", m.errText, m.promptKind == promptSearch)
	}
}

// Point 4: jump to a time, to the first and last event, time: clauses, zoom, the zone.
func TestTimeJumpAndZoom(t *testing.T) {
	m := testModel(t, newFakeReader(), 160, 48, "")
	press(t, m, "@")
	typeText(t, m, "08:10")
	press(t, m, "enter")
	it, ok := m.timeline.Selected()
	at := time.Date(2026, 3, 2, 8, 10, 0, 0, time.UTC)
	if !ok || it.Row == nil || it.Row.Time.After(at) || at.Sub(it.Row.Time) > 7*time.Second {
		t.Fatalf("after @08:10 the cursor is on %+v", it.Row)
	}
	if n, total := m.timeline.Position(); total != 300 || n != it.Pos || n < 100 {
		t.Errorf("position %d of %d after the jump (row pos %d)", n, total, it.Pos)
	}
	press(t, m, "k", "k", "k") // newer rows are fetched above the window
	if up, _ := m.timeline.Selected(); !up.Row.Time.After(at) {
		t.Errorf("scrolling up from the jump does not reach newer rows: %s", up.Row.Time)
	}
	press(t, m, "G")
	if it, _ := m.timeline.Selected(); !it.Row.Time.Equal(fakeStart) {
		t.Errorf("G: cursor on %s, want the oldest event %s", it.Row.Time, fakeStart)
	}
	press(t, m, "g")
	if it, _ := m.timeline.Selected(); it.Pos != 1 {
		t.Errorf("g: cursor at %d, want the newest", it.Pos)
	}
	press(t, m, "/")
	m.prompt.SetValue("time:[2026-03-02T08:00 TO 2026-03-02T08:01] verb:get")
	press(t, m, "enter")
	// [08:00 TO 08:01] is 08:00:00 to the end of 08:01: 18 events 7 s apart, one verb in six
	if m.errText != "" || m.timeline.Total != 3 {
		t.Errorf("time clause in the prompt: %d events, error %q", m.timeline.Total, m.errText)
	}
	press(t, m, "esc", "esc", "esc") // back to all events
	press(t, m, "+")
	if !strings.Contains(m.cur.Query, "time:[") || m.timeline.Total == 0 || m.timeline.Total >= 300 {
		t.Errorf("+: query %q, %d events", m.cur.Query, m.timeline.Total)
	}
	hist := plain(m.hist.View(160, 3))
	if !strings.Contains(hist, "UTC") {
		t.Errorf("the histogram's axis does not say its zone:\n%s", hist)
	}
	press(t, m, "esc", "esc")
	hist = plain(m.hist.View(160, 3))
	if !strings.Contains(hist, "2026-03-02 08:00:00.000") || !strings.Contains(plain(m.statusView(200)), "08:00:00–09:34:53 UTC") {
		t.Errorf("histogram axis and status bar disagree:\n%s\n%s", hist, plain(m.statusView(200)))
	}
}

// Point 5: a request's stages are one row (= shows them); H hides system identities
// except those a finding names.
func TestOneRowPerRequestAndSystemHidden(t *testing.T) {
	r := newFakeReader()
	// every tenth request is logged at RequestReceived too
	var rows []index.Row
	for i, x := range r.rows {
		if i%10 == 0 {
			rr := x
			rr.Stage, rr.Code, rr.ID = "RequestReceived", 0, index.EventID(x.AuditID+"/RequestReceived")
			rows = append(rows, rr)
		}
		rows = append(rows, x)
	}
	r.rows = rows
	m := testModel(t, r, 160, 48, "")
	for _, it := range m.timeline.Items {
		if it.Row.Stage == "RequestReceived" {
			t.Fatalf("a RequestReceived row is shown: %s", it.Row.ID)
		}
	}
	if m.timeline.Total != 330 {
		t.Errorf("total %d, want 330 events", m.timeline.Total)
	}
	press(t, m, "=")
	rr := 0
	for _, it := range m.timeline.Items {
		if it.Row.Stage == "RequestReceived" {
			rr++
		}
	}
	if rr == 0 {
		t.Error("= does not show every stage")
	}
	press(t, m, "esc", "=", "esc", "H")
	for _, it := range m.timeline.Items {
		if it.Row.User == "system:node:worker-1" {
			t.Fatalf("H: a system identity is still shown")
		}
	}
	if !strings.Contains(plain(m.statusView(220)), "system identities hidden") {
		t.Errorf("the status bar does not say the system is hidden: %s", plain(m.statusView(220)))
	}
	press(t, m, "esc", "H")
	if m.hideSystem {
		t.Error("H again did not show them")
	}
}

// Point 6: a view lists bookmarks and notes; exports carry them.
func TestNotesViewAndExports(t *testing.T) {
	m := testModel(t, newFakeReader(), 160, 48, "")
	press(t, m, "j", "b", "m")
	typeText(t, m, "the exfiltration")
	press(t, m, "enter", "shift+tab", "b", "tab", "B")
	if m.cur.Kind != ViewNotes || m.timeline.Total != 2 {
		t.Fatalf("B: view %v, %d entries", m.cur.Kind, m.timeline.Total)
	}
	s := plain(m.Render())
	for _, want := range []string{"Bookmarks and notes", "the exfiltration", "KS-EXEC-001", "── findings: 1", "── events: 1"} {
		if !strings.Contains(s, want) {
			t.Errorf("the notes view lacks %q:\n%s", want, s)
		}
	}
	press(t, m, "esc", "x", "esc", "shift+tab", "X")
	files, _ := filepath.Glob(filepath.Join(m.opts.ExportDir, "*"))
	var all string
	for _, f := range files {
		b, _ := os.ReadFile(f)
		all += string(b)
	}
	if !strings.Contains(all, `"note":"the exfiltration"`) || !strings.Contains(all, "bookmarked,note") || !strings.Contains(all, ",true,") {
		t.Errorf("the exports do not carry the annotations (%d files):\n%.2000s", len(files), all)
	}
}

// Point 7: the findings follow the timeline's filter; the status says what is shown.
func TestPanesAgree(t *testing.T) {
	m := testModel(t, newFakeReader(), 160, 48, "")
	press(t, m, "shift+tab", "u") // the critical finding's user: alice
	if len(m.findings.Items) != 1 || !strings.Contains(m.findings.Title(), "Findings 1 of 4") || !strings.Contains(m.findings.Title(), "following the timeline") {
		t.Errorf("after a pivot the findings pane says %q (%d)", m.findings.Title(), len(m.findings.Items))
	}
	m = testModel(t, newFakeReader(), 160, 48, "")
	press(t, m, "shift+tab", "enter")
	if s := plain(m.statusView(200)); !strings.Contains(s, "evidence of KS-EXEC-001 (2 audit IDs)") || strings.Contains(s, "query user:") {
		t.Errorf("the evidence's status bar: %s", s)
	}
	if len(m.findings.Items) != 4 {
		t.Errorf("the evidence view narrows the findings: %d", len(m.findings.Items))
	}
}

// Point 8: tab in the screen's order; esc dismisses before it goes back; forward; back
// after --query; bare words and unknown fields explained.
func TestKeysFollowHabits(t *testing.T) {
	m := testModel(t, newFakeReader(), 160, 48, "")
	var order []Pane
	for range 3 {
		press(t, m, "tab")
		order = append(order, m.focus)
	}
	if fmt.Sprint(order) != fmt.Sprint([]Pane{PaneDetail, PaneFindings, PaneTimeline}) {
		t.Errorf("tab from the timeline walks %v", order)
	}
	press(t, m, "u", "j", "n")
	press(t, m, "zz") // a key that is not bound: a message
	if m.message == "" {
		t.Fatal("no message to dismiss")
	}
	press(t, m, "esc")
	if len(m.stack) != 2 || m.message != "" {
		t.Errorf("esc on a message went back (stack %d) or kept it (%q)", len(m.stack), m.message)
	}
	press(t, m, "esc")
	q := m.cur.Query
	press(t, m, "esc", "]")
	if m.cur.Query != q || len(m.stack) != 1 {
		t.Errorf("] did not go forward to %q: %q, stack %d", q, m.cur.Query, len(m.stack))
	}
	m2 := testModel(t, newFakeReader(), 80, 24, "verb:get")
	press(t, m2, "esc")
	if m2.cur.Query != "" || m2.timeline.Total != 300 {
		t.Errorf("esc after --query: %q, %d events", m2.cur.Query, m2.timeline.Total)
	}
	press(t, m2, "/")
	m2.prompt.SetValue("alice")
	press(t, m2, "enter")
	if s := plain(m2.timeline.View(100, 6, true)); !strings.Contains(s, "try alice*") {
		t.Errorf("a bare word that finds nothing does not say why:\n%s", s)
	}
	press(t, m2, "/")
	m2.prompt.SetValue("usr:alice@example.com")
	press(t, m2, "enter")
	s := plain(m2.Render())
	if !strings.Contains(s, "did you mean user?") || !strings.Contains(s, "requestURI reason time") {
		t.Errorf("the unknown field's error is not shown whole above the prompt:\n%s", s)
	}
}

// Point 9: copy (through the redactor), save, pager, credential pivot, rule source,
// history kept from one run to the next.
func TestMovesOut(t *testing.T) {
	m := testModel(t, newFakeReader(), 160, 48, "")
	sel, _ := m.timeline.Selected()
	msg := m.copyID()().(clipMsg)
	if msg.data != sel.Row.AuditID || m.clip(msg) == nil {
		t.Errorf("C copies %q, want %q", msg.data, sel.Row.AuditID)
	}
	ev := m.copyEvent()().(clipMsg)
	if !strings.Contains(ev.data, `"auditID": "`+sel.Row.AuditID+`"`) {
		t.Errorf("Y copies %.200s", ev.data)
	}
	// a secret in what is copied does not reach the clipboard
	if got := string(redacted([]byte("Authorization: Bearer abcdefghijklmnopqrstuvwxyz0123456789\n"))); strings.Contains(got, "abcdefghijklmnop") {
		t.Errorf("the clipboard path does not redact: %q", got)
	}
	press(t, m, "J")
	if !strings.Contains(m.message, "kubesleuth-event-") {
		t.Errorf("J: %q %q", m.message, m.errText)
	}
	m.opts.Pager = []string{"cat"}
	if m.pager() == nil {
		t.Error("v does not open the pager")
	}
	press(t, m, "T")
	if m.cur.Kind != ViewCredential || m.timeline.Total == 0 {
		t.Fatalf("T: view %v, %d events (%q)", m.cur.Kind, m.timeline.Total, m.errText)
	}
	for _, it := range m.timeline.Items {
		if it.Row != nil && it.Row.User != sel.Row.User {
			t.Errorf("the credential view shows %s", it.Row.User)
		}
	}
	press(t, m, "esc", "shift+tab", "R")
	if d := plain(strings.Join(m.detail.Lines(), "\n")); !strings.Contains(d, "KS-EXEC-001") {
		t.Errorf("R: %s", d)
	}
	// a rule of the catalog shows its CEL; a chain rule each step's join key
	for _, id := range []string{"KS-EXEC-003", "KS-CHAIN-002"} {
		if catalogRule(id) == nil {
			continue // the catalog changed: nothing to check for this ID
		}
		d := plain(strings.Join(ruleLines(id, m.ctx), "\n"))
		if !strings.Contains(d, "CEL") && !strings.Contains(d, "join key") {
			t.Errorf("%s source:\n%s", id, d)
		}
	}
	hist := filepath.Join(t.TempDir(), "history")
	m3 := New(newFakeReader(), Options{HistoryFile: hist, Context: common.NewContext()})
	m3.history = []string{"verb:delete"}
	if err := writeHistory(hist, []string{"verb:delete", "token=abcdefghijklmnopqrstuvwxyz0123"}); err != nil {
		t.Fatal(err)
	}
	m4 := New(newFakeReader(), Options{HistoryFile: hist, Context: common.NewContext()})
	if h := m4.History(); len(h) != 2 || h[0] != "verb:delete" || strings.Contains(h[1], "abcdefghijklmnop") {
		t.Errorf("history read back: %q", h)
	}
}
