package tui

import (
	"errors"
	"fmt"
	"sort"

	tea "charm.land/bubbletea/v2"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/index"
	"github.com/kubesleuth/kubesleuth/tui/components"
)

// notesView lists every bookmark and note of the case, findings first (most severe
// first), then events oldest first, each with its note: what the responder marked, in one
// place, to come back to and to export. A bookmark on something the case no longer holds
// (an event of another case copied in) is listed as a header saying so, not dropped.
func notesView(r index.Reader, gen int, findings []analyzer.Finding) tea.Cmd {
	return func() tea.Msg {
		as, err := r.Annotations()
		if err != nil {
			return viewMsg{gen: gen, err: fmt.Errorf("bookmarks and notes: %w", err)}
		}
		byID := map[string]*analyzer.Finding{}
		for i := range findings {
			byID[FindingID(findings[i])] = &findings[i]
		}
		var fs, evs, missing []components.Item
		for _, a := range as {
			switch a.Target.Kind {
			case "finding":
				if f := byID[a.Target.ID]; f != nil {
					fs = append(fs, components.Item{Finding: f, Note: a.Note})
					continue
				}
			case "event":
				row, err := r.Row(index.EventID(a.Target.ID))
				if err == nil {
					evs = append(evs, components.Item{Row: &row, Note: a.Note})
					continue
				}
				if !errors.Is(err, index.ErrNotFound) {
					return viewMsg{gen: gen, err: fmt.Errorf("bookmarked event: %w", err)}
				}
			}
			missing = append(missing, components.Item{Header: fmt.Sprintf("── a %s this case does not hold is annotated: %q %s", a.Target.Kind, a.Target.ID, a.Note)})
		}
		sort.SliceStable(fs, func(i, j int) bool { return fs[i].Finding.Severity > fs[j].Finding.Severity })
		sort.SliceStable(evs, func(i, j int) bool { return evs[i].Row.Time.Before(evs[j].Row.Time) })
		var items []components.Item
		if len(fs) > 0 {
			items = append(items, components.Item{Header: fmt.Sprintf("── findings: %d", len(fs))})
			items = append(items, fs...)
		}
		if len(evs) > 0 {
			items = append(items, components.Item{Header: fmt.Sprintf("── events: %d, oldest first", len(evs))})
			items = append(items, evs...)
		}
		items = append(items, missing...)
		return viewMsg{gen: gen, items: items, total: len(fs) + len(evs)}
	}
}

func (m *Model) notes() tea.Cmd {
	return m.push(Frame{Kind: ViewNotes, Title: "Bookmarks and notes (enter: the event or finding; x/X export them)"})
}

// annotationOf is the bookmark and note of an event or finding, for exports.
func annotationOf(as map[index.Target]index.Annotation, kind, id string) (bool, string) {
	a := as[index.Target{Kind: kind, ID: id}]
	return a.Bookmarked, a.Note
}

// copyAnnotations is a snapshot of the model's annotations for a command goroutine.
func (m *Model) copyAnnotations() map[index.Target]index.Annotation {
	out := make(map[index.Target]index.Annotation, len(m.annotations))
	for k, v := range m.annotations {
		out[k] = v
	}
	return out
}
