package sigma

import (
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"regexp/syntax"
	"sort"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/kubesleuth/kubesleuth/analyzer"
)

// node is the detection as a boolean tree: search identifiers and the condition become
// and/or/not over field tests.
type node interface{ isNode() }

type (
	nAnd   struct{ xs []node }
	nOr    struct{ xs []node }
	nNot   struct{ x node }
	nConst struct{ v bool }
	// nAtLeast: at least n of xs ("2 of selection*")
	nAtLeast struct {
		n  int
		xs []node
	}
	// nField tests one field against values: any value matches (all: every value matches;
	// neg: none does). Each group is one value as written, its alternatives the values a
	// modifier made of it (windash, base64offset).
	nField struct {
		acc    accessor
		groups [][]pred
		all    bool
		neg    bool
		line   int
	}
)

func (nAnd) isNode()     {}
func (nOr) isNode()      {}
func (nNot) isNode()     {}
func (nConst) isNode()   {}
func (nAtLeast) isNode() {}
func (*nField) isNode()  {}

type predKind uint8

const (
	kStr    predKind = iota // a Sigma string (wildcards), compared without case unless cased
	kRe                     // a regular expression (RE2), searched
	kNum                    // a numeric comparison
	kTime                   // a date part compared as a number
	kNull                   // the field is absent or null
	kExists                 // the field is (or is not) present
	kCIDR                   // an address in a network
	kRef                    // equal to (or starting, ending with, containing) another field
)

type pred struct {
	kind    predKind
	s       sstr
	cased   bool
	holders map[string]string // expand: placeholder -> regex fragment
	re      string
	op      string // lt, lte, gt, gte, eq
	num     float64
	part    string // date part
	exists  bool
	cidr    string
	ref     accessor
	refSh   shape
}

// buildCtx carries what building a detection needs and collects its notes.
type buildCtx struct {
	file  string
	al    analyzer.Allowlists
	notes []noteAt
}

type noteAt struct {
	line int
	text string
}

func (c *buildCtx) note(line int, format string, a ...any) {
	n := noteAt{line, fmt.Sprintf(format, a...)}
	for _, have := range c.notes {
		if have == n {
			return
		}
	}
	c.notes = append(c.notes, n)
}

// lineErr is an error in a rule at a line of its file.
type lineErr struct {
	line int
	msg  string
}

func (e *lineErr) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }

func errAt(n *yaml.Node, format string, a ...any) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &lineErr{line: line, msg: fmt.Sprintf(format, a...)}
}

// parseIdentifier reads one search identifier: a map (AND of its fields), a list (OR of
// its maps and keywords), or a single keyword.
func (c *buildCtx) parseIdentifier(name string, n *yaml.Node) (node, error) {
	n = deref(n)
	switch n.Kind {
	case yaml.MappingNode:
		return c.parseMap(n)
	case yaml.SequenceNode:
		if len(n.Content) == 0 {
			return nil, errAt(n, "search identifier %q is an empty list", name)
		}
		var alts []node
		var keywords []*yaml.Node
		for _, e := range n.Content {
			e = deref(e)
			switch e.Kind {
			case yaml.MappingNode:
				m, err := c.parseMap(e)
				if err != nil {
					return nil, err
				}
				alts = append(alts, m)
			case yaml.ScalarNode:
				keywords = append(keywords, e)
			default:
				return nil, errAt(e, "search identifier %q: a list holds maps or keywords, not %s", name, kindName(e))
			}
		}
		if len(keywords) > 0 {
			f, err := c.parseField("", keywords, n.Line, n)
			if err != nil {
				return nil, err
			}
			alts = append([]node{f}, alts...)
		}
		if len(alts) == 1 {
			return alts[0], nil
		}
		return nOr{alts}, nil
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return nil, errAt(n, "search identifier %q is empty", name)
		}
		return c.parseField("", []*yaml.Node{n}, n.Line, n)
	}
	return nil, errAt(n, "search identifier %q: want a map or a list, not %s", name, kindName(n))
}

