package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/kubesleuth/kubesleuth/tui/common"
	"github.com/kubesleuth/kubesleuth/tui/components"
)

// Update handles one message. It never waits on the case: data arrives as messages from
// the commands in fetch.go.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		// the real size, however small: the screen is drawn to fit it exactly (a larger
		// frame than the terminal would push the status bar off the screen)
		m.width, m.height = max(msg.Width, 0), max(msg.Height, 0)
		m.prompt.SetWidth(max(m.width-len(m.prompt.Prompt)-2, 1))
		return m, m.histCmd()
	case tea.KeyPressMsg:
		return m, m.key(msg)
	case tea.MouseWheelMsg:
		var d int
		switch msg.Mouse().Button {
		case tea.MouseWheelUp:
			d = -3
		case tea.MouseWheelDown:
			d = 3
		default:
			return m, nil // a sideways wheel (trackpads) must not scroll the list down
		}
		if m.showHelp || m.promptKind != promptNone {
			return m, nil
		}
		m.scroll(d, true)
		return m, m.afterMove()
	case infoMsg:
		if msg.err != nil {
			m.errText = "case info: " + msg.err.Error()
			return m, nil
		}
		m.info = msg.info
		cmd := m.histCmd()
		m.showHist()
		return m, cmd
	case findingsMsg:
		if msg.err != nil {
			m.errText = "findings: " + msg.err.Error()
		}
		m.findings.SetItems(msg.items)
		m.findingHist = msg.items
		m.showHist()
		return m, nil
	case annotationsMsg:
		if msg.err != nil {
			m.errText = "annotations: " + msg.err.Error()
		}
		clear(m.annotations)
		for _, a := range msg.items {
			m.annotations[a.Target] = a
		}
		// writes not in the case yet (the list may have been read before them)
		if m.writing != nil {
			m.annotations[m.writing.Target] = *m.writing
		}
		for _, a := range m.pending {
			m.annotations[a.Target] = a
		}
		m.refreshMarks()
		return m, nil
	case pageMsg:
		return m, m.page(msg)
	case viewMsg:
		if msg.gen != m.gen {
			return m, nil
		}
		m.busy, m.timeline.Loading = false, false
		if msg.err != nil {
			m.fail(msg.err)
			return m, nil
		}
		m.cur.Done, m.cur.Loaded = true, true
		m.timeline.SetItems(msg.items)
		m.timeline.Skipped = 0
		m.timeline.Total = msg.total
		cur := msg.cursor
		for cur < len(msg.items)-1 && !msg.items[cur].IsEntry() {
			cur++ // start on the first event or secret, not on a burst or state header
		}
		m.timeline.Scroll.Cursor = cur
		m.timeline.Scroll.Offset = max(msg.cursor-m.timeline.PageSize()/2, 0)
		return m, tea.Batch(m.histCmd(), m.followCursor())
	case histMsg:
		if msg.err != nil {
			if msg.key == m.histWant {
				m.fail(msg.err)
			}
			return m, nil
		}
		if len(m.histCache) > 32 {
			clear(m.histCache)
		}
		m.histCache[msg.key] = msg
		if msg.key == m.histWant {
			m.applyHist(msg)
		}
		return m, nil
	case detailMsg:
		if msg.gen != m.detailGen {
			return m, nil
		}
		switch {
		case msg.err != nil:
			m.detail.SetText(msg.title, []string{m.ctx.Styles.Error.Render(common.Clean(msg.err.Error()))})
		case msg.raw != nil:
			m.detail.SetEvent(msg.title, msg.raw)
			m.refreshMarks()
		default:
			m.detail.SetText(msg.title, msg.lines)
		}
		return m, nil
	case annotatedMsg:
		return m, m.written(msg)
	case historyMsg:
		if msg.err != nil {
			m.errText = msg.err.Error()
		}
		return m, nil
	case jumpMsg:
		return m, m.applyJump(msg)
	case newerMsg:
		return m, m.applyNewer(msg)
	case followTickMsg:
		if m.quitting {
			return m, nil
		}
		return m, followInfo(m.r)
	case followInfoMsg:
		return m, m.followed(msg)
	case followMsg:
		return m, m.applyFollow(msg)
	case clipMsg:
		return m, m.clip(msg)
	case pagerMsg:
		if msg.err != nil {
			m.errText = "pager " + strings.Join(m.pagerCommand(), " ") + ": " + msg.err.Error()
		}
		return m, nil
	case systemMsg:
		if msg.err != nil {
			m.fail(msg.err)
			return m, nil
		}
		m.systemUsers = msg.users
		if m.systemUsers == nil {
			m.systemUsers = []string{}
		}
		if len(m.systemUsers) == 0 {
			m.message = "no system identity in this case (other than those findings name)"
			return m, nil
		}
		return m, m.toggleSystem()
	case exportedMsg:
		m.exporting = false
		if msg.err != nil {
			m.quitOnWrite = false // stay: the responder must see that the export failed
			m.fail(msg.err)
			return m, nil
		}
		m.message = fmt.Sprintf("exported %d to %s", msg.n, msg.path)
		if m.quitOnWrite {
			return m, m.quit() // still waits while annotation writes are in flight
		}
		return m, nil
	}
	if m.promptKind != promptNone {
		var cmd tea.Cmd
		m.prompt, cmd = m.prompt.Update(msg)
		return m, cmd
	}
	return m, nil
}

