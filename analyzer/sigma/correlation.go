package sigma

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/kubesleuth/kubesleuth/analyzer"
)

var timespanRe = regexp.MustCompile(`^(\d+)([smhd])$`)

func parseTimespan(s string) (time.Duration, bool) {
	m := timespanRe.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	if err != nil || n <= 0 {
		return 0, false
	}
	unit := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour}[m[2]]
	return time.Duration(n) * unit, true
}

// correlation maps a correlation rule onto a stateful kind of the engine:
//
//	event_count      -> threshold: the referenced rules' events, per group, within timespan
//	value_count      -> distinct: distinct values of condition.field per group within timespan
//	temporal         -> distinct: distinct referenced rules (event types) per group within timespan
//	temporal_ordered -> sequence: the referenced rules in order, per group, within timespan
//
// The engine fires when a count reaches a threshold, so the conditions it takes are gte
// and gt; an upper bound, eq or neq would need the count at the end of the window.
// It returns the referenced detection rules, which fire on their own only with
// generate: true.
func (l *loader) correlation(d *doc, compile func(*doc) (*compiledRule, error)) (*analyzer.Rule, []*doc, error) {
	b := d.body
	typ, err := str(get(b, "type"))
	if err != nil {
		return nil, nil, err
	}
	names, err := strList(get(b, "rules"))
	if err != nil {
		return nil, nil, err
	}
	var refs []*doc
	for _, n := range names {
		if t, ok := l.byRef[n]; ok && t.kind == "rule" {
			refs = append(refs, t)
		}
	}
	switch typ {
	case "event_count", "value_count", "temporal", "temporal_ordered":
	case "value_sum", "value_avg", "value_percentile":
		return nil, refs, unsupported(get(b, "type"), "correlation type %s: the engine counts events and distinct values; it does not sum, average or rank a field", typ)
	case "":
		return nil, refs, errAt(b, "correlation needs a type")
	default:
		return nil, refs, errAt(get(b, "type"), "unknown correlation type %q", typ)
	}
	if len(names) == 0 {
		return nil, refs, errAt(b, "correlation needs rules")
	}
	groupBy, err := strList(get(b, "group-by"))
	if err != nil {
		return nil, refs, err
	}
	tsText, _ := str(get(b, "timespan"))
	ts, ok := parseTimespan(tsText)
	if !ok {
		return nil, refs, errAt(b, "timespan is a number and a unit (s, m, h, d), like 10m")
	}
	aliases := map[string]map[string]string{}
	for _, p := range pairs(get(b, "aliases")) {
		aliases[p.key] = map[string]string{}
		for _, q := range pairs(p.v) {
			aliases[p.key][q.key] = q.v.Value
		}
	}
	// the referenced rules, compiled
	type part struct {
		d   *doc
		c   *compiledRule
		key string // CEL: the group key on this rule's events
	}
	var parts []part
	for _, n := range names {
		t, ok := l.byRef[n]
		switch {
		case !ok:
			return nil, refs, unsupported(get(b, "rules"), "correlation names rule %q, which is not loaded", n)
		case t.kind == "correlation":
			return nil, refs, unsupported(get(b, "rules"), "correlation %s refers to correlation %s: a chain of correlations cannot be mapped onto the engine's kinds (its steps and counts are single events)", d.ruleID, t.ruleID)
		case t.kind != "rule":
			return nil, refs, errAt(get(b, "rules"), "correlation names %q, which is a %s", n, t.kind)
		}
		c, err := compile(t)
		if err != nil {
			return nil, refs, unsupported(get(b, "rules"), "correlation needs rule %s (%s:%d), which is not supported: %v", t.ruleID, t.file, t.line, errText(err))
		}
		key, err := groupKey(groupBy, aliases, t)
		if err != nil {
			return nil, refs, errAt(get(b, "group-by"), "%v", err)
		}
		parts = append(parts, part{t, c, key})
		l.addNotes(d, c.notes)
	}
	cond := map[string]int{}
	var condField []string
	for _, p := range pairs(get(b, "condition")) {
		if p.key == "field" {
			if condField, err = strList(p.v); err != nil {
				return nil, refs, err
			}
			continue
		}
		n, err := strconv.Atoi(p.v.Value)
		if err != nil {
			return nil, refs, errAt(p.v, "condition %s needs an integer", p.key)
		}
		cond[p.key] = n
	}
	threshold := func(def int) (int, error) {
		if len(cond) == 0 {
			if def > 0 {
				return def, nil
			}
			return 0, errAt(b, "correlation %s needs a condition (gte: N)", typ)
		}
		for k := range cond {
			if k != "gte" && k != "gt" {
				return 0, unsupported(get(b, "condition"), "condition %s: the engine fires when a count reaches a threshold (gte, gt); lt, lte, eq, neq and ranges need the count at the end of the window", k)
			}
		}
		if len(cond) > 1 {
			return 0, errAt(get(b, "condition"), "condition has both gte and gt")
		}
		n, ok := cond["gte"]
		if !ok {
			n = cond["gt"] + 1
		}
		if n < 1 {
			n = 1
		}
		return n, nil
	}

	r := l.base(d)
	r.Subject = subjectOf(groupBy)
	var matches, keys []string
	var ons []*analyzer.Prefilter
	for _, p := range parts {
		matches = append(matches, paren(p.c.match.s))
		keys = append(keys, p.key)
		ons = append(ons, p.c.on)
		switch {
		case p.c.needs == "response" || (p.c.needs == "request" && r.Needs == "response"):
			r.Needs = "response"
		case p.c.needs == "request":
			r.Needs = "request"
		}
	}
	match := strings.Join(matches, " || ")
	key := keys[0]
	if !allSame(keys) {
		// aliases: each rule's events are keyed by their own fields
		key = q("")
		for i := len(parts) - 1; i >= 0; i-- {
			key = "(" + matches[i] + " ? " + keys[i] + " : " + key + ")"
		}
	}
	r.Window = analyzer.Duration(ts)
	switch typ {
	case "event_count":
		r.Kind, r.Match, r.Key, r.On = analyzer.KindThreshold, match, key, mergePrefilters(ons)
		if r.Threshold, err = threshold(0); err != nil {
			return nil, refs, err
		}
	case "value_count":
		if len(condField) == 0 {
			return nil, refs, errAt(get(b, "condition"), "value_count needs condition.field")
		}
		var fields []string
		for _, f := range condField {
			if al, ok := aliases[f]; ok && len(parts) == 1 {
				if v, ok := al[parts[0].d.name]; ok {
					f = v
				}
			}
			a, err := resolveField(f)
			if err != nil {
				return nil, refs, unsupported(get(b, "condition"), "%v", err)
			}
			if a.kind == aKeyword {
				return nil, refs, errAt(get(b, "condition"), "value_count counts a field")
			}
			fields = append(fields, valueOf(a))
		}
		field := fields[0]
		if len(fields) > 1 {
			// several fields are counted as one tuple; a missing part leaves the event out
			field = "([" + strings.Join(fields, ", ") + "].exists(v, v == \"\") ? \"\" : [" + strings.Join(fields, ", ") + "].join(\"\\u001f\"))"
		}
		r.Kind, r.Match, r.Key, r.Field, r.On = analyzer.KindDistinct, match, key, field, mergePrefilters(ons)
		if r.Threshold, err = threshold(0); err != nil {
			return nil, refs, err
		}
	case "temporal":
		// the distinct "event types" of a key are the rules its events matched
		var types []string
		for i, p := range parts {
			types = append(types, "("+matches[i]+" ? ["+q(p.d.ruleID)+"] : [])")
		}
		r.Kind, r.Match, r.Key, r.Field, r.On = analyzer.KindDistinct, match, key, strings.Join(types, " + "), mergePrefilters(ons)
		if r.Threshold, err = threshold(len(parts)); err != nil {
			return nil, refs, err
		}
	case "temporal_ordered":
		if n, err := threshold(len(parts)); err != nil || n != len(parts) {
			if err == nil {
				err = unsupported(get(b, "condition"), "temporal_ordered with a condition below the number of rules: the engine's sequences need every step")
			}
			return nil, refs, err
		}
		if len(parts) < 2 {
			return nil, refs, errAt(get(b, "rules"), "temporal_ordered needs at least two rules")
		}
		r.Kind, r.Within = analyzer.KindSequence, analyzer.Duration(ts)
		r.Window = 0
		for _, p := range parts {
			step := p.d.name
			if step == "" {
				step = p.d.title
			}
			// a step is evaluated under its own rule's prefilter
			r.Steps = append(r.Steps, analyzer.Step{Name: step, On: p.c.on, Match: p.c.lean.s, Key: p.key})
		}
		key = keys[len(keys)-1] // the message is made on the last step's event
	}
	r.Message = q(d.title+" for ") + " + " + key + " + " + q(strings.TrimPrefix(attribution(d), d.title))
	return r, refs, nil
}

