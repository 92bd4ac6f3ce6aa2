package components

import (
	"strings"

	"github.com/charmbracelet/x/ansi"

	"github.com/kubesleuth/kubesleuth/tui/common"
)

// titleLine renders a pane's title bar: focused panes are bold and colored and marked
// with ▶, so focus is visible without color too.
func titleLine(ctx *common.Context, title string, focused bool, w int) string {
	if focused {
		return ctx.Styles.Focused.Render(common.Fit("▶ "+title, w))
	}
	return ctx.Styles.Blurred.Render(common.Fit("  "+title, w))
}

// row renders one list line: the cursor line in reverse video (faint when the pane is not
// focused), so the selection is visible without color.
func row(ctx *common.Context, plain string, selected, focused bool, w int) string {
	line := common.Fit(plain, w)
	if !selected {
		return line
	}
	if focused {
		return ctx.Styles.Cursor.Render(common.Fit(stripStyles(plain), w))
	}
	return ctx.Styles.CursorBlurred.Render(common.Fit(stripStyles(plain), w))
}

// columns joins fixed-width cells with one space.
func columns(cells ...string) string { return strings.Join(cells, " ") }

// stripStyles removes styling so the cursor line is one uniform reverse-video bar.
func stripStyles(s string) string { return ansi.Strip(s) }
