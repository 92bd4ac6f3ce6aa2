package sigma

import (
	"encoding/json"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/analyzer/sigma/sigmafn"
)

// direct evaluates the detection trees in Go, without CEL: the other way to run Sigma
// rules, kept here as the oracle the CEL translation is checked against and as the
// comparison point of the benchmark. It follows the same reading of the event
// (resolveField) and the same stage and level gates.
type direct struct {
	rules []*directRule
}

type directRule struct {
	id     string
	tree   node
	on     *analyzer.Prefilter
	levelN int
}

// newDirect compiles the detection rules of Sigma YAML files (not correlations).
func newDirect(opts Options, files map[string][]byte) *direct {
	l := newLoader(opts)
	for name, b := range files {
		l.add(b, name)
	}
	filters := l.filters()
	d := &direct{}
	for _, doc := range l.docs {
		if doc.kind != "rule" {
			continue
		}
		c := l.compileRule(doc, filters[doc])
		if c.err != nil {
			continue
		}
		r := &directRule{id: doc.ruleID, tree: c.tree, on: c.on}
		switch c.needs {
		case "request":
			r.levelN = 2
		case "response":
			r.levelN = 3
		}
		d.rules = append(d.rules, r)
	}
	return d
}

var levelN = map[auditv1.Level]int{auditv1.LevelNone: 0, auditv1.LevelMetadata: 1, auditv1.LevelRequest: 2, auditv1.LevelRequestResponse: 3}

func (r *directRule) pass(ev *auditv1.Event) bool {
	p := r.on
	res, sub, ns := "", "", ""
	if o := ev.ObjectRef; o != nil {
		res, sub, ns = o.Resource, o.Subresource, o.Namespace
	}
	code := 0
	if ev.ResponseStatus != nil {
		code = int(ev.ResponseStatus.Code)
	}
	switch {
	case p.Stages != nil && !in(p.Stages, string(ev.Stage)),
		p.Verbs != nil && !in(p.Verbs, ev.Verb),
		p.Resources != nil && !in(p.Resources, res),
		p.Subresources != nil && !in(p.Subresources, sub),
		p.Namespaces != nil && !in(p.Namespaces, ns),
		p.Levels != nil && !in(p.Levels, string(ev.Level)):
		return false
	}
	if p.Codes != nil {
		found := false
		for _, c := range p.Codes {
			found = found || c == code
		}
		if !found {
			return false
		}
	}
	return !notEvaluable(r.levelN, ev)
}

// notEvaluable restates the engine's gate for a rule that reads bodies (written apart
// from analyzer's, on purpose): only a final stage can lack a body, and it does when the
// body is absent, the verb could have one, and the level does not log it. A watch or a
// get has no request body at any level: its requestObject is empty, not unknown.
func notEvaluable(need int, ev *auditv1.Event) bool {
	if need == 0 || (ev.Stage != auditv1.StageResponseComplete && ev.Stage != auditv1.StagePanic) {
		return false
	}
	hasReq := ev.RequestObject != nil && len(ev.RequestObject.Raw) > 0
	hasResp := ev.ResponseObject != nil && len(ev.ResponseObject.Raw) > 0
	reqPossible := ev.Verb == "create" || ev.Verb == "update" || ev.Verb == "patch"
	respPossible := ev.ObjectRef != nil && ev.Verb != "watch" && (ev.ResponseStatus == nil || ev.ResponseStatus.Code != 401)
	if need == 2 {
		return !hasReq && reqPossible && levelN[ev.Level] < 2
	}
	return !hasResp && respPossible && levelN[ev.Level] < 3
}

// match lists the rules that match ev.
func (d *direct) match(ev *auditv1.Event) []string {
	var out []string
	x := &dEvent{ev: ev}
	for _, r := range d.rules {
		if r.pass(ev) && x.node(r.tree) {
			out = append(out, r.id)
		}
	}
	return out
}

type dEvent struct {
	ev         *auditv1.Event
	req, resp  any
	parsed     uint8
	user, imp  map[string]any
	obj, stat  map[string]any
	madeMaps   bool
	reCache    map[string]*regexp.Regexp
	deepRoots_ []any
}

