package tui

import (
	"errors"
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/kubesleuth/kubesleuth/index"
	"github.com/kubesleuth/kubesleuth/tui/common"
)

// openPrompt opens the one-line input for a search (prefilled with the current query) or
// a note.
func (m *Model) openPrompt(kind promptKind, value string) tea.Cmd {
	m.promptKind = kind
	m.prompt.Prompt = "/"
	m.prompt.Placeholder = "user:alice verb:delete resource:secrets -verb:get name:db-* code:>=400"
	if kind == promptNote {
		m.prompt.Prompt = "note: "
		m.prompt.Placeholder = "what this is (empty removes the note)"
	}
	switch kind {
	case promptFindings:
		m.prompt.Prompt = "findings/ "
		m.prompt.Placeholder = "sev:critical  sev:>=high  rule:KS-ETCD-*  -source:etcd  user:alice*  (bare words: rule, title, subject)"
	case promptJump:
		m.prompt.Prompt = "jump to " + m.ctx.Zone() + ": "
		m.prompt.Placeholder = "2026-03-02T08:15  08:15  -10m  (a time of day is on the selection's day)"
	}
	m.prompt.SetValue(value)
	m.prompt.CursorEnd()
	m.prompt.SetWidth(max(m.width-len(m.prompt.Prompt)-2, 10))
	m.histPos = len(m.history)
	return m.prompt.Focus()
}

// promptKey handles keys while the prompt is open: enter runs, esc cancels, up/down walk
// the search history; everything else edits.
func (m *Model) promptKey(msg tea.KeyPressMsg) tea.Cmd {
	k := m.ctx.Keys
	switch {
	case key.Matches(msg, k.Accept):
		v := m.prompt.Value()
		kind := m.promptKind
		switch kind {
		case promptSearch:
			// a typo is reported at once, with the prompt still open to fix it (parsing
			// is pure: no case access on the update loop)
			if q := strings.TrimSpace(v); q != "" && q != "*" {
				if _, err := index.ParseClauses(q); err != nil {
					m.errText = queryError(err)
					return nil
				}
			}
		case promptFindings:
			if err := m.setFindingFilter(v); err != nil {
				m.errText = err.Error()
				return nil
			}
			m.errText = ""
			m.closePrompt()
			if m.findQuery != "" {
				m.message = fmt.Sprintf("findings: %d of %d match %s (esc clears)", len(m.findings.Items), len(m.findings.All), m.findQuery)
			}
			m.detailKey = ""
			return m.followCursor()
		case promptJump:
			at, err := m.parseJump(v)
			if err != nil {
				m.errText = err.Error()
				return nil
			}
			m.errText = ""
			m.closePrompt()
			return m.jumpTo(at)
		}
		m.errText = ""
		m.closePrompt()
		if kind == promptNote {
			return m.saveNote(v)
		}
		v = strings.TrimSpace(v)
		if v != "" && (len(m.history) == 0 || m.history[len(m.history)-1] != v) {
			m.history = append(m.history, v)
			if len(m.history) > maxHistory {
				m.history = m.history[len(m.history)-maxHistory:]
			}
			return tea.Batch(m.search(v), saveHistory(m.opts.HistoryFile, m.history))
		}
		return m.search(v)
	case key.Matches(msg, k.Cancel):
		m.closePrompt()
		m.errText = ""
		return nil
	case m.promptKind == promptSearch && key.Matches(msg, k.HistoryPrev):
		if m.histPos > 0 {
			m.histPos--
			m.prompt.SetValue(m.history[m.histPos])
			m.prompt.CursorEnd()
		}
		return nil
	case m.promptKind == promptSearch && key.Matches(msg, k.HistoryNext):
		if m.histPos < len(m.history)-1 {
			m.histPos++
			m.prompt.SetValue(m.history[m.histPos])
		} else {
			m.histPos = len(m.history)
			m.prompt.SetValue("")
		}
		m.prompt.CursorEnd()
		return nil
	}
	var cmd tea.Cmd
	m.prompt, cmd = m.prompt.Update(msg)
	return cmd
}

func (m *Model) closePrompt() {
	m.promptKind = promptNone
	m.prompt.Blur()
}

// queryError words a query's syntax error for the one line under the prompt: an
// unknown field says the nearest field, not the whole list (? has it).
func queryError(err error) string {
	var uf *index.UnknownFieldError
	if errors.As(err, &uf) {
		if uf.Suggest != "" {
			return fmt.Sprintf("unknown field %q: did you mean %s? (fields: %s)", uf.Field, uf.Suggest, strings.Join(append(append([]string(nil), index.Fields...), "time"), " "))
		}
		return fmt.Sprintf("unknown field %q (fields: %s)", uf.Field, strings.Join(append(append([]string(nil), index.Fields...), "time"), " "))
	}
	return err.Error()
}

