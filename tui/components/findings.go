package components

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/tui/common"
)

// Findings is the findings list. By default findings are grouped by rule: a rule with
// one finding is one row, a rule with more is a header (severity, rule, title, how many
// subjects) that expands to its subjects, so that a thousand plaintext secrets of one etcd
// rule are one line, not a thousand. The app narrows the list (Keep: the findings filter
// and the timeline's filter) and says how in Note; sorting is by severity (the case's
// order: most severe first) or by first-seen time.
type Findings struct {
	ctx *common.Context
	// All is every finding of the case, most severe first; Items is what the list shows
	// (All narrowed by Keep, sorted), what exports write.
	All, Items []analyzer.Finding
	Rows       []FindingRow
	Scroll     Scroll
	// Grouped shows a header per rule with several findings; ByTime sorts by first seen.
	Grouped, ByTime bool
	// Expanded overrides the default of a rule's group (expanded up to ExpandUpTo
	// findings).
	Expanded map[string]bool
	// Keep narrows All (nil keeps everything); Note says how, for the title.
	Keep func(analyzer.Finding) bool
	Note string
	// Mark returns the annotation marker of a finding ("★", "✎", "★✎" or ""), so the list
	// shows bookmarks without knowing how they are stored.
	Mark func(f analyzer.Finding) string
	// Loading is shown instead of "no findings" until the first load arrives.
	Loading bool
	h       int
}

// ExpandUpTo is the largest group shown expanded until the responder says otherwise.
const ExpandUpTo = 3

// FindingRow is one line: a group header (Group set) or the finding Items[Index].
type FindingRow struct {
	Group *FindingGroup
	Index int
	// Child says the finding is listed under its group's header.
	Child bool
}

// FindingGroup is the findings of one rule among Items.
type FindingGroup struct {
	RuleID, Title string
	Severity      analyzer.Severity
	Index         []int // into Items
	Count         int   // events, summed
	First         time.Time
}

// NewFindings returns an empty findings list, grouped by rule.
func NewFindings(ctx *common.Context) *Findings {
	return &Findings{ctx: ctx, Loading: true, Grouped: true, Expanded: map[string]bool{}}
}

// SetItems replaces the case's findings.
func (f *Findings) SetItems(all []analyzer.Finding) {
	f.All = all
	f.Loading = false
	f.Refresh()
}

// Refresh applies Keep, the order and the grouping again, keeping the cursor on the
// finding or group it was on when that is still shown.
func (f *Findings) Refresh() {
	key := f.selectedKey()
	f.Items = f.Items[:0:0]
	for _, x := range f.All {
		if f.Keep == nil || f.Keep(x) {
			f.Items = append(f.Items, x)
		}
	}
	if f.ByTime {
		sort.SliceStable(f.Items, func(i, j int) bool { return f.Items[i].FirstSeen.Before(f.Items[j].FirstSeen) })
	}
	f.Rows = f.Rows[:0:0]
	if !f.Grouped {
		for i := range f.Items {
			f.Rows = append(f.Rows, FindingRow{Index: i})
		}
	} else {
		// groups in the order of their first finding (the most severe or the earliest)
		byRule := map[string]*FindingGroup{}
		var order []*FindingGroup
		for i, x := range f.Items {
			g := byRule[x.RuleID]
			if g == nil {
				g = &FindingGroup{RuleID: x.RuleID, Title: x.Title, Severity: x.Severity, First: x.FirstSeen}
				byRule[x.RuleID] = g
				order = append(order, g)
			}
			g.Index = append(g.Index, i)
			g.Count += x.Count
			g.Severity = max(g.Severity, x.Severity)
			if !x.FirstSeen.IsZero() && (g.First.IsZero() || x.FirstSeen.Before(g.First)) {
				g.First = x.FirstSeen
			}
		}
		for _, g := range order {
			if len(g.Index) == 1 {
				f.Rows = append(f.Rows, FindingRow{Index: g.Index[0]})
				continue
			}
			f.Rows = append(f.Rows, FindingRow{Group: g})
			if f.expanded(g) {
				for _, i := range g.Index {
					f.Rows = append(f.Rows, FindingRow{Index: i, Child: true})
				}
			}
		}
	}
	f.Scroll.Cursor = 0
	for i, r := range f.Rows {
		if f.rowKey(r) == key {
			f.Scroll.Cursor = i
			break
		}
	}
	f.Scroll.Clamp(len(f.Rows), f.h)
}

func (f *Findings) expanded(g *FindingGroup) bool {
	if e, ok := f.Expanded[g.RuleID]; ok {
		return e
	}
	return len(g.Index) <= ExpandUpTo
}

func (f *Findings) rowKey(r FindingRow) string {
	if r.Group != nil {
		return "g:" + r.Group.RuleID
	}
	x := f.Items[r.Index]
	return "f:" + x.RuleID + "\x00" + x.Subject.String() + "\x00" + x.FirstSeen.String()
}

func (f *Findings) selectedKey() string {
	if f.Scroll.Cursor < 0 || f.Scroll.Cursor >= len(f.Rows) {
		return ""
	}
	return f.rowKey(f.Rows[f.Scroll.Cursor])
}

// Selected returns the finding under the cursor (false on a group header).
func (f *Findings) Selected() (analyzer.Finding, bool) {
	if f.Scroll.Cursor < 0 || f.Scroll.Cursor >= len(f.Rows) || f.Rows[f.Scroll.Cursor].Group != nil {
		return analyzer.Finding{}, false
	}
	return f.Items[f.Rows[f.Scroll.Cursor].Index], true
}

