package tui

import (
	"context"
	"fmt"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/kubesleuth/kubesleuth/index"
	"github.com/kubesleuth/kubesleuth/tui/components"
)

// Moving in time. The timeline of a search is a window of the matches, newest first: a
// jump loads the page at a time (and counts the matches newer than it, so the position
// still reads "n of N"), scrolling down fetches older pages and scrolling up newer ones.
// g and G are the newest and the oldest match, whatever is loaded; @ jumps to a time; +
// and - zoom the histogram (and the timeline) around the selection's time, as a time:
// clause in the query, so the status bar says it and esc undoes it.

// jumpMsg is a window of a search at a point in time.
type jumpMsg struct {
	gen   int
	rows  []index.Row // newest first, shown
	pos   []int       // of each among the page's matches (hideAnswered), nil: all shown
	raw   int
	tail  []index.Row
	newer int // matches newer than rows[0]
	total int
	done  bool // no older match
	last  bool // put the cursor on the last row (G)
	err   error
}

// jumpPage loads the newest matches of text at or before at, and counts those after it.
func jumpPage(ctx context.Context, r index.Reader, gen int, text string, at time.Time, collapse bool) tea.Cmd {
	return func() tea.Msg {
		to := at.Add(time.Nanosecond)
		res, err := r.Search(ctx, index.Query{Text: text, To: to, Newest: true, Limit: PageSize})
		if err != nil {
			return jumpMsg{gen: gen, err: fmt.Errorf("jump: %w", err)}
		}
		after, err := r.Search(ctx, index.Query{Text: text, From: to, Limit: 1})
		if err != nil {
			return jumpMsg{gen: gen, err: fmt.Errorf("jump: %w", err)}
		}
		msg := jumpMsg{gen: gen, rows: res.Events, newer: after.Total, total: after.Total + res.Total, done: res.Total <= len(res.Events)}
		return msg.shown(r, collapse)
	}
}

// oldestPage loads the oldest matches of text (G).
func oldestPage(ctx context.Context, r index.Reader, gen int, text string, collapse bool) tea.Cmd {
	return func() tea.Msg {
		res, err := r.Search(ctx, index.Query{Text: text, Limit: PageSize})
		if err != nil {
			return jumpMsg{gen: gen, err: fmt.Errorf("oldest events: %w", err)}
		}
		rows := res.Events
		for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
			rows[i], rows[j] = rows[j], rows[i]
		}
		msg := jumpMsg{gen: gen, rows: rows, newer: res.Total - len(rows), total: res.Total, done: true, last: true}
		return msg.shown(r, collapse)
	}
}

// shown keeps the raw page's tail and hides answered RequestReceived rows.
func (msg jumpMsg) shown(r index.Reader, collapse bool) jumpMsg {
	msg.raw = len(msg.rows)
	if n := len(msg.rows); n > 0 {
		last := msg.rows[n-1].Time
		for i := n - 1; i >= 0 && msg.rows[i].Time.Equal(last); i-- {
			msg.tail = append([]index.Row{msg.rows[i]}, msg.tail...)
		}
	}
	if collapse {
		msg.rows, msg.pos = hideAnswered(r, msg.rows)
	}
	return msg
}

// newerMsg is a page of matches newer than the first loaded row.
type newerMsg struct {
	gen  int
	rows []index.Row // newest first, shown
	pos  []int
	raw  int
	err  error
}

// newerPage loads the matches just newer than top (the loaded rows that share the newest
// loaded time), oldest of them first, skipping those loaded.
func newerPage(ctx context.Context, r index.Reader, gen int, text string, top []index.Row, collapse bool) tea.Cmd {
	return func() tea.Msg {
		seen := map[index.EventID]bool{}
		for _, t := range top {
			seen[t.ID] = true
		}
		res, err := r.Search(ctx, index.Query{Text: text, From: top[0].Time, Limit: PageSize + len(top)})
		if err != nil {
			return newerMsg{gen: gen, err: fmt.Errorf("newer events: %w", err)}
		}
		var rows []index.Row
		for _, e := range res.Events {
			if !seen[e.ID] {
				rows = append(rows, e)
			}
		}
		for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
			rows[i], rows[j] = rows[j], rows[i]
		}
		msg := newerMsg{gen: gen, rows: rows, raw: len(rows)}
		if collapse {
			msg.rows, msg.pos = hideAnswered(r, rows)
		}
		return msg
	}
}

