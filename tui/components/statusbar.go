package components

import (
	"fmt"
	"strings"
	"time"

	"github.com/kubesleuth/kubesleuth/tui/common"
)

// StatusBar is the bottom line: what runs (searching…), the last message or error, then
// the case, the query, the counts and the time span.
type StatusBar struct {
	ctx                     *common.Context
	Case, Query, Mode       string
	Loaded, Total, Findings int
	// Unit is what Loaded and Total count ("events" when empty; the etcd view counts
	// secrets).
	Unit                 string
	From, To             time.Time
	Busy, Message, Error string
	Took                 time.Duration
}

// NewStatusBar returns an empty status bar.
func NewStatusBar(ctx *common.Context) *StatusBar { return &StatusBar{ctx: ctx} }

// View renders the bar in w cells (one line).
func (s *StatusBar) View(w int) string {
	st := s.ctx.Styles
	var left string
	switch {
	case s.Busy != "":
		left = st.Busy.Render(" " + common.Clean(s.Busy) + " ")
	case s.Error != "":
		left = st.Error.Render(" " + common.Clean(s.Error) + " ")
	case s.Message != "":
		left = st.StatusKey.Render(" " + common.Clean(s.Message) + " ")
	}
	// Query says what the rows are: "query Q" for a search, "evidence of KS-…" for a
	// finding's evidence (the app words it)
	q := s.Query
	if strings.TrimSpace(q) == "" {
		q = "query *"
	}
	unit := s.Unit
	if unit == "" {
		unit = "events"
	}
	parts := []string{
		common.Clean(s.Mode),
		common.Clean(q),
		fmt.Sprintf("%d/%d %s", s.Loaded, s.Total, unit),
		fmt.Sprintf("%d findings", s.Findings),
	}
	if !s.From.IsZero() {
		parts = append(parts, s.span())
	}
	if s.Took > 0 {
		parts = append(parts, s.Took.Round(time.Millisecond).String())
	}
	// the case's path last: it is the longest and the least read
	parts = append(parts, "? help", "case "+common.Clean(s.Case))
	body := " " + strings.Join(parts, " │ ") + " "
	if common.Width(left) > w {
		left = common.Fit(left, w) // a long message on a narrow terminal must not wrap
	}
	lw := common.Width(left)
	return left + st.Status.Render(common.Fit(body, max(w-lw, 0)))
}

// span is the case's time range, the date once when both ends are on the same day.
func (s *StatusBar) span() string {
	a, b := s.From.In(s.ctx.Loc), s.To.In(s.ctx.Loc)
	z := " " + s.ctx.Zone()
	if a.Format("2006-01-02") == b.Format("2006-01-02") {
		return a.Format("2006-01-02 15:04:05") + "–" + b.Format("15:04:05") + z
	}
	return a.Format("2006-01-02 15:04") + "–" + b.Format("2006-01-02 15:04") + z
}
