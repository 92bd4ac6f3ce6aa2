package tui

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/analyzer/secrets"
	"github.com/kubesleuth/kubesleuth/index"
	"github.com/kubesleuth/kubesleuth/tui/common"
	"github.com/kubesleuth/kubesleuth/tui/components"
)

// ruleText is the explanation and remediation of a rule, from the built-in catalog (audit
// rules) or the etcd rule table. Findings of user rules not in the catalog show their
// message only.
type ruleText struct{ description, remediation string }

var (
	catalogOnce sync.Once
	catalog     map[string]ruleText
)

func ruleInfo(id string) (ruleText, bool) {
	catalogOnce.Do(func() {
		catalog = map[string]ruleText{}
		if rs, err := analyzer.BuiltinRules(); err == nil {
			for _, r := range rs {
				catalog[r.ID] = ruleText{r.Description, r.Remediation}
			}
		}
		for id, r := range secrets.Rules {
			catalog[id] = ruleText{r.Title, r.Remediation}
		}
	})
	t, ok := catalog[id]
	return t, ok
}

// FindingID is the case's identity of a finding (index.FindingID).
func FindingID(f analyzer.Finding) string { return index.FindingID(f) }

// findingLines renders a finding for the detail pane: every data string cleaned.
func findingLines(f analyzer.Finding, evidence []index.Row, evErr error, c *common.Context, note string) []string {
	st := c.Styles
	k := func(s string) string { return st.Key.Render(fmt.Sprintf("%-12s", s)) }
	lines := []string{
		st.Severity[f.Severity].Render(strings.ToUpper(f.Severity.String())) + "  " + st.Title.Render(common.Clean(f.Title)),
		k("rule") + common.Clean(f.RuleID) + "   MITRE " + common.Clean(strings.Join(f.MITRE, ", ")),
		k("subject") + common.Clean(f.Subject.String()),
		k("source") + map[bool]string{true: "etcd (secrets at rest)", false: "audit log"}[isEtcd(f)],
		k("seen") + fmt.Sprintf("%s – %s, %d time(s)", c.Time(f.FirstSeen), c.Time(f.LastSeen), f.Count),
	}
	if f.Subject.SourceIP != "" || f.Subject.UserAgent != "" {
		lines = append(lines, k("from")+common.Clean(f.Subject.SourceIP)+"  "+common.Clean(f.Subject.UserAgent))
	}
	if note != "" {
		lines = append(lines, k("note")+st.Mark.Render(common.Clean(note)))
	}
	lines = append(lines, "", st.Header.Render("What happened"))
	lines = append(lines, wrapped(f.Message)...)
	if t, ok := ruleInfo(f.RuleID); ok {
		if t.description != "" {
			lines = append(lines, "", st.Header.Render("Why it matters"))
			lines = append(lines, wrapped(t.description)...)
		}
		if t.remediation != "" {
			lines = append(lines, "", st.Header.Render("Remediation"))
			lines = append(lines, wrapped(t.remediation)...)
		}
	}
	lines = append(lines, "", st.Header.Render(fmt.Sprintf("Evidence (%d audit IDs, enter in findings lists the events)", len(f.AuditIDs))))
	if evErr != nil {
		lines = append(lines, st.Error.Render(common.Clean(evErr.Error())))
	}
	for i, r := range evidence {
		if i == 20 {
			lines = append(lines, st.Dim.Render(fmt.Sprintf("… %d more", len(evidence)-20)))
			break
		}
		obj := r.Name
		if r.Namespace != "" {
			obj = r.Namespace + "/" + r.Name
		}
		code := "-" // no response: a RequestReceived event, as the timeline shows it
		if r.Code != 0 {
			code = strconv.Itoa(r.Code)
		}
		lines = append(lines, common.Clean(fmt.Sprintf("%s  %s  %s %s %s  %s  %s", c.Time(r.Time), common.ShortUser(r.User), r.Verb, r.Resource, obj, code, r.SourceIP)))
	}
	return lines
}

// groupLines renders a rule's group of findings for the detail pane: the rule, how many
// subjects, the first of them.
func groupLines(g *components.FindingGroup, items []analyzer.Finding, c *common.Context) []string {
	st := c.Styles
	lines := []string{
		st.Severity[g.Severity].Render(strings.ToUpper(g.Severity.String())) + "  " + st.Title.Render(common.Clean(g.Title)),
		st.Key.Render(fmt.Sprintf("%-12s", "rule")) + common.Clean(g.RuleID),
		st.Key.Render(fmt.Sprintf("%-12s", "subjects")) + fmt.Sprintf("%d findings, %d events, first %s", len(g.Index), g.Count, c.Time(g.First)),
		"", st.Dim.Render("enter lists the subjects under the rule (or hides them); / filters the findings: -rule:" + common.Clean(g.RuleID) + " hides this rule"),
	}
	if t, ok := ruleInfo(g.RuleID); ok && t.description != "" {
		lines = append(lines, "", st.Header.Render("Why it matters"))
		lines = append(lines, wrapped(t.description)...)
	}
	lines = append(lines, "", st.Header.Render("Subjects"))
	for i, x := range g.Index {
		if i == 20 {
			lines = append(lines, st.Dim.Render(fmt.Sprintf("… %d more", len(g.Index)-20)))
			break
		}
		f := items[x]
		lines = append(lines, common.Clean(fmt.Sprintf("%s  %s  ×%d", c.Time(f.FirstSeen), common.Subject(f.Subject), f.Count)))
	}
	return lines
}

// wrapped cleans s and splits it into lines of at most 76 cells at spaces, so prose
// stays readable in the detail pane at 80 columns (it cuts longer lines).
func wrapped(s string) []string {
	var out []string
	for _, para := range strings.Split(strings.TrimSpace(s), "\n") {
		line := ""
		for _, w := range strings.Fields(common.Clean(para)) {
			if line != "" && common.Width(line)+1+common.Width(w) > 76 {
				out = append(out, line)
				line = ""
			}
			if line != "" {
				line += " "
			}
			line += w
		}
		if line != "" {
			out = append(out, line)
		}
	}
	return out
}

// clause is one query clause field:"value", quoted so that values with spaces, quotes,
// colons or a leading - stay one exact value.
func clause(field, value string) string {
	return field + `:"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(value) + `"`
}