// applyJump shows a window of the search.
func (m *Model) applyJump(msg jumpMsg) tea.Cmd {
	if msg.gen != m.gen {
		return nil
	}
	m.busy, m.timeline.Loading, m.paging = false, false, false
	if msg.err != nil {
		m.fail(msg.err)
		return nil
	}
	items := make([]components.Item, len(msg.rows))
	for i := range msg.rows {
		items[i] = components.Item{Row: &msg.rows[i], Pos: msg.newer + i + 1}
		if msg.pos != nil {
			items[i].Pos = msg.newer + msg.pos[i]
		}
	}
	m.cur.RawEnd, m.cur.tail = msg.newer+msg.raw, msg.tail
	m.timeline.SetItems(items)
	m.timeline.Total, m.timeline.Skipped = msg.total, msg.newer
	m.cur.Newer, m.cur.Loaded, m.cur.Done = msg.newer, true, msg.done
	m.timeline.Scroll = components.Scroll{}
	if msg.last {
		m.timeline.Scroll.Cursor = len(items) - 1
	}
	m.timeline.Scroll.Clamp(len(items), m.timeline.PageSize())
	if len(items) == 0 {
		m.message = "no event at or before that time"
	}
	return tea.Batch(m.followCursor(), m.newerIfNear())
}

// newerIfNear fetches newer rows when the cursor nears the top of a window that has some.
func (m *Model) newerIfNear() tea.Cmd {
	if m.cur.Kind != ViewSearch || m.cur.Newer <= 0 || m.paging || m.busy || !m.timeline.NearTop() {
		return nil
	}
	var top []index.Row
	for _, it := range m.timeline.Items {
		if it.Row == nil || (len(top) > 0 && !it.Row.Time.Equal(top[0].Time)) {
			break
		}
		top = append(top, *it.Row)
	}
	if len(top) == 0 {
		return nil
	}
	m.paging = true
	ctx := m.root
	return newerPage(ctx, m.r, m.gen, m.viewQuery(m.cur.Query, m.cur.Kind), top, m.collapse)
}

// applyNewer prepends newer rows, keeping the cursor on the same row.
func (m *Model) applyNewer(msg newerMsg) tea.Cmd {
	if msg.gen != m.gen {
		return nil
	}
	m.paging = false
	if msg.err != nil {
		m.fail(msg.err)
		return nil
	}
	n := len(msg.rows)
	if msg.raw == 0 {
		m.cur.Newer, m.timeline.Skipped = 0, 0 // nothing newer after all
		return nil
	}
	base := max(m.cur.Newer-msg.raw, 0)
	items := make([]components.Item, 0, n+len(m.timeline.Items))
	for i := range msg.rows {
		it := components.Item{Row: &msg.rows[i], Pos: base + i + 1}
		if msg.pos != nil {
			it.Pos = base + msg.pos[i]
		}
		items = append(items, it)
	}
	items = append(items, m.timeline.Items...)
	m.timeline.Items = items
	m.timeline.Scroll.Cursor += n
	m.timeline.Scroll.Offset += n
	m.cur.Newer = base
	m.timeline.Skipped = m.cur.Newer
	return nil
}

// top is g: the newest match, loading it when a jump left it unloaded.
func (m *Model) top() tea.Cmd {
	if m.focus != PaneTimeline || m.cur.Kind != ViewSearch || m.cur.Newer == 0 {
		m.scroll(-1<<30, false)
		return m.afterMove()
	}
	m.cur.Newer, m.cur.JumpTo, m.cur.JumpLast = 0, time.Time{}, false
	m.saveFrame()
	return m.startView()
}