// History returns the search history, oldest first.
func (m *Model) History() []string { return m.history }

// annotationTarget is the case target of the selection: an event or a finding.
func (m *Model) annotationTarget() (index.Target, bool) {
	t := m.selection()
	switch {
	case t.row != nil:
		return index.Target{Kind: "event", ID: string(t.row.ID)}, true
	case t.finding != nil:
		return index.Target{Kind: "finding", ID: FindingID(*t.finding)}, true
	}
	m.message = "bookmarks and notes go on events and findings"
	return index.Target{}, false
}

// toggleBookmark bookmarks the selection, or removes its bookmark (keeping its note).
func (m *Model) toggleBookmark() tea.Cmd {
	t, ok := m.annotationTarget()
	if !ok {
		return nil
	}
	a := m.annotations[t]
	a.Target, a.Bookmarked, a.Updated = t, !a.Bookmarked, m.opts.Now().UTC()
	m.annotations[t] = a // shown at once; annotatedMsg confirms or reports the failure
	m.refreshMarks()
	if a.Bookmarked {
		m.message = "bookmarked " + t.Kind
	} else {
		m.message = "bookmark removed"
	}
	return m.write(a)
}

func (m *Model) startNote() tea.Cmd {
	t, ok := m.annotationTarget()
	if !ok {
		return nil
	}
	m.noteTarget = t
	return m.openPrompt(promptNote, m.annotations[t].Note)
}

func (m *Model) saveNote(note string) tea.Cmd {
	t := m.noteTarget
	a := m.annotations[t]
	a.Target, a.Note, a.Updated = t, strings.TrimSpace(note), m.opts.Now().UTC()
	m.annotations[t] = a
	m.message = "note saved"
	if a.Note == "" {
		m.message = "note removed"
	}
	m.refreshMarks()
	return tea.Batch(m.write(a), m.refreshFinding(t))
}

// write saves a in the case after the writes before it (see Model.writing).
func (m *Model) write(a index.Annotation) tea.Cmd {
	if m.writing != nil {
		m.pending = append(m.pending, a)
		return nil
	}
	m.writing = &a
	return annotate(m.r, a)
}

// writesInFlight is how many annotation writes are not in the case yet.
func (m *Model) writesInFlight() int {
	n := len(m.pending)
	if m.writing != nil {
		n++
	}
	return n
}

// written handles the end of one annotation write and starts the next. The model's map
// already holds what the user asked for (shown at once); a failure reloads the case's
// annotations so that the screen does not claim what was not saved.
func (m *Model) written(msg annotatedMsg) tea.Cmd {
	m.writing = nil
	var next tea.Cmd
	if len(m.pending) > 0 {
		a := m.pending[0]
		m.pending = m.pending[1:]
		m.writing = &a
		next = annotate(m.r, a)
	}
	if msg.err != nil {
		m.quitOnWrite = false // stay: the responder must see that it was not saved
		m.errText = "not saved (" + msg.a.Target.Kind + "): " + msg.err.Error()
		return tea.Batch(next, loadAnnotations(m.r))
	}
	if next == nil && m.quitOnWrite {
		return m.quit()
	}
	return next
}

func annotate(r index.Reader, a index.Annotation) tea.Cmd {
	return func() tea.Msg {
		if err := r.Annotate(a); err != nil {
			return annotatedMsg{a: a, err: err}
		}
		return annotatedMsg{a: a}
	}
}

// refreshMarks shows the bookmark and note of the event in the detail pane (a finding's
// detail renders its note itself).
func (m *Model) refreshMarks() {
	if !strings.HasPrefix(m.detailKey, "e:") || !m.detail.IsEvent() {
		return
	}
	m.detail.SetMarks(m.annotationLines(index.Target{Kind: "event", ID: strings.TrimPrefix(m.detailKey, "e:")}))
}

// annotationLines is the bookmark and note of t as detail lines (nil when it has none).
func (m *Model) annotationLines(t index.Target) []string {
	a, ok := m.annotations[t]
	if !ok || (!a.Bookmarked && a.Note == "") {
		return nil
	}
	st := m.ctx.Styles
	var lines []string
	if a.Bookmarked {
		lines = append(lines, st.Mark.Render("★ bookmarked"))
	}
	if a.Note != "" {
		lines = append(lines, st.Mark.Render("✎ note: ")+common.Clean(a.Note))
	}
	return append(lines, "")
}

// refreshFinding renders the finding's detail again when it shows t (its note changed),
// whichever pane has the focus.
func (m *Model) refreshFinding(t index.Target) tea.Cmd {
	f, ok := m.findings.Selected()
	if t.Kind != "finding" || !ok || FindingID(f) != t.ID || m.detailKey != "f:"+t.ID {
		return nil
	}
	m.detailGen++
	return findingDetail(m.r, m.detailGen, f, m.ctx, m.annotations[t].Note)
}
