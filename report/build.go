package report

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/analyzer/redact"
	"github.com/kubesleuth/kubesleuth/analyzer/secrets"
	"github.com/kubesleuth/kubesleuth/index"
)

// Options are what every report is built with.
type Options struct {
	Catalog *Catalog
	// MinSeverity leaves out findings below it (when HasMin).
	MinSeverity analyzer.Severity
	HasMin      bool
	// Rules keeps only findings whose rule ID matches one of these (path.Match patterns:
	// KS-ETCD-*); ExcludeRules leaves out those that match one.
	Rules, ExcludeRules []string
	Title               string
	ToolVersion         string
	GeneratedBy         string
	// Now is the report's time (zero: time.Now()).
	Now time.Time
	// Progress, when set, follows the building (for a progress line).
	Progress *Progress
}

// CheckPatterns fails on a --rule or --exclude-rule pattern path.Match rejects.
func (o Options) CheckPatterns() error {
	for _, p := range append(append([]string(nil), o.Rules...), o.ExcludeRules...) {
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("rule pattern %q: %v", redact.String(p), err)
		}
	}
	return nil
}

func matchAny(pats []string, id string) bool {
	for _, p := range pats {
		if ok, _ := path.Match(p, id); ok {
			return true
		}
	}
	return false
}

// keep applies the filter.
func (o Options) keep(f analyzer.Finding) bool {
	if o.HasMin && f.Severity < o.MinSeverity {
		return false
	}
	if len(o.Rules) > 0 && !matchAny(o.Rules, f.RuleID) {
		return false
	}
	return !matchAny(o.ExcludeRules, f.RuleID)
}

// input is what either source of a report (a case, a run over files) hands to build.
type input struct {
	scope        Scope
	levels       map[string]int
	stages       map[string]int
	notEvaluable []NotEvaluable // nil: derived from the levels
	hist         histogram
	findings     []analyzer.Finding
	// evidence returns the evidence of the finding (at most MaxEvidence, one per auditID).
	evidence func(f analyzer.Finding) ([]Evidence, error)
	// located holds the locations a run saw (by FindingID); locate finds the others.
	located map[string]Location
	locate  func(ids map[string]bool) (map[string]Location, error)
	secrets []index.SecretAtRest
	notes   []index.Annotation
}

