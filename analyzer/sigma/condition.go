package sigma

import (
	"fmt"
	"strconv"
	"strings"
)

// parseCondition reads a condition (and, or, not, parentheses, "1 of pattern",
// "all of them", "N of ...") and resolves its search identifiers into the tree.
// Precedence, least binding first: or, and, not, "x of", parentheses.
func parseCondition(cond string, idents map[string]node, order []string) (node, error) {
	if strings.Contains(cond, "|") {
		return nil, fmt.Errorf("condition %q uses an aggregation (| count() ...), which Sigma 2 replaced by correlation rules: write it as an event_count or value_count correlation", cond)
	}
	p := &condParser{toks: tokenize(cond), idents: idents, order: order}
	if len(p.toks) == 0 {
		return nil, fmt.Errorf("empty condition")
	}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.i < len(p.toks) {
		return nil, fmt.Errorf("condition: unexpected %q at word %d", p.toks[p.i], p.i+1)
	}
	return n, nil
}

func tokenize(s string) []string {
	var out []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			out = append(out, cur.String())
			cur.Reset()
		}
	}
	for _, r := range s {
		switch {
		case r == '(' || r == ')':
			flush()
			out = append(out, string(r))
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			flush()
		default:
			cur.WriteRune(r)
		}
	}
	flush()
	return out
}

type condParser struct {
	toks   []string
	i      int
	idents map[string]node
	order  []string
}

func (p *condParser) peek() string {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return ""
}

func (p *condParser) is(word string) bool { return strings.EqualFold(p.peek(), word) }

func (p *condParser) or() (node, error) {
	x, err := p.and()
	if err != nil {
		return nil, err
	}
	xs := []node{x}
	for p.is("or") {
		p.i++
		y, err := p.and()
		if err != nil {
			return nil, err
		}
		xs = append(xs, y)
	}
	if len(xs) == 1 {
		return x, nil
	}
	return nOr{xs}, nil
}

func (p *condParser) and() (node, error) {
	x, err := p.not()
	if err != nil {
		return nil, err
	}
	xs := []node{x}
	for p.is("and") {
		p.i++
		y, err := p.not()
		if err != nil {
			return nil, err
		}
		xs = append(xs, y)
	}
	if len(xs) == 1 {
		return x, nil
	}
	return nAnd{xs}, nil
}

func (p *condParser) not() (node, error) {
	if p.is("not") {
		p.i++
		x, err := p.not()
		if err != nil {
			return nil, err
		}
		return nNot{x}, nil
	}
	return p.primary()
}

func (p *condParser) primary() (node, error) {
	t := p.peek()
	switch {
	case t == "":
		return nil, fmt.Errorf("condition ends where a search identifier was expected")
	case t == "(":
		p.i++
		x, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.peek() != ")" {
			return nil, fmt.Errorf("condition: missing )")
		}
		p.i++
		return x, nil
	case t == ")":
		return nil, fmt.Errorf("condition: unexpected )")
	case strings.EqualFold(t, "and") || strings.EqualFold(t, "or"):
		return nil, fmt.Errorf("condition: %q where a search identifier was expected", t)
	case strings.EqualFold(t, "near"):
		return nil, fmt.Errorf("condition: near was replaced by temporal correlation rules")
	}
	if p.i+1 < len(p.toks) && strings.EqualFold(p.toks[p.i+1], "of") {
		return p.quantifier()
	}
	p.i++
	n, ok := p.idents[t]
	if !ok {
		return nil, fmt.Errorf("condition names %q, which the detection does not define", t)
	}
	return n, nil
}

// quantifier reads "1 of X", "all of X", "N of X" where X is "them" or a pattern with *.
func (p *condParser) quantifier() (node, error) {
	q := p.toks[p.i]
	p.i += 2
	target := p.peek()
	if target == "" || target == "(" || target == ")" {
		return nil, fmt.Errorf("condition: %q of what?", q)
	}
	p.i++
	var names []string
	if strings.EqualFold(target, "them") {
		for _, n := range p.order {
			if !strings.HasPrefix(n, "_") {
				names = append(names, n)
			}
		}
	} else {
		for _, n := range p.order {
			if wildMatch(target, n) {
				names = append(names, n)
			}
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("condition: %q of %q matches no search identifier", q, target)
	}
	xs := make([]node, len(names))
	for i, n := range names {
		xs[i] = p.idents[n]
	}
	switch {
	case strings.EqualFold(q, "all"):
		return nAnd{xs}, nil
	case q == "1" || strings.EqualFold(q, "any"):
		return nOr{xs}, nil
	}
	k, err := strconv.Atoi(q)
	if err != nil || k < 1 {
		return nil, fmt.Errorf("condition: %q of: want 1, all or a positive number", q)
	}
	if k > len(xs) {
		return nConst{false}, nil
	}
	return nAtLeast{k, xs}, nil
}

// wildMatch matches a search identifier against a pattern whose only wildcard is *.
func wildMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for i, part := range parts[1:] {
		if i == len(parts)-2 {
			return strings.HasSuffix(s, part)
		}
		j := strings.Index(s, part)
		if j < 0 {
			return false
		}
		s = s[j+len(part):]
	}
	return true
}
