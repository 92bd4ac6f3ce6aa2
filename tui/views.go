package tui

import (
	"context"
	"fmt"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/index"
	"github.com/kubesleuth/kubesleuth/tui/common"
	"github.com/kubesleuth/kubesleuth/tui/components"
)

// startView cancels whatever the previous view was still fetching and starts loading the
// current frame under a new generation.
func (m *Model) startView() tea.Cmd {
	if m.cancel != nil {
		m.cancel()
	}
	m.gen++
	ctx, cancel := context.WithCancel(m.root)
	m.cancel = cancel
	m.paging = false
	m.busy = true
	m.errText = ""
	f := &m.cur
	m.timeline.Title, m.timeline.Items, m.timeline.Total, m.timeline.Anchor = f.Title, nil, 0, f.Anchor
	m.timeline.Scroll = components.Scroll{}
	m.timeline.Skipped = 0
	m.timeline.Loading = true
	m.setTimelineKind()
	m.timeline.Empty = emptyText(f.Query)
	m.refreshFindings()
	var load tea.Cmd
	switch f.Kind {
	case ViewSearch:
		q := m.viewQuery(f.Query, f.Kind)
		switch {
		case f.JumpLast:
			load = oldestPage(ctx, m.r, m.gen, q, m.collapse)
		case !f.JumpTo.IsZero():
			load = jumpPage(ctx, m.r, m.gen, q, f.JumpTo, m.collapse)
		default:
			load = searchPage(ctx, m.r, m.gen, q, nil, m.collapse)
		}
	case ViewIdentity:
		load = identityView(ctx, m.r, m.gen, f.Subject, m.viewQuery(f.Query, f.Kind), m.collapse, m.ctx)
	case ViewSecret:
		load = secretView(ctx, m.r, m.gen, f.Namespace, f.Name, m.viewQuery("", f.Kind), m.collapse)
	case ViewEtcd:
		m.timeline.Empty = "no secrets at rest in this case (ingest --etcd-snapshot adds them)"
		load = etcdView(m.r, m.gen)
	case ViewContext:
		load = contextView(ctx, m.r, m.gen, f.Anchor, m.viewQuery("", f.Kind), m.collapse)
	case ViewEvidence:
		load = evidenceView(m.r, m.gen, *f.Finding, m.collapse)
	case ViewNotes:
		m.timeline.Empty = "no bookmarks or notes yet: b bookmarks the selection, m notes it"
		load = notesView(m.r, m.gen, m.findings.All)
	case ViewCredential:
		load = credentialView(ctx, m.r, m.gen, f.Subject, f.Name, m.viewQuery("", f.Kind), m.collapse)
	}
	return tea.Batch(load, m.histCmd())
}

// setTimelineKind sets the timeline's columns for the current frame's kind.
func (m *Model) setTimelineKind() {
	m.timeline.IPColumn = m.cur.Kind == ViewSecret
	m.timeline.NoteColumn = m.cur.Kind == ViewNotes
}

// emptyText is what an empty timeline says: for a bare word, why it may have found nothing.
func emptyText(q string) string {
	if cs, err := index.ParseClauses(q); err == nil && !unfilteredQuery(q) {
		for _, c := range cs {
			if c.Field == "" && !c.Not && !strings.ContainsAny(c.Value, "*?") {
				return fmt.Sprintf("no events match: a bare word is exact (user, namespace, name, resource): try %s*", c.Value)
			}
		}
	}
	return "no events match"
}

// histOfRows says the frame's histogram counts its own rows: the secret view joins
// several queries (the requests naming the secret and the lists that reveal it) and the
// evidence view is a list of IDs, so no one query counts what they show.
func (f *Frame) histOfRows() bool {
	return f.Kind == ViewSecret || f.Kind == ViewEvidence || f.Kind == ViewNotes || f.Kind == ViewCredential
}

