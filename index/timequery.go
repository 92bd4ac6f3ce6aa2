package index

import (
	"fmt"
	"strings"
	"time"
)

// Time clauses put a range of request times into the query language, so that a prompt,
// a saved query and --query say as much as --from/--to:
//
//	time:>=2026-03-02T08:00      at or after the start of that minute
//	time:<2026-03-02T09          before that hour
//	time:<=2026-03-02            up to the end of that day
//	time:2026-03-02T08:15        within that minute
//	time:[2026-03-02T08:00 TO 2026-03-02T08:30]   from the start of one to the end of the other
//	time:2026-03-02T08:00..2026-03-02T08:30       the same
//
// A time is a date, optionally with an hour, minutes, seconds and a fraction
// (2026-03-02T08:15:30.250), and a zone (Z or +02:00); without a zone it is UTC, as audit
// logs are. A time names the span of its precision, so that "<=" includes the whole of
// the last minute written. Several time clauses intersect; a time clause cannot be
// negated. ApplyTime moves them into Query.From and Query.To, which every store answers.

// timeField is the clause field of request times.
const timeField = "time"

// timeLayouts are the accepted forms without zone, longest first, with the span each
// names.
var timeLayouts = []struct {
	layout string
	span   time.Duration
}{
	{"2006-01-02T15:04:05", time.Second},
	{"2006-01-02T15:04", time.Minute},
	{"2006-01-02T15", time.Hour},
	{"2006-01-02", 24 * time.Hour},
}

// ParseTime reads one time of a time clause: its start and the span it names (a minute
// for 08:15, a millisecond for 08:15:30.250). Errors quote the value (a query is what the
// user typed).
func ParseTime(s string) (start time.Time, span time.Duration, err error) {
	v := strings.Replace(strings.TrimSpace(s), " ", "T", 1)
	loc := time.UTC
	// the zone: Z or ±hh:mm after the date
	if n := len(v); n > 10 {
		switch {
		case v[n-1] == 'Z' || v[n-1] == 'z':
			v = v[:n-1]
		case n > 16 && (v[n-6] == '+' || v[n-6] == '-') && v[n-3] == ':':
			z, err := time.Parse("-07:00", v[n-6:])
			if err != nil {
				return time.Time{}, 0, fmt.Errorf("time %q: bad zone", s)
			}
			_, off := z.Zone()
			loc = time.FixedZone(v[n-6:], off)
			v = v[:n-6]
		}
	}
	frac := ""
	if i := strings.IndexByte(v, '.'); i > 0 && len(v) > 11 {
		v, frac = v[:i], v[i+1:]
		if frac == "" || len(frac) > 9 || strings.Trim(frac, "0123456789") != "" {
			return time.Time{}, 0, fmt.Errorf("time %q: the fraction of a second wants 1 to 9 digits", s)
		}
	}
	for _, l := range timeLayouts {
		t, err := time.ParseInLocation(l.layout, v, loc)
		if err != nil {
			continue
		}
		span = l.span
		if frac != "" {
			if l.span != time.Second {
				break // a fraction after minutes is no time
			}
			// the digits written name the span: .250 is a millisecond
			var ns time.Duration
			span = 1
			for i := 0; i < 9; i++ {
				ns *= 10
				if i < len(frac) {
					ns += time.Duration(frac[i] - '0')
				} else {
					span *= 10
				}
			}
			t = t.Add(ns)
		}
		return t, span, nil
	}
	return time.Time{}, 0, fmt.Errorf("time %q: want a date with optional time and zone, e.g. 2026-03-02T08:15, 2026-03-02T08:15:30.250Z or 2026-03-02T10:15+02:00", s)
}

// timeClauseRange is the [from, to) of one time clause (value and operator as
// ParseClauses left them).
func timeClauseRange(c Clause) (from, to time.Time, err error) {
	v := c.Value
	if strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]") {
		parts := strings.Fields(v[1 : len(v)-1])
		if len(parts) != 3 || parts[1] != "TO" {
			return from, to, fmt.Errorf("time range %q: want [FROM TO TO]", v)
		}
		return timeSpan(parts[0], parts[2])
	}
	if a, b, ok := strings.Cut(v, ".."); ok && c.Op == "=" {
		return timeSpan(a, b)
	}
	t, span, err := ParseTime(v)
	if err != nil {
		return from, to, err
	}
	switch c.Op {
	case ">=":
		return t, time.Time{}, nil
	case ">":
		return t.Add(span), time.Time{}, nil
	case "<":
		return time.Time{}, t, nil
	case "<=":
		return time.Time{}, t.Add(span), nil
	}
	return t, t.Add(span), nil
}

// timeSpan is from the start of a to the end of b; "*" leaves a side open.
func timeSpan(a, b string) (from, to time.Time, err error) {
	if a != "*" && a != "" {
		if from, _, err = ParseTime(a); err != nil {
			return
		}
	}
	if b != "*" && b != "" {
		t, span, e := ParseTime(b)
		if e != nil {
			return from, to, e
		}
		to = t.Add(span)
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return from, to, fmt.Errorf("time range %s..%s ends before it starts", a, b)
	}
	return from, to, nil
}

// TimeRange is the intersection of the time clauses of text ([from, to), a zero end is
// open), ok false when it has none. It fails on a query that does not parse.
func TimeRange(text string) (from, to time.Time, ok bool, err error) {
	q, err := ApplyTime(Query{Text: text})
	if err != nil {
		return from, to, false, err
	}
	return q.From, q.To, q.Text != text, nil
}

// ApplyTime returns q with the time clauses of its text removed and intersected with
// From and To. Every store calls it before planning, so time: means the same everywhere.
// An empty intersection gives From == To (nothing matches). It fails on a query that
// does not parse.
func ApplyTime(q Query) (Query, error) {
	if !strings.Contains(q.Text, timeField+":") {
		return q, nil
	}
	toks, err := tokens(q.Text)
	if err != nil {
		return q, err
	}
	var rest []string
	found := false
	for _, t := range toks {
		cs, err := clausesOf([]token{t})
		if err != nil {
			return q, err
		}
		if len(cs) != 1 || cs[0].Field != timeField {
			rest = append(rest, t.s)
			continue
		}
		found = true
		from, to, err := timeClauseRange(cs[0])
		if err != nil {
			return q, err
		}
		if !from.IsZero() && (q.From.IsZero() || from.After(q.From)) {
			q.From = from
		}
		if !to.IsZero() && (q.To.IsZero() || to.Before(q.To)) {
			q.To = to
		}
	}
	if !found {
		return q, nil
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		q.To = q.From // empty: [From, From) holds nothing
	}
	q.Text = strings.Join(rest, " ")
	return q, nil
}
