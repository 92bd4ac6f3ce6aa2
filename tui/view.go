package tui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/kubesleuth/kubesleuth/tui/common"
	"github.com/kubesleuth/kubesleuth/tui/components"
)

// Layout is where each pane goes at one terminal size. Wide terminals (≥ 120 columns)
// put findings and timeline side by side above the detail; narrow ones stack all three.
// Short terminals drop the histogram's axis, then the histogram; terminals too short for
// three useful panes show the focused one alone (Single). The parts always add up to the
// terminal's height, so nothing scrolls off, whatever the size.
type Layout struct {
	Hist                 int // histogram lines (0 hides it)
	Prompt               int // 1 while the prompt is open
	Status               int // 1 for the status bar (0 only on a 0-line terminal)
	Side                 bool
	Single               bool // only the focused pane, Body lines high
	FindingsW            int
	FindingsH, TimelineH int
	DetailH, Body, Width int
}

// ComputeLayout lays out a w×h screen; prompt reserves the input line.
func ComputeLayout(w, h int, prompt bool) Layout { return computeLayout(w, h, prompt, 0) }

// computeLayout is ComputeLayout with errLines lines above the prompt for its error (a
// query's error is read while it is fixed, whole, not cut by the status bar).
func computeLayout(w, h int, prompt bool, errLines int) Layout {
	l := Layout{Width: w}
	if h >= 1 {
		l.Status = 1
	}
	if prompt && h >= 2 {
		l.Prompt = 1
		if h >= 12 {
			l.Prompt += min(errLines, 3)
		}
	}
	switch {
	case h >= 40:
		l.Hist = 3
	case h >= 18:
		l.Hist = 2
	}
	l.Body = max(h-l.Status-l.Prompt-l.Hist, 0)
	if w >= 120 && l.Body >= 8 {
		l.Side = true
		l.FindingsW = w * 2 / 5
		l.FindingsH = max(l.Body*11/20, 3)
		l.TimelineH = l.FindingsH
		l.DetailH = l.Body - l.FindingsH
		return l
	}
	l.FindingsW = w
	if l.Body < 12 {
		l.Single = true
		return l
	}
	l.FindingsH = max(l.Body/4, 3)
	l.TimelineH = max(l.Body*2/5, 3)
	l.DetailH = max(l.Body-l.FindingsH-l.TimelineH, 0)
	return l
}

// View draws the screen: histogram, panes, prompt, status bar. It only reads state.
func (m *Model) View() tea.View {
	v := tea.NewView(m.Render())
	v.AltScreen = true
	v.MouseMode = tea.MouseModeCellMotion
	v.WindowTitle = "kubesleuth investigate"
	return v
}

// Render returns the screen as text (View's content; golden tests compare it): exactly
// height lines of exactly width cells.
func (m *Model) Render() string {
	if m.quitting {
		return ""
	}
	w, h := m.width, m.height
	if w <= 0 || h <= 0 {
		return ""
	}
	var errLines []string
	if m.promptKind != promptNone && m.errText != "" {
		errLines = common.Wrap(m.ctx.Styles.Error.Render(common.Clean(m.errText)), w, "  ")
	}
	l := computeLayout(w, h, m.promptKind != promptNone, len(errLines))
	if l.Side {
		// the findings get the width their subjects need, up to half the screen
		l.FindingsW = min(max(m.findings.NeedWidth(), l.FindingsW), w/2)
	}
	var parts []string
	if l.Hist > 0 && !m.showHelp && !m.fullDetail {
		parts = append(parts, m.hist.View(w, l.Hist))
	}
	switch {
	case m.fullDetail && !m.showHelp && l.Body+l.Hist > 0:
		// the detail alone, the histogram's lines too: a long event or finding read whole
		parts = append(parts, m.detail.View(w, l.Body+l.Hist, true))
	case m.showHelp && l.Body+l.Hist > 0:
		// the help takes the histogram's lines too: at 80x24 every key fits
		parts = append(parts, m.help.View("Keys: "+m.cur.Kind.String()+" view", m.helpGroups(), w, l.Body+l.Hist))
	case l.Body == 0:
	case l.Single:
		switch m.focus {
		case PaneFindings:
			parts = append(parts, m.findings.View(w, l.Body, true))
		case PaneDetail:
			parts = append(parts, m.detail.View(w, l.Body, true))
		default:
			parts = append(parts, m.timeline.View(w, l.Body, true))
		}
	case l.Side:
		tw := w - l.FindingsW - 1
		top := joinSide(m.findings.View(l.FindingsW, l.FindingsH, m.focus == PaneFindings),
			m.timeline.View(tw, l.TimelineH, m.focus == PaneTimeline), l.FindingsH)
		parts = append(parts, top)
		if l.DetailH > 0 {
			parts = append(parts, m.detail.View(w, l.DetailH, m.focus == PaneDetail))
		}
	default:
		parts = append(parts, m.findings.View(w, l.FindingsH, m.focus == PaneFindings),
			m.timeline.View(w, l.TimelineH, m.focus == PaneTimeline))
		if l.DetailH > 0 {
			parts = append(parts, m.detail.View(w, l.DetailH, m.focus == PaneDetail))
		}
	}
	if l.Prompt > 0 {
		for i := 0; i < l.Prompt-1; i++ {
			parts = append(parts, common.Fit(errLines[i], w))
		}
		parts = append(parts, common.Fit(m.prompt.View(), w))
	}
	if l.Status > 0 {
		parts = append(parts, m.statusView(w))
	}
	return strings.Join(parts, "\n")
}

