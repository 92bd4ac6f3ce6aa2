package tui

import (
	"context"
	"fmt"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/kubesleuth/kubesleuth/index"
	"github.com/kubesleuth/kubesleuth/tui/components"
)

// Following (investigate --follow): a case that a live writer (tail --case) writes grows
// while the UI runs. Every FollowEvery the model asks the case's Info; when the case
// changed, it loads the findings again (the list keeps its cursor on its finding), asks
// for the histogram again (its key holds the case's newest time), and, in the search
// view, loads the matches newer than the newest loaded row and puts them above the rows
// shown. On the newest row the cursor stays on the newest row, as tail -f does (more
// than a page new: the newest page is loaded). Anywhere else the cursor stays on its
// row and the window where the responder left it, except near the top of the list,
// where the new rows come into sight for as long as the selected row stays on screen.
// A window left by a jump in time counts the new matches among those newer than it
// (scrolling up loads them).
//
// The other views (identity, secret, evidence, context, etcd, notes) are whole when
// opened: they are opened again to see more. An event that arrives with a time older
// than the newest loaded row is counted in the total at once and listed when the view
// is loaded again (a search, g).

// DefaultFollowEvery is how often a following model looks at the case: a live writer
// commits about every second, so events are on screen a second or two after it.
const DefaultFollowEvery = time.Second

type (
	followTickMsg struct{}
	followInfoMsg struct {
		info *index.Info
		err  error
	}
	// followMsg is what arrived in the search view since the rows were loaded.
	followMsg struct {
		gen   int
		total int         // matches of the view's query now
		rows  []index.Row // the new matches newer than the loaded rows, newest first, shown
		pos   []int
		raw   int  // how many were fetched (hidden stages too)
		rest  int  // new matches newer still, not fetched (more than a page arrived)
		empty bool // the view had no rows: it is loaded anew
		err   error
	}
)

func (m *Model) followTick() tea.Cmd {
	if !m.opts.Follow {
		return nil
	}
	every := m.opts.FollowEvery
	if every <= 0 {
		every = DefaultFollowEvery
	}
	return tea.Tick(every, func(time.Time) tea.Msg { return followTickMsg{} })
}

func followInfo(r index.Reader) tea.Cmd {
	return func() tea.Msg {
		info, err := r.Info()
		return followInfoMsg{info, err}
	}
}

// Following reports whether the model follows a growing case (tests).
func (m *Model) Following() bool { return m.opts.Follow }

// followed handles the case's Info on a tick: what changed is loaded again, and the
// next tick is scheduled.
func (m *Model) followed(msg followInfoMsg) tea.Cmd {
	next := m.followTick()
	if m.quitting {
		return nil
	}
	if msg.err != nil {
		m.fail(fmt.Errorf("following the case: %w", msg.err))
		return next
	}
	old := m.info
	changed := old == nil || msg.info.Events != old.Events || msg.info.Findings != old.Findings ||
		!msg.info.Updated.Equal(old.Updated) || msg.info.Complete != old.Complete
	if !changed && !m.followStale {
		return next
	}
	cmds := []tea.Cmd{next}
	if changed {
		m.info = msg.info
		m.followStale = true
		cmds = append(cmds, loadFindings(m.r), m.histCmd())
		m.showHist()
	}
	cmds = append(cmds, m.followTimeline())
	return tea.Batch(cmds...)
}

// followTimeline asks for the search view's new matches, unless a query of the view is
// running (it answers with them; the next tick asks then).
func (m *Model) followTimeline() tea.Cmd {
	if m.cur.Kind != ViewSearch {
		m.followStale = false // a whole view: opened again to see more
		return nil
	}
	if !m.cur.Loaded || m.busy || m.paging {
		return nil
	}
	m.followStale = false
	var top []index.Row
	if m.cur.Newer == 0 {
		for _, it := range m.timeline.Items {
			if it.Row == nil || (len(top) > 0 && !it.Row.Time.Equal(top[0].Time)) {
				break
			}
			top = append(top, *it.Row)
		}
	}
	m.paging = true
	return followPage(m.root, m.r, m.gen, m.viewQuery(m.cur.Query, m.cur.Kind), top, m.cur.Newer > 0, m.collapse)
}

