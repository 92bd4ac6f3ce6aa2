package index

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search/query"
)

var (
	keywordFields = map[string]bool{"auditID": true, "stage": true, "level": true, "verb": true, "user": true,
		"group": true, "impersonatedUser": true, "namespace": true, "resource": true, "subresource": true,
		"name": true, "apiGroup": true, "sourceIP": true, "userAgent": true, "decision": true}
	numericFields = map[string]bool{"code": true, "latency": true}
	textFields    = map[string]bool{"requestURI": true, "reason": true}
	// bareFields are searched by a value without a field name.
	bareFields = []string{"user", "namespace", "name", "resource"}
)

// Clause is one parsed part of a search query.
type Clause struct {
	Not   bool
	Field string // "" for a bare value
	Value string
	Op    string // for numbers: "=", ">", ">=", "<", "<="
}

// ParseClauses splits a query into clauses: [-|+]field:value or [-|+]value, values quoted
// with "..." when they hold spaces. Every clause must match (a - clause must not). A field
// name is everything before the first colon when it names a field, so user:system:admin
// needs no quotes. Errors name the clause and the known fields.
func ParseClauses(text string) ([]Clause, error) {
	var out []Clause
	toks, err := tokens(text)
	if err != nil {
		return nil, err
	}
	for _, t := range toks {
		var c Clause
		raw := t.s
		if !t.quotedAll && len(raw) > 0 && (raw[0] == '-' || raw[0] == '+') {
			c.Not = raw[0] == '-'
			raw = raw[1:]
		}
		if i := strings.IndexByte(raw, ':'); i > 0 && !t.quotedAll && i < t.quoteAt {
			f := raw[:i]
			if !keywordFields[f] && !numericFields[f] && !textFields[f] {
				return nil, fmt.Errorf("unknown field %q in %q (fields: %s)", f, t.s, strings.Join(Fields, ", "))
			}
			c.Field, raw = f, raw[i+1:]
		}
		c.Value = unquote(raw)
		if c.Field != "" && numericFields[c.Field] {
			c.Op = "="
			for _, op := range []string{">=", "<=", ">", "<"} {
				if strings.HasPrefix(c.Value, op) {
					c.Op, c.Value = op, c.Value[len(op):]
					break
				}
			}
			if _, err := strconv.ParseFloat(c.Value, 64); err != nil {
				return nil, fmt.Errorf("%s wants a number, optionally after >, >=, < or <=: %q", c.Field, t.s)
			}
		}
		if c.Value == "" {
			return nil, fmt.Errorf("empty value in %q", t.s)
		}
		out = append(out, c)
	}
	return out, nil
}

type token struct {
	s         string
	quotedAll bool // the whole token is one quoted string
	quoteAt   int  // index of the first quote (len(s) when none)
}

func tokens(text string) ([]token, error) {
	var out []token
	var cur strings.Builder
	in, esc := false, false
	q := -1
	flush := func() {
		if cur.Len() == 0 {
			return
		}
		s := cur.String()
		t := token{s: s, quoteAt: len(s)}
		if q >= 0 {
			t.quoteAt = q
		}
		t.quotedAll = q == 0
		out = append(out, t)
		cur.Reset()
		q = -1
	}
	for _, r := range text {
		switch {
		case esc:
			esc = false
		case r == '\\':
			esc = true
		case r == '"':
			if q < 0 {
				q = cur.Len()
			}
			in = !in
		case !in && (r == ' ' || r == '\t' || r == '\n'):
			flush()
			continue
		}
		cur.WriteRune(r)
	}
	if in {
		return nil, fmt.Errorf("unterminated quote in %q", text)
	}
	flush()
	return out, nil
}

func unquote(s string) string {
	if strings.HasPrefix(s, `"`) && strings.HasSuffix(s, `"`) && len(s) >= 2 {
		s = s[1 : len(s)-1]
	}
	return strings.NewReplacer(`\"`, `"`, `\\`, `\`).Replace(s)
}

// ParseQuery turns a search query into a bleve query (see ParseClauses).
func ParseQuery(text string) (query.Query, error) {
	cs, err := ParseClauses(text)
	if err != nil {
		return nil, err
	}
	b := bleve.NewBooleanQuery()
	must := 0
	for _, c := range cs {
		q := clauseQuery(c)
		if c.Not {
			b.AddMustNot(q)
		} else {
			b.AddMust(q)
			must++
		}
	}
	if must == 0 {
		b.AddMust(bleve.NewMatchAllQuery())
	}
	return b, nil
}

func clauseQuery(c Clause) query.Query {
	if c.Field == "" {
		var qs []query.Query
		for _, f := range bareFields {
			qs = append(qs, keywordQuery(f, c.Value))
		}
		return bleve.NewDisjunctionQuery(qs...)
	}
	switch {
	case c.Field == "latency":
		v, _ := strconv.ParseFloat(c.Value, 64)
		return latencyQuery(c.Op, v)
	case numericFields[c.Field]: // code: fixed-width terms (codeTerm), ranges as term ranges
		v, _ := strconv.ParseFloat(c.Value, 64)
		// the integer bounds: code > v is code >= floor(v)+1, code < v is code <= ceil(v)-1
		var lo, hi int64 = math.MinInt64, math.MaxInt64
		switch c.Op {
		case ">":
			lo = int64(math.Floor(v)) + 1
		case ">=":
			lo = int64(math.Ceil(v))
		case "<":
			hi = int64(math.Ceil(v)) - 1
		case "<=":
			hi = int64(math.Floor(v))
		default:
			if v != math.Trunc(v) {
				lo, hi = 1, 0 // no integer code equals it
			} else {
				lo, hi = int64(v), int64(v)
			}
		}
		return codeRange(lo, hi)
	case textFields[c.Field]:
		q := bleve.NewMatchQuery(c.Value)
		q.SetField(c.Field)
		q.SetOperator(query.MatchQueryOperatorAnd)
		return q
	}
	return keywordQuery(c.Field, c.Value)
}

func keywordQuery(field, v string) query.Query {
	if strings.ContainsAny(v, "*?") {
		if i := strings.IndexAny(v, "*?"); i == len(v)-1 && v[i] == '*' {
			q := bleve.NewPrefixQuery(v[:i])
			q.SetField(field)
			return q
		}
		q := bleve.NewWildcardQuery(v)
		q.SetField(field)
		return q
	}
	q := bleve.NewTermQuery(v)
	q.SetField(field)
	return q
}

// codeRange finds the groups whose code lies in [lo, hi]. Codes are terms of six digits
// (codeTerm); a code outside 0..999999 (no HTTP status is) is found by equality only.
func codeRange(lo, hi int64) query.Query {
	t := true
	if lo == hi && (lo < 0 || lo > 999999) {
		q := bleve.NewTermQuery(codeTerm(lo))
		q.SetField("code")
		return q
	}
	lo, hi = max(lo, 0), min(hi, 999999)
	if lo > hi {
		q := bleve.NewTermQuery("none") // no code term is a word
		q.SetField("code")
		return q
	}
	q := bleve.NewTermRangeInclusiveQuery(codeTerm(lo), codeTerm(hi), &t, &t)
	q.SetField("code")
	return q
}