func build(in input, o Options) (*Report, error) {
	now := o.Now
	if now.IsZero() {
		now = time.Now().UTC()
	}
	rep := &Report{SchemaVersion: Version, Title: o.Title, Generated: now.UTC(), GeneratedBy: o.GeneratedBy, ToolVersion: o.ToolVersion,
		Scope: in.scope, Findings: []Finding{}, Tactics: []Tactic{}, Annotations: []Note{}, Rules: []RuleText{}}
	if rep.Title == "" {
		rep.Title = "kubesleuth report"
	}
	rep.Filter = Filter{Rules: o.Rules, ExcludeRules: o.ExcludeRules}
	if o.HasMin {
		rep.Filter.MinSeverity = o.MinSeverity.String()
	}

	// findings: filtered, grouped by tactic, most severe first, then by time
	kept := make([]Finding, 0, len(in.findings))
	for _, f := range in.findings {
		if !o.keep(f) {
			rep.Filter.Excluded++
			continue
		}
		f = f.Redacted()
		src := "audit"
		if strings.HasPrefix(f.RuleID, "KS-ETCD-") || f.Subject.Key != "" {
			src = "etcd"
		}
		id := index.FindingID(f)
		sum := sha256.Sum256([]byte(fingerprintOf(f)))
		kept = append(kept, Finding{Finding: f, ID: id, Fingerprint: hex.EncodeToString(sum[:16]), Tactic: TacticOf(f.MITRE), Source: src, Evidence: []Evidence{}})
	}
	sort.SliceStable(kept, func(i, j int) bool {
		a, b := kept[i], kept[j]
		if ra, rb := tacticRank(a.Tactic), tacticRank(b.Tactic); ra != rb {
			return ra < rb
		}
		if a.Severity != b.Severity {
			return a.Severity > b.Severity
		}
		if !a.FirstSeen.Equal(b.FirstSeen) {
			return a.FirstSeen.Before(b.FirstSeen)
		}
		return a.ID < b.ID
	})
	if len(kept) > MaxFindings {
		rep.FindingsMore = len(kept) - MaxFindings
		kept = kept[:MaxFindings]
	}
	rep.Findings = kept

	// evidence and locations
	want := map[string]bool{}
	o.Progress.set("evidence", "findings", int64(len(rep.Findings)))
	for i := range rep.Findings {
		o.Progress.add(1)
		f := &rep.Findings[i]
		if f.Source == "audit" && in.evidence != nil {
			ev, err := in.evidence(f.Finding)
			if err != nil {
				return nil, err
			}
			f.Evidence = ev
		}
		f.EvidenceMore = max(0, len(f.AuditIDs)-len(f.Evidence))
		if loc, ok := in.located[f.ID]; ok {
			f.Location = &loc
		} else if len(f.AuditIDs) > 0 && f.Source == "audit" {
			want[f.AuditIDs[0]] = true
		}
	}
	if len(want) > 0 && in.locate != nil {
		locs, err := in.locate(want)
		if err != nil {
			return nil, err
		}
		for i := range rep.Findings {
			f := &rep.Findings[i]
			if f.Location == nil && len(f.AuditIDs) > 0 {
				if l, ok := locs[f.AuditIDs[0]]; ok {
					f.Location = &l
				}
			}
		}
	}

	// an etcd finding is located at the snapshot it was read from
	var snap *Location
	for _, s := range rep.Scope.Sources {
		if s.Kind == "etcd-snapshot" {
			snap = &Location{File: s.AbsPath, Size: s.Size}
			if snap.File == "" {
				snap.File = s.Path
			}
			break
		}
	}
	for i := range rep.Findings {
		if f := &rep.Findings[i]; f.Source == "etcd" && f.Location == nil && snap != nil {
			l := *snap
			f.Location = &l
		}
	}

	// tactics, in order of the findings
	for i, f := range rep.Findings {
		if n := len(rep.Tactics); n == 0 || rep.Tactics[n-1].Name != f.Tactic {
			rep.Tactics = append(rep.Tactics, Tactic{Name: f.Tactic, Findings: []int{}})
		}
		t := &rep.Tactics[len(rep.Tactics)-1]
		t.Count++
		if f.Source != "etcd" || f.Subject.Key == "" {
			t.Findings = append(t.Findings, i)
			continue
		}
		g := -1
		for j := range t.Objects {
			if t.Objects[j].RuleID == f.RuleID {
				g = j
			}
		}
		if g < 0 {
			g = len(t.Objects)
			t.Objects = append(t.Objects, ObjectGroup{RuleID: f.RuleID, Title: f.Title, Severity: f.Severity, Examples: []string{}})
		}
		og := &t.Objects[g]
		og.Count++
		og.Severity = max(og.Severity, f.Severity)
		if len(og.Examples) < 5 {
			og.Examples = append(og.Examples, f.Subject.Key)
		}
	}

	// rule texts of the findings shown
	texts := map[string]RuleText{}
	for _, f := range rep.Findings {
		if _, ok := texts[f.RuleID]; ok {
			continue
		}
		t, ok := o.Catalog.Lookup(f.RuleID)
		if !ok { // a rule the report was not given: what the finding says of itself
			t = RuleText{ID: f.RuleID, Title: f.Title, Severity: f.Severity, MITRE: f.MITRE, Tactic: f.Tactic, References: f.References, Source: "unknown"}
		}
		if t.MITRE == nil {
			t.MITRE = []string{}
		}
		texts[f.RuleID] = t
	}
	rep.Rules = sortedRuleTexts(texts)

	rep.Coverage = coverage(in, o.Catalog)
	rep.Timeline = timeline(in.hist, rep.Findings)
	rep.Etcd = etcdSection(in.secrets)
	rep.Summary = summary(rep, texts)
	rep.Annotations = notes(in.notes, rep.Findings)
	rep.redact()
	return rep, nil
}

