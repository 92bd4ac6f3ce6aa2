package sigma

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// cx is a CEL expression under construction, or a constant the translation folded
// (a value that can never match a field's type, "N of" more than there are).
type cx struct {
	s string
	c int8 // 0: an expression; 1: constant true; -1: constant false
}

var (
	cTrue  = cx{s: "true", c: 1}
	cFalse = cx{s: "false", c: -1}
)

func expr(s string) cx { return cx{s: s} }

func cAnd(xs ...cx) cx {
	var keep []string
	for _, x := range xs {
		switch x.c {
		case -1:
			return cFalse
		case 1:
			continue
		}
		keep = append(keep, x.s)
	}
	switch len(keep) {
	case 0:
		return cTrue
	case 1:
		return expr(keep[0])
	}
	return expr("(" + strings.Join(keep, " && ") + ")")
}

func cOr(xs ...cx) cx {
	var keep []string
	for _, x := range xs {
		switch x.c {
		case 1:
			return cTrue
		case -1:
			continue
		}
		keep = append(keep, x.s)
	}
	switch len(keep) {
	case 0:
		return cFalse
	case 1:
		return expr(keep[0])
	}
	return expr("(" + strings.Join(keep, " || ") + ")")
}

func cNot(x cx) cx {
	switch x.c {
	case 1:
		return cFalse
	case -1:
		return cTrue
	}
	return expr("!(" + x.s + ")")
}

// gen translates a detection tree into CEL over the event, noting values that can never
// match.
type gen struct{ c *buildCtx }

func (g gen) node(n node) cx {
	switch x := n.(type) {
	case nConst:
		if x.v {
			return cTrue
		}
		return cFalse
	case nAnd:
		xs := make([]cx, len(x.xs))
		for i, y := range x.xs {
			xs[i] = g.node(y)
		}
		return cAnd(xs...)
	case nOr:
		xs := make([]cx, len(x.xs))
		for i, y := range x.xs {
			xs[i] = g.node(y)
		}
		return cOr(xs...)
	case nNot:
		return cNot(g.node(x.x))
	case nAtLeast:
		var terms []string
		need := x.n
		for _, y := range x.xs {
			v := g.node(y)
			switch v.c {
			case 1:
				need--
			case -1:
			default:
				terms = append(terms, "("+v.s+" ? 1 : 0)")
			}
		}
		switch {
		case need <= 0:
			return cTrue
		case need > len(terms):
			return cFalse
		}
		return expr("(" + strings.Join(terms, " + ") + " >= " + strconv.Itoa(need) + ")")
	case *nField:
		return g.field(x)
	}
	panic(fmt.Sprintf("sigma: unknown node %T", n))
}

func (g gen) field(f *nField) cx {
	var res cx
	if !f.all {
		var all []pred
		for _, grp := range f.groups {
			all = append(all, grp...)
		}
		res = g.preds(f, all)
	} else {
		xs := make([]cx, len(f.groups))
		for i, grp := range f.groups {
			xs[i] = g.preds(f, grp)
		}
		res = cAnd(xs...)
	}
	if f.neg {
		res = cNot(res)
	}
	return res
}

// preds is the OR of preds on the field.
func (g gen) preds(f *nField, ps []pred) cx {
	a := f.acc
	var strs []pred
	var out []cx
	for _, p := range ps {
		switch {
		case p.kind == kStr && len(p.s) > 0:
			if sh, _ := p.s.shape(); sh == shAny && p.holders == nil {
				out = append(out, nonNull(a))
				continue
			}
			strs = append(strs, p)
		case p.kind == kStr: // '' : the empty string, which the event writes as an absent field
			strs = append(strs, p)
		case p.kind == kNull:
			out = append(out, cNot(nonNull(a)))
		case p.kind == kExists:
			if p.exists {
				out = append(out, present(a))
			} else {
				out = append(out, cNot(present(a)))
			}
		default:
			out = append(out, g.other(a, p))
		}
	}
	if len(strs) > 0 {
		out = append(out, g.strings(a, strs))
	}
	return cOr(out...)
}

// present: the field is in the event. The audit event omits empty strings and zero
// codes, so those read as absent.
func present(a accessor) cx {
	switch a.kind {
	case aString:
		return expr(a.expr + ` != ""`)
	case aOptString:
		return expr(a.guard)
	case aInt:
		return expr(a.expr + " != 0")
	case aStrList, aDyn:
		return expr(a.expr + ".size() > 0")
	}
	return cTrue
}

