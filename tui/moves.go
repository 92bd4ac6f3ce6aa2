package tui

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/analyzer/redact"
	"github.com/kubesleuth/kubesleuth/index"
	"github.com/kubesleuth/kubesleuth/tui/common"
	"github.com/kubesleuth/kubesleuth/tui/components"
)

// The moves that take the selection out of the TUI: the clipboard (OSC 52, which works
// over ssh and tmux), a file, $PAGER. Each is an output path like an export, so each
// passes the redactor: what the case holds is redacted already, and the redactor checks
// it again on the way out.

// redacted is b as it leaves through the redactor (redact.NewWriter, line by line).
func redacted(b []byte) []byte {
	var out bytes.Buffer
	w := redact.NewWriter(&out)
	_, _ = w.Write(b)
	_ = w.Close()
	return out.Bytes()
}

// clipMsg carries what to copy (already through the redactor) and what to say.
type clipMsg struct {
	what, data string
	err        error
}

// selectedEvent is the selected event's row (or an error message for the status bar).
func (m *Model) selectedEvent() (*index.Row, bool) {
	t := m.selection()
	if t.row == nil {
		m.message = "select an event first (C, Y, J and v work on events)"
		return nil, false
	}
	return t.row, true
}

// copyID puts the selection's auditID (a finding: its audit IDs) on the clipboard.
func (m *Model) copyID() tea.Cmd {
	t := m.selection()
	var s string
	switch {
	case t.row != nil:
		s = t.row.AuditID
	case t.finding != nil && len(t.finding.AuditIDs) > 0:
		s = strings.Join(t.finding.AuditIDs, "\n")
	default:
		m.message = "the selection has no auditID"
		return nil
	}
	what := fmt.Sprintf("copied %s to the clipboard (OSC 52)", strings.ReplaceAll(s, "\n", ", "))
	return func() tea.Msg { return clipMsg{what: what, data: string(redacted([]byte(s)))} }
}

// clip puts msg's data on the clipboard (OSC 52: the terminal's, over ssh and tmux too).
func (m *Model) clip(msg clipMsg) tea.Cmd {
	if msg.err != nil {
		m.fail(msg.err)
		return nil
	}
	m.message = msg.what
	// redact: data went through the redactor (redacted) before it reached the message
	return tea.SetClipboard(msg.data)
}