// coverage: levels and stages seen, rules that could not look, gaps.
func coverage(in input, cat *Catalog) Coverage {
	c := Coverage{Levels: counts(in.levels), Stages: counts(in.stages), NotEvaluable: in.notEvaluable, NotEvaluableExact: in.notEvaluable != nil, Gaps: []Gap{}}
	if c.NotEvaluable == nil {
		c.NotEvaluable = derivedNotEvaluable(in.levels, cat)
	}
	for i := range c.NotEvaluable {
		if t, ok := cat.Lookup(c.NotEvaluable[i].RuleID); ok {
			c.NotEvaluable[i].Title = t.Title
		}
	}
	gap := max(MinGap, 2*in.hist.interval)
	c.MinGap = gap.String()
	run := 0
	for i := 0; i <= len(in.hist.counts); i++ {
		if i < len(in.hist.counts) && in.hist.counts[i] == 0 {
			run++
			continue
		}
		if d := time.Duration(run) * in.hist.interval; run > 0 && d >= gap && len(c.Gaps) < 100 {
			from := in.hist.start.Add(time.Duration(i-run) * in.hist.interval)
			c.Gaps = append(c.Gaps, Gap{From: from, To: from.Add(d), Duration: d.String()})
		}
		run = 0
	}
	return c
}

// MinGap is the shortest stretch without events reported as a gap in the trail.
const MinGap = 15 * time.Minute

// levelRank orders audit levels by what they record.
var levelRank = map[string]int{"None": 0, "Metadata": 1, "Request": 2, "RequestResponse": 3}

// derivedNotEvaluable: a case keeps the levels seen, not the engine's per-rule counts;
// a rule that reads a body is listed with the events at levels that do not record it.
func derivedNotEvaluable(levels map[string]int, cat *Catalog) []NotEvaluable {
	out := []NotEvaluable{}
	if cat == nil {
		return out
	}
	for _, t := range sortedRuleTexts(cat.byID) {
		need := 0
		switch t.needs {
		case analyzer.NeedsRequest, analyzer.NeedsObject:
			need = 2
		case analyzer.NeedsResponse:
			need = 3
		default:
			continue
		}
		n := 0
		for l, c := range levels {
			if levelRank[l] < need {
				n += c
			}
		}
		if n > 0 {
			out = append(out, NotEvaluable{RuleID: t.ID, Needs: t.needs, Events: n})
		}
	}
	return out
}

