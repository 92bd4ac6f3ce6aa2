package tui

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	tea "charm.land/bubbletea/v2"

	"github.com/kubesleuth/kubesleuth/analyzer/redact"
)

// The search history is kept in the case (investigate's HistoryFile), so that the
// queries of last night's shift are there this morning: one JSON string a line, the
// newest last, at most maxHistory. It is written whole (temp file, rename) through the
// redactor: a token pasted into a query is not kept. A history that does not read is
// ignored (the searches still run), never an error: it is a convenience, not evidence.
const maxHistory = 200

// loadHistory reads the history file ("" or a missing file: none).
func loadHistory(path string) []string {
	if path == "" {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var q string
		if json.Unmarshal(sc.Bytes(), &q) == nil && q != "" {
			out = append(out, q)
		}
	}
	if len(out) > maxHistory {
		out = out[len(out)-maxHistory:]
	}
	return out
}

// historyMsg reports a failed save (shown, not fatal).
type historyMsg struct{ err error }

// saveHistory writes history to path off the update loop.
func saveHistory(path string, history []string) tea.Cmd {
	if path == "" {
		return nil
	}
	h := append([]string(nil), history...)
	return func() tea.Msg {
		if err := writeHistory(path, h); err != nil {
			return historyMsg{err: err}
		}
		return nil
	}
}

func writeHistory(path string, h []string) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600) // redact: written through redact.NewWriter below
	if err != nil {
		return fmt.Errorf("search history: %w", err)
	}
	w := redact.NewWriter(f)
	for _, q := range h {
		b, _ := json.Marshal(q)
		if _, err = w.Write(append(b, '\n')); err != nil {
			break
		}
	}
	if e := w.Close(); err == nil {
		err = e
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Clean(path))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("search history: %w", err)
	}
	return nil
}