// eventJSON fetches the event's stored JSON, indented.
func eventJSON(r index.Reader, id index.EventID) ([]byte, error) {
	raw, err := r.Event(id)
	if err != nil {
		return nil, fmt.Errorf("event %s: %w", id, err)
	}
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return nil, fmt.Errorf("event %s: %w", id, err)
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// copyEvent puts the selected event's JSON on the clipboard.
func (m *Model) copyEvent() tea.Cmd {
	row, ok := m.selectedEvent()
	if !ok {
		return nil
	}
	r, id := m.r, row.ID
	return func() tea.Msg {
		b, err := eventJSON(r, id)
		if err != nil {
			return clipMsg{err: err}
		}
		return clipMsg{what: fmt.Sprintf("copied event %s as JSON (%d bytes) to the clipboard (OSC 52)", id, len(b)), data: string(redacted(b))}
	}
}

// saveEvent writes the selected event's JSON to a new file in the export folder.
func (m *Model) saveEvent() tea.Cmd {
	row, ok := m.selectedEvent()
	if !ok {
		return nil
	}
	dir := m.opts.ExportDir
	if dir == "" {
		dir = "."
	}
	base := filepath.Join(dir, "kubesleuth-event-"+m.opts.Now().UTC().Format("20060102T150405Z"))
	r, id := m.r, row.ID
	return func() tea.Msg {
		b, err := eventJSON(r, id)
		if err != nil {
			return exportedMsg{err: err}
		}
		path, err := writeNew(base, "json", b)
		if err != nil {
			return exportedMsg{err: err}
		}
		return exportedMsg{path: path, n: 1}
	}
}

// writeNew writes b to base.ext (or base-2.ext, … when it exists), 0600, through the
// redactor, never over an existing file or through a symlink.
func writeNew(base, ext string, b []byte) (string, error) {
	if err := os.MkdirAll(filepath.Dir(base), 0o700); err != nil {
		return "", fmt.Errorf("saving: %w", err)
	}
	path := base + "." + ext
	var f *os.File
	var err error
	for i := 2; ; i++ {
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // redact: written through redact.NewWriter below
		if err == nil || !errors.Is(err, fs.ErrExist) || i > 100 {
			break
		}
		path = fmt.Sprintf("%s-%d.%s", base, i, ext)
	}
	if err != nil {
		return "", fmt.Errorf("saving: %w", err)
	}
	w := redact.NewWriter(f)
	_, err = w.Write(b)
	if e := w.Close(); err == nil {
		err = e
	}
	if err != nil {
		return "", fmt.Errorf("saving %s: %w", path, err)
	}
	return path, nil
}

// pagerMsg reports the end of the pager.
type pagerMsg struct{ err error }

// pagerCommand is $PAGER (split at spaces), less without it.
func (m *Model) pagerCommand() []string {
	if len(m.opts.Pager) > 0 {
		return m.opts.Pager
	}
	if p := strings.Fields(os.Getenv("PAGER")); len(p) > 0 {
		return p
	}
	return []string{"less", "-R"}
}

// pager opens the selected event's JSON in $PAGER, the TUI suspended meanwhile. The
// pager reads it from its standard input, fed through the redactor.
func (m *Model) pager() tea.Cmd {
	row, ok := m.selectedEvent()
	if !ok {
		return nil
	}
	b, err := eventJSON(m.r, row.ID) // one event: a few KB, read on the loop like the detail's
	if err != nil {
		m.fail(err)
		return nil
	}
	argv := m.pagerCommand()
	c := exec.Command(argv[0], argv[1:]...)
	// redact: the pager's input is the event through the redactor
	c.Stdin = bytes.NewReader(redacted(b))
	// redact: the pager reads the event through the redactor (Stdin above)
	return tea.ExecProcess(c, func(err error) tea.Msg { return pagerMsg{err} })
}

// credentialOf is the token credential id of an event (user.extra
// authentication.kubernetes.io/credential-id: a JTI or a certificate's serial), "" when
// it has none.
func credentialOf(raw []byte) string {
	var ev struct {
		User struct {
			Extra map[string][]string `json:"extra"`
		} `json:"user"`
	}
	if json.Unmarshal(raw, &ev) != nil {
		return ""
	}
	if v := ev.User.Extra["authentication.kubernetes.io/credential-id"]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// pivotCredential opens the credential view of the selected event's token.
func (m *Model) pivotCredential() tea.Cmd {
	row, ok := m.selectedEvent()
	if !ok {
		return nil
	}
	raw, err := m.r.Event(row.ID)
	if err != nil {
		m.fail(err)
		return nil
	}
	cred := credentialOf(raw)
	if cred == "" {
		m.message = "this event's user has no token credential id (user.extra authentication.kubernetes.io/credential-id)"
		return nil
	}
	return m.push(Frame{Kind: ViewCredential, Subject: row.User, Name: cred, Query: clause("user", row.User),
		Title: fmt.Sprintf("Credential %s of %s: every request made with this token", cred, common.ShortUser(row.User))})
}

// credentialView is the requests of user made with one credential, oldest first: the
// credential id is not indexed, so the user's events (at most identityLimit) are read
// and kept when they carry it.
func credentialView(ctx context.Context, r index.Reader, gen int, user, cred, extra string, collapse bool) tea.Cmd {
	return func() tea.Msg {
		q := clause("user", user)
		if extra != "" {
			q += " " + extra
		}
		res, err := r.Search(ctx, index.Query{Text: q, Limit: identityLimit})
		if err != nil {
			return viewMsg{gen: gen, err: fmt.Errorf("credential %s: %w", common.Clean(cred), err)}
		}
		if collapse {
			res.Events, _ = hideAnswered(r, res.Events)
		}
		var items []components.Item
		if res.Total > len(res.Events) {
			items = append(items, components.Item{Header: fmt.Sprintf("── only the first %d of the user's %d events were read", len(res.Events), res.Total)})
		}
		n := 0
		for i := range res.Events {
			if err := ctx.Err(); err != nil {
				return viewMsg{gen: gen, err: err}
			}
			raw, err := r.Event(res.Events[i].ID)
			if err != nil {
				return viewMsg{gen: gen, err: fmt.Errorf("credential %s: %w", common.Clean(cred), err)}
			}
			if credentialOf(raw) == cred {
				items = append(items, components.Item{Row: &res.Events[i]})
				n++
			}
		}
		return viewMsg{gen: gen, items: items, total: n}
	}
}

// ruleSource shows the rule of the selected finding (or group) as the catalog holds
// it: its CEL, or each step's filter and join key, the window and thresholds.
func (m *Model) ruleSource() tea.Cmd {
	t := m.selection()
	id := ""
	switch {
	case t.finding != nil:
		id = t.finding.RuleID
	case t.group != nil:
		id = t.group.RuleID
	default:
		m.message = "select a finding: R shows its rule"
		return nil
	}
	m.detailKey = "r:" + id
	m.detailGen++
	m.detail.SetText("rule "+common.Clean(id), ruleLines(id, m.ctx))
	m.focus, m.fullDetail = PaneDetail, false
	return nil
}

// ruleLines renders a rule's source for the detail pane.
func ruleLines(id string, c *common.Context) []string {
	st := c.Styles
	k := func(s string) string { return st.Key.Render(fmt.Sprintf("%-12s", s)) }
	r := catalogRule(id)
	if r == nil {
		if t, ok := ruleInfo(id); ok {
			return append([]string{st.Title.Render(common.Clean(id) + "  " + common.Clean(t.description)),
				"", st.Dim.Render("an etcd rule: detected by the secrets-at-rest analysis (analyzer/secrets), not CEL"),
				"", st.Header.Render("Remediation")}, wrapped(t.remediation)...)
		}
		return []string{st.Error.Render("no rule " + common.Clean(id) + " in the built-in catalog (a rule of --rules?)")}
	}
	lines := []string{st.Title.Render(common.Clean(r.ID) + "  " + common.Clean(r.Title)),
		k("severity") + r.Severity.String(), k("source") + common.Clean(r.Source)}
	if r.Kind != "" {
		lines = append(lines, k("kind")+common.Clean(r.Kind))
	}
	for _, kv := range [][2]string{{"needs", r.Needs}, {"key", r.Key}, {"field", r.Field}} {
		if kv[1] != "" {
			lines = append(lines, k(kv[0])+common.Clean(kv[1]))
		}
	}
	for _, kv := range [][2]string{{"window", dur(r.Window)}, {"within", dur(r.Within)}, {"learning", dur(r.Learning)}, {"fold", dur(r.Fold)}} {
		if kv[1] != "" && kv[1] != "0s" {
			lines = append(lines, k(kv[0])+kv[1])
		}
	}
	if r.Threshold > 0 {
		lines = append(lines, k("threshold")+fmt.Sprint(r.Threshold))
	}
	if r.Match != "" {
		lines = append(lines, "", st.Header.Render("CEL"))
		for _, l := range strings.Split(strings.TrimSpace(r.Match), "\n") {
			lines = append(lines, "  "+st.String.Render(common.Clean(l)))
		}
	}
	for i, s := range r.Steps {
		lines = append(lines, "", st.Header.Render(fmt.Sprintf("Step %d: %s", i+1, common.Clean(s.Name))))
		if s.On != nil {
			b, _ := json.Marshal(s.On)
			lines = append(lines, "  "+k("on")+common.Clean(string(b)))
		}
		if s.Match != "" {
			lines = append(lines, "  "+k("match")+st.String.Render(common.Clean(strings.Join(strings.Fields(s.Match), " "))))
		}
		if s.Key != "" {
			lines = append(lines, "  "+k("join key")+common.Clean(s.Key))
		}
		if s.After != 0 {
			lines = append(lines, "  "+k("after")+dur(s.After))
		}
	}
	if r.Message != "" {
		lines = append(lines, "", k("message")+common.Clean(r.Message))
	}
	return lines
}

// catalogRule is the built-in rule id (nil for etcd and user rules).
func catalogRule(id string) *analyzer.Rule {
	rs, err := analyzer.BuiltinRules()
	if err != nil {
		return nil
	}
	for _, r := range rs {
		if r.ID == id {
			return r
		}
	}
	return nil
}

func dur(d analyzer.Duration) string {
	if d == 0 {
		return ""
	}
	return time.Duration(d).String()
}