// bottom is G: the oldest match, loaded at once rather than page by page.
func (m *Model) bottom() tea.Cmd {
	if m.focus != PaneTimeline || m.cur.Kind != ViewSearch || m.cur.Done {
		m.scroll(1<<30, false)
		return m.afterMove()
	}
	m.cur.JumpLast, m.cur.JumpTo = true, time.Time{}
	m.message = "the oldest events (g: the newest)"
	return m.startView()
}

// jumpTo opens the search of the current view at time at (a new frame: esc returns).
func (m *Model) jumpTo(at time.Time) tea.Cmd {
	q := m.cur.Query
	if m.cur.Kind != ViewSearch {
		q = m.cur.histQuery()
	}
	what := "all events"
	if !unfilteredQuery(q) {
		what = q
	}
	// the time first: a long query must not cut it from the title
	return m.push(Frame{Kind: ViewSearch, Query: q, JumpTo: at,
		Title: "Timeline from " + m.ctx.ShortTime(at) + " " + m.ctx.Zone() + " back (↑ newer): " + what})
}

// parseJump reads the jump prompt: a date and time (2026-03-02T08:15, as in time:
// clauses), a time of day (08:15, 08:15:30) on the day of the selection, or an offset
// from the selection (-10m, +1h30m).
func (m *Model) parseJump(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	ref := time.Now()
	if t := m.selection(); t.row != nil {
		ref = t.row.Time
	} else if m.info != nil && m.info.Last != nil {
		ref = *m.info.Last
	}
	ref = ref.In(m.ctx.Loc)
	if s == "" {
		return time.Time{}, fmt.Errorf("jump: type a time (2026-03-02T08:15, 08:15, -10m)")
	}
	if s[0] == '-' || s[0] == '+' {
		d, err := time.ParseDuration(s)
		if err != nil {
			return time.Time{}, fmt.Errorf("jump: %q: an offset is like -10m or +1h30m", s)
		}
		return ref.Add(d), nil
	}
	for _, l := range []string{"15:04:05", "15:04"} {
		if t, err := time.ParseInLocation(l, s, m.ctx.Loc); err == nil {
			y, mo, d := ref.Date()
			return time.Date(y, mo, d, t.Hour(), t.Minute(), t.Second(), 0, m.ctx.Loc), nil
		}
	}
	t, _, err := index.ParseTime(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("jump: %v; or a time of day (08:15) or an offset (-10m)", err)
	}
	return t, nil
}

// zoom narrows (factor < 1) or widens the time range around the selection's time, as a
// time: clause on the view's query.
func (m *Model) zoom(factor float64) tea.Cmd {
	from, to, ok := m.histRange()
	if !ok {
		m.message = "the case has no events to zoom on"
		return nil
	}
	center := from.Add(to.Sub(from) / 2)
	if t := m.selection(); t.row != nil {
		center = t.row.Time
	}
	span := time.Duration(float64(to.Sub(from)) * factor)
	span = max(span, time.Minute)
	q := m.cur.Query
	if m.cur.Kind != ViewSearch {
		q = m.cur.histQuery()
	}
	rest, _ := index.ApplyTime(index.Query{Text: q})
	base := strings.TrimSpace(rest.Text)
	a, b := center.Add(-span/2).Truncate(time.Second), center.Add(span/2).Truncate(time.Second)
	if first, last := *m.info.First, *m.info.Last; !a.After(first) && !b.Before(last) {
		// wider than the case: no time clause at all
		if base == q {
			m.message = "the whole case is shown"
			return nil
		}
		return m.search(base)
	}
	tc := "time:[" + a.UTC().Format("2006-01-02T15:04:05Z") + " TO " + b.UTC().Format("2006-01-02T15:04:05Z") + "]"
	if base != "" {
		tc = base + " " + tc
	}
	m.message = fmt.Sprintf("zoomed to %s around %s (esc: back)", span.Round(time.Second), m.ctx.ShortTime(center))
	return m.search(tc)
}