// histQuery is the query whose histogram the frame shows: its filter, or every event for
// views that are not a filter (etcd, context).
func (f *Frame) histQuery() string {
	switch f.Kind {
	case ViewSearch, ViewIdentity, ViewSecret:
		return f.Query
	}
	return ""
}

// histRange is the range the histogram covers: the case's span, narrowed by the time
// clauses of the frame's query (a zoom, a jump made a filter).
func (m *Model) histRange() (from, to time.Time, ok bool) {
	if m.info == nil || m.info.First == nil || m.info.Last == nil {
		return from, to, false
	}
	from, to = *m.info.First, m.info.Last.Add(1)
	if a, b, timed, err := index.TimeRange(m.cur.histQuery()); err == nil && timed {
		if !a.IsZero() && a.After(from) {
			from = a
		}
		if !b.IsZero() && b.Before(to) {
			to = b
		}
		if !from.Before(to) {
			to = from.Add(time.Second)
		}
	}
	return from, to, true
}

// histCmd starts the histogram of the current frame unless it is known (same query,
// width and case span). It needs the case's span (Info) and the screen width.
func (m *Model) histCmd() tea.Cmd {
	from, to, ok := m.histRange()
	if !ok {
		return nil
	}
	cols := components.Columns(m.width)
	if m.cur.histOfRows() {
		key := fmt.Sprintf("rows\x00%s\x00%d\x00%s\x00%d", m.cur.Title, cols, m.info.Last, len(m.timeline.Items))
		m.histWant = key
		if m.cur.Loaded && m.cur.histKey != key {
			m.applyHist(rowsHistogram(m.timeline.Items, key, from, to, cols))
		}
		return nil // counted when the rows arrive (viewMsg)
	}
	q := m.viewQuery(m.cur.histQuery(), m.cur.Kind)
	key := fmt.Sprintf("%s\x00%d\x00%s", q, cols, m.info.Last)
	m.histWant = key
	if m.cur.histKey == key {
		return nil
	}
	if h, ok := m.histCache[key]; ok {
		m.applyHist(h)
		return nil
	}
	return histogram(m.root, m.r, m.gen, key, q, from, to, cols)
}

func (m *Model) applyHist(h histMsg) {
	counts := make([]int, len(h.buckets))
	for i, b := range h.buckets {
		counts[i] = b.Count
	}
	m.cur.Hist, m.cur.HistFrom, m.cur.HistIv, m.cur.histKey = counts, h.from, h.interval, h.key
	m.showHist()
}

// showHist puts the current frame's histogram and the findings' first-seen counts over
// the same buckets into the histogram component.
func (m *Model) showHist() {
	m.hist.Events, m.hist.From, m.hist.Interval = m.cur.Hist, m.cur.HistFrom, m.cur.HistIv
	m.hist.Start, m.hist.End, _ = m.histRange()
	// counted (possibly nothing), or nothing to count: an empty case has no span
	m.hist.Counted = m.cur.histKey != "" || (m.info != nil && (m.info.First == nil || m.info.Last == nil))
	m.hist.Findings = nil
	if m.cur.HistIv <= 0 {
		return
	}
	fc := make([]int, len(m.cur.Hist))
	for _, f := range m.findings.Items { // the findings the pane shows: filtered as it is
		if i := int(f.FirstSeen.Sub(m.cur.HistFrom) / m.cur.HistIv); i >= 0 && i < len(fc) {
			fc[i]++
		}
	}
	m.hist.Findings = fc
}

// push saves the current frame (rows, cursor) on the back stack and starts next.
func (m *Model) push(next Frame) tea.Cmd {
	m.saveFrame()
	m.stack = append(m.stack, m.cur)
	m.forward = nil
	m.cur = next
	m.focus = PaneTimeline
	m.fullDetail = false
	return m.startView()
}

