package report

import (
	"sort"
	"strings"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/analyzer/secrets"
)

// RuleText is what a report says about a rule: the texts of its rule file (or of the
// etcd rule table), never its CEL.
type RuleText struct {
	ID          string            `json:"id"`
	Title       string            `json:"title"`
	Severity    analyzer.Severity `json:"severity"`
	MITRE       []string          `json:"mitre"`
	Tactic      string            `json:"tactic"`
	Description string            `json:"description,omitempty"`
	Remediation string            `json:"remediation,omitempty"`
	References  []string          `json:"references,omitempty"`
	// Source is where the rule came from: "builtin:exec.yaml", a user rule file's path,
	// or "builtin:etcd" for the secrets-at-rest rules.
	Source string `json:"source"`
	// needs is the body the rule reads (analyzer.Rule.Needs), for coverage.
	needs string
}

// Catalog holds the texts of every rule a report may name: the audit rules the run used
// (built-in and user rule files) and the etcd rules. A finding of a rule the catalog
// does not hold (a case ingested with a rule file not given to report) is shown with its
// own title and message only.
type Catalog struct{ byID map[string]RuleText }

// NewCatalog builds the catalog of rules plus the etcd rule table. A rule of rules with
// the ID of an etcd rule replaces it (user files cannot: loadRules refuses the clash).
func NewCatalog(rules []*analyzer.Rule) *Catalog {
	c := &Catalog{byID: map[string]RuleText{}}
	for id, r := range secrets.Rules {
		c.byID[id] = RuleText{ID: id, Title: r.Title, Severity: r.Severity, MITRE: r.MITRE, Tactic: TacticOf(r.MITRE),
			Remediation: r.Remediation, Source: "builtin:etcd",
			References: []string{"https://kubernetes.io/docs/tasks/administer-cluster/encrypt-data/"}}
	}
	for _, r := range rules {
		c.byID[r.ID] = RuleText{ID: r.ID, Title: r.Title, Severity: r.Severity, MITRE: r.MITRE, Tactic: TacticOf(r.MITRE),
			Description: strings.TrimSpace(r.Description), Remediation: strings.TrimSpace(r.Remediation),
			References: r.References, Source: r.Source, needs: r.Needs}
	}
	return c
}

// Lookup returns the rule's texts.
func (c *Catalog) Lookup(id string) (RuleText, bool) {
	if c == nil {
		return RuleText{}, false
	}
	t, ok := c.byID[id]
	return t, ok
}

// Tactics in ATT&CK's order (enterprise matrix, containers platform), then the findings
// whose technique is not mapped.
var Tactics = []string{
	"Reconnaissance", "Initial Access", "Execution", "Persistence", "Privilege Escalation",
	"Defense Evasion", "Credential Access", "Discovery", "Lateral Movement", "Collection",
	"Command and Control", "Exfiltration", "Impact", Unmapped,
}

// Unmapped is the group of findings without an ATT&CK technique (configuration findings
// such as a deprecated etcd provider) or with one this table does not know.
const Unmapped = "Other (no ATT&CK tactic)"

// techniqueTactic maps a technique (its base ID) to one tactic: ATT&CK lists several for
// many techniques; the one kept is the first of ATT&CK's order that fits how the rules
// of this catalog use it (T1078 Valid Accounts: Initial Access, since the rules flag a
// credential used from where it should not be).
var techniqueTactic = map[string]string{
	"T1595": "Reconnaissance",
	"T1078": "Initial Access", "T1133": "Initial Access", "T1190": "Initial Access",
	"T1059": "Execution", "T1053": "Execution", "T1609": "Execution", "T1610": "Execution",
	"T1098": "Persistence", "T1136": "Persistence", "T1525": "Persistence", "T1543": "Persistence", "T1546": "Persistence",
	"T1134": "Privilege Escalation", "T1484": "Privilege Escalation", "T1548": "Privilege Escalation", "T1611": "Privilege Escalation",
	"T1036": "Defense Evasion", "T1070": "Defense Evasion", "T1562": "Defense Evasion",
	"T1040": "Credential Access", "T1110": "Credential Access", "T1528": "Credential Access", "T1552": "Credential Access",
	"T1557": "Credential Access", "T1649": "Credential Access",
	"T1046": "Discovery", "T1069": "Discovery", "T1613": "Discovery",
	"T1210": "Lateral Movement", "T1550": "Lateral Movement",
	"T1005": "Collection",
	"T1071": "Command and Control", "T1105": "Command and Control", "T1572": "Command and Control",
	"T1041": "Exfiltration",
	"T1485": "Impact",
}

// TacticOf is the tactic of a finding's or rule's first technique that the table knows.
func TacticOf(mitre []string) string {
	for _, t := range mitre {
		base, _, _ := strings.Cut(strings.ToUpper(strings.TrimSpace(t)), ".")
		if tac, ok := techniqueTactic[base]; ok {
			return tac
		}
	}
	return Unmapped
}

func tacticRank(t string) int {
	for i, x := range Tactics {
		if x == t {
			return i
		}
	}
	return len(Tactics)
}

func sortedRuleTexts(m map[string]RuleText) []RuleText {
	out := make([]RuleText, 0, len(m))
	for _, r := range m {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