// joinSide puts two blocks of h lines side by side with a separator.
func joinSide(a, b string, h int) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	out := make([]string, h)
	for i := range out {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		out[i] = x + "│" + y
	}
	return strings.Join(out, "\n")
}

func (m *Model) statusView(w int) string {
	s := m.status
	s.Mode = m.cur.Kind.String()
	if m.opts.Follow {
		s.Mode += " · following"
	}
	s.Query = m.describe()
	s.Loaded, s.Total, s.Findings = 0, m.timeline.Total, len(m.findings.Items)
	s.Unit = "events"
	switch {
	case m.cur.Kind == ViewEtcd:
		s.Unit = "secrets" // the secrets at rest: the etcd view lists no events
	case m.cur.Kind == ViewNotes:
		s.Unit = "annotated"
	}
	for _, it := range m.timeline.Items {
		if it.IsEntry() {
			s.Loaded++
		}
	}
	s.Loaded += m.timeline.Skipped
	s.Case = m.opts.CaseName
	if m.info != nil && m.info.First != nil && m.info.Last != nil {
		s.From, s.To = *m.info.First, *m.info.Last
	}
	s.Busy, s.Error, s.Message = "", m.errText, m.message
	switch {
	case m.quitOnWrite:
		s.Busy = "saving…" // q waits for writes and exports: say why it has not quit yet
	case m.busy:
		s.Busy = "searching…"
	case m.paging:
		s.Busy = "loading more…"
	case m.exporting:
		s.Busy = "exporting…"
	}
	return s.View(w)
}

// describe says what the timeline's rows are, for the status bar: the query a search
// ran, or what a view lists (the evidence of a finding is not a query's result).
func (m *Model) describe() string {
	f := &m.cur
	var d string
	switch f.Kind {
	case ViewEvidence:
		d = fmt.Sprintf("evidence of %s (%d audit IDs)", f.Finding.RuleID, len(f.Finding.AuditIDs))
	case ViewIdentity:
		d = "identity " + common.ShortUser(f.Subject)
	case ViewSecret:
		d = "secret " + f.Namespace + "/" + f.Name + ": reads, lists, changes"
	case ViewEtcd:
		d = "secrets at rest"
	case ViewContext:
		d = "events around the selected one"
	case ViewNotes:
		d = "bookmarks and notes"
	case ViewCredential:
		d = "credential " + f.Name
	default:
		q := strings.TrimSpace(f.Query)
		if q == "" {
			q = "*"
		}
		d = "query " + q
	}
	if n := m.filtersNote(); n != "" && f.Kind != ViewEtcd && f.Kind != ViewNotes {
		d += " · " + n
	}
	return d
}

// helpGroups are the keys of the current view for the help screen.
func (m *Model) helpGroups() []components.HelpGroup {
	k := m.ctx.Keys
	groups := []components.HelpGroup{
		{Title: "Move", Keys: k.Navigation()},
		{Title: "Pivot (filter on the selection)", Keys: k.Pivots()},
		{Title: "Views", Keys: k.Views()},
		{Title: "Time and filters", Keys: k.Time()},
		{Title: "Findings pane (sev:high rule:KS-*)", Keys: k.FindingKeys()},
		{Title: "Case", Keys: k.Case()},
		{Title: "Copy (OSC 52), save, open", Keys: k.Moves()},
		{Title: "Detail pane (↑/↓ scroll)", Keys: k.Detail()},
		{Title: "Search prompt (time:>=2026-03-02T08:00)", Keys: k.Prompt()},
	}
	switch m.cur.Kind {
	case ViewEtcd:
		groups[1] = components.HelpGroup{Title: "Pivot (filter on the selection)", Keys: []key.Binding{k.PivotNamespace, k.PivotName, k.Secret, k.Back}}
	case ViewIdentity:
		groups[2].Title = "Views (identity: bursts split at idle gaps)"
	}
	return groups
}