// SelectedGroup returns the group header under the cursor.
func (f *Findings) SelectedGroup() (*FindingGroup, bool) {
	if f.Scroll.Cursor < 0 || f.Scroll.Cursor >= len(f.Rows) || f.Rows[f.Scroll.Cursor].Group == nil {
		return nil, false
	}
	return f.Rows[f.Scroll.Cursor].Group, true
}

// Toggle expands or collapses the group under the cursor (or the group of the finding
// under it), leaving the cursor on the header.
func (f *Findings) Toggle() bool {
	if f.Scroll.Cursor < 0 || f.Scroll.Cursor >= len(f.Rows) {
		return false
	}
	r := f.Rows[f.Scroll.Cursor]
	var g *FindingGroup
	if r.Group != nil {
		g = r.Group
	} else if r.Child {
		for i := f.Scroll.Cursor; i >= 0; i-- {
			if f.Rows[i].Group != nil {
				g = f.Rows[i].Group
				f.Scroll.Cursor = i
				break
			}
		}
	}
	if g == nil {
		return false
	}
	f.Expanded[g.RuleID] = !f.expanded(g)
	f.Refresh()
	return true
}

// Move moves the cursor by d.
func (f *Findings) Move(d int) { f.Scroll.Move(d, len(f.Rows), f.h) }

// Wheel scrolls the window by d lines.
func (f *Findings) Wheel(d int) { f.Scroll.ScrollBy(d, len(f.Rows), f.h) }

// PageSize is how many rows one screen shows.
func (f *Findings) PageSize() int { return max(f.h, 1) }

// Title is the pane's title: the count, and what narrows or orders the list.
func (f *Findings) Title() string {
	t := fmt.Sprintf("Findings (%d)", len(f.All))
	if len(f.Items) != len(f.All) {
		t = fmt.Sprintf("Findings %d of %d", len(f.Items), len(f.All))
	}
	var how []string
	if f.Note != "" {
		how = append(how, f.Note)
	}
	if f.Grouped {
		how = append(how, "by rule")
	}
	if f.ByTime {
		how = append(how, "oldest first")
	}
	if len(how) > 0 {
		t += " · " + strings.Join(how, " · ")
	}
	return t
}

// NeedWidth is the width at which no shown subject is cut.
func (f *Findings) NeedWidth() int {
	n := 0
	for _, x := range f.Items {
		n = max(n, common.Width(common.Clean(common.Subject(x.Subject))))
	}
	return n + 4 + 16 + 5 + 8 + 2 + 5
}

// View renders the list in w×h cells.
func (f *Findings) View(w, h int, focused bool) string {
	if h <= 0 || w <= 0 {
		return ""
	}
	f.h = max(h-2, 0)
	f.Scroll.Clamp(len(f.Rows), f.h)
	st := f.ctx.Styles
	lines := []string{titleLine(f.ctx, common.Clean(f.Title()), focused, w)}
	// severity 4, rule as wide as the widest shown (KS-SECRET-011: 13), count 5, time 8,
	// marks 2; the subject takes the rest
	ruleW := 4
	for _, x := range f.Items {
		ruleW = max(ruleW, common.Width(x.RuleID))
	}
	ruleW = min(ruleW, 16)
	subjW := max(w-4-ruleW-5-8-2-5, 8)
	lines = append(lines, st.Header.Render(common.Fit(columns("SEV ", common.Fit("RULE", ruleW), common.Fit("SUBJECT", subjW), "    N", "FIRST   ", "  "), w)))
	if len(f.Rows) == 0 {
		msg := "no findings"
		switch {
		case f.Loading:
			msg = "loading findings…"
		case len(f.All) > 0:
			msg = "no finding matches the filter (esc or / to change it)"
		}
		lines = append(lines, st.Dim.Render(common.Fit(msg, w)))
	}
	for i := f.Scroll.Offset; i < len(f.Rows) && i < f.Scroll.Offset+f.h; i++ {
		r := f.Rows[i]
		var line string
		if g := r.Group; g != nil {
			arrow := "▸ "
			if f.expanded(g) {
				arrow = "▾ "
			}
			sev := st.Severity[g.Severity].Render(common.SeverityLabel(g.Severity))
			text := fmt.Sprintf("%s%d subjects: %s", arrow, len(g.Index), common.Clean(g.Title))
			line = columns(sev, common.Fit(common.Clean(g.RuleID), ruleW), common.Fit(text, subjW),
				fmt.Sprintf("%5d", g.Count), common.Fit(f.ctx.ShortTime(g.First), 8), "  ")
		} else {
			it := f.Items[r.Index]
			mark := ""
			if f.Mark != nil {
				mark = f.Mark(it)
			}
			sev := st.Severity[it.Severity].Render(common.SeverityLabel(it.Severity))
			rule := common.Fit(common.Clean(it.RuleID), ruleW)
			if r.Child {
				rule = common.Fit("  └", ruleW)
			}
			line = columns(sev, rule, common.Fit(common.Clean(common.Subject(it.Subject)), subjW),
				fmt.Sprintf("%5d", it.Count), common.Fit(f.ctx.ShortTime(it.FirstSeen), 8), st.Mark.Render(common.Fit(mark, 2)))
		}
		lines = append(lines, row(f.ctx, line, i == f.Scroll.Cursor, focused, w))
	}
	return common.Block(lines, w, h)
}