func (c *buildCtx) parseMap(n *yaml.Node) (node, error) {
	ps := pairs(n)
	if len(ps) == 0 {
		return nil, errAt(n, "empty map in a search identifier")
	}
	var xs []node
	for _, p := range ps {
		var vals []*yaml.Node
		switch p.v.Kind {
		case yaml.ScalarNode:
			vals = []*yaml.Node{p.v}
		case yaml.SequenceNode:
			if len(p.v.Content) == 0 {
				return nil, errAt(p.v, "field %q has an empty list of values", p.key)
			}
			for _, e := range p.v.Content {
				e = deref(e)
				if e.Kind != yaml.ScalarNode {
					return nil, errAt(e, "field %q: a value is a string, a number, a boolean or null, not %s", p.key, kindName(e))
				}
				vals = append(vals, e)
			}
		default:
			return nil, errAt(p.v, "field %q: want a value or a list of values, not %s", p.key, kindName(p.v))
		}
		f, err := c.parseField(p.key, vals, p.k.Line, p.k)
		if err != nil {
			return nil, err
		}
		xs = append(xs, f)
	}
	if len(xs) == 1 {
		return xs[0], nil
	}
	return nAnd{xs}, nil
}

var timeParts = map[string]bool{"minute": true, "hour": true, "day": true, "week": true, "month": true, "year": true}

// unsupportedErr marks what kubesleuth cannot run (as opposed to a malformed rule).
type unsupportedErr struct{ error }

func unsupported(n *yaml.Node, format string, a ...any) error {
	return unsupportedErr{errAt(n, format, a...)}
}

