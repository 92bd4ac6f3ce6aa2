package vlstore

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/kubesleuth/kubesleuth/index"
)

// fieldOf maps a field of kubesleuth's query language to the document field that holds
// its value as the case's row does (export.AppendDocument): the ECS aliases where the row
// wrote one, else the audit field as VictoriaLogs flattens the event's JSON.
var fieldOf = map[string]string{
	"auditID":          "auditID",
	"stage":            "stage",
	"level":            "level",
	"verb":             "event.action",
	"user":             "user.name",
	"group":            "user.groups",
	"impersonatedUser": "impersonatedUser.username",
	"namespace":        "orchestrator.namespace",
	"resource":         "orchestrator.resource.type",
	"subresource":      "objectRef.subresource",
	"name":             "orchestrator.resource.name",
	"apiGroup":         "objectRef.apiGroup",
	"sourceIP":         "source.ip",
	"userAgent":        "user_agent.original",
	"decision":         "annotations.authorization.k8s.io/decision",
	"code":             "http.response.status_code",
	"latency":          "kubesleuth.latency_ms",
	"requestURI":       "requestURI",
	"reason":           "annotations.authorization.k8s.io/reason",
}

var (
	textFields = map[string]bool{"requestURI": true, "reason": true}
	bareFields = []string{"user", "namespace", "name", "resource"}
)

// quote makes s a LogsQL string literal.
func quote(s string) string { return strconv.Quote(s) }

// LogsQL translates a query's text (kubesleuth's search syntax, index.ParseClauses) into
// a LogsQL filter over one case's events, with the time range [from, to). It fails as
// ParseClauses does (an unknown field, a bad number).
func LogsQL(caseName, text string, from, to time.Time) (string, error) {
	var parts []string
	parts = append(parts, "kubesleuth.case:="+quote(caseName))
	if tf := timeFilter(from, to); tf != "" {
		parts = append(parts, tf)
	}
	t := strings.TrimSpace(text)
	if t != "" && t != "*" {
		cs, err := index.ParseClauses(t)
		if err != nil {
			return "", err
		}
		for _, c := range cs {
			if c.Field == "time" { // moved into from/to by index.ApplyTime
				continue
			}
			f, err := clause(c)
			if err != nil {
				return "", err
			}
			if c.Not {
				f = "NOT " + f
			}
			parts = append(parts, f)
		}
	}
	return strings.Join(parts, " AND "), nil
}

func timeFilter(from, to time.Time) string {
	switch {
	case from.IsZero() && to.IsZero():
		return ""
	case to.IsZero():
		return "_time:>=" + from.UTC().Format(time.RFC3339Nano)
	case from.IsZero():
		return "_time:<" + to.UTC().Format(time.RFC3339Nano)
	}
	return "_time:[" + from.UTC().Format(time.RFC3339Nano) + ", " + to.UTC().Format(time.RFC3339Nano) + ")"
}

// never matches: no document carries this field.
const never = `kubesleuth.never:="1"`

func clause(c index.Clause) (string, error) {
	if c.Field == "" {
		var or []string
		for _, f := range bareFields {
			or = append(or, keyword(f, c.Value))
		}
		return "(" + strings.Join(or, " OR ") + ")", nil
	}
	f := fieldOf[c.Field]
	if f == "" {
		return "", fmt.Errorf("field %q has no place in the VictoriaLogs store", c.Field)
	}
	switch {
	case c.Field == "code" || c.Field == "latency":
		v, err := strconv.ParseFloat(c.Value, 64)
		if err != nil {
			return "", fmt.Errorf("%s wants a number: %q", c.Field, c.Value)
		}
		// integer bounds, as the bleve store applies them: code > 399.5 is code >= 400
		lo, hi := math.Inf(-1), math.Inf(1)
		switch c.Op {
		case ">":
			lo = math.Floor(v) + 1
		case ">=":
			lo = math.Ceil(v)
		case "<":
			hi = math.Ceil(v) - 1
		case "<=":
			hi = math.Floor(v)
		default:
			if v != math.Trunc(v) {
				return never, nil
			}
			lo, hi = v, v
		}
		if lo > hi {
			return never, nil
		}
		return fmt.Sprintf("%s:range[%s, %s]", quote(f), num(lo), num(hi)), nil
	case textFields[c.Field]:
		// words, case-insensitive, every one present (bleve's match query with AND)
		ws := wordsOf(c.Value)
		if len(ws) == 0 {
			return never, nil
		}
		var and []string
		for _, w := range ws {
			and = append(and, quote(f)+":i("+quote(w)+")")
		}
		return "(" + strings.Join(and, " AND ") + ")", nil
	}
	return keyword(c.Field, c.Value), nil
}

func num(v float64) string {
	switch {
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsInf(v, 1):
		return "Inf"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// words splits a text value as the bleve store's analyzer does for ASCII: letters and
// digits, lower case.
func wordsOf(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	})
}

// keyword is an exact, prefix (v*) or wildcard (* and ?) match of a keyword field.
func keyword(field, v string) string {
	f := quote(fieldOf[field])
	if field == "group" { // a JSON array of strings
		if !strings.ContainsAny(v, "*?") {
			return f + ":json_array_contains_any(" + quote(v) + ")"
		}
		// one element of the array's JSON text matches the pattern
		return f + ":~" + quote(`(^\[|,)"`+wildcardRegexp(v, `[^"]`)+`"(,|\]$)`)
	}
	if i := strings.IndexAny(v, "*?"); i >= 0 {
		if i == len(v)-1 && v[i] == '*' {
			return f + ":=" + quote(v[:i]) + "*"
		}
		return f + ":~" + quote("^"+wildcardRegexp(v, ".")+"$")
	}
	return f + ":=" + quote(v)
}

// wildcardRegexp turns * and ? into regexp pieces (any is the regexp of one character).
func wildcardRegexp(v, any string) string {
	var b strings.Builder
	for _, r := range v {
		switch r {
		case '*':
			b.WriteString(any + "*")
		case '?':
			b.WriteString(any)
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	return b.String()
}