// fail shows err in the status bar, except a cancellation: that is a query the user
// replaced, not a failure.
func (m *Model) fail(err error) {
	if errors.Is(err, context.Canceled) || strings.Contains(err.Error(), context.Canceled.Error()) {
		return
	}
	m.errText = err.Error()
}

// page adds a page of search results to the timeline.
func (m *Model) page(msg pageMsg) tea.Cmd {
	if msg.gen != m.gen {
		return nil
	}
	if msg.more {
		m.paging = false
	} else {
		m.busy, m.timeline.Loading = false, false
	}
	if msg.err != nil {
		m.fail(msg.err)
		return nil
	}
	items := m.timeline.Items
	base := m.cur.RawEnd // events before this page (the newer ones, loaded or skipped)
	if len(items) == 0 {
		base = m.cur.Newer
	}
	for i := range msg.res.Events {
		it := components.Item{Row: &msg.res.Events[i], Pos: base + i + 1}
		if msg.pos != nil {
			it.Pos = base + msg.pos[i]
		}
		items = append(items, it)
	}
	m.cur.RawEnd = base + msg.raw
	if msg.tail != nil {
		m.cur.tail = msg.tail
	}
	if !msg.more {
		m.timeline.Total = msg.res.Total
		m.status.Took = msg.res.Took
		m.cur.Loaded = true
	}
	m.timeline.SetItems(items)
	m.cur.Done = msg.raw == 0 || m.cur.RawEnd >= m.timeline.Total
	if msg.more {
		return nil
	}
	return m.followCursor()
}

// nextPage fetches the next page of the search view when the cursor nears the end.
func (m *Model) nextPage() tea.Cmd {
	if m.cur.Kind != ViewSearch || m.cur.Done || m.paging || m.busy || !m.timeline.NearEnd() {
		return nil
	}
	// the page query needs only the oldest loaded rows that share the oldest time, hidden
	// ones too (they were fetched)
	rows := m.cur.tail
	if len(rows) == 0 {
		return nil
	}
	m.paging = true
	return searchPage(m.root, m.r, m.gen, m.viewQuery(m.cur.Query, m.cur.Kind), rows, m.collapse)
}

// afterMove follows the cursor in the detail pane and pages ahead (and back, after a
// jump in time).
func (m *Model) afterMove() tea.Cmd {
	return tea.Batch(m.followCursor(), m.nextPage(), m.newerIfNear())
}

// scroll moves the focused list (or the detail text) by d; wheel moves the window.
func (m *Model) scroll(d int, wheel bool) {
	switch m.focus {
	case PaneFindings:
		if wheel {
			m.findings.Wheel(d)
		} else {
			m.findings.Move(d)
		}
	case PaneDetail:
		m.detail.Move(d)
	default:
		if wheel {
			m.timeline.Wheel(d)
		} else {
			m.timeline.Move(d)
		}
	}
}