func (m *Model) saveFrame() {
	m.cur.Items, m.cur.Total, m.cur.Scroll = m.timeline.Items, m.timeline.Total, m.timeline.Scroll
	m.cur.Focus = m.focus
	if m.focus == PaneDetail {
		m.cur.Focus = m.detailPane() // the list whose selection the detail showed
	}
}

// back restores the previous frame with its rows and cursor; nothing is queried again
// except a histogram for a new width.
func (m *Model) back() tea.Cmd {
	if len(m.stack) == 0 {
		m.message = "nothing to go back to: this is the first view"
		return nil
	}
	m.saveFrame()
	m.forward = append(m.forward, m.cur)
	m.cur = m.stack[len(m.stack)-1]
	m.stack = m.stack[:len(m.stack)-1]
	return m.restore("back: ")
}

// forwardView returns to the frame left by the last back.
func (m *Model) forwardView() tea.Cmd {
	if len(m.forward) == 0 {
		m.message = "nothing to go forward to"
		return nil
	}
	m.saveFrame()
	m.stack = append(m.stack, m.cur)
	m.cur = m.forward[len(m.forward)-1]
	m.forward = m.forward[:len(m.forward)-1]
	return m.restore("forward: ")
}

// restore shows m.cur again with its rows and cursor.
func (m *Model) restore(what string) tea.Cmd {
	m.focus = m.cur.Focus
	m.fullDetail = false
	m.errText = "" // an error belonged to the view just left
	m.message = what + m.cur.Title
	m.navMessage = true // esc goes on going back over it
	if !m.cur.Loaded {
		// left before its first results arrived: there are no rows to restore
		m.cur.Items, m.cur.Total, m.cur.Scroll, m.cur.Done = nil, 0, components.Scroll{}, false
		return m.startView()
	}
	if m.cancel != nil {
		m.cancel()
	}
	m.gen++ // drop the abandoned view's late results
	m.busy, m.paging = false, false
	m.timeline.Title, m.timeline.Items, m.timeline.Total = m.cur.Title, m.cur.Items, m.cur.Total
	m.timeline.Scroll, m.timeline.Anchor, m.timeline.Loading = m.cur.Scroll, m.cur.Anchor, false
	m.timeline.Skipped = m.cur.Newer
	m.timeline.Empty = emptyText(m.cur.Query)
	m.setTimelineKind()
	m.refreshFindings()
	return tea.Batch(m.histCmd(), m.followCursor())
}

// search starts a search view for text (a new query from the prompt).
func (m *Model) search(text string) tea.Cmd {
	return m.push(Frame{Kind: ViewSearch, Query: text, Title: searchTitle(text)})
}

// target is what pivots and annotations act on: the selection of the focused pane (the
// detail pane acts on what it shows).
type target struct {
	row     *index.Row
	finding *analyzer.Finding
	secret  *index.SecretAtRest
	group   *components.FindingGroup
}

func (m *Model) selection() target {
	pane := m.focus
	if pane == PaneDetail {
		pane = m.detailPane()
	}
	if pane == PaneFindings {
		if f, ok := m.findings.Selected(); ok {
			return target{finding: &f}
		}
		if g, ok := m.findings.SelectedGroup(); ok {
			return target{group: g}
		}
		return target{}
	}
	it, _ := m.timeline.Selected()
	return target{row: it.Row, secret: it.Secret, finding: it.Finding}
}

// detailPane is the pane whose selection the detail shows.
func (m *Model) detailPane() Pane { return m.detailFrom }

