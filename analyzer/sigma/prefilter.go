package sigma

import (
	"sort"
	"strconv"
	"strings"

	"github.com/kubesleuth/kubesleuth/analyzer"
)

// The prefilter is what keeps Sigma rules off the events they cannot match: the engine
// indexes rules by resource and tests verbs, codes... before any CEL. It is derived from
// the detection: a field that every match must have one of a few plain values in.
//
// Verbs, resources, subresources and namespaces are compared as the apiserver writes
// them, lowercase (verbs are constants, resources and namespaces must be lowercase names);
// the rule's CEL still compares without case, so the prefilter only skips events that
// could not match.

// allowed is the set of values a field must take, nil when unconstrained.
type cons struct {
	never bool                // no event can match
	m     map[string][]string // field key -> allowed values (sorted, unique)
}

var prefilterKeys = map[string]bool{"verb": true, "objectRef.resource": true, "objectRef.subresource": true,
	"objectRef.namespace": true, "stage": true, "level": true, "responseStatus.code": true}

var stages = []string{"RequestReceived", "ResponseStarted", "ResponseComplete", "Panic"}
var levels = []string{"None", "Metadata", "Request", "RequestResponse"}

func canonical(key, v string) string {
	var set []string
	switch key {
	case "stage":
		set = stages
	case "level":
		set = levels
	case "responseStatus.code":
		return v
	default:
		return asciiLower(v)
	}
	for _, s := range set {
		if strings.EqualFold(s, v) {
			return s
		}
	}
	return v
}

func implied(n node) cons {
	switch x := n.(type) {
	case nConst:
		return cons{never: !x.v}
	case *nField:
		return fieldCons(x)
	case nAnd:
		out := cons{m: map[string][]string{}}
		for _, y := range x.xs {
			c := implied(y)
			if c.never {
				return c
			}
			for k, vs := range c.m {
				if have, ok := out.m[k]; ok {
					out.m[k] = intersect(have, vs)
				} else {
					out.m[k] = vs
				}
			}
		}
		return out
	case nOr:
		return union(x.xs)
	case nAtLeast:
		return union(x.xs) // at least one of them holds
	}
	return cons{} // not: nothing implied
}

func union(xs []node) cons {
	var out *cons
	for _, y := range xs {
		c := implied(y)
		if c.never {
			continue
		}
		if out == nil {
			cp := cons{m: map[string][]string{}}
			for k, v := range c.m {
				cp.m[k] = v
			}
			out = &cp
			continue
		}
		for k, have := range out.m {
			vs, ok := c.m[k]
			if !ok {
				delete(out.m, k)
				continue
			}
			out.m[k] = uniq(append(append([]string(nil), have...), vs...))
		}
	}
	if out == nil {
		return cons{never: true}
	}
	return *out
}

func fieldCons(f *nField) cons {
	k := f.acc.key
	if !prefilterKeys[k] || f.neg {
		return cons{}
	}
	var sets [][]string
	for _, g := range f.groups {
		var vals []string
		for _, p := range g {
			if p.kind != kStr || p.holders != nil {
				return cons{}
			}
			lit, ok := p.s.plain()
			if !ok {
				return cons{}
			}
			if k == "responseStatus.code" {
				n, err := strconv.Atoi(strings.TrimSpace(lit))
				if err != nil {
					continue // never matches a number
				}
				lit = strconv.Itoa(n)
			} else if !p.cased {
				lit = canonical(k, lit)
			}
			vals = append(vals, lit)
		}
		sets = append(sets, uniq(vals))
	}
	var vals []string
	if f.all {
		for i, s := range sets {
			if i == 0 {
				vals = s
			} else {
				vals = intersect(vals, s)
			}
		}
	} else {
		for _, s := range sets {
			vals = append(vals, s...)
		}
		vals = uniq(vals)
	}
	if vals == nil {
		vals = []string{}
	}
	if k == "objectRef.namespace" && in(vals, "") {
		// the engine's namespace prefilter refuses events without an objectRef, which
		// have the empty namespace
		return cons{}
	}
	return cons{m: map[string][]string{k: vals}}
}