func (m *Model) pageSize() int {
	switch m.focus {
	case PaneFindings:
		return m.findings.PageSize()
	case PaneDetail:
		return m.detail.PageSize()
	}
	return m.timeline.PageSize()
}

// key handles a key press: the prompt and the help screen take keys first.
func (m *Model) key(msg tea.KeyPressMsg) tea.Cmd {
	k := m.ctx.Keys
	if m.promptKind != promptNone {
		return m.promptKey(msg)
	}
	if m.showHelp {
		switch {
		case key.Matches(msg, k.Help, k.Back):
			m.showHelp = false
		case key.Matches(msg, k.Down):
			m.help.Scroll(1)
		case key.Matches(msg, k.Up):
			m.help.Scroll(-1)
		case key.Matches(msg, k.PageDown):
			m.help.Scroll(max(m.height-4, 1))
		case key.Matches(msg, k.PageUp):
			m.help.Scroll(-max(m.height-4, 1))
		case msg.String() == "ctrl+c":
			return m.quit()
		}
		return nil
	}
	if key.Matches(msg, k.Back) && ((m.message != "" && !m.navMessage) || m.errText != "") {
		// esc dismisses what the status bar says; only the next esc goes back, so that
		// dismissing messages never undoes filters
		m.message, m.errText = "", ""
		return nil
	}
	m.message, m.errText, m.navMessage = "", "", false // shown until the next key: the responder has seen it
	if m.fullDetail && key.Matches(msg, k.Back, k.FullScreen) {
		m.fullDetail = false
		return nil
	}
	switch {
	case key.Matches(msg, k.Quit):
		return m.quit()
	case key.Matches(msg, k.Help):
		m.showHelp = true
		m.help.Offset = 0
	case key.Matches(msg, k.Up):
		m.scroll(-1, false)
		return m.afterMove()
	case key.Matches(msg, k.Down):
		m.scroll(1, false)
		return m.afterMove()
	case key.Matches(msg, k.PageUp):
		m.scroll(-m.pageSize(), false)
		return m.afterMove()
	case key.Matches(msg, k.PageDown):
		m.scroll(m.pageSize(), false)
		return m.afterMove()
	case key.Matches(msg, k.Top):
		return m.top()
	case key.Matches(msg, k.Bottom):
		return m.bottom()
	case key.Matches(msg, k.Focus):
		m.focus = m.nextPane(1)
		return m.followCursor()
	case key.Matches(msg, k.FocusBack):
		m.focus = m.nextPane(-1)
		return m.followCursor()
	case key.Matches(msg, k.Open):
		return m.open()
	case key.Matches(msg, k.Search) && m.focus == PaneFindings:
		return m.openPrompt(promptFindings, withSpace(m.findQuery))
	case key.Matches(msg, k.Search):
		return m.openPrompt(promptSearch, withSpace(m.cur.Query))
	case key.Matches(msg, k.Forward):
		return m.forwardView()
	case key.Matches(msg, k.Jump):
		return m.openPrompt(promptJump, "")
	case key.Matches(msg, k.ZoomIn):
		return m.zoom(0.25)
	case key.Matches(msg, k.ZoomOut):
		return m.zoom(4)
	case key.Matches(msg, k.GroupRules):
		m.findings.Grouped = !m.findings.Grouped
		m.findings.Refresh()
		return m.followCursor()
	case key.Matches(msg, k.SortFindings):
		m.findings.ByTime = !m.findings.ByTime
		m.findings.Refresh()
		return m.followCursor()
	case key.Matches(msg, k.Stages):
		return m.toggleCollapse()
	case key.Matches(msg, k.HideSystem):
		return m.toggleSystem()
	case key.Matches(msg, k.CopyID):
		return m.copyID()
	case key.Matches(msg, k.CopyEvent):
		return m.copyEvent()
	case key.Matches(msg, k.SaveEvent):
		return m.saveEvent()
	case key.Matches(msg, k.Pager):
		return m.pager()
	case key.Matches(msg, k.PivotCredential):
		return m.pivotCredential()
	case key.Matches(msg, k.RuleSource):
		return m.ruleSource()
	case key.Matches(msg, k.Notes):
		return m.notes()
	case key.Matches(msg, k.FullScreen):
		if m.detailKey == "" {
			m.message = "nothing in the detail pane yet"
			return nil
		}
		m.fullDetail = true
		m.focus = PaneDetail
		return nil
	case key.Matches(msg, k.Wrap):
		m.detail.ToggleWrap()
		m.message = "detail: long lines wrapped"
		if m.detail.NoWrap {
			m.message = "detail: long lines cut (w wraps them)"
		}
		return nil
	case key.Matches(msg, k.Back):
		if m.focus == PaneDetail {
			m.focus = m.detailPane()
			return nil
		}
		if m.focus == PaneFindings && m.findQuery != "" {
			_ = m.setFindingFilter("") // esc clears the findings filter first, as in k9s
			m.message = "findings filter cleared"
			return m.followCursor()
		}
		return m.back()
	case key.Matches(msg, k.PivotUser):
		return m.pivot("user")
	case key.Matches(msg, k.PivotIP):
		return m.pivot("sourceIP")
	case key.Matches(msg, k.PivotNamespace):
		return m.pivot("namespace")
	case key.Matches(msg, k.PivotName):
		return m.pivot("name")
	case key.Matches(msg, k.PivotAgent):
		return m.pivot("userAgent")
	case key.Matches(msg, k.Identity):
		return m.identity()
	case key.Matches(msg, k.Secret):
		return m.secret()
	case key.Matches(msg, k.Etcd):
		return m.etcd()
	case key.Matches(msg, k.Context):
		return m.around()
	case key.Matches(msg, k.Bookmark):
		return m.toggleBookmark()
	case key.Matches(msg, k.Note):
		return m.startNote()
	case key.Matches(msg, k.ExportJSONL):
		return m.export("jsonl")
	case key.Matches(msg, k.ExportCSV):
		return m.export("csv")
	case key.Matches(msg, k.Fold, k.YAML):
		if !m.detail.IsEvent() {
			m.message = "z and y fold and switch JSON/YAML of an event: select an event"
			return nil
		}
		if key.Matches(msg, k.Fold) {
			m.detail.ToggleFold()
		} else {
			m.detail.ToggleYAML()
		}
	default:
		if t := msg.Text; t != "" {
			m.message = "no key " + t + " here: ? lists the keys of this view"
		}
	}
	return nil
}

