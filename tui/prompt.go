package tui

import (
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/kubesleuth/kubesleuth/index"
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
		m.closePrompt()
		if kind == promptNote {
			return m.saveNote(v)
		}
		v = strings.TrimSpace(v)
		if v != "" && (len(m.history) == 0 || m.history[len(m.history)-1] != v) {
			m.history = append(m.history, v)
		}
		return m.search(v)
	case key.Matches(msg, k.Cancel):
		m.closePrompt()
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
	if a.Bookmarked {
		m.message = "bookmarked " + t.Kind
	} else {
		m.message = "bookmark removed"
	}
	m.writes++
	return annotate(m.r, a)
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
	if t.Kind == "finding" {
		m.detailKey = "" // the finding's detail shows its note
	}
	m.writes++
	return tea.Batch(annotate(m.r, a), m.followCursor())
}

func annotate(r index.Reader, a index.Annotation) tea.Cmd {
	return func() tea.Msg {
		if err := r.Annotate(a); err != nil {
			return annotatedMsg{a: a, err: err}
		}
		return annotatedMsg{a: a}
	}
}
