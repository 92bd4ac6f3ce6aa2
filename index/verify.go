package index

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/standard"
	"github.com/blevesearch/bleve/v2/registry"
)

// rowMatcher checks clauses against one stored row with the semantics bleve gives them on
// an event (keyword terms, trailing-* prefixes, wildcards, numeric comparisons, text
// matches through the standard analyzer). Group search uses it for the clauses a group
// document cannot answer exactly (auditID, requestURI, latency) and for lookups by auditID.
type rowMatcher struct {
	clauses []rowClause
}

type rowClause struct {
	Clause
	re     *regexp.Regexp // wildcard
	prefix bool           // value is a prefix (trailing *)
	num    float64
	tokens []string // text: the query's analyzed terms (none: matches nothing)
	// seen memoizes text matches: most members repeat a URI another member had.
	seen map[string]bool
}

var textAnalyzer = func() analysis.Analyzer {
	a, err := registry.NewCache().AnalyzerNamed(standard.Name)
	if err != nil {
		panic(fmt.Sprintf("bleve's standard analyzer: %v", err))
	}
	return a
}()

// bleve's wildcard query: regexp metacharacters quoted, * and ? translated, whole term.
var wildcardToRegexp = strings.NewReplacer("+", `\+`, "(", `\(`, ")", `\)`, "^", `\^`, "$", `\$`,
	".", `\.`, "{", `\{`, "}", `\}`, "[", `\[`, "]", `\]`, `|`, `\|`, `\`, `\\`, "*", ".*", "?", ".")

func analyzeText(s string) []string {
	var out []string
	for _, t := range textAnalyzer.Analyze([]byte(s)) {
		out = append(out, string(t.Term))
	}
	return out
}

func newRowMatcher(cs []Clause) (*rowMatcher, error) {
	m := &rowMatcher{}
	for _, c := range cs {
		rc := rowClause{Clause: c}
		switch {
		case numericFields[c.Field]:
			rc.num, _ = strconv.ParseFloat(c.Value, 64)
		case textFields[c.Field]:
			rc.tokens = analyzeText(c.Value)
		default:
			if i := strings.IndexAny(c.Value, "*?"); i >= 0 {
				if i == len(c.Value)-1 && c.Value[i] == '*' {
					rc.prefix = true
				} else {
					re, err := regexp.Compile("^(?:" + wildcardToRegexp.Replace(c.Value) + ")$")
					if err != nil {
						return nil, fmt.Errorf("wildcard %q: %w", c.Value, err)
					}
					rc.re = re
				}
			}
		}
		m.clauses = append(m.clauses, rc)
	}
	return m, nil
}

func (m *rowMatcher) match(r *Row) bool {
	for i := range m.clauses {
		if m.clauses[i].match(r) == m.clauses[i].Not {
			return false
		}
	}
	return true
}

func (c *rowClause) match(r *Row) bool {
	switch {
	case c.Field == "":
		for _, f := range bareFields {
			if c.matchKeyword(keywordValues(r, f)) {
				return true
			}
		}
		return false
	case numericFields[c.Field]:
		var v float64
		switch c.Field {
		case "code":
			if r.Code == 0 {
				return false
			}
			v = float64(r.Code)
		case "latency":
			if r.Latency < 0 {
				return false
			}
			v = float64(r.Latency)
		}
		switch c.Op {
		case ">":
			return v > c.num
		case ">=":
			return v >= c.num
		case "<":
			return v < c.num
		case "<=":
			return v <= c.num
		}
		return v == c.num
	case textFields[c.Field]:
		if len(c.tokens) == 0 {
			return false
		}
		text := r.URI
		if c.Field == "reason" {
			text = r.Reason
		}
		if m, ok := c.seen[text]; ok {
			return m
		}
		m := c.matchText(text)
		if c.seen == nil || len(c.seen) > 100_000 {
			c.seen = map[string]bool{}
		}
		c.seen[text] = m
		return m
	}
	return c.matchKeyword(keywordValues(r, c.Field))
}

func (c *rowClause) matchText(text string) bool {
	{
		have := analyzeText(text)
		for _, t := range c.tokens {
			found := false
			for _, h := range have {
				if h == t {
					found = true
					break
				}
			}
			if !found {
				return false
			}
		}
		return true
	}
}

func (c *rowClause) matchKeyword(vals []string) bool {
	for _, v := range vals {
		if v == "" {
			continue
		}
		switch {
		case c.re != nil:
			if c.re.MatchString(v) {
				return true
			}
		case c.prefix:
			if strings.HasPrefix(v, c.Value[:len(c.Value)-1]) {
				return true
			}
		case v == c.Value:
			return true
		}
	}
	return false
}

// keywordValues are a row's values of a keyword field.
func keywordValues(r *Row, field string) []string {
	switch field {
	case "auditID":
		return []string{r.AuditID}
	case "stage":
		return []string{r.Stage}
	case "level":
		return []string{r.Level}
	case "verb":
		return []string{r.Verb}
	case "user":
		return []string{r.User}
	case "group":
		return r.Groups
	case "impersonatedUser":
		return []string{r.Impersonate}
	case "namespace":
		return []string{r.Namespace}
	case "resource":
		return []string{r.Resource}
	case "subresource":
		return []string{r.Subresource}
	case "name":
		return []string{r.Name}
	case "apiGroup":
		return []string{r.APIGroup}
	case "sourceIP":
		return r.SourceIPs
	case "userAgent":
		return []string{r.UserAgent}
	case "decision":
		return []string{r.Decision}
	}
	return nil
}
