package report

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// mdText makes data safe inside Markdown text and table cells: no line breaks, no table
// separators, no HTML, no emphasis or links from the data.
var mdEscaper = strings.NewReplacer("\\", "\\\\", "|", "\\|", "\n", " ", "\r", " ", "<", "&lt;", ">", "&gt;",
	"*", "\\*", "_", "\\_", "`", "\\`", "[", "\\[", "]", "\\]", "#", "\\#")

func md(s string) string { return mdEscaper.Replace(s) }

// code is s as a Markdown code span (backslashes are literal there).
func code(s string) string {
	return "`" + strings.NewReplacer("`", "'", "\n", " ", "\r", " ", "|", "\\|").Replace(s) + "`"
}

func fmtT(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func fmtTv(t time.Time) string { return fmtT(&t) }

// writeMarkdown: the report for a ticket, in the document's order.
func writeMarkdown(w io.Writer, r *Report) error {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p("# %s\n\n", md(r.Title))
	p("Generated %s by kubesleuth %s", fmtTv(r.Generated), md(r.ToolVersion))
	if r.GeneratedBy != "" {
		p(" (%s)", md(r.GeneratedBy))
	}
	p(".\n")
	if f := r.Filter; f.MinSeverity != "" || len(f.Rules) > 0 || len(f.ExcludeRules) > 0 {
		p("Filter: min severity %s, rules %s, excluded rules %s: %d finding(s) left out.\n", md(dash(f.MinSeverity)), md(dash(strings.Join(f.Rules, ", "))), md(dash(strings.Join(f.ExcludeRules, ", "))), f.Excluded)
	}

	p("\n## 1. Scope and chain of custody\n\n")
	if c := r.Scope.Case; c != nil {
		p("Case %s, created %s, updated %s, %d ingest(s), by kubesleuth %s", code(c.Dir), fmtTv(c.Created), fmtTv(c.Updated), c.Ingests, md(c.ToolVersion))
		if c.CreatedBy != "" {
			p(", made by %s", md(c.CreatedBy))
		}
		if !c.Complete {
			p(". **The case is incomplete** (an ingest was interrupted)")
		}
		p(".\n\n")
	} else {
		p("A run over files (no case).\n\n")
	}
	p("%d event(s) from %s to %s", r.Scope.Events, fmtT(r.Scope.First), fmtT(r.Scope.Last))
	if r.Scope.Skipped > 0 || r.Scope.Duplicates > 0 {
		p("; %d piece(s) of input skipped, %d duplicate(s) dropped", r.Scope.Skipped, r.Scope.Duplicates)
	}
	p(".\n\n| source | kind | size | SHA-256 | events | first | last |\n|---|---|---:|---|---:|---|---|\n")
	for _, s := range r.Scope.Sources {
		path := s.AbsPath
		if path == "" {
			path = s.Path
		}
		if s.SameAs != "" {
			path += " (same as " + s.SameAs + ")"
		}
		p("| %s | %s | %d | %s | %d | %s | %s |\n", md(path), md(s.Kind), s.Size, code(dash(s.SHA256)), s.Events, fmtT(s.First), fmtT(s.Last))
	}

	c := r.Coverage
	p("\n## 2. Audit coverage\n\nLevels seen: %s. Stages seen: %s.\n\n", countList(c.Levels), countList(c.Stages))
	if len(c.NotEvaluable) > 0 {
		p("Rules that could not look at some events (they read bodies these levels do not record)")
		if !c.NotEvaluableExact {
			p("; events counts the events at levels without that body, an upper bound (a case keeps no per-rule count)")
		}
		p(":\n\n| rule | title | needs | events |\n|---|---|---|---:|\n")
		for _, n := range c.NotEvaluable {
			p("| %s | %s | %s body | %d |\n", md(n.RuleID), md(n.Title), md(n.Needs), n.Events)
		}
		p("\n")
	} else {
		p("Every rule could look at every event.\n\n")
	}
	if len(c.Gaps) > 0 {
		p("Gaps in the trail (no event for at least %s):\n\n", md(c.MinGap))
		for _, g := range c.Gaps {
			p("- %s to %s (%s)\n", fmtTv(g.From), fmtTv(g.To), md(g.Duration))
		}
		p("\n")
	} else {
		p("No gap of %s or more in the trail.\n\n", md(c.MinGap))
	}

	s := r.Summary
	p("## 3. Executive summary\n\n%d finding(s): %s.\n\n", s.Findings, countList(s.BySeverity))
	if len(s.FixFirst) > 0 {
		p("Fix first:\n\n")
		for i, f := range s.FixFirst {
			p("%d. **%s** (%s, %s, %d finding(s)): %s\n", i+1, md(f.Title), md(f.RuleID), f.Severity, f.Findings, md(f.Remediation))
		}
		p("\n")
	}
	if len(s.Identities) > 0 {
		p("Identities behind the findings:\n\n| identity | worst | findings | rules |\n|---|---|---:|---|\n")
		for _, id := range s.Identities {
			p("| %s | %s | %d | %s |\n", md(id.User), id.Worst, id.Findings, md(strings.Join(id.Rules, ", ")))
		}
		if s.IdentitiesMore > 0 {
			p("\nand %d more identities.\n", s.IdentitiesMore)
		}
		p("\n")
	}
	if len(s.Secrets) > 0 || s.EtcdPlaintext > 0 {
		p("Secrets exposed:\n\n")
		if s.EtcdPlaintext > 0 {
			p("- %d secret(s) stored in plaintext in etcd (section 6)\n", s.EtcdPlaintext)
		}
		for _, e := range s.Secrets {
			p("- %s (%s: %s)\n", md(nsName(e.Namespace, e.Name)), e.Worst, md(strings.Join(e.Rules, ", ")))
		}
		if s.SecretsMore > 0 {
			p("- and %d more\n", s.SecretsMore)
		}
		p("\n")
	}

	p("## 4. Findings by MITRE ATT&CK tactic\n\n")
	if len(r.Findings) == 0 {
		p("No findings.\n\n")
	}
	rules := map[string]RuleText{}
	for _, t := range r.Rules {
		rules[t.ID] = t
	}
	for _, t := range r.Tactics {
		p("### %s (%d)\n\n", md(t.Name), t.Count)
		for _, i := range t.Findings {
			f := r.Findings[i]
			rt := rules[f.RuleID]
			p("#### %s %s: %s\n\n", strings.ToUpper(f.Severity.String()), md(f.RuleID), md(f.Title))
			p("- **What happened:** %s\n", md(f.Message))
			p("- **Subject:** %s; %d time(s), %s to %s\n", md(f.Subject.String()), f.Count, fmtTv(f.FirstSeen), fmtTv(f.LastSeen))
			if len(f.MITRE) > 0 {
				p("- **MITRE:** %s\n", md(strings.Join(f.MITRE, ", ")))
			}
			if rt.Description != "" {
				p("- **Why it matters:** %s\n", md(rt.Description))
			}
			if rt.Remediation != "" {
				p("- **Remediation:** %s\n", md(rt.Remediation))
			}
			if len(rt.References) > 0 {
				p("- **References:** %s\n", md(strings.Join(rt.References, "; ")))
			}
			if f.Location != nil {
				p("- **First evidence at:** %s%s\n", md(f.Location.File), lineSuffix(f.Location.Line))
			}
			if f.Bookmarked || f.Note != "" {
				p("- **Note:** %s%s\n", map[bool]string{true: "(bookmarked) "}[f.Bookmarked], md(f.Note))
			}
			if len(f.Evidence) > 0 {
				p("\n| time | auditID | user | verb | object | code |\n|---|---|---|---|---|---:|\n")
				for _, e := range f.Evidence {
					p("| %s | %s | %s | %s | %s | %d |\n", fmtT(e.Time), code(e.AuditID), md(e.User), md(e.Verb), md(evObject(e)), e.Code)
				}
			}
			if f.EvidenceMore > 0 {
				p("\nand %d more evidence event(s).\n", f.EvidenceMore)
			}
			p("\n")
		}
		for _, g := range t.Objects {
			rt := rules[g.RuleID]
			p("#### %s %s: %s, %d stored object(s)\n\n", strings.ToUpper(g.Severity.String()), md(g.RuleID), md(g.Title), g.Count)
			p("- **Objects:** %s", md(strings.Join(g.Examples, ", ")))
			if g.Count > len(g.Examples) {
				p(" and %d more (the appendix lists them)", g.Count-len(g.Examples))
			}
			p("\n")
			if rt.Remediation != "" {
				p("- **Remediation:** %s\n", md(rt.Remediation))
			}
			p("\n")
		}
	}
	if r.FindingsMore > 0 {
		p("and %d more finding(s) not in this report.\n\n", r.FindingsMore)
	}

	p("## 5. Timeline of findings\n\n")
	if len(r.Timeline.Findings) == 0 {
		p("No finding with a time.\n\n")
	} else {
		p("| first seen | severity | rule | subject |\n|---|---|---|---|\n")
		for _, i := range r.Timeline.Findings {
			f := r.Findings[i]
			p("| %s | %s | %s | %s |\n", fmtTv(f.FirstSeen), f.Severity, md(f.RuleID), md(f.Subject.String()))
		}
		p("\n")
	}

	p("## 6. Secrets at rest (etcd)\n\n")
	if e := r.Etcd; e == nil {
		p("No etcd snapshot in this report.\n\n")
	} else {
		p("%d secret(s): %s.\n\n| namespace | total |", e.Total, countList(e.ByState))
		for _, st := range e.States {
			p(" %s |", md(st))
		}
		p("\n|---|---:|%s\n", strings.Repeat("---:|", len(e.States)))
		for _, row := range e.ByNamespace {
			p("| %s | %d |", md(dash(row.Namespace)), row.Total)
			for _, n := range row.Counts {
				p(" %d |", n)
			}
			p("\n")
		}
		p("\n")
	}

	p("## 7. Bookmarks and notes\n\n")
	if len(r.Annotations) == 0 {
		p("None.\n\n")
	} else {
		p("| updated | on | bookmarked | note |\n|---|---|---|---|\n")
		for _, n := range r.Annotations {
			p("| %s | %s %s | %t | %s |\n", fmtTv(n.Updated), md(n.Kind), md(n.Target), n.Bookmarked, md(n.Note))
		}
		p("\n")
	}

	if e := r.Etcd; e != nil {
		p("## Appendix: secrets at rest\n\n| namespace | name | type | state | provider | key |\n|---|---|---|---|---|---|\n")
		for _, s := range e.Secrets {
			p("| %s | %s | %s | %s | %s | %s |\n", md(dash(s.Namespace)), md(s.Name), md(dash(s.Type)), md(s.State), md(dash(s.Provider)), md(dash(s.KeyName)))
		}
		if e.SecretsMore > 0 {
			p("\nand %d more.\n", e.SecretsMore)
		}
	}
	return nil
}

func lineSuffix(n int) string {
	if n <= 0 {
		return ""
	}
	return fmt.Sprintf(":%d", n)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func nsName(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

func countList(cs []Count) string {
	if len(cs) == 0 {
		return "none"
	}
	var parts []string
	for _, c := range cs {
		parts = append(parts, fmt.Sprintf("%s %d", md(dash(c.Name)), c.Count))
	}
	return strings.Join(parts, ", ")
}

func evObject(e Evidence) string {
	var parts []string
	for _, s := range []string{e.Resource, e.Namespace, e.Name} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	o := strings.Join(parts, "/")
	if e.Subresource != "" {
		o += "/" + e.Subresource
	}
	return o
}
