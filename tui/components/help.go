package components

import (
	"fmt"

	"charm.land/bubbles/v2/key"

	"github.com/kubesleuth/kubesleuth/tui/common"
)

// HelpGroup is a titled set of keys.
type HelpGroup struct {
	Title string
	Keys  []key.Binding
}

// Help renders the keys of the current view in columns. When they do not fit, the help
// scrolls (Offset, ↑/↓) and its title says how many lines there are.
type Help struct {
	ctx    *common.Context
	Offset int
	lines  int // of the last layout
	rows   int
}

// Scroll moves the help by d lines.
func (hp *Help) Scroll(d int) {
	hp.Offset = max(min(hp.Offset+d, hp.lines-hp.rows), 0)
}

// NewHelp returns the help pane.
func NewHelp(ctx *common.Context) *Help { return &Help{ctx: ctx} }

const helpColW = 36

// View renders groups in w×h cells, flowing whole groups into as many columns as fit
// (a blank line between groups when there is room for it). When even that does not fit,
// groups are split across columns, and on a terminal too small for every key the last
// line says so: a key the help does not show is a key the responder does not know.
func (hp *Help) View(title string, groups []HelpGroup, w, h int) string {
	rows := max(h-2, 1)
	ncol := max(w/helpColW, 1)
	// the shortest columns that hold every group whole, so the keys spread over the width
	var cols [][]string
	n := 0
	for _, g := range groups {
		n += 1 + len(g.Keys)
	}
fit:
	for _, gap := range []int{1, 0} {
		for r := min(max((n+ncol-1)/ncol, 1), rows); r <= rows; r++ {
			if cols = hp.flow(groups, r, gap); len(cols) <= ncol {
				break fit
			}
		}
	}
	total := rows
	if len(cols) > ncol {
		// longer columns than the screen: the help scrolls
		for r := rows + 1; ; r++ {
			if cols = hp.flow(groups, r, 1); len(cols) <= ncol || r > n+len(groups) {
				total = r
				break
			}
		}
	}
	hp.lines, hp.rows = total, rows
	hp.Scroll(0)
	head := title + " — press ? or esc to close"
	if total > rows {
		head += fmt.Sprintf(" — lines %d-%d of %d, ↓/↑ scroll", hp.Offset+1, hp.Offset+rows, total)
	}
	lines := []string{titleLine(hp.ctx, head, true, w), ""}
	for r := hp.Offset; r < hp.Offset+rows; r++ {
		line := ""
		for c := 0; c < ncol && c < len(cols); c++ {
			if r < len(cols[c]) {
				line += common.Fit(cols[c][r], helpColW-1) + " " // a gap even when a cell fills its column
			} else {
				line += common.Fit("", helpColW)
			}
		}
		lines = append(lines, line)
	}
	return common.Block(lines, w, h)
}

func (hp *Help) cells(g HelpGroup) []string {
	st := hp.ctx.Styles
	out := []string{st.Title.Render(g.Title)}
	for _, k := range g.Keys {
		hk := k.Help()
		out = append(out, "  "+st.HelpKey.Render(common.Fit(hk.Key, 10))+" "+st.HelpDesc.Render(hk.Desc))
	}
	return out
}

// flow puts whole groups into columns of rows lines, gap blank lines between groups; a
// group longer than a column is split.
func (hp *Help) flow(groups []HelpGroup, rows, gap int) [][]string {
	var cols [][]string
	var col []string
	for _, g := range groups {
		cs := hp.cells(g)
		need := len(cs)
		if len(col) > 0 {
			need += gap
		}
		if len(col) > 0 && len(col)+need > rows {
			cols, col = append(cols, col), nil
		} else if len(col) > 0 {
			for i := 0; i < gap; i++ {
				col = append(col, "")
			}
		}
		for _, c := range cs {
			if len(col) == rows {
				cols, col = append(cols, col), nil
			}
			col = append(col, c)
		}
	}
	if len(col) > 0 {
		cols = append(cols, col)
	}
	return cols
}