// pivot filters the timeline on one field of the selection.
func (m *Model) pivot(field string) tea.Cmd {
	t := m.selection()
	var v string
	switch {
	case t.row != nil:
		v = map[string]string{"user": t.row.User, "sourceIP": t.row.SourceIP, "namespace": t.row.Namespace,
			"name": t.row.Name, "userAgent": t.row.UserAgent}[field]
	case t.finding != nil:
		s := t.finding.Subject
		v = map[string]string{"user": subjectUser(s), "sourceIP": s.SourceIP, "namespace": s.Namespace,
			"name": s.Name, "userAgent": s.UserAgent}[field]
	case t.group != nil:
		m.message = "a rule's group: enter lists its subjects, move to one to filter on it"
		return nil
	case t.secret != nil:
		v = map[string]string{"namespace": t.secret.Namespace, "name": t.secret.Name}[field]
	default:
		m.message = "nothing selected"
		return nil
	}
	if v == "" {
		m.message = "the selection has no " + field
		return nil
	}
	return m.search(clause(field, v))
}

// subjectUser is the user who sent the requests of a finding (not the one it
// impersonated: Subject.Impersonated).
func subjectUser(s analyzer.Subject) string { return s.User }

// identity opens the identity timeline of the selection's user.
func (m *Model) identity() tea.Cmd {
	t := m.selection()
	var user string
	switch {
	case t.row != nil:
		user = t.row.User
	case t.finding != nil:
		user = subjectUser(t.finding.Subject)
	}
	if user == "" {
		m.message = "the selection names no identity"
		return nil
	}
	return m.push(Frame{Kind: ViewIdentity, Subject: user, Query: clause("user", user),
		Title: fmt.Sprintf("Identity %s: everything it did, in bursts (idle gap %s)", user, IdleGap)})
}

// secret opens the secret view of the selected secret (an event on resource secrets, a
// finding about one, or a secret at rest).
func (m *Model) secret() tea.Cmd {
	t := m.selection()
	var ns, name string
	switch {
	case t.row != nil && t.row.Resource == "secrets":
		ns, name = t.row.Namespace, t.row.Name
	case t.finding != nil && t.finding.Subject.Resource == "secrets":
		ns, name = t.finding.Subject.Namespace, t.finding.Subject.Name
	case t.finding != nil && strings.HasPrefix(t.finding.Subject.Key, "/registry/secrets/"):
		// an etcd finding names the key: /registry/secrets/NS/NAME
		if p := strings.Split(strings.TrimPrefix(t.finding.Subject.Key, "/registry/secrets/"), "/"); len(p) == 2 {
			ns, name = p[0], p[1]
		}
	case t.secret != nil:
		ns, name = t.secret.Namespace, t.secret.Name
	}
	if name == "" {
		m.message = "the selection is not one secret (S works on events on resource secrets)"
		return nil
	}
	q := "resource:secrets " + clause("name", name)
	if ns != "" {
		q += " " + clause("namespace", ns)
	}
	return m.push(Frame{Kind: ViewSecret, Namespace: ns, Name: name, Query: q,
		Title: fmt.Sprintf("Secret %s/%s: who read, listed or changed it, from where", ns, name)})
}

func (m *Model) etcd() tea.Cmd {
	return m.push(Frame{Kind: ViewEtcd, Title: "etcd: secrets at rest by state"})
}

func (m *Model) around() tea.Cmd {
	t := m.selection()
	if t.row == nil {
		m.message = "select an event for its context"
		return nil
	}
	return m.push(Frame{Kind: ViewContext, Anchor: t.row.ID,
		Title: fmt.Sprintf("Context: %d events before and after %s", ContextEvents, m.ctx.Time(t.row.Time))})
}

// evidence lists the events a finding cites. The frame has no query: the rows are the
// finding's, and the status bar says so ("evidence of KS-…") rather than show a query
// that would not find them.
func (m *Model) evidence(f analyzer.Finding) tea.Cmd {
	return m.push(Frame{Kind: ViewEvidence, Finding: &f,
		Title: fmt.Sprintf("Evidence of %s %s", f.RuleID, common.Subject(f.Subject))})
}