// parseField reads "field|mod|mod: values" into a field test.
func (c *buildCtx) parseField(key string, vals []*yaml.Node, line int, at *yaml.Node) (node, error) {
	segs := strings.Split(key, "|")
	name, mods := segs[0], segs[1:]
	acc, err := resolveField(name)
	if err != nil {
		return nil, unsupported(at, "%v", err)
	}
	acc.line = line
	if acc.note != "" {
		c.note(line, "%s", acc.note)
	}
	f := &nField{acc: acc, line: line}
	var cased bool
	var typ, reFlags, part string
	var transforms []string
	for _, m := range mods {
		switch m {
		case "all":
			f.all = true
		case "cased":
			cased = true
		case "neq":
			f.neg = true
		case "re", "cidr", "lt", "lte", "gt", "gte", "exists", "fieldref":
			if typ != "" {
				return nil, errAt(at, "field %q: modifiers %s and %s cannot be combined", key, typ, m)
			}
			typ = m
		case "i", "m", "s":
			if typ != "re" {
				return nil, errAt(at, "field %q: modifier %s qualifies re and must follow it", key, m)
			}
			if !strings.Contains(reFlags, m) {
				reFlags += m
			}
		case "contains", "startswith", "endswith", "base64", "base64offset", "utf16le", "utf16be", "utf16", "wide", "windash", "expand":
			transforms = append(transforms, m)
		case "":
			return nil, errAt(at, "field %q: empty modifier", key)
		default:
			if timeParts[m] {
				if part != "" {
					return nil, errAt(at, "field %q: two date parts (%s, %s)", key, part, m)
				}
				part = m
				continue
			}
			return nil, unsupported(at, "field %q: unknown modifier %q", key, m)
		}
	}
	if f.all && len(vals) == 1 {
		c.note(line, "field %q: all with a single value (the specification disallows it; it is the value itself)", key)
	}
	if acc.kind == aKeyword && typ != "" && typ != "re" {
		return nil, errAt(at, "keywords take string modifiers and re, not %s", typ)
	}
	noTransforms := func() error {
		if len(transforms) > 0 {
			return errAt(at, "field %q: %s does not combine with %s", key, typ, strings.Join(transforms, ", "))
		}
		return nil
	}
	add := func(ps ...pred) { f.groups = append(f.groups, ps) }

	switch {
	case typ == "exists":
		if err := noTransforms(); err != nil {
			return nil, err
		}
		if len(vals) != 1 || vals[0].Tag != "!!bool" || f.all || f.neg || cased || part != "" {
			return nil, errAt(at, "field %q: exists takes one value, true or false, and no other modifier", key)
		}
		if acc.kind == aKeyword {
			return nil, errAt(at, "exists needs a field")
		}
		add(pred{kind: kExists, exists: vals[0].Value == "true"})
		return f, nil
	case typ == "re":
		if err := noTransforms(); err != nil {
			return nil, err
		}
		flags := reFlags
		for _, v := range vals {
			if v.Tag == "!!null" {
				return nil, errAt(v, "field %q: re needs a pattern, not null", key)
			}
			expr := v.Value
			if flags != "" {
				expr = "(?" + sortedFlags(flags) + ")" + expr
			}
			if _, err := regexp.Compile(expr); err != nil {
				return nil, unsupported(v, "field %q: regular expression at column %d does not compile in RE2 (%s); the specification's flavour (wildcards, anchors, quantifiers, classes, alternation, groups) does", key, v.Column, reError(err))
			}
			add(pred{kind: kRe, re: expr})
		}
		return f, nil
	case typ == "cidr":
		if err := noTransforms(); err != nil {
			return nil, err
		}
		for _, v := range vals {
			s := strings.TrimSpace(v.Value)
			if !strings.Contains(s, "/") {
				if a, err := netip.ParseAddr(s); err == nil {
					s = netip.PrefixFrom(a, a.BitLen()).String()
				}
			}
			p, err := netip.ParsePrefix(s)
			if err != nil || v.Tag == "!!null" {
				return nil, errAt(v, "field %q: cidr value is not a network (want 10.0.0.0/8 or fd00::/8)", key)
			}
			add(pred{kind: kCIDR, cidr: p.Masked().String()})
		}
		return f, nil
	case typ == "lt" || typ == "lte" || typ == "gt" || typ == "gte" || (part != "" && typ == ""):
		if err := noTransforms(); err != nil {
			return nil, err
		}
		op := typ
		if op == "" {
			op = "eq"
		}
		for _, v := range vals {
			x, err := strconv.ParseFloat(strings.TrimSpace(v.Value), 64)
			if err != nil || math.IsNaN(x) || math.IsInf(x, 0) || v.Tag == "!!bool" {
				return nil, errAt(v, "field %q: %s needs a number", key, op)
			}
			if part != "" {
				add(pred{kind: kTime, op: op, num: x, part: part})
			} else {
				add(pred{kind: kNum, op: op, num: x})
			}
		}
		return f, nil
	case part != "":
		return nil, errAt(at, "field %q: a date part (%s) is compared with lt, lte, gt, gte or as a number, not with %s", key, part, typ)
	case typ == "fieldref":
		sh := shEq
		for _, t := range transforms {
			switch t {
			case "contains":
				sh = shContains
			case "startswith":
				sh = shPrefix
			case "endswith":
				sh = shSuffix
			default:
				return nil, errAt(at, "field %q: fieldref combines with contains, startswith, endswith, cased, all and neq, not %s", key, t)
			}
		}
		if len(transforms) > 1 {
			return nil, errAt(at, "field %q: fieldref takes one of contains, startswith, endswith", key)
		}
		for _, v := range vals {
			ref, err := resolveField(v.Value)
			if err != nil || v.Value == "" {
				return nil, unsupported(v, "field %q: fieldref to %q: %v", key, v.Value, err)
			}
			if ref.note != "" {
				c.note(v.Line, "%s", ref.note)
			}
			add(pred{kind: kRef, ref: ref, refSh: sh, cased: cased})
		}
		return f, nil
	}

	// strings, with the transformation modifiers in the order written
	expand := false
	for _, t := range transforms {
		expand = expand || t == "expand"
	}
	for _, v := range vals {
		if v.Tag == "!!null" {
			if len(transforms) > 0 || cased {
				return nil, errAt(v, "field %q: null takes no modifier", key)
			}
			add(pred{kind: kNull})
			continue
		}
		items, err := c.transform(key, v, transforms, expand)
		if err != nil {
			return nil, err
		}
		var alts []pred
		for _, s := range items {
			if acc.kind == aKeyword {
				s = s.wrap(true, true) // a keyword is found anywhere in a value
			}
			p := pred{kind: kStr, s: s, cased: cased}
			if s.hasHolder() {
				if p.holders, err = c.holders(key, s, v); err != nil {
					return nil, err
				}
			}
			alts = append(alts, p)
		}
		add(alts...)
	}
	return f, nil
}

func sortedFlags(f string) string {
	b := []byte(f)
	sort.Slice(b, func(i, j int) bool { return b[i] < b[j] })
	return string(b)
}

// reError is RE2's complaint without the expression it quotes.
func reError(err error) string {
	if e, ok := err.(*syntax.Error); ok {
		return string(e.Code)
	}
	return "invalid"
}