func (x *dEvent) body(request bool) any {
	bit, dst, src := uint8(2), &x.resp, x.ev.ResponseObject
	if request {
		bit, dst, src = 1, &x.req, x.ev.RequestObject
	}
	if x.parsed&bit == 0 {
		x.parsed |= bit
		*dst = map[string]any{}
		if src != nil && len(src.Raw) > 0 {
			var v any
			if json.Unmarshal(src.Raw, &v) == nil && v != nil {
				*dst = v
			}
		}
	}
	return *dst
}

func (x *dEvent) maps() {
	if x.madeMaps {
		return
	}
	x.madeMaps = true
	ev := x.ev
	um := func(name, uid string, groups []string, extra map[string][]string) map[string]any {
		g := make([]any, len(groups))
		for i, s := range groups {
			g[i] = s
		}
		e := map[string]any{}
		for k, vs := range extra {
			l := make([]any, len(vs))
			for i, v := range vs {
				l[i] = v
			}
			e[k] = l
		}
		return map[string]any{"username": name, "uid": uid, "groups": g, "extra": e}
	}
	ex := map[string][]string{}
	for k, v := range ev.User.Extra {
		ex[k] = v
	}
	x.user = um(ev.User.Username, ev.User.UID, ev.User.Groups, ex)
	x.imp = um("", "", nil, nil)
	if u := ev.ImpersonatedUser; u != nil {
		ex := map[string][]string{}
		for k, v := range u.Extra {
			ex[k] = v
		}
		x.imp = um(u.Username, u.UID, u.Groups, ex)
	}
	var o auditv1.ObjectReference
	if ev.ObjectRef != nil {
		o = *ev.ObjectRef
	}
	x.obj = map[string]any{"resource": o.Resource, "namespace": o.Namespace, "name": o.Name, "uid": string(o.UID),
		"apiGroup": o.APIGroup, "apiVersion": o.APIVersion, "resourceVersion": o.ResourceVersion, "subresource": o.Subresource}
	x.stat = map[string]any{"code": int64(0), "status": "", "reason": "", "message": ""}
	if s := ev.ResponseStatus; s != nil {
		x.stat = map[string]any{"code": int64(s.Code), "status": s.Status, "reason": string(s.Reason), "message": s.Message}
	}
}

func (x *dEvent) annotations() map[string]string {
	if x.ev.Annotations == nil {
		return map[string]string{}
	}
	return x.ev.Annotations
}

// value is an accessor's reading: scalar strings (one for scalar fields), or raw values
// for dynamic ones, and whether the field is present / not null.
func (x *dEvent) strs(a accessor) []string {
	ev := x.ev
	switch a.kind {
	case aString:
		return []string{x.scalar(a)}
	case aOptString:
		k := strings.TrimPrefix(a.key, "annotations.")
		if v, ok := x.annotations()[k]; ok {
			return []string{v}
		}
		return nil
	case aInt:
		return []string{strconv.Itoa(x.code())}
	case aStrList:
		return x.list(a)
	case aTime:
		return []string{ev.RequestReceivedTimestamp.Time.UTC().Format(time.RFC3339Nano)}
	case aConst:
		return []string{a.expr}
	case aKeyword:
		return sigmafn.Leaves(x.keywordRoots())
	}
	return sigmafn.Strings(x.dyn(a))
}

func (x *dEvent) code() int {
	if x.ev.ResponseStatus == nil {
		return 0
	}
	return int(x.ev.ResponseStatus.Code)
}

func (x *dEvent) scalar(a accessor) string {
	ev := x.ev
	switch a.expr {
	case "level":
		return string(ev.Level)
	case "auditID":
		return string(ev.AuditID)
	case "stage":
		return string(ev.Stage)
	case "requestURI":
		return ev.RequestURI
	case "verb":
		return ev.Verb
	case "userAgent":
		return ev.UserAgent
	}
	x.maps()
	head, rest, _ := strings.Cut(a.expr, ".")
	switch head {
	case "user":
		return x.user[rest].(string)
	case "impersonatedUser":
		return x.imp[rest].(string)
	case "objectRef":
		return x.obj[rest].(string)
	case "responseStatus":
		return x.stat[rest].(string)
	}
	panic("scalar " + a.expr)
}