// followCursor shows the focused list's selection in the detail pane (fetching an event
// off the loop); it does nothing when the detail already shows it.
func (m *Model) followCursor() tea.Cmd {
	pane := m.focus
	if pane == PaneDetail {
		return nil
	}
	m.detailFrom = pane
	if pane == PaneFindings {
		f, ok := m.findings.Selected()
		if g, isGroup := m.findings.SelectedGroup(); isGroup {
			key := "g:" + g.RuleID + fmt.Sprint(len(g.Index))
			if key != m.detailKey {
				m.detailKey = key
				m.detailGen++
				m.detail.SetText(g.RuleID+" "+common.Clean(g.Title), groupLines(g, m.findings.Items, m.ctx))
			}
			return nil
		}
		if !ok {
			m.showNothing("no finding selected")
			return nil
		}
		key := "f:" + FindingID(f)
		if key == m.detailKey {
			return nil
		}
		m.detailKey = key
		m.detailGen++
		note := m.annotations[index.Target{Kind: "finding", ID: FindingID(f)}].Note
		return findingDetail(m.r, m.detailGen, f, m.ctx, note)
	}
	it, ok := m.timeline.Selected()
	switch {
	case !ok:
		if !m.timeline.Loading {
			m.showNothing("no event selected")
		}
		return nil
	case it.Finding != nil:
		key := "f:" + FindingID(*it.Finding)
		if key == m.detailKey {
			return nil
		}
		m.detailKey = key
		m.detailGen++
		note := m.annotations[index.Target{Kind: "finding", ID: FindingID(*it.Finding)}].Note
		return findingDetail(m.r, m.detailGen, *it.Finding, m.ctx, note)
	case it.Row == nil && it.Secret == nil:
		m.showNothing("a group header: move to an event or secret below it")
		return nil
	case it.Row != nil:
		key := "e:" + string(it.Row.ID)
		if key == m.detailKey {
			return nil
		}
		m.detailKey = key
		m.detailGen++
		return eventDetail(m.r, m.detailGen, *it.Row)
	case it.Secret != nil:
		if m.detailKey == "s:"+it.Secret.Key {
			return nil
		}
		m.detailKey = "s:" + it.Secret.Key
		m.detailGen++ // an event still being fetched must not replace the secret
		m.detail.SetText("secret at rest "+common.Clean(it.Secret.Key), secretLines(it.Secret, m.ctx))
	}
	return nil
}

// showNothing empties the detail pane, so it never shows a selection that is gone (the
// previous view's event under an empty result or a header); a late fetch is dropped.
func (m *Model) showNothing(why string) {
	if m.detailKey == "-:"+why {
		return
	}
	m.detailKey = "-:" + why
	m.detailGen++
	m.detail.SetText("", []string{m.ctx.Styles.Dim.Render(why)})
}

// secretLines renders a secret-at-rest record (no value: the record holds none).
func secretLines(s *index.SecretAtRest, c *common.Context) []string {
	k := func(n string) string { return c.Styles.Key.Render(fmt.Sprintf("%-24s", n)) }
	lines := []string{
		k("key") + common.Clean(s.Key),
		k("type") + common.Clean(s.Type),
		k("state") + common.Clean(s.State),
		k("provider / key") + common.Clean(s.Provider+" "+s.KeyName),
		k("revision") + fmt.Sprint(s.Revision),
		k("old revisions") + fmt.Sprintf("%d (%d plaintext)", s.OldRevisions, s.OldPlaintextRevisions),
	}
	for _, kv := range [][2]string{{"kms key id", s.KMSKeyID}, {"key status", s.KeyStatus}, {"decryption", s.Decryption},
		{"fingerprint", s.Fingerprint}, {"error", s.Error}} {
		if kv[1] != "" {
			lines = append(lines, k(kv[0])+common.Clean(kv[1]))
		}
	}
	if s.CurrentValueExposed {
		lines = append(lines, c.Styles.Error.Render("the current value is readable by anyone holding the etcd data"))
	}
	lines = append(lines, "", c.Styles.Dim.Render("S: who read, listed or changed this secret (audit log)"))
	return lines
}
