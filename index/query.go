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
// needs no quotes. time: clauses bound the request time (timequery.go). Errors name the
// clause; an unknown field is an *UnknownFieldError, with the nearest field name.
func ParseClauses(text string) ([]Clause, error) {
	toks, err := tokens(text)
	if err != nil {
		return nil, err
	}
	return clausesOf(toks)
}

// UnknownFieldError is a clause whose field is not a field of the query language.
type UnknownFieldError struct {
	Field, Clause string
	// Suggest is the known field nearest to Field ("" when none is near).
	Suggest string
}

func (e *UnknownFieldError) Error() string {
	if e.Suggest != "" {
		return fmt.Sprintf("unknown field %q in %q: did you mean %s? (fields: %s, time)", e.Field, e.Clause, e.Suggest, strings.Join(Fields, ", "))
	}
	return fmt.Sprintf("unknown field %q in %q (fields: %s, time)", e.Field, e.Clause, strings.Join(Fields, ", "))
}

// nearestField is the known field closest to f by edit distance (case-insensitive), when
// that is close enough to be a typo.
func nearestField(f string) string {
	best, bestD := "", 1<<30
	for _, k := range append(append([]string(nil), Fields...), timeField) {
		if d := editDistance(strings.ToLower(f), strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	if bestD > max(1, len(f)/3) {
		return ""
	}
	return best
}

// editDistance is the optimal-string-alignment distance: insertions, deletions,
// substitutions and swaps of neighbours (tiem for time) cost one each.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+c)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

func clausesOf(toks []token) ([]Clause, error) {
	var out []Clause
	for _, t := range toks {
		var c Clause
		raw := t.s
		if !t.quotedAll && len(raw) > 0 && (raw[0] == '-' || raw[0] == '+') {
			c.Not = raw[0] == '-'
			raw = raw[1:]
		}
		if i := strings.IndexByte(raw, ':'); i > 0 && !t.quotedAll && i < t.quoteAt {
			f := raw[:i]
			if !keywordFields[f] && !numericFields[f] && !textFields[f] && f != timeField {
				return nil, &UnknownFieldError{Field: f, Clause: t.s, Suggest: nearestField(f)}
			}
			c.Field, raw = f, raw[i+1:]
		}
		c.Value = unquote(raw)
		if c.Field != "" && (numericFields[c.Field] || c.Field == timeField) {
			c.Op = "="
			for _, op := range []string{">=", "<=", ">", "<"} {
				if strings.HasPrefix(c.Value, op) {
					c.Op, c.Value = op, c.Value[len(op):]
					break
				}
			}
		}
		if c.Value == "" {
			return nil, fmt.Errorf("empty value in %q", t.s)
		}
		switch {
		case c.Field == timeField:
			if c.Not {
				return nil, fmt.Errorf("%q: a time range cannot be negated (time:<T or time:>T says the same)", t.s)
			}
			if _, _, err := timeClauseRange(c); err != nil {
				return nil, err
			}
		case c.Field != "" && numericFields[c.Field]:
			if _, err := strconv.ParseFloat(c.Value, 64); err != nil {
				return nil, fmt.Errorf("%s wants a number, optionally after >, >=, < or <=: %q", c.Field, t.s)
			}
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
	in, esc, closed := false, false, false
	bracket := false // inside field:[a TO b], whose spaces do not split
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
	for i, r := range text {
		space := r == ' ' || r == '\t' || r == '\n'
		if closed && !space {
			// user:"alice"resource:secrets would be one value: say so rather than find nothing
			return nil, fmt.Errorf("%q: a quoted value is glued to what follows it at position %d: put a space after the closing quote", text, i+1)
		}
		closed = false
		switch {
		case esc:
			esc = false
		case r == '\\':
			esc = true
		case r == '"' && !bracket:
			if q < 0 {
				q = cur.Len()
			}
			in = !in
			closed = !in
		case !in && r == '[' && strings.HasSuffix(cur.String(), ":"):
			bracket = true
		case bracket && r == ']':
			bracket = false
		case !in && !bracket && space:
			flush()
			continue
		}
		cur.WriteRune(r)
	}
	if in {
		return nil, fmt.Errorf("unterminated quote in %q", text)
	}
	if bracket {
		return nil, fmt.Errorf("unterminated [ in %q", text)
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
