package components

import (
	"fmt"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/tui/common"
)

// Findings is the findings list: severity, rule, subject, count, first seen. Findings
// come most severe first (index.Reader.Findings).
type Findings struct {
	ctx    *common.Context
	Items  []analyzer.Finding
	Scroll Scroll
	// Mark returns the annotation marker of a finding ("★", "✎", "★✎" or ""), so the list
	// shows bookmarks without knowing how they are stored.
	Mark func(f analyzer.Finding) string
	// Loading is shown instead of "no findings" until the first load arrives.
	Loading bool
	h       int
}

// NewFindings returns an empty findings list.
func NewFindings(ctx *common.Context) *Findings {
	return &Findings{ctx: ctx, Loading: true}
}

// SetItems replaces the findings, keeping the cursor in range.
func (f *Findings) SetItems(items []analyzer.Finding) {
	f.Items = items
	f.Loading = false
	f.Scroll.Clamp(len(items), f.h)
}

// Selected returns the finding under the cursor.
func (f *Findings) Selected() (analyzer.Finding, bool) {
	if f.Scroll.Cursor < 0 || f.Scroll.Cursor >= len(f.Items) {
		return analyzer.Finding{}, false
	}
	return f.Items[f.Scroll.Cursor], true
}

// Move moves the cursor by d.
func (f *Findings) Move(d int) { f.Scroll.Move(d, len(f.Items), f.h) }

// Wheel scrolls the window by d lines.
func (f *Findings) Wheel(d int) { f.Scroll.ScrollBy(d, len(f.Items), f.h) }

// PageSize is how many findings one screen shows.
func (f *Findings) PageSize() int { return max(f.h, 1) }

// View renders the list in w×h cells.
func (f *Findings) View(w, h int, focused bool) string {
	if h <= 0 || w <= 0 {
		return ""
	}
	f.h = max(h-2, 0)
	f.Scroll.Clamp(len(f.Items), f.h)
	st := f.ctx.Styles
	lines := []string{titleLine(f.ctx, fmt.Sprintf("Findings (%d)", len(f.Items)), focused, w)}
	// severity 4, rule 13 (KS-SECRET-011), count 5, time 8, marks 2; the subject takes the rest
	subjW := max(w-4-13-5-8-2-5, 8)
	lines = append(lines, st.Header.Render(common.Fit(columns("SEV ", common.Fit("RULE", 13), common.Fit("SUBJECT", subjW), "    N", "FIRST   ", "  "), w)))
	if len(f.Items) == 0 {
		msg := "no findings"
		if f.Loading {
			msg = "loading findings…"
		}
		lines = append(lines, st.Dim.Render(common.Fit(msg, w)))
	}
	for i := f.Scroll.Offset; i < len(f.Items) && i < f.Scroll.Offset+f.h; i++ {
		it := f.Items[i]
		mark := ""
		if f.Mark != nil {
			mark = f.Mark(it)
		}
		sev := st.Severity[it.Severity].Render(common.SeverityLabel(it.Severity))
		line := columns(sev, common.Fit(common.Clean(it.RuleID), 13), common.Fit(common.Clean(it.Subject.String()), subjW),
			fmt.Sprintf("%5d", it.Count), common.Fit(f.ctx.ShortTime(it.FirstSeen), 8), st.Mark.Render(common.Fit(mark, 2)))
		lines = append(lines, row(f.ctx, line, i == f.Scroll.Cursor, focused, w))
	}
	return common.Block(lines, w, h)
}