func counts(m map[string]int) []Count {
	out := make([]Count, 0, len(m))
	for k, v := range m {
		out = append(out, Count{k, v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Name < out[j].Name
	})
	return out
}

func timeline(h histogram, fs []Finding) Timeline {
	t := Timeline{Counts: h.counts, Findings: []int{}}
	if t.Counts == nil {
		t.Counts = []int{}
	}
	if len(h.counts) > 0 {
		s := h.start
		t.Start, t.Interval = &s, h.interval.String()
	}
	for _, c := range h.counts {
		t.Max = max(t.Max, c)
	}
	for i, f := range fs {
		if !f.FirstSeen.IsZero() {
			t.Findings = append(t.Findings, i)
		}
	}
	sort.SliceStable(t.Findings, func(a, b int) bool {
		return fs[t.Findings[a]].FirstSeen.Before(fs[t.Findings[b]].FirstSeen)
	})
	return t
}

func etcdSection(ss []index.SecretAtRest) *Etcd {
	if len(ss) == 0 {
		return nil
	}
	e := &Etcd{Total: len(ss), Secrets: []EtcdSecret{}}
	byState := map[string]int{}
	byNS := map[string]map[string]int{}
	for _, s := range ss {
		byState[s.State]++
		if byNS[s.Namespace] == nil {
			byNS[s.Namespace] = map[string]int{}
		}
		byNS[s.Namespace][s.State]++
	}
	e.ByState = counts(byState)
	for _, c := range e.ByState {
		e.States = append(e.States, c.Name)
	}
	for ns, m := range byNS {
		row := NamespaceRow{Namespace: ns, Counts: make([]int, len(e.States))}
		for i, st := range e.States {
			row.Counts[i] = m[st]
			row.Total += m[st]
		}
		e.ByNamespace = append(e.ByNamespace, row)
	}
	sort.Slice(e.ByNamespace, func(i, j int) bool {
		a, b := e.ByNamespace[i], e.ByNamespace[j]
		if a.Total != b.Total {
			return a.Total > b.Total
		}
		return a.Namespace < b.Namespace
	})
	// the appendix: worst state first (plaintext), then by namespace and name
	sorted := append([]index.SecretAtRest(nil), ss...)
	rank := map[string]int{}
	for _, st := range []string{"plaintext", "absent-key", "stale-key", "undecodable"} {
		rank[st] = len(rank) + 1
	}
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		ra, rb := rank[a.State], rank[b.State]
		if ra == 0 {
			ra = 99
		}
		if rb == 0 {
			rb = 99
		}
		if ra != rb {
			return ra < rb
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	for i, s := range sorted {
		if i >= MaxEtcdList {
			e.SecretsMore = len(sorted) - MaxEtcdList
			break
		}
		e.Secrets = append(e.Secrets, EtcdSecret{Namespace: s.Namespace, Name: s.Name, Type: s.Type, State: s.State, Provider: s.Provider,
			KeyName: s.KeyName, Deleted: s.Deleted, OldPlaintextRevisions: s.OldPlaintextRevisions})
	}
	return e
}

func summary(rep *Report, texts map[string]RuleText) Summary {
	s := Summary{Findings: len(rep.Findings) + rep.FindingsMore, Identities: []Identity{}, Secrets: []ExposedSecret{}, FixFirst: []Fix{}}
	sev := map[analyzer.Severity]int{}
	ids := map[string]*Identity{}
	secs := map[string]*ExposedSecret{}
	type ruleAgg struct {
		id    string
		sev   analyzer.Severity
		n     int
		first time.Time
	}
	rules := map[string]*ruleAgg{}
	for _, f := range rep.Findings {
		sev[f.Severity]++
		if u := f.Subject.User; u != "" {
			id := ids[u]
			if id == nil {
				id = &Identity{User: u, Worst: f.Severity}
				ids[u] = id
			}
			id.Findings++
			id.Worst = max(id.Worst, f.Severity)
			if !contains(id.Rules, f.RuleID) {
				id.Rules = append(id.Rules, f.RuleID)
			}
		}
		// plaintext at rest is counted (EtcdPlaintext), not named: a snapshot has thousands
		if (f.Subject.Resource == "secrets" && f.Subject.Name != "") || (f.Source == "etcd" && f.Subject.Key != "" && f.RuleID != secrets.RulePlaintextSecret) {
			ns, name := f.Subject.Namespace, f.Subject.Name
			if name == "" { // an etcd key: /registry/secrets/NS/NAME
				parts := strings.Split(strings.TrimPrefix(f.Subject.Key, "/registry/secrets/"), "/")
				ns, name = "", parts[len(parts)-1]
				if len(parts) == 2 {
					ns = parts[0]
				}
			}
			k := ns + "/" + name
			e := secs[k]
			if e == nil {
				e = &ExposedSecret{Namespace: ns, Name: name, Worst: f.Severity}
				secs[k] = e
			}
			e.Worst = max(e.Worst, f.Severity)
			if !contains(e.Rules, f.RuleID) {
				e.Rules = append(e.Rules, f.RuleID)
			}
		}
		r := rules[f.RuleID]
		if r == nil {
			r = &ruleAgg{id: f.RuleID, sev: f.Severity, first: f.FirstSeen}
			rules[f.RuleID] = r
		}
		r.n++
		r.sev = max(r.sev, f.Severity)
	}
	for i := len(analyzer.Severities()) - 1; i >= 0; i-- {
		v := analyzer.Severities()[i]
		s.BySeverity = append(s.BySeverity, Count{v.String(), sev[v]})
	}
	for _, id := range ids {
		sort.Strings(id.Rules)
		s.Identities = append(s.Identities, *id)
	}
	sort.Slice(s.Identities, func(i, j int) bool {
		a, b := s.Identities[i], s.Identities[j]
		if a.Worst != b.Worst {
			return a.Worst > b.Worst
		}
		if a.Findings != b.Findings {
			return a.Findings > b.Findings
		}
		return a.User < b.User
	})
	if len(s.Identities) > MaxIdentities {
		s.IdentitiesMore = len(s.Identities) - MaxIdentities
		s.Identities = s.Identities[:MaxIdentities]
	}
	for _, e := range secs {
		sort.Strings(e.Rules)
		s.Secrets = append(s.Secrets, *e)
	}
	sort.Slice(s.Secrets, func(i, j int) bool {
		a, b := s.Secrets[i], s.Secrets[j]
		if a.Worst != b.Worst {
			return a.Worst > b.Worst
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	if len(s.Secrets) > MaxSecrets {
		s.SecretsMore = len(s.Secrets) - MaxSecrets
		s.Secrets = s.Secrets[:MaxSecrets]
	}
	if rep.Etcd != nil {
		for _, c := range rep.Etcd.ByState {
			if c.Name == "plaintext" {
				s.EtcdPlaintext = c.Count
			}
		}
	}
	// fix first: the most severe rules, the more findings the sooner
	var rs []*ruleAgg
	for _, r := range rules {
		rs = append(rs, r)
	}
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].sev != rs[j].sev {
			return rs[i].sev > rs[j].sev
		}
		if rs[i].n != rs[j].n {
			return rs[i].n > rs[j].n
		}
		return rs[i].id < rs[j].id
	})
	for _, r := range rs {
		if len(s.FixFirst) == FixFirst {
			break
		}
		t := texts[r.id]
		rem := t.Remediation
		if rem == "" {
			rem = "see the rule's description"
		}
		s.FixFirst = append(s.FixFirst, Fix{RuleID: r.id, Title: t.Title, Severity: r.sev, Findings: r.n, Remediation: rem})
	}
	return s
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func notes(as []index.Annotation, fs []Finding) []Note {
	out := []Note{}
	byID := map[string]int{}
	for i, f := range fs {
		byID[f.ID] = i
	}
	for _, a := range as {
		n := Note{Kind: a.Target.Kind, Target: a.Target.ID, Bookmarked: a.Bookmarked, Note: a.Note, Updated: a.Updated.UTC(), Finding: -1}
		if a.Target.Kind == "finding" {
			if i, ok := byID[a.Target.ID]; ok {
				n.Finding = i
				fs[i].Bookmarked, fs[i].Note = a.Bookmarked, a.Note
			}
		}
		out = append(out, n)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Updated.Before(out[j].Updated) })
	return out
}

// fingerprintOf is what identifies a finding across runs (SARIF's partialFingerprints):
// its rule, subject and first time, with a file named by the subject (an encryption
// config) by its base name, so that the same file read from another folder is the same
// finding.
func fingerprintOf(f analyzer.Finding) string {
	if strings.HasPrefix(f.Subject.Name, "/") {
		f.Subject.Name = path.Base(f.Subject.Name)
	}
	return index.FindingID(f)
}
