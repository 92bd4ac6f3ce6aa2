package analyzer

import (
	"bytes"
	"sort"
	"strings"

	"github.com/google/cel-go/cel"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// memoVarsAllowed are the variables whose values repeat across many events: a match that
// reads only these gives the same answer for the same values.
var memoVarsAllowed = map[string]bool{"userAgent": true, "verb": true, "stage": true, "level": true, "user": true,
	"impersonatedUser": true, "sourceIPs": true, "objectRef": true}

// memoizable returns the variables a match expression reads when all of them are in
// memoVarsAllowed, else nil.
func memoizable(env *cel.Env, expr string) []string {
	ast, iss := env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		return nil
	}
	seen := map[string]bool{}
	for _, ri := range ast.NativeRep().ReferenceMap() {
		if ri.Name == "" {
			continue // a function
		}
		if _, declared := declaredVars[ri.Name]; !declared {
			continue
		}
		if !memoVarsAllowed[ri.Name] {
			return nil
		}
		seen[ri.Name] = true
	}
	if len(seen) == 0 {
		return nil
	}
	if seen["objectRef"] && (strings.Contains(expr, "resourceVersion") || strings.Contains(expr, "uid")) {
		return nil
	}
	if seen["user"] && strings.Contains(expr, "extra") {
		return nil // extras carry per-token IDs: a memo would rarely hit and cost a key per event
	}
	if seen["user"] {
		delete(seen, "user")
		seen["userName"] = true // name and groups: extras (token IDs) would defeat the memo
	}
	out := make([]string, 0, len(seen))
	for v := range seen {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

var declaredVars = map[string]struct{}{"auditID": {}, "stage": {}, "level": {}, "verb": {}, "requestURI": {}, "userAgent": {},
	"user": {}, "impersonatedUser": {}, "sourceIPs": {}, "objectRef": {}, "responseStatus": {}, "requestObject": {},
	"responseObject": {}, "annotations": {}, "time": {}, "object": {}, "change": {}, "authorized": {}, "onBehalf": {}, "expectedWorkload": {}, "objectName": {}}

// memoKey is the memo key of the variables for the current event. Each variable's part
// is computed once per event and shared by every rule that memoizes on it.
func (a *eventVars) memoKey(vars []string) string {
	if len(vars) == 1 {
		return a.memoPart(vars[0])
	}
	var b strings.Builder
	for _, v := range vars {
		b.WriteString(a.memoPart(v))
		b.WriteByte(0)
	}
	return b.String()
}

func (a *eventVars) memoPart(v string) string {
	if p, ok := a.parts[v]; ok {
		return p
	}
	ev := a.ev
	var p string
	switch v {
	case "userAgent":
		p = ev.UserAgent
	case "verb":
		p = ev.Verb
	case "stage":
		p = string(ev.Stage)
	case "level":
		p = string(ev.Level)
	case "user":
		p = a.userKey()
	case "userName":
		p = ev.User.Username + "\x01" + strings.Join(ev.User.Groups, ",")
	case "impersonatedUser":
		if u := ev.ImpersonatedUser; u != nil {
			var b strings.Builder
			writeUserKey(&b, u.Username, u.Groups, u.Extra)
			p = b.String()
		}
	case "sourceIPs":
		p = strings.Join(ev.SourceIPs, ",")
	case "objectRef":
		if r := ev.ObjectRef; r != nil {
			// resourceVersion and uid change on every write: memoizable() refuses
			// expressions that read them
			p = r.APIGroup + "/" + r.Resource + "/" + r.Namespace + "/" + r.Name + "/" + r.Subresource + "/" + r.APIVersion
		}
	}
	if a.parts == nil {
		a.parts = map[string]string{}
	}
	a.parts[v] = p
	return p
}

// userKey identifies the event's identity (name, groups, extras), once per event.
func (a *eventVars) userKey() string {
	if !a.hasUserKey {
		var b strings.Builder
		writeUserKey(&b, a.ev.User.Username, a.ev.User.Groups, a.ev.User.Extra)
		a.ukey, a.hasUserKey = b.String(), true
	}
	return a.ukey
}

func writeUserKey[E ~[]string](b *strings.Builder, name string, groups []string, extra map[string]E) {
	b.WriteString(name)
	b.WriteByte(1)
	b.WriteString(strings.Join(groups, ","))
	if len(extra) > 0 {
		keys := make([]string, 0, len(extra))
		for k := range extra {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			b.WriteByte(1)
			b.WriteString(k)
			b.WriteByte('=')
			b.WriteString(strings.Join(extra[k], ","))
		}
	}
}

// bodyHas reports whether the body a rule needs holds one of the needles.
func bodyHas(ev *auditv1.Event, needs string, needles [][]byte) bool {
	var raw []byte
	switch needs {
	case "response":
		if ev.ResponseObject != nil {
			raw = ev.ResponseObject.Raw
		}
	default:
		if ev.RequestObject != nil {
			raw = ev.RequestObject.Raw
		}
	}
	for _, n := range needles {
		if bytes.Contains(raw, n) {
			return true
		}
	}
	return false
}
