package tui

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/analyzer/redact"
	"github.com/kubesleuth/kubesleuth/index"
	"github.com/kubesleuth/kubesleuth/internal/csvsafe"
)

// exportAllLimit bounds an export of a search view (pages are fetched until then).
const exportAllLimit = 1_000_000

// export writes the current view to a new file (0600) in the export folder: the findings
// when the findings list has focus, else the timeline's rows (every match of a search,
// fetched page by page off the loop) or secrets at rest.
func (m *Model) export(format string) tea.Cmd {
	dir := m.opts.ExportDir
	if dir == "" {
		dir = "."
	}
	what := m.cur.Kind.String()
	if m.focus == PaneFindings {
		what = "findings"
	}
	if m.exporting {
		m.message = "an export is running"
		return nil
	}
	// the name is built from fixed words and the time only, never from the data, so the
	// file lands in dir whatever the query or the selection hold
	name := fmt.Sprintf("kubesleuth-%s-%s", what, m.opts.Now().UTC().Format("20060102T150405Z"))
	path := filepath.Join(dir, name)
	m.exporting = true
	notes := m.copyAnnotations() // each row carries its bookmark and note
	if m.focus == PaneFindings {
		items := m.findings.Items
		m.message = "exporting findings…"
		return func() tea.Msg { return writeExport(path, format, nil, items, nil, notes) }
	}
	if m.cur.Kind == ViewNotes {
		var rows []index.Row
		var fs []analyzer.Finding
		for _, it := range m.timeline.Items {
			switch {
			case it.Row != nil:
				rows = append(rows, *it.Row)
			case it.Finding != nil:
				fs = append(fs, *it.Finding)
			}
		}
		m.message = "exporting bookmarks and notes…"
		return func() tea.Msg { return writeNotesExport(path, format, rows, fs, notes) }
	}
	var rows []index.Row
	var secrets []index.SecretAtRest
	for _, it := range m.timeline.Items {
		switch {
		case it.Row != nil:
			rows = append(rows, *it.Row)
		case it.Secret != nil:
			secrets = append(secrets, *it.Secret)
		}
	}
	m.message = "exporting…"
	if m.cur.Kind == ViewSearch && (!m.cur.Done || m.cur.Newer > 0) {
		// every match: from the newest (after a jump, the window is only a part)
		r, q, ctx := m.r, m.viewQuery(m.cur.Query, m.cur.Kind), m.root
		if m.cur.Newer > 0 {
			rows = nil
		}
		return func() tea.Msg {
			all, err := allRows(ctx, r, q, rows)
			if err != nil {
				return exportedMsg{err: err}
			}
			return writeExport(path, format, all, nil, nil, notes)
		}
	}
	if secrets != nil {
		return func() tea.Msg { return writeExport(path, format, nil, nil, secrets, notes) }
	}
	return func() tea.Msg { return writeExport(path, format, rows, nil, nil, notes) }
}

// allRows continues loaded (the newest rows of q) to every match, by the timeline's
// keyset paging.
func allRows(ctx context.Context, r index.Reader, q string, loaded []index.Row) ([]index.Row, error) {
	rows := append([]index.Row(nil), loaded...)
	if len(rows) == 0 {
		msg := searchPage(ctx, r, 0, q, nil, false)().(pageMsg)
		if msg.err != nil {
			return nil, msg.err
		}
		rows = append(rows, msg.res.Events...)
		if len(rows) == 0 {
			return rows, nil
		}
	}
	for len(rows) < exportAllLimit {
		msg := searchPage(ctx, r, 0, q, rows, false)().(pageMsg)
		if msg.err != nil {
			return nil, msg.err
		}
		if len(msg.res.Events) == 0 {
			break
		}
		rows = append(rows, msg.res.Events...)
	}
	return rows, nil
}

// writeExport writes base.format, or base-2.format, base-3.format, … when that exists (two
// exports in one second), never over an existing file or through a symlink.
func writeExport(base, format string, rows []index.Row, findings []analyzer.Finding, secrets []index.SecretAtRest, notes map[index.Target]index.Annotation) tea.Msg {
	f, path, err := createExport(base, format)
	if err != nil {
		return exportedMsg{err: err}
	}
	n := len(rows) + len(findings) + len(secrets)
	// what the case holds is redacted already; the export still passes the choke point
	out := redact.NewWriter(f)
	switch format {
	case "csv":
		err = writeCSV(out, rows, findings, secrets, notes)
	default:
		enc := json.NewEncoder(out)
		for _, r := range rows {
			if err == nil {
				b, note := annotationOf(notes, "event", string(r.ID))
				err = enc.Encode(annotatedRow{Row: r, Bookmarked: b, Note: note})
			}
		}
		for _, x := range findings {
			if err == nil {
				b, note := annotationOf(notes, "finding", FindingID(x))
				err = enc.Encode(annotatedFinding{Finding: x, Bookmarked: b, Note: note})
			}
		}
		for _, s := range secrets {
			if err == nil {
				err = enc.Encode(s)
			}
		}
	}
	if e := out.Close(); err == nil { // flushes, closes f
		err = e
	}
	if err != nil {
		return exportedMsg{err: fmt.Errorf("export %s: %w", path, err)}
	}
	return exportedMsg{path: path, n: n}
}

// annotatedRow and annotatedFinding are an exported event or finding with the
// responder's bookmark and note.
type annotatedRow struct {
	index.Row
	Bookmarked bool   `json:"bookmarked,omitempty"`
	Note       string `json:"note,omitempty"`
}

