package analyzer

// Attribute fills each finding's Author and References from the rule that made it, when
// that rule names an author (a Sigma rule: the Detection Rule License 1.1 asks that its
// author and references stay visible wherever its findings are shown). A Sigma rule's
// message already carries them, so every view shows them; these fields give JSON
// consumers the same as data. Findings of rules not in rules are left as they are.
func Attribute(findings []Finding, rules []*Rule) {
	by := make(map[string]*Rule, len(rules))
	for _, r := range rules {
		if r.Author != "" {
			by[r.ID] = r
		}
	}
	if len(by) == 0 {
		return
	}
	for i := range findings {
		if r, ok := by[findings[i].RuleID]; ok {
			findings[i].Author = r.Author
			findings[i].References = append([]string(nil), r.References...)
		}
	}
}