// item is a value during the transformation modifiers: a Sigma string, or bytes after
// utf16 (which only base64 turns back into text).
type item struct {
	s     sstr
	bytes []byte
	isB   bool
}

func (c *buildCtx) transform(key string, v *yaml.Node, transforms []string, expand bool) ([]sstr, error) {
	var start sstr
	if v.Tag == "!!str" || v.Tag == "" {
		start = parseSigmaString(v.Value, expand)
	} else {
		start = literal(v.Value) // numbers and booleans compare as the text they are
	}
	items := []item{{s: start}}
	plainBytes := func(it item, t string) ([]byte, error) {
		if it.isB {
			return it.bytes, nil
		}
		p, ok := it.s.plain()
		if !ok {
			return nil, errAt(v, "field %q: %s of a value with wildcards or placeholders", key, t)
		}
		return []byte(p), nil
	}
	for _, t := range transforms {
		var next []item
		for _, it := range items {
			switch t {
			case "contains", "startswith", "endswith":
				if it.isB {
					return nil, errAt(v, "field %q: %s after utf16 needs base64 between them (audit events are JSON text)", key, t)
				}
				next = append(next, item{s: it.s.wrap(t != "startswith", t != "endswith")})
			case "base64":
				b, err := plainBytes(it, t)
				if err != nil {
					return nil, err
				}
				next = append(next, item{s: encodeBase64(b)})
			case "base64offset":
				b, err := plainBytes(it, t)
				if err != nil {
					return nil, err
				}
				for _, s := range encodeBase64Offset(b) {
					next = append(next, item{s: s})
				}
			case "utf16le", "utf16be", "utf16", "wide":
				if it.isB {
					return nil, errAt(v, "field %q: %s twice", key, t)
				}
				p, ok := it.s.plain()
				if !ok {
					return nil, errAt(v, "field %q: %s of a value with wildcards or placeholders", key, t)
				}
				mode := t
				if t == "wide" {
					mode = "utf16le"
				}
				next = append(next, item{bytes: utf16Bytes(p, mode), isB: true})
			case "windash":
				if it.isB {
					return nil, errAt(v, "field %q: windash after utf16", key)
				}
				vs, err := windash(it.s)
				if err != nil {
					return nil, unsupported(v, "field %q: %v", key, err)
				}
				for _, s := range vs {
					next = append(next, item{s: s})
				}
			case "expand":
				next = append(next, it) // placeholders were read with the value
			}
		}
		items = next
	}
	out := make([]sstr, 0, len(items))
	for _, it := range items {
		if it.isB {
			return nil, unsupported(v, "field %q: utf16/wide alone makes UTF-16 bytes, which never appear in an audit event (JSON text): follow it with base64 or base64offset", key)
		}
		out = append(out, it.s)
	}
	return out, nil
}

// holders resolves the placeholders of an expand value against the allowlists.
func (c *buildCtx) holders(key string, s sstr, v *yaml.Node) (map[string]string, error) {
	out := map[string]string{}
	for _, p := range s {
		if p.kind != pHolder {
			continue
		}
		entries, ok := allowlist(c.al, p.text)
		if !ok {
			return nil, unsupported(v, "field %q: placeholder %%%s%% is not an allowlist (expand takes %%registries%%, %%images%%, %%system_identities%%, %%operators%% from the allowlist file)", key, p.text)
		}
		if len(entries) == 0 {
			c.note(v.Line, "field %q: placeholder %%%s%% has no entries in the allowlists: the value matches nothing", key, p.text)
			out[p.text] = `[^\x00-\x{10FFFF}]`
			continue
		}
		alts := make([]string, len(entries))
		for i, e := range entries {
			alts[i] = globRegex(e)
		}
		out[p.text] = "(?:" + strings.Join(alts, "|") + ")"
	}
	return out, nil
}

func allowlist(al analyzer.Allowlists, name string) ([]string, bool) {
	switch strings.ToLower(strings.ReplaceAll(name, "-", "_")) {
	case "registries":
		return al.Registries, true
	case "images":
		return al.Images, true
	case "system_identities":
		return al.SystemIdentities, true
	case "operators":
		return al.Operators, true
	}
	return nil, false
}