func (x *dEvent) list(a accessor) []string {
	ev := x.ev
	switch {
	case a.expr == "sourceIPs":
		return ev.SourceIPs
	case a.expr == "user.groups":
		return ev.User.Groups
	case a.expr == "impersonatedUser.groups":
		if ev.ImpersonatedUser == nil {
			return nil
		}
		return ev.ImpersonatedUser.Groups
	}
	// extras: ("k" in user.extra ? user.extra["k"] : [])
	m := extraRe.FindStringSubmatch(a.expr)
	if m[2] == "user" {
		return ev.User.Extra[m[1]]
	}
	if ev.ImpersonatedUser == nil {
		return nil
	}
	return ev.ImpersonatedUser.Extra[m[1]]
}

var extraRe = regexp.MustCompile(`^\("(.*)" in (\w+)\.extra`)

func (x *dEvent) root(name string) any {
	x.maps()
	switch name {
	case "user":
		return x.user
	case "impersonatedUser":
		return x.imp
	case "objectRef":
		return x.obj
	case "responseStatus":
		return x.stat
	case "requestObject":
		return x.body(true)
	case "responseObject":
		return x.body(false)
	case "annotations":
		return x.annotations()
	}
	panic("root " + name)
}

var dynRe = regexp.MustCompile(`^sigmaValues\((\w+|\[.*\]), "(.*)"\)$`)

func (x *dEvent) dyn(a accessor) []any {
	m := dynRe.FindStringSubmatch(a.expr)
	if m == nil {
		panic("dyn " + a.expr)
	}
	var root any
	if strings.HasPrefix(m[1], "[") {
		root = []any{x.root("user"), x.root("impersonatedUser"), x.root("objectRef"), x.root("responseStatus"), x.root("requestObject")}
	} else {
		root = x.root(m[1])
	}
	path, _ := strconv.Unquote(`"` + m[2] + `"`)
	return sigmafn.Values(root, path)
}

func (x *dEvent) keywordRoots() []any {
	ev := x.ev
	ips := make([]any, len(ev.SourceIPs))
	for i, s := range ev.SourceIPs {
		ips[i] = s
	}
	return []any{string(ev.AuditID), string(ev.Stage), string(ev.Level), ev.Verb, ev.RequestURI, ev.UserAgent,
		x.root("user"), x.root("impersonatedUser"), ips, x.root("objectRef"), x.root("responseStatus"),
		x.root("requestObject"), x.root("responseObject"), x.root("annotations"), ev.RequestReceivedTimestamp.Time.UTC().Format(time.RFC3339Nano)}
}

func (x *dEvent) present(a accessor) bool {
	switch a.kind {
	case aString:
		return x.scalar(a) != ""
	case aOptString, aStrList:
		return len(x.strs(a)) > 0
	case aInt:
		return x.code() != 0
	case aDyn:
		return len(x.dyn(a)) > 0
	}
	return true
}

func (x *dEvent) nonNull(a accessor) bool {
	if a.kind == aDyn {
		return sigmafn.NonNull(x.dyn(a))
	}
	return x.present(a)
}

func (x *dEvent) node(n node) bool {
	switch y := n.(type) {
	case nConst:
		return y.v
	case nAnd:
		for _, z := range y.xs {
			if !x.node(z) {
				return false
			}
		}
		return true
	case nOr:
		for _, z := range y.xs {
			if x.node(z) {
				return true
			}
		}
		return false
	case nNot:
		return !x.node(y.x)
	case nAtLeast:
		k := 0
		for _, z := range y.xs {
			if x.node(z) {
				k++
			}
		}
		return k >= y.n
	case *nField:
		var res bool
		if y.all {
			res = true
			for _, g := range y.groups {
				if !x.group(y.acc, g) {
					res = false
					break
				}
			}
		} else {
			for _, g := range y.groups {
				if x.group(y.acc, g) {
					res = true
					break
				}
			}
		}
		return res != y.neg
	}
	panic("node")
}

