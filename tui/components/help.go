package components

import (
	"charm.land/bubbles/v2/key"

	"github.com/kubesleuth/kubesleuth/tui/common"
)

// HelpGroup is a titled set of keys.
type HelpGroup struct {
	Title string
	Keys  []key.Binding
}

// Help renders the keys of the current view in columns.
type Help struct{ ctx *common.Context }

// NewHelp returns the help pane.
func NewHelp(ctx *common.Context) *Help { return &Help{ctx: ctx} }

// View renders groups in w×h cells, flowing groups into as many columns as fit.
func (hp *Help) View(title string, groups []HelpGroup, w, h int) string {
	st := hp.ctx.Styles
	const colW = 36
	var cells []string
	for _, g := range groups {
		if len(cells) > 0 {
			cells = append(cells, "")
		}
		cells = append(cells, st.Title.Render(g.Title))
		for _, k := range g.Keys {
			hk := k.Help()
			cells = append(cells, "  "+st.HelpKey.Render(common.Fit(hk.Key, 10))+" "+st.HelpDesc.Render(hk.Desc))
		}
	}
	rows := max(h-2, 1)
	ncol := max(w/colW, 1)
	lines := []string{titleLine(hp.ctx, title+" — press ? or esc to close", true, w), ""}
	for r := 0; r < rows; r++ {
		line := ""
		for c := 0; c < ncol; c++ {
			i := c*rows + r
			if i < len(cells) {
				line += common.Fit(cells[i], colW-1) + " " // a gap even when a cell fills its column
			}
		}
		lines = append(lines, line)
	}
	return common.Block(lines, w, h)
}