func errText(err error) string {
	if e, ok := err.(unsupportedErr); ok {
		err = e.error
	}
	if e, ok := err.(*lineErr); ok {
		return fmt.Sprintf("line %d: %s", e.line, e.msg)
	}
	return err.Error()
}

func paren(s string) string {
	if strings.HasPrefix(s, "(") || !strings.ContainsAny(s, " ") {
		return s
	}
	return "(" + s + ")"
}

func allSame(xs []string) bool {
	for _, x := range xs {
		if x != xs[0] {
			return false
		}
	}
	return true
}

// groupKey is the CEL key of a rule's events: "field=value|field=value", never empty
// (an event without the field is grouped with the others that lack it, as it is in a
// SIEM that groups on a missing value).
func groupKey(groupBy []string, aliases map[string]map[string]string, t *doc) (string, error) {
	if len(groupBy) == 0 {
		return q("all"), nil
	}
	var parts []string
	for i, g := range groupBy {
		f := g
		if al, ok := aliases[g]; ok {
			v, ok := al[t.name]
			if !ok {
				v, ok = al[t.ruleID]
			}
			if !ok {
				return "", fmt.Errorf("alias %q names no field for rule %s (aliases are keyed by the rule's name)", g, t.ruleID)
			}
			f = v
		}
		a, err := resolveField(f)
		if err != nil {
			return "", err
		}
		if a.kind == aKeyword {
			return "", fmt.Errorf("group-by needs field names")
		}
		sep := "|"
		if i == 0 {
			sep = ""
		}
		parts = append(parts, q(sep+g+"=")+" + "+valueOf(a))
	}
	return strings.Join(parts, " + "), nil
}

// valueOf is a field's value as one CEL string ("" when absent; several values joined).
func valueOf(a accessor) string {
	switch a.kind {
	case aString:
		return a.expr
	case aOptString:
		return "(" + a.guard + " ? " + a.expr + " : \"\")"
	case aInt, aTime:
		return "string(" + a.expr + ")"
	case aConst:
		return q(a.expr)
	case aStrList:
		return a.expr + ".join(\",\")"
	}
	return "sigmaStrings(" + a.expr + ").join(\",\")"
}

// subjectOf names the finding's subject after the group-by fields the engine's subjects
// know; with others (or none) the subject is empty and the group is in the message and
// the fold key.
func subjectOf(groupBy []string) []string {
	var out []string
	for _, g := range groupBy {
		switch {
		case g == "user.username" || g == "user":
			out = append(out, "user")
		case g == "sourceIPs":
			out = append(out, "source_ip")
		case g == "userAgent":
			out = append(out, "user_agent")
		default:
			return []string{}
		}
	}
	if out == nil {
		return []string{}
	}
	return out
}
