package tui

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/index"
)

// The filters of the screen: the findings filter (/ in the findings pane), the timeline's
// filter that the findings follow, and the clauses the timeline adds to every query (one
// row per request, system identities hidden). Each says itself in a title or the status
// bar, so the panes never disagree about what they show.

// findingFields are the fields of the findings filter.
var findingFields = []string{"severity", "rule", "source", "user", "namespace", "name", "resource"}

// findingClause is one clause of the findings filter.
type findingClause struct {
	not          bool
	field, op, v string
}

// parseFindingFilter reads the findings filter: severity:high (or >=medium, <=low),
// rule:KS-ETCD-* (a trailing * is a prefix), source:audit or source:etcd, user:, namespace:,
// name:, resource: of the subject, and bare words found in the rule, title, subject or
// message; -clause excludes. Errors say which fields there are.
func parseFindingFilter(text string) ([]findingClause, error) {
	var out []findingClause
	for _, tok := range splitQuoted(text) {
		c := findingClause{}
		if strings.HasPrefix(tok, "-") && len(tok) > 1 {
			c.not, tok = true, tok[1:]
		}
		if f, v, ok := strings.Cut(tok, ":"); ok {
			if !contains(findingFields, f) {
				if f == "sev" {
					f = "severity"
				} else {
					return nil, fmt.Errorf("findings filter: unknown field %q (fields: %s; bare words search rule, title, subject and message)", f, strings.Join(findingFields, ", "))
				}
			}
			c.field, c.v = f, strings.Trim(v, `"`)
		} else {
			c.v = strings.Trim(tok, `"`)
		}
		if c.field == "severity" {
			c.op = "="
			for _, op := range []string{">=", "<=", ">", "<"} {
				if strings.HasPrefix(c.v, op) {
					c.op, c.v = op, c.v[len(op):]
					break
				}
			}
			if _, err := analyzer.ParseSeverity(c.v); err != nil {
				return nil, fmt.Errorf("findings filter: severity %q: want info, low, medium, high or critical (sev:>=high)", c.v)
			}
		}
		if c.field == "source" && c.v != "audit" && c.v != "etcd" {
			return nil, fmt.Errorf("findings filter: source %q: want audit or etcd", c.v)
		}
		if c.v == "" {
			return nil, fmt.Errorf("findings filter: empty value in %q", tok)
		}
		out = append(out, c)
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// splitQuoted splits at spaces outside double quotes.
func splitQuoted(s string) []string {
	var out []string
	var cur strings.Builder
	in := false
	for _, r := range s {
		switch {
		case r == '"':
			in = !in
			cur.WriteRune(r)
		case r == ' ' && !in:
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// glob matches v against p: exact, or a prefix when p ends in *.
func glob(p, v string) bool {
	if pre, ok := strings.CutSuffix(p, "*"); ok {
		return strings.HasPrefix(v, pre)
	}
	return p == v
}

// isEtcd says a finding came from the etcd analysis (it names a key, not a request).
func isEtcd(f analyzer.Finding) bool {
	return f.Subject.Key != "" || strings.HasPrefix(f.RuleID, "KS-ETCD-")
}

func (c findingClause) match(f analyzer.Finding) bool {
	var ok bool
	s := f.Subject
	switch c.field {
	case "severity":
		want, _ := analyzer.ParseSeverity(c.v)
		switch c.op {
		case ">=":
			ok = f.Severity >= want
		case ">":
			ok = f.Severity > want
		case "<=":
			ok = f.Severity <= want
		case "<":
			ok = f.Severity < want
		default:
			ok = f.Severity == want
		}
	case "rule":
		ok = glob(c.v, f.RuleID)
	case "source":
		ok = isEtcd(f) == (c.v == "etcd")
	case "user":
		ok = glob(c.v, s.User) || glob(c.v, s.Impersonated)
	case "namespace":
		ok = glob(c.v, s.Namespace)
	case "name":
		ok = glob(c.v, s.Name)
	case "resource":
		ok = glob(c.v, s.Resource)
	default:
		v := strings.ToLower(c.v)
		ok = strings.Contains(strings.ToLower(f.RuleID+"\x00"+f.Title+"\x00"+s.String()+"\x00"+f.Message), v)
	}
	return ok != c.not
}

// setFindingFilter applies text as the findings filter ("" shows every finding).
func (m *Model) setFindingFilter(text string) error {
	text = strings.TrimSpace(text)
	cs, err := parseFindingFilter(text)
	if err != nil {
		return err
	}
	m.findQuery = text
	m.findKeep = nil
	if len(cs) > 0 {
		m.findKeep = func(f analyzer.Finding) bool {
			for _, c := range cs {
				if !c.match(f) {
					return false
				}
			}
			return true
		}
	}
	m.refreshFindings()
	return nil
}

// subjectFields are the query fields a finding's subject answers, so the findings pane
// can follow the timeline's filter on them.
var subjectFields = map[string]func(analyzer.Subject) []string{
	"user":             func(s analyzer.Subject) []string { return []string{s.User, s.Impersonated} },
	"impersonatedUser": func(s analyzer.Subject) []string { return []string{s.Impersonated} },
	"sourceIP":         func(s analyzer.Subject) []string { return []string{s.SourceIP} },
	"userAgent":        func(s analyzer.Subject) []string { return []string{s.UserAgent} },
	"namespace":        func(s analyzer.Subject) []string { return []string{s.Namespace} },
	"name":             func(s analyzer.Subject) []string { return []string{s.Name} },
	"resource":         func(s analyzer.Subject) []string { return []string{s.Resource} },
	"subresource":      func(s analyzer.Subject) []string { return []string{s.Subresource} },
}

// followFilter is the timeline filter as a test of findings: the clauses on fields a
// subject has (user, namespace, …) must hold for the subject, and a time range must meet
// the finding's span; clauses on fields findings do not have (verb, code) are left out,
// and the note says so.
func followFilter(q string) (keep func(analyzer.Finding) bool, note string) {
	if unfilteredQuery(q) {
		return nil, ""
	}
	from, to, timed, err := index.TimeRange(q)
	if err != nil {
		return nil, ""
	}
	rest, _ := index.ApplyTime(index.Query{Text: q})
	var cs []index.Clause
	if !unfilteredQuery(rest.Text) {
		if cs, err = index.ParseClauses(rest.Text); err != nil {
			return nil, ""
		}
	}
	var used, unused []string
	var tests []func(analyzer.Finding) bool
	for _, c := range cs {
		c := c
		get := subjectFields[c.Field]
		if c.Field == "" {
			get = func(s analyzer.Subject) []string { return []string{s.User, s.Namespace, s.Name, s.Resource} }
		}
		if get == nil || c.Field == "stage" {
			unused = append(unused, c.Field)
			continue
		}
		used = append(used, c.Field)
		tests = append(tests, func(f analyzer.Finding) bool {
			hit := false
			for _, v := range get(f.Subject) {
				if v != "" && glob(c.Value, v) {
					hit = true
				}
			}
			return hit != c.Not
		})
	}
	if timed {
		used = append(used, "time")
		tests = append(tests, func(f analyzer.Finding) bool {
			last := f.LastSeen
			if last.IsZero() {
				last = f.FirstSeen
			}
			if f.FirstSeen.IsZero() {
				return true // etcd findings have no time: they hold whatever the range
			}
			return (from.IsZero() || !last.Before(from)) && (to.IsZero() || f.FirstSeen.Before(to))
		})
	}
	if len(tests) == 0 {
		return nil, ""
	}
	note = "following the timeline (" + strings.Join(dedup(used), ", ") + ")"
	if len(unused) > 0 {
		note = "following the timeline (" + strings.Join(dedup(used), ", ") + "; not " + strings.Join(dedup(unused), ", ") + ")"
	}
	return func(f analyzer.Finding) bool {
		for _, t := range tests {
			if !t(f) {
				return false
			}
		}
		return true
	}, note
}

func dedup(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// keepFinding is the findings pane's test: the findings filter and the timeline's.
func (m *Model) keepFinding(f analyzer.Finding) bool {
	if m.findKeep != nil && !m.findKeep(f) {
		return false
	}
	if m.followKeep != nil && !m.followKeep(f) {
		return false
	}
	return true
}

// refreshFindings applies the findings filter and the current frame's filter to the
// findings pane, and says both in its title.
func (m *Model) refreshFindings() {
	q := ""
	switch m.cur.Kind {
	case ViewSearch, ViewIdentity, ViewSecret:
		q = m.cur.Query
	}
	var note string
	m.followKeep, note = followFilter(q)
	var notes []string
	if m.findQuery != "" {
		notes = append(notes, m.findQuery)
	}
	if note != "" {
		notes = append(notes, note)
	}
	m.findings.Note = strings.Join(notes, " · ")
	m.findings.Refresh()
	m.showHist()
}

// viewQuery is q with the clauses the timeline adds: the system identities while they
// are hidden (unless q names a user). One row per request is not a clause: a query
// cannot say "a RequestReceived stage with a later one" (hideAnswered does).
func (m *Model) viewQuery(q string, kind ViewKind) string {
	var extra []string
	fields := map[string]bool{}
	if !unfilteredQuery(q) {
		if cs, err := index.ParseClauses(q); err == nil {
			for _, c := range cs {
				fields[c.Field] = true
			}
		}
	}
	if m.hideSystem && !fields["user"] && kind != ViewIdentity {
		extra = append(extra, m.systemUsers...)
	}
	if len(extra) == 0 {
		return q
	}
	if unfilteredQuery(q) {
		return strings.Join(extra, " ")
	}
	return q + " " + strings.Join(extra, " ")
}

// filtersNote says the added clauses for the status bar.
func (m *Model) filtersNote() string {
	var n []string
	if m.collapse {
		n = append(n, "one row per request (=)")
	}
	if m.hideSystem {
		n = append(n, fmt.Sprintf("%d system identities hidden (H)", len(m.systemUsers)))
	}
	return strings.Join(n, ", ")
}

// systemMsg carries the system identities of the case.
type systemMsg struct {
	users []string
	err   error
}

// maxSystemUsers bounds the identities H hides (one clause each).
const maxSystemUsers = 500

// systemIdentities finds the identities of the case that are the control plane's
// (analyzer.Allowlists.IsSystem: kubelets, controllers, kube-system service accounts,
// the system_identities allowlist), except those a finding names: hiding the system
// must not hide an attacker who took a system identity.
func systemIdentities(r index.Reader, root context.Context, named map[string]bool) tea.Cmd {
	return func() tea.Msg {
		al, err := analyzer.DefaultAllowlists()
		if err != nil {
			return systemMsg{err: err}
		}
		ctx, cancel := context.WithTimeout(root, time.Minute)
		defer cancel()
		res, err := r.Search(ctx, index.Query{Text: "user:system:*", Limit: 1, Facets: []string{"user"}, FacetSize: maxSystemUsers})
		if err != nil {
			return systemMsg{err: fmt.Errorf("system identities: %w", err)}
		}
		var users []string
		for _, fc := range res.Facets["user"] {
			if al.IsSystem(fc.Value, nil) && !named[fc.Value] {
				users = append(users, "-"+clause("user", fc.Value))
			}
		}
		sort.Strings(users)
		return systemMsg{users: users}
	}
}

// toggleSystem hides or shows the system identities (the first time, after finding them).
func (m *Model) toggleSystem() tea.Cmd {
	if m.hideSystem {
		m.hideSystem = false
		m.message = "system identities shown"
		return m.reload()
	}
	if m.systemUsers == nil {
		named := map[string]bool{}
		for _, f := range m.findings.All {
			named[f.Subject.User] = true
			named[f.Subject.Impersonated] = true
		}
		m.message = "finding the system identities…"
		return systemIdentities(m.r, m.root, named)
	}
	m.hideSystem = true
	m.message = m.filtersNote()
	return m.reload()
}

func (m *Model) toggleCollapse() tea.Cmd {
	m.collapse = !m.collapse
	if m.collapse {
		m.message = "one row per request: a request's RequestReceived stage is hidden (= shows every stage)"
	} else {
		m.message = "every stage of every request"
	}
	return m.reload()
}

// reload runs the current frame again (its added clauses changed), keeping the back
// stack: the frames below are reloaded when they are returned to.
func (m *Model) reload() tea.Cmd {
	for i := range m.stack {
		m.stack[i].Loaded = false
	}
	m.forward = nil
	m.cur.Newer = 0
	m.cur.histKey = ""
	return m.startView()
}
