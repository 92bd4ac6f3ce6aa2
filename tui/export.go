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
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/analyzer/redact"
	"github.com/kubesleuth/kubesleuth/index"
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
	if m.focus == PaneFindings {
		items := m.findings.Items
		m.message = "exporting findings…"
		return func() tea.Msg { return writeExport(path, format, nil, items, nil) }
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
	if m.cur.Kind == ViewSearch && !m.cur.Done {
		r, q, ctx := m.r, m.cur.Query, m.root
		return func() tea.Msg {
			all, err := allRows(ctx, r, q, rows)
			if err != nil {
				return exportedMsg{err: err}
			}
			return writeExport(path, format, all, nil, nil)
		}
	}
	if secrets != nil {
		return func() tea.Msg { return writeExport(path, format, nil, nil, secrets) }
	}
	return func() tea.Msg { return writeExport(path, format, rows, nil, nil) }
}

// allRows continues loaded (the newest rows of q) to every match, by the timeline's
// keyset paging.
func allRows(ctx context.Context, r index.Reader, q string, loaded []index.Row) ([]index.Row, error) {
	rows := append([]index.Row(nil), loaded...)
	for len(rows) < exportAllLimit {
		msg := searchPage(ctx, r, 0, q, rows)().(pageMsg)
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
func writeExport(base, format string, rows []index.Row, findings []analyzer.Finding, secrets []index.SecretAtRest) tea.Msg {
	if err := os.MkdirAll(filepath.Dir(base), 0o700); err != nil {
		return exportedMsg{err: fmt.Errorf("export: %w", err)}
	}
	var f *os.File
	var err error
	path := base + "." + format
	for i := 2; ; i++ {
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // redact: written through redact.NewWriter below
		if err == nil || !errors.Is(err, fs.ErrExist) || i > 100 {
			break
		}
		path = fmt.Sprintf("%s-%d.%s", base, i, format)
	}
	if err != nil {
		return exportedMsg{err: fmt.Errorf("export: %w", err)}
	}
	n := len(rows) + len(findings) + len(secrets)
	// what the case holds is redacted already; the export still passes the choke point
	out := redact.NewWriter(f)
	switch format {
	case "csv":
		err = writeCSV(out, rows, findings, secrets)
	default:
		enc := json.NewEncoder(out)
		for _, r := range rows {
			if err == nil {
				err = enc.Encode(r)
			}
		}
		for _, x := range findings {
			if err == nil {
				err = enc.Encode(x)
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

// writeCSV writes one table; cells that a spreadsheet would run as a formula get a
// leading quote (CSV injection from the data).
func writeCSV(w io.Writer, rows []index.Row, findings []analyzer.Finding, secrets []index.SecretAtRest) error {
	cw := csv.NewWriter(w)
	put := func(rec ...string) {
		for i, c := range rec {
			if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
				rec[i] = "'" + c
			}
		}
		_ = cw.Write(rec)
	}
	switch {
	case findings != nil:
		put("severity", "rule_id", "title", "subject", "count", "first_seen", "last_seen", "message")
		for _, f := range findings {
			put(f.Severity.String(), f.RuleID, f.Title, f.Subject.String(), strconv.Itoa(f.Count),
				f.FirstSeen.UTC().Format(time.RFC3339Nano), f.LastSeen.UTC().Format(time.RFC3339Nano), f.Message)
		}
	case secrets != nil:
		put("key", "namespace", "name", "type", "state", "provider", "key_name", "old_plaintext_revisions", "decryption")
		for _, s := range secrets {
			put(s.Key, s.Namespace, s.Name, s.Type, s.State, s.Provider, s.KeyName, strconv.Itoa(s.OldPlaintextRevisions), s.Decryption)
		}
	default:
		put("time", "id", "user", "source_ip", "user_agent", "verb", "resource", "subresource", "namespace", "name", "code", "request_uri")
		for _, r := range rows {
			put(r.Time.UTC().Format(time.RFC3339Nano), string(r.ID), r.User, r.SourceIP, r.UserAgent, r.Verb, r.Resource,
				r.Subresource, r.Namespace, r.Name, strconv.Itoa(r.Code), r.URI)
		}
	}
	cw.Flush()
	return cw.Error()
}