// followPage counts the matches of text and, unless window (the rows shown are not the
// newest), loads those newer than top (the loaded rows at the newest loaded time).
func followPage(ctx context.Context, r index.Reader, gen int, text string, top []index.Row, window, collapse bool) tea.Cmd {
	return func() tea.Msg {
		res, err := r.Search(ctx, index.Query{Text: text, Limit: 1})
		if err != nil {
			return followMsg{gen: gen, err: fmt.Errorf("following: %w", err)}
		}
		msg := followMsg{gen: gen, total: res.Total}
		if window {
			return msg
		}
		if len(top) == 0 {
			msg.empty = res.Total > 0
			return msg
		}
		seen := map[index.EventID]bool{}
		for _, t := range top {
			seen[t.ID] = true
		}
		nres, err := r.Search(ctx, index.Query{Text: text, From: top[0].Time, Limit: PageSize + len(top)})
		if err != nil {
			return followMsg{gen: gen, err: fmt.Errorf("following: %w", err)}
		}
		var rows []index.Row
		for _, e := range nres.Events {
			if !seen[e.ID] {
				rows = append(rows, e)
			}
		}
		// the oldest of the new ones were fetched: the newest first on screen
		for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
			rows[i], rows[j] = rows[j], rows[i]
		}
		msg.raw = len(rows)
		msg.rest = max(nres.Total-len(top)-len(rows), 0)
		msg.rows = rows
		if collapse {
			msg.rows, msg.pos = hideAnswered(r, rows)
		}
		return msg
	}
}

// applyFollow puts what arrived into the search view, keeping the cursor on its row.
func (m *Model) applyFollow(msg followMsg) tea.Cmd {
	if msg.gen != m.gen {
		m.followStale = true // the view changed meanwhile: its own query is newer
		return nil
	}
	m.paging = false
	if msg.err != nil {
		m.fail(msg.err)
		return nil
	}
	added := max(msg.total-m.timeline.Total, 0)
	if msg.empty {
		m.saveFrame()
		return m.startView()
	}
	if m.cur.Newer > 0 {
		// a window in time: the new matches are newer than it, not loaded
		m.shiftPos(added)
		m.cur.Newer += added
		m.timeline.Skipped = m.cur.Newer
		m.timeline.Total = msg.total
		return nil
	}
	s := &m.timeline.Scroll
	head := s.Cursor == 0 && s.Offset == 0
	if head && msg.rest > 0 {
		// more than a page arrived while the responder watched the newest row: the
		// newest page, as when the view opened
		m.saveFrame()
		return m.startView()
	}
	newer := msg.raw + msg.rest // the new matches above the loaded rows
	m.shiftPos(newer)
	items := make([]components.Item, 0, len(msg.rows)+len(m.timeline.Items))
	for i := range msg.rows {
		it := components.Item{Row: &msg.rows[i], Pos: msg.rest + i + 1}
		if msg.pos != nil {
			it.Pos = msg.rest + msg.pos[i]
		}
		items = append(items, it)
	}
	n := len(items)
	items = append(items, m.timeline.Items...)
	m.timeline.Items = items
	m.timeline.Total = msg.total
	m.cur.Newer = msg.rest
	m.timeline.Skipped = msg.rest
	if n == 0 {
		return nil
	}
	if head {
		// on the newest row: the newest row, as tail -f (the detail pane follows it)
		return tea.Batch(m.histCmd(), m.followCursor())
	}
	s.Cursor += n
	// near the top of the list the new rows come into sight, as long as the selected
	// row stays on screen; anywhere else the window stays on the rows it showed
	switch ps := m.timeline.PageSize(); {
	case s.Offset > 0:
		s.Offset += n
	case s.Cursor >= ps:
		s.Offset = s.Cursor - ps + 1
	}
	return tea.Batch(m.histCmd(), m.newerIfNear())
}

// shiftPos moves the loaded rows' places among the matches down by n (n newer matches
// arrived above them).
func (m *Model) shiftPos(n int) {
	if n == 0 {
		return
	}
	for i := range m.timeline.Items {
		if m.timeline.Items[i].Pos > 0 {
			m.timeline.Items[i].Pos += n
		}
	}
	m.cur.RawEnd += n
}