// open is enter: on a finding it lists the finding's evidence in the timeline; on an
// event or secret it focuses the detail pane.
func (m *Model) open() tea.Cmd {
	if m.focus == PaneFindings {
		if f, ok := m.findings.Selected(); ok {
			cmd := m.evidence(f)
			return cmd
		}
		if m.findings.Toggle() {
			m.detailKey = "" // the group's count of shown rows changed
			return m.followCursor()
		}
		return nil
	}
	if m.focus == PaneTimeline {
		it, ok := m.timeline.Selected()
		if ok && it.Finding != nil {
			return m.evidence(*it.Finding)
		}
		if !ok || (it.Row == nil && it.Secret == nil) {
			m.message = "nothing to open: move to an event"
			return nil
		}
		cmd := m.followCursor()
		m.focus = PaneDetail
		return cmd
	}
	m.message = "the detail pane is open: ↑/↓ scroll, esc returns to the list"
	return nil
}

// nextPane is the pane d steps from the focused one in the screen's order.
func (m *Model) nextPane(d int) Pane {
	i := 0
	for j, p := range paneOrder {
		if p == m.focus {
			i = j
		}
	}
	return paneOrder[(i+d+len(paneOrder))%len(paneOrder)]
}

// withSpace is a prompt's prefill: the current text and a space, so that what is typed
// next is a new clause, not glued to the last value.
func withSpace(q string) string {
	if q = strings.TrimSpace(q); q == "" || q == "*" {
		return ""
	}
	return q + " "
}

// quit ends the program once pending annotation writes and a running export are done
// (quitting at once would leave the export file cut short).
func (m *Model) quit() tea.Cmd {
	if m.writesInFlight() > 0 || m.exporting {
		m.quitOnWrite = true
		m.message = "saving…"
		return nil
	}
	m.quitting = true
	if m.cancel != nil {
		m.cancel()
	}
	m.stop()
	return tea.Quit
}