type annotatedFinding struct {
	analyzer.Finding
	Bookmarked bool   `json:"bookmarked,omitempty"`
	Note       string `json:"note,omitempty"`
}

// createExport creates base.format, or base-2.format, base-3.format, … when that exists
// (two exports in one second), 0600, never over an existing file or through a symlink.
func createExport(base, format string) (*os.File, string, error) {
	if err := os.MkdirAll(filepath.Dir(base), 0o700); err != nil {
		return nil, "", fmt.Errorf("export: %w", err)
	}
	var f *os.File
	var err error
	path := base + "." + format
	for i := 2; ; i++ {
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // redact: every caller writes through redact.NewWriter
		if err == nil || !errors.Is(err, fs.ErrExist) || i > 100 {
			break
		}
		path = fmt.Sprintf("%s-%d.%s", base, i, format)
	}
	if err != nil {
		return nil, "", fmt.Errorf("export: %w", err)
	}
	return f, path, nil
}

// writeNotesExport writes the bookmarks and notes view: one table of the annotated
// findings and events with their notes (JSONL: the finding or event with its note).
func writeNotesExport(base, format string, rows []index.Row, findings []analyzer.Finding, notes map[index.Target]index.Annotation) tea.Msg {
	if format != "csv" {
		return writeExport(base, format, rows, findings, nil, notes)
	}
	f, path, err := createExport(base, format)
	if err != nil {
		return exportedMsg{err: err}
	}
	out := redact.NewWriter(f)
	cw := csv.NewWriter(out)
	put := csvPut(cw)
	put("kind", "time", "bookmarked", "note", "severity_or_verb", "rule_or_resource", "subject_or_user", "id")
	for _, x := range findings {
		b, note := annotationOf(notes, "finding", FindingID(x))
		put("finding", x.FirstSeen.UTC().Format(time.RFC3339Nano), strconv.FormatBool(b), note, x.Severity.String(), x.RuleID, x.Subject.String(), FindingID(x))
	}
	for _, r := range rows {
		b, note := annotationOf(notes, "event", string(r.ID))
		obj := r.Resource
		if r.Name != "" {
			obj += " " + r.Namespace + "/" + r.Name
		}
		put("event", r.Time.UTC().Format(time.RFC3339Nano), strconv.FormatBool(b), note, r.Verb, obj, r.User, string(r.ID))
	}
	cw.Flush()
	err = cw.Error()
	if e := out.Close(); err == nil {
		err = e
	}
	if err != nil {
		return exportedMsg{err: fmt.Errorf("export %s: %w", path, err)}
	}
	return exportedMsg{path: path, n: len(rows) + len(findings)}
}

// csvPut writes a record; cells that a spreadsheet would run as a formula get a leading
// quote (CSV injection from the data): the guard every CSV of kubesleuth shares.
func csvPut(cw *csv.Writer) func(rec ...string) { return csvsafe.Put(cw) }

// writeCSV writes one table, with the bookmark and note of each row.
func writeCSV(w io.Writer, rows []index.Row, findings []analyzer.Finding, secrets []index.SecretAtRest, notes map[index.Target]index.Annotation) error {
	cw := csv.NewWriter(w)
	put := csvPut(cw)
	switch {
	case findings != nil:
		put("severity", "rule_id", "title", "subject", "count", "first_seen", "last_seen", "message", "bookmarked", "note")
		for _, f := range findings {
			b, note := annotationOf(notes, "finding", FindingID(f))
			put(f.Severity.String(), f.RuleID, f.Title, f.Subject.String(), strconv.Itoa(f.Count),
				f.FirstSeen.UTC().Format(time.RFC3339Nano), f.LastSeen.UTC().Format(time.RFC3339Nano), f.Message, strconv.FormatBool(b), note)
		}
	case secrets != nil:
		put("key", "namespace", "name", "type", "state", "provider", "key_name", "old_plaintext_revisions", "decryption")
		for _, s := range secrets {
			put(s.Key, s.Namespace, s.Name, s.Type, s.State, s.Provider, s.KeyName, strconv.Itoa(s.OldPlaintextRevisions), s.Decryption)
		}
	default:
		put("time", "id", "user", "source_ip", "user_agent", "verb", "resource", "subresource", "namespace", "name", "code", "request_uri", "bookmarked", "note")
		for _, r := range rows {
			b, note := annotationOf(notes, "event", string(r.ID))
			put(r.Time.UTC().Format(time.RFC3339Nano), string(r.ID), r.User, r.SourceIP, r.UserAgent, r.Verb, r.Resource,
				r.Subresource, r.Namespace, r.Name, strconv.Itoa(r.Code), r.URI, strconv.FormatBool(b), note)
		}
	}
	cw.Flush()
	return cw.Error()
}

// MarshalJSON is the finding's own JSON with the annotation's fields added (Finding's
// MarshalJSON would otherwise be promoted and drop them).
func (a annotatedFinding) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(a.Finding)
	if err != nil || (!a.Bookmarked && a.Note == "") || len(b) < 2 {
		return b, err
	}
	extra, err := json.Marshal(struct {
		Bookmarked bool   `json:"bookmarked,omitempty"`
		Note       string `json:"note,omitempty"`
	}{a.Bookmarked, a.Note})
	if err != nil {
		return nil, err
	}
	return append(append(b[:len(b)-1], ','), extra[1:]...), nil
}