func nonNull(a accessor) cx {
	if a.kind == aDyn {
		return expr("sigmaNonNull(" + a.expr + ")")
	}
	return present(a)
}

// celStrings is the field's values as a CEL list of strings.
func celStrings(a accessor) string {
	switch a.kind {
	case aString:
		return "[" + a.expr + "]"
	case aOptString:
		return "(" + a.guard + " ? [" + a.expr + "] : [])"
	case aInt:
		return "[string(" + a.expr + ")]"
	case aTime:
		return "[string(" + a.expr + ")]"
	case aConst:
		return "[" + q(a.expr) + "]"
	case aDyn:
		return "sigmaStrings(" + a.expr + ")"
	}
	return a.expr // aStrList, aKeyword
}

// strings tests string patterns (all with the same cased flag) on the field.
func (g gen) strings(a accessor, ps []pred) cx {
	cased := ps[0].cased
	switch a.kind {
	case aConst:
		for _, p := range ps {
			if regexp.MustCompile(p.regex()).MatchString(a.expr) {
				return cTrue
			}
		}
		g.c.note(a.line, "field %q is always %q: %s never matches", a.field, a.expr, patternList(ps))
		return cFalse
	case aInt:
		// a number: literal values compare as numbers, a value that is not one never matches
		var out []cx
		var rest []pred
		for _, p := range ps {
			lit, ok := p.s.plain()
			if !ok || p.holders != nil {
				rest = append(rest, p)
				continue
			}
			if n, err := strconv.ParseInt(strings.TrimSpace(lit), 10, 64); err == nil && n >= math.MinInt32 && n <= math.MaxInt32 {
				out = append(out, expr(a.expr+" == "+strconv.FormatInt(n, 10)))
				continue
			}
			g.c.note(a.line, "field %q is a number in audit events: value %q never matches", a.field, p.s.String())
		}
		if len(rest) > 0 {
			out = append(out, ops("string("+a.expr+")", false, true, rest))
		}
		return cOr(out...)
	}
	lower := false
	if !cased {
		for _, p := range ps {
			if p.holders == nil && p.s.caseKind() == caseASCII {
				lower = true
			}
		}
	}
	switch a.kind {
	case aString, aTime:
		e := a.expr
		if a.kind == aTime {
			e = "string(" + e + ")"
		}
		return ops(e, lower, true, ps)
	case aOptString:
		return cAnd(expr(a.guard), ops(a.expr, lower, true, ps))
	}
	return expr(celStrings(a) + ".exists(s, " + ops("s", lower, false, ps).s + ")")
}

// ops is the OR of the patterns on the string expression e. With lower, e is compared
// lowered (ASCII) against lowered literals; values with other letters go through a
// case-folding regex.
func ops(e string, lower, scalar bool, ps []pred) cx {
	const bound = "l"
	var eqs []string
	var tests []func(subj string) cx
	for _, p := range ps {
		s := p.s
		if lower {
			s = s.lower()
		}
		sh, lit := s.shape()
		if p.holders != nil || (!p.cased && p.s.caseKind() == caseUnicode) {
			sh = shRegex
		}
		switch sh {
		case shEq:
			eqs = append(eqs, q(lit))
		case shPrefix:
			tests = append(tests, func(x string) cx { return expr(x + ".startsWith(" + q(lit) + ")") })
		case shSuffix:
			tests = append(tests, func(x string) cx { return expr(x + ".endsWith(" + q(lit) + ")") })
		case shContains:
			tests = append(tests, func(x string) cx { return expr(x + ".contains(" + q(lit) + ")") })
		case shAny:
			tests = append(tests, func(string) cx { return cTrue })
		default:
			re := p.regex()
			tests = append(tests, func(x string) cx { return expr(x + ".matches(" + q(re) + ")") })
		}
	}
	switch len(eqs) {
	case 0:
	case 1:
		tests = append([]func(string) cx{func(x string) cx { return expr(x + " == " + eqs[0]) }}, tests...)
	default:
		list := "[" + strings.Join(eqs, ", ") + "]"
		tests = append([]func(string) cx{func(x string) cx { return expr(x + " in " + list) }}, tests...)
	}
	subj := e
	if lower {
		subj = e + ".lowerAscii()"
		if len(tests) > 1 {
			subj = bound // lowered once, bound by a one-element comprehension
		}
	}
	xs := make([]cx, len(tests))
	for i, t := range tests {
		xs[i] = t(subj)
	}
	r := cOr(xs...)
	if subj == bound && r.c == 0 {
		return expr("[" + e + ".lowerAscii()].exists(" + bound + ", " + r.s + ")")
	}
	return r
}

