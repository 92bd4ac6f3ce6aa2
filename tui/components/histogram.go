package components

import (
	"strings"
	"time"

	"github.com/kubesleuth/kubesleuth/tui/common"
)

var blocks = []rune("▁▂▃▄▅▆▇█")

// Histogram draws events and findings over the filtered time range as block characters,
// one column per bucket group; a row per series, labelled, so that it reads without color.
type Histogram struct {
	ctx *common.Context
	// Events and Findings are counts per bucket of Interval from From.
	Events, Findings []int
	From             time.Time
	Interval         time.Duration
	// Start and End are the range the histogram covers, for the axis (the buckets start
	// at a round time before Start).
	Start, End time.Time
	// Counted says Events is the answer (it may be empty: nothing matched); until then
	// the histogram says it is counting.
	Counted bool
}

// NewHistogram returns an empty histogram.
func NewHistogram(ctx *common.Context) *Histogram { return &Histogram{ctx: ctx} }

const histLabel = 9

// Columns is how many bars fit in w cells: the app asks the case for that many buckets.
func Columns(w int) int { return max(w-histLabel-1, 1) }

// View renders the histogram in w×h cells (h is 1 to 3: events, findings, time axis).
func (hg *Histogram) View(w, h int) string {
	if h <= 0 || w <= 0 {
		return ""
	}
	st := hg.ctx.Styles
	n := Columns(w)
	ev, fi := rebin(hg.Events, n), rebin(hg.Findings, n)
	lines := []string{st.Dim.Render(common.Fit("events", histLabel)) + " " + st.Bar.Render(bars(ev))}
	if h >= 2 {
		lines = append(lines, st.Dim.Render(common.Fit("findings", histLabel))+" "+st.FindingBar.Render(bars(fi)))
	}
	if h >= 3 && !hg.From.IsZero() && hg.Interval > 0 && len(hg.Events) > 0 {
		from, to := hg.From, hg.From.Add(time.Duration(len(hg.Events))*hg.Interval)
		if !hg.Start.IsZero() && !hg.End.IsZero() {
			from, to = hg.Start, hg.End
		}
		a, b := hg.ctx.Time(from), hg.ctx.Time(to)+" "+hg.ctx.Zone()
		gap := max(n-common.Width(a)-common.Width(b), 1)
		lines = append(lines, st.Dim.Render(strings.Repeat(" ", histLabel+1)+a+strings.Repeat(" ", gap)+b))
	}
	if len(hg.Events) == 0 {
		msg := " counting…"
		if hg.Counted {
			msg = " none match"
		}
		lines[0] = st.Dim.Render(common.Fit("events", histLabel) + msg)
	}
	return common.Block(lines, w, h)
}

// rebin sums counts into n columns (fewer counts than columns leaves the rest empty).
func rebin(c []int, n int) []int {
	out := make([]int, n)
	if len(c) == 0 {
		return out
	}
	if len(c) <= n {
		copy(out, c)
		return out
	}
	for i, v := range c {
		out[i*n/len(c)] += v
	}
	return out
}

func bars(c []int) string {
	mx := 0
	for _, v := range c {
		mx = max(mx, v)
	}
	var b strings.Builder
	for _, v := range c {
		switch {
		case v == 0 || mx == 0:
			b.WriteByte(' ')
		default:
			b.WriteRune(blocks[min((v*len(blocks)-1)/mx, len(blocks)-1)])
		}
	}
	return b.String()
}