func in(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func uniq(v []string) []string {
	sort.Strings(v)
	out := v[:0]
	for i, s := range v {
		if i == 0 || s != v[i-1] {
			out = append(out, s)
		}
	}
	if out == nil {
		return []string{}
	}
	return out
}

func intersect(a, b []string) []string {
	out := []string{}
	for _, x := range a {
		for _, y := range b {
			if x == y {
				out = append(out, x)
				break
			}
		}
	}
	return out
}

// prefilterOf builds the engine's prefilter from a detection tree. A rule that reads
// the stage decides its stages; otherwise it sees every stage but RequestReceived,
// which a later stage of the same request always repeats with the outcome
// (kube-apiserver writes a failed authentication only at ResponseStarted, a long-running
// request at ResponseStarted and ResponseComplete).
func prefilterOf(n node) *analyzer.Prefilter {
	c := implied(n)
	p := &analyzer.Prefilter{}
	if c.never {
		// nothing can match: an empty verb set keeps the rule off every event
		p.Verbs = []string{}
		return p
	}
	p.Verbs = c.m["verb"]
	p.Resources = c.m["objectRef.resource"]
	p.Subresources = c.m["objectRef.subresource"]
	p.Namespaces = c.m["objectRef.namespace"]
	p.Levels = c.m["level"]
	if codes, ok := c.m["responseStatus.code"]; ok {
		p.Codes = []int{}
		for _, s := range codes {
			n, _ := strconv.Atoi(s)
			p.Codes = append(p.Codes, n)
		}
	}
	readsStage := false
	reads(n, func(a accessor) { readsStage = readsStage || a.key == "stage" || a.kind == aKeyword })
	switch st, ok := c.m["stage"]; {
	case ok:
		p.Stages = st
	case readsStage:
		p.Stages = append([]string(nil), stages...)
	default:
		p.Stages = []string{"ResponseStarted", "ResponseComplete", "Panic"}
	}
	if len(p.Stages) == 0 {
		p.Stages = nil
		p.Verbs = []string{}
	}
	return p
}

// mergePrefilters is the prefilter of an OR of rules (a correlation's): a field stays
// constrained only when every rule constrains it.
func mergePrefilters(ps []*analyzer.Prefilter) *analyzer.Prefilter {
	if len(ps) == 1 {
		return ps[0]
	}
	m := func(get func(*analyzer.Prefilter) []string) []string {
		var out []string
		for _, p := range ps {
			v := get(p)
			if v == nil {
				return nil
			}
			out = append(out, v...)
		}
		return uniq(out)
	}
	out := &analyzer.Prefilter{
		Verbs:        m(func(p *analyzer.Prefilter) []string { return p.Verbs }),
		Resources:    m(func(p *analyzer.Prefilter) []string { return p.Resources }),
		Subresources: m(func(p *analyzer.Prefilter) []string { return p.Subresources }),
		Namespaces:   m(func(p *analyzer.Prefilter) []string { return p.Namespaces }),
		Levels:       m(func(p *analyzer.Prefilter) []string { return p.Levels }),
		Stages:       m(func(p *analyzer.Prefilter) []string { return p.Stages }),
	}
	codes := map[int]bool{}
	for _, p := range ps {
		if p.Codes == nil {
			codes = nil
			break
		}
		for _, c := range p.Codes {
			codes[c] = true
		}
	}
	if codes != nil {
		out.Codes = []int{}
		for c := range codes {
			out.Codes = append(out.Codes, c)
		}
		sort.Ints(out.Codes)
	}
	return out
}

// needles are byte strings one of which the raw body a rule reads (request or response)
// holds in every event the rule can match: the last key of a body path (or of a field
// searched at any depth of the request body) that the rule requires a value under.
// Events whose body holds none are skipped before the body is parsed, as the catalog's
// `on: body` does. A key is looked for as `key"`, the end of a JSON key, so that a key
// with dots ("app.kubernetes.io/name") is found by its last segment too. nil: none.
func needles(n node, body string) []string {
	switch x := n.(type) {
	case *nField:
		a := x.acc
		key := ""
		switch {
		case body == "request" && a.deep != "":
			key = a.deep
		case a.body != "" && strings.HasPrefix(a.expr, "sigmaValues("+body+"Object,"):
			key = a.body
		}
		if key == "" || x.neg || !plainKey(key) {
			return nil
		}
		for _, g := range x.groups {
			for _, p := range g {
				if p.kind == kNull || (p.kind == kExists && !p.exists) {
					return nil // satisfied by an absent key
				}
			}
		}
		return []string{key + `"`}
	case nAnd:
		var best []string
		for _, y := range x.xs {
			if nd := needles(y, body); nd != nil && (best == nil || len(nd) < len(best)) {
				best = nd
			}
		}
		return best
	case nOr:
		return needlesAll(x.xs, body)
	case nAtLeast:
		return needlesAll(x.xs, body)
	}
	return nil
}

func needlesAll(xs []node, body string) []string {
	var out []string
	for _, y := range xs {
		nd := needles(y, body)
		if nd == nil {
			return nil
		}
		out = append(out, nd...)
	}
	return uniq(out)
}

// plainKey: a key the apiserver's JSON encoder writes as it is (no escapes).
func plainKey(k string) bool {
	for _, r := range k {
		if !(r == '.' || r == '-' || r == '_' || r == '/' || r == ':' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9')) {
			return false
		}
	}
	return k != ""
}

// lean drops from the top-level conjunction of a detection the field tests the prefilter
// already makes: an event that passed `on: verbs: [delete]` has verb delete, so the CEL
// need not test it again (and a rule whose every test is such needs no CEL at all). Only
// for a rule evaluated under its own prefilter: a correlation that ORs several rules under
// a merged prefilter keeps their full expressions.
func lean(n node) node {
	var conj []node
	var flat func(n node)
	flat = func(n node) {
		if a, ok := n.(nAnd); ok {
			for _, x := range a.xs {
				flat(x)
			}
			return
		}
		conj = append(conj, n)
	}
	flat(n)
	out := make([]node, 0, len(conj))
	for _, x := range conj {
		if f, ok := x.(*nField); ok && prefilterMade(f) {
			continue
		}
		out = append(out, x)
	}
	switch len(out) {
	case 0:
		return nConst{true}
	case 1:
		return out[0]
	}
	return nAnd{out}
}

// prefilterMade: the field test is a set of plain values of a prefiltered field, which
// the prefilter (built from the same tree, where it is a conjunct) tests exactly. (Values
// of responseStatus.code that are not integers never match, and the prefilter leaves them
// out: an event that passed has one of the others.)
func prefilterMade(f *nField) bool {
	vs, ok := fieldCons(f).m[f.acc.key]
	return ok && len(vs) > 0
}