// regex is the pattern as RE2 (case-folding unless cased), placeholders expanded.
func (p pred) regex() string {
	return p.s.regex(p.cased, func(name string) string { return p.holders[name] })
}

func patternList(ps []pred) string {
	var s []string
	for _, p := range ps {
		s = append(s, strconv.Quote(p.s.String()))
	}
	return strings.Join(s, ", ")
}

func celDouble(x float64) string {
	s := strconv.FormatFloat(x, 'f', -1, 64)
	if !strings.ContainsAny(s, ".eE") {
		s += ".0"
	}
	return s
}

var celOps = map[string]string{"lt": "<", "lte": "<=", "gt": ">", "gte": ">=", "eq": "=="}

// other translates regex, numeric, date, CIDR and field-reference tests.
func (g gen) other(a accessor, p pred) cx {
	switch p.kind {
	case kRe:
		if a.kind == aConst {
			if regexp.MustCompile(p.re).MatchString(a.expr) {
				return cTrue
			}
			return cFalse
		}
		switch a.kind {
		case aString:
			return expr(a.expr + ".matches(" + q(p.re) + ")")
		case aOptString:
			return cAnd(expr(a.guard), expr(a.expr+".matches("+q(p.re)+")"))
		}
		return expr(celStrings(a) + ".exists(s, s.matches(" + q(p.re) + "))")
	case kNum:
		op := celOps[p.op]
		if a.kind == aInt {
			if p.num == math.Trunc(p.num) && math.Abs(p.num) < 1<<53 {
				return expr(a.expr + " " + op + " " + strconv.FormatInt(int64(p.num), 10))
			}
			return expr("double(" + a.expr + ") " + op + " " + celDouble(p.num))
		}
		var list string
		switch a.kind {
		case aDyn:
			list = "sigmaNumbers(" + a.expr + ")"
		default:
			list = "sigmaNumbers(" + celStrings(a) + ")"
		}
		return expr(list + ".exists(n, n " + op + " " + celDouble(p.num) + ")")
	case kTime:
		op := celOps[p.op]
		var src string
		switch a.kind {
		case aTime, aDyn:
			src = a.expr
		case aInt:
			g.c.note(a.line, "field %q is a number, not a date: %s never matches", a.field, p.part)
			return cFalse
		default:
			src = celStrings(a)
		}
		cmp := "n " + op + " " + strconv.FormatInt(int64(p.num), 10)
		if p.num != math.Trunc(p.num) {
			cmp = "double(n) " + op + " " + celDouble(p.num)
		}
		return expr("sigmaTimePart(" + src + ", " + q(p.part) + ").exists(n, " + cmp + ")")
	case kCIDR:
		switch a.kind {
		case aInt, aConst, aTime:
			g.c.note(a.line, "field %q holds no addresses: cidr never matches", a.field)
			return cFalse
		case aString:
			return expr("sigmaCIDR(" + a.expr + ", " + q(p.cidr) + ")")
		}
		return expr(celStrings(a) + ".exists(s, sigmaCIDR(s, " + q(p.cidr) + "))")
	case kRef:
		low := func(v string) string {
			if p.cased {
				return v
			}
			return v + ".lowerAscii()"
		}
		var cmp string
		switch p.refSh {
		case shPrefix:
			cmp = low("x") + ".startsWith(" + low("y") + ")"
		case shSuffix:
			cmp = low("x") + ".endsWith(" + low("y") + ")"
		case shContains:
			cmp = low("x") + ".contains(" + low("y") + ")"
		default:
			cmp = low("x") + " == " + low("y")
		}
		return expr(celStrings(a) + ".exists(x, " + celStrings(p.ref) + ".exists(y, " + cmp + "))")
	}
	panic(fmt.Sprintf("sigma: predicate kind %d", p.kind))
}

// reads lists the CEL variables and bodies a tree reads, for needs and stage defaults.
func reads(n node, fn func(a accessor)) {
	switch x := n.(type) {
	case nAnd:
		for _, y := range x.xs {
			reads(y, fn)
		}
	case nOr:
		for _, y := range x.xs {
			reads(y, fn)
		}
	case nAtLeast:
		for _, y := range x.xs {
			reads(y, fn)
		}
	case nNot:
		reads(x.x, fn)
	case *nField:
		fn(x.acc)
		for _, g := range x.groups {
			for _, p := range g {
				if p.kind == kRef {
					fn(p.ref)
				}
			}
		}
	}
}