func (x *dEvent) group(a accessor, ps []pred) bool {
	for _, p := range ps {
		if x.pred(a, p) {
			return true
		}
	}
	return false
}

func (x *dEvent) re(s string) *regexp.Regexp {
	if x.reCache == nil {
		x.reCache = map[string]*regexp.Regexp{}
	}
	r, ok := x.reCache[s]
	if !ok {
		r = regexp.MustCompile(s)
		x.reCache[s] = r
	}
	return r
}

func (x *dEvent) pred(a accessor, p pred) bool {
	switch p.kind {
	case kStr:
		if sh, _ := p.s.shape(); sh == shAny && p.holders == nil && len(p.s) > 0 {
			return x.nonNull(a)
		}
		if a.kind == aInt {
			if lit, ok := p.s.plain(); ok && p.holders == nil {
				n, err := strconv.ParseInt(strings.TrimSpace(lit), 10, 64)
				return err == nil && n >= math.MinInt32 && n <= math.MaxInt32 && int(n) == x.code()
			}
		}
		if sh, lit := p.s.shape(); p.holders == nil && sh != shRegex && p.s.caseKind() != caseUnicode {
			// the shapes CEL tests without a regex, tested the same way
			if !p.cased {
				lit = asciiLower(lit)
			}
			for _, s := range x.strs(a) {
				if !p.cased {
					s = asciiLower(s)
				}
				var ok bool
				switch sh {
				case shEq:
					ok = s == lit
				case shPrefix:
					ok = strings.HasPrefix(s, lit)
				case shSuffix:
					ok = strings.HasSuffix(s, lit)
				case shContains:
					ok = strings.Contains(s, lit)
				}
				if ok {
					return true
				}
			}
			return false
		}
		re := x.re(p.regex())
		for _, s := range x.strs(a) {
			if re.MatchString(s) {
				return true
			}
		}
		return false
	case kNull:
		return !x.nonNull(a)
	case kExists:
		return x.present(a) == p.exists
	case kRe:
		for _, s := range x.strs(a) {
			if x.re(p.re).MatchString(s) {
				return true
			}
		}
	case kNum:
		var nums []float64
		if a.kind == aInt {
			nums = []float64{float64(x.code())}
		} else if a.kind == aDyn {
			nums = sigmafn.Numbers(x.dyn(a))
		} else {
			nums = sigmafn.Numbers(anys(x.strs(a)))
		}
		for _, n := range nums {
			if cmp(p.op, n, p.num) {
				return true
			}
		}
	case kTime:
		var src any
		switch a.kind {
		case aTime:
			src = []any{x.ev.RequestReceivedTimestamp.Time}
		case aDyn:
			src = x.dyn(a)
		case aInt:
			return false
		default:
			src = anys(x.strs(a))
		}
		for _, n := range sigmafn.TimeParts(src, p.part) {
			if cmp(p.op, float64(n), p.num) {
				return true
			}
		}
	case kCIDR:
		if a.kind == aInt || a.kind == aConst || a.kind == aTime {
			return false
		}
		for _, s := range x.strs(a) {
			if sigmafn.InCIDR(s, p.cidr) {
				return true
			}
		}
	case kRef:
		for _, s := range x.strs(a) {
			for _, r := range x.strs(p.ref) {
				if !p.cased {
					s, r = asciiLower(s), asciiLower(r)
				}
				ok := false
				switch p.refSh {
				case shPrefix:
					ok = strings.HasPrefix(s, r)
				case shSuffix:
					ok = strings.HasSuffix(s, r)
				case shContains:
					ok = strings.Contains(s, r)
				default:
					ok = s == r
				}
				if ok {
					return true
				}
			}
		}
	}
	return false
}

func anys(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func cmp(op string, a, b float64) bool {
	switch op {
	case "lt":
		return a < b
	case "lte":
		return a <= b
	case "gt":
		return a > b
	case "gte":
		return a >= b
	}
	return a == b
}
