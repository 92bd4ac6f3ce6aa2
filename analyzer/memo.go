package analyzer

import (
	"bytes"
	"sort"
	"strconv"
	"strings"

	"github.com/google/cel-go/cel"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// memoVarsAllowed are the variables whose values repeat across many events: a match that
// reads only these gives the same answer for the same values. responseStatus counts only
// when the expression reads its code alone (memo part: the code); authorized is one bit.
var memoVarsAllowed = map[string]bool{"userAgent": true, "verb": true, "stage": true, "level": true, "user": true,
	"impersonatedUser": true, "sourceIPs": true, "objectRef": true, "responseStatus": true, "authorized": true, "onBehalf": true}

// memoizable returns the variables an expression (a match, a key, a field) reads when all
// of them are in memoVarsAllowed, else nil. An expression that reads user.extra (a
// credential's ID, a pod's name) is memoized on the whole identity: one token makes
// many requests.
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
	if seen["objectRef"] && !strings.Contains(expr, "objectRef.name") && !strings.Contains(expr, "objectRef[") {
		// the kind of object (resource, namespace...) without its name: far fewer values
		delete(seen, "objectRef")
		seen["objectKind"] = true
	}
	if seen["responseStatus"] {
		if strings.Count(expr, "responseStatus") != strings.Count(expr, "responseStatus.code") {
			return nil // the message or reason: too varied to repeat
		}
		delete(seen, "responseStatus")
		seen["responseCode"] = true
	}
	if seen["user"] && !strings.Contains(expr, "extra") {
		delete(seen, "user")
		seen["userName"] = true // name and groups: the identity without its token's IDs
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

// Memo keys: each memo variable's value in the current event (its "part": the user agent,
// the identity, the object...) is interned once per event into a small number, and a
// rule's memo key is the array of its variables' numbers: no string is built or hashed
// per rule and event. The numbers are valid until the intern tables are flushed, which
// also flushes every memo (Matcher.Match does both between events when a table is full).

// memoVarIndex numbers the memo variables (memoizable's names).
var memoVarIndex = map[string]int{"userAgent": 0, "verb": 1, "stage": 2, "level": 3, "user": 4, "userName": 5,
	"impersonatedUser": 6, "sourceIPs": 7, "responseCode": 8, "authorized": 9, "objectRef": 10, "objectKind": 11, "onBehalf": 12}

const (
	nMemoVars  = 13
	maxMemoKey = 6 // variables a memoized expression may read
	maxIntern  = 1 << 16
)

// memoKey is a memoized expression's key: its variables' interned parts, in order.
type memoKey [maxMemoKey]uint32

// memoIndexes turns memoizable's names into indexes; nil when there are none or more
// than a key holds.
func memoIndexes(names []string) []int {
	if len(names) == 0 || len(names) > maxMemoKey {
		return nil
	}
	out := make([]int, len(names))
	for i, n := range names {
		out[i] = memoVarIndex[n]
	}
	return out
}

func (a *eventVars) memoKey(vars []int) memoKey {
	var k memoKey
	for i, v := range vars {
		k[i] = a.partID(v)
	}
	return k
}

// partID is the interned number of one variable's part in the current event.
func (a *eventVars) partID(v int) uint32 {
	if a.partOK&(1<<v) != 0 {
		return a.partIDs[v]
	}
	var id uint32
	ev := a.ev
	switch v {
	case 1:
		id = smallEnum(ev.Verb, verbs)
	case 2:
		id = smallEnum(string(ev.Stage), stages)
	case 3:
		id = smallEnum(string(ev.Level), levels)
	case 4:
		id = a.ident().id
	case 5:
		id = a.ident().nameID
	case 6:
		if ev.ImpersonatedUser == nil {
			id = 1 << 31 // no impersonation: a number no interned part has
		}
	case 7:
		id = a.internIPs()
	case 8:
		id = 1 << 31
		if ev.ResponseStatus != nil {
			id |= uint32(ev.ResponseStatus.Code) & 0xffff // the code is its own number
		}
	case 9:
		id = 1 << 31
		if authorizedEvent(ev) {
			id++
		}
	case 10:
		id = a.internObject(true)
	case 11:
		id = a.internObject(false)
	case 12:
		// onBehalf is false, whatever the body, for anything but a system identity's
		// create; that create's answer is the body's: a number no other event has
		if ev.Verb != "create" || ev.ObjectRef == nil || a.al == nil || !a.identityIsSystem() {
			id = 1 << 31
		} else {
			a.uniq++
			id = 1<<29 | a.uniq&(1<<29-1)
		}
	}
	if id != 0 {
		a.partIDs[v], a.partOK = id, a.partOK|1<<v
		return id
	}
	p := a.memoPart(v)
	t := a.intern[v]
	if t == nil {
		t = map[string]uint32{}
		a.intern[v] = t
	}
	id, ok := t[p]
	if !ok {
		id = uint32(len(t) + 1)
		t[p] = id
		if len(t) >= maxIntern {
			a.flush = true // at the next event: the memos keyed on these numbers go too
		}
	}
	a.partIDs[v], a.partOK = id, a.partOK|1<<v
	return id
}

// The few values of verbs, stages and levels are numbered without a map (numbers above
// 1<<30: interned parts never reach them); others are interned.
var (
	verbs  = []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
	stages = []string{"RequestReceived", "ResponseStarted", "ResponseComplete", "Panic"}
	levels = []string{"Metadata", "Request", "RequestResponse", "None", ""}
)

func smallEnum(s string, of []string) uint32 {
	for i, x := range of {
		if x == s {
			return 1<<30 | uint32(i+1)
		}
	}
	return 0
}

func (a *eventVars) memoPart(v int) string {
	ev := a.ev
	var p string
	switch v {
	case 0:
		p = ev.UserAgent
	case 1:
		p = ev.Verb
	case 2:
		p = string(ev.Stage)
	case 3:
		p = string(ev.Level)
	case 6:
		if u := ev.ImpersonatedUser; u != nil {
			var b strings.Builder
			writeUserKey(&b, u.Username, u.Groups, u.Extra)
			p = b.String()
		}
	case 7:
		p = strings.Join(ev.SourceIPs, ",") // more than two addresses: rare
	case 8:
		if ev.ResponseStatus != nil {
			p = strconv.Itoa(int(ev.ResponseStatus.Code))
		}
	case 9:
		if authorizedEvent(ev) {
			p = "1"
		}
	case 10:
		if r := ev.ObjectRef; r != nil {
			// resourceVersion and uid change on every write: memoizable() refuses
			// expressions that read them
			p = r.APIGroup + "/" + r.Resource + "/" + r.Namespace + "/" + r.Name + "/" + r.Subresource + "/" + r.APIVersion
		}
	}
	return p
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

// rawBody is the body a rule needs, as logged.
func rawBody(ev *auditv1.Event, needs string) []byte {
	switch needs {
	case "response":
		if ev.ResponseObject != nil {
			return ev.ResponseObject.Raw
		}
	default:
		if ev.RequestObject != nil {
			return ev.RequestObject.Raw
		}
	}
	return nil
}

// bodyHas reports whether the body a rule needs holds one of the needles.
func bodyHas(ev *auditv1.Event, needs string, needles [][]byte) bool {
	raw := rawBody(ev, needs)
	for _, n := range needles {
		if bytes.Contains(raw, n) {
			return true
		}
	}
	return false
}

// internIPs numbers the event's source addresses (one or two, as a proxy adds its own, are
// the common case: interned without joining them); 0 for more.
func (a *eventVars) internIPs() uint32 {
	ips := a.ev.SourceIPs
	if len(ips) > 2 {
		return 0
	}
	var k [2]string
	copy(k[:], ips)
	if a.ipIDs == nil {
		a.ipIDs = map[[2]string]uint32{}
	}
	id, ok := a.ipIDs[k]
	if !ok {
		id = uint32(len(a.ipIDs) + 1)
		a.ipIDs[k] = id
		if len(a.ipIDs) >= maxIntern {
			a.flush = true
		}
	}
	return id
}

// internObject numbers the event's object reference by its fields (resourceVersion and
// uid left out, as memoizable() refuses expressions that read them; the name too unless
// withName: the kind of object).
func (a *eventVars) internObject(withName bool) uint32 {
	var k auditv1.ObjectReference
	if r := a.ev.ObjectRef; r != nil {
		k = auditv1.ObjectReference{APIGroup: r.APIGroup, Resource: r.Resource, Namespace: r.Namespace,
			Subresource: r.Subresource, APIVersion: r.APIVersion}
		if withName {
			k.Name = r.Name
		} else {
			k.UID = "\x00kind" // never a real UID: kinds and named objects do not share numbers
		}
	}
	if a.objIDs == nil {
		a.objIDs = map[auditv1.ObjectReference]uint32{}
	}
	id, ok := a.objIDs[k]
	if !ok {
		id = uint32(len(a.objIDs) + 1)
		a.objIDs[k] = id
		if len(a.objIDs) >= maxIntern {
			a.flush = true
		}
	}
	return id
}

// signature is an event's every memo variable, interned: events of one signature get
// the same answer from every pure rule (compiled.pure).
type signature [nMemoVars]uint32

func (a *eventVars) signature() signature {
	var s signature
	for v := range s {
		if v != 10 { // pure rules do not read the object's name (compiled.pure)
			s[v] = a.partID(v)
		}
	}
	return s
}

// guardOf returns the conjunction of the top-level conjuncts of a match (a && b && c)
// that read only repeating variables, or "" when there are none or all of them are (the
// match is memoized whole). The guard is necessary for the match: where it is false the
// match need not be evaluated.
func guardOf(env *cel.Env, expr string) string {
	parts := splitAnd(expr)
	if len(parts) < 2 {
		return ""
	}
	var keep []string
	for _, p := range parts {
		if memoizable(env, p) != nil {
			keep = append(keep, "("+p+")")
		}
	}
	if len(keep) == 0 || len(keep) == len(parts) {
		return ""
	}
	return strings.Join(keep, " && ")
}

// splitAnd splits a CEL expression at its top-level && (outside parentheses, brackets,
// braces and string literals); nil when the expression is not a conjunction there, or
// holds a top-level || or ?: (then && binds inside it).
func splitAnd(expr string) []string {
	var parts []string
	depth, start := 0, 0
	var quote byte
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '(' || c == '[' || c == '{':
			depth++
		case c == ')' || c == ']' || c == '}':
			depth--
		case depth == 0 && (c == '?' || (c == '|' && i+1 < len(expr) && expr[i+1] == '|')):
			return nil
		case depth == 0 && c == '&' && i+1 < len(expr) && expr[i+1] == '&':
			parts = append(parts, strings.TrimSpace(expr[start:i]))
			start = i + 2
			i++
		}
	}
	if depth != 0 || quote != 0 {
		return nil
	}
	return append(parts, strings.TrimSpace(expr[start:]))
}
