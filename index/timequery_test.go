package index

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	utc := func(s string) time.Time { v, _ := time.Parse(time.RFC3339Nano, s); return v }
	for _, tc := range []struct {
		in   string
		at   time.Time
		span time.Duration
	}{
		{"2026-03-02", utc("2026-03-02T00:00:00Z"), 24 * time.Hour},
		{"2026-03-02T08", utc("2026-03-02T08:00:00Z"), time.Hour},
		{"2026-03-02T08:15", utc("2026-03-02T08:15:00Z"), time.Minute},
		{"2026-03-02 08:15:30", utc("2026-03-02T08:15:30Z"), time.Second},
		{"2026-03-02T08:15:30.25Z", utc("2026-03-02T08:15:30.25Z"), 10 * time.Millisecond},
		{"2026-03-02T08:15:30.123456789Z", utc("2026-03-02T08:15:30.123456789Z"), time.Nanosecond},
		{"2026-03-02T10:15+02:00", utc("2026-03-02T08:15:00Z"), time.Minute},
		{"2026-03-02T03:15-05:00", utc("2026-03-02T08:15:00Z"), time.Minute},
	} {
		at, span, err := ParseTime(tc.in)
		if err != nil || !at.Equal(tc.at) || span != tc.span {
			t.Errorf("ParseTime(%q) = %s, %s, %v; want %s, %s", tc.in, at, span, err, tc.at, tc.span)
		}
	}
	for _, bad := range []string{"08:15", "2026-13-01", "2026-03-02T08:15.5", "2026-03-02T08:15:30.", "yesterday"} {
		if _, _, err := ParseTime(bad); err == nil {
			t.Errorf("ParseTime(%q) accepted", bad)
		}
	}
}

// TestQuerySyntaxErrors: each is refused with a message that says what to do (the TUI
// shows it under the prompt), never answered as a query that finds nothing.
func TestQuerySyntaxErrors(t *testing.T) {
	for _, tc := range []struct{ q, want string }{
		{`user:"alice@example.com"resource:secrets`, "glued"},
		{`-time:>=2026-03-02`, "cannot be negated"},
		{`time:>=soon`, "want a date"},
		{`time:[2026-03-02T09 TO 2026-03-02T08]`, "ends before it starts"},
		{`time:[2026-03-02 2026-03-03]`, "[FROM TO TO]"},
		{`time:[2026-03-02 TO 2026-03-03`, "unterminated ["},
		{`usr:alice`, "did you mean user?"},
		{`namespce:prod`, "did you mean namespace?"},
	} {
		_, err := ParseClauses(tc.q)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseClauses(%q) = %v, want an error with %q", tc.q, err, tc.want)
		}
	}
	var uf *UnknownFieldError
	if _, err := ParseClauses("tiem:2026-03-02"); !errors.As(err, &uf) || uf.Suggest != "time" {
		t.Errorf("tiem: %v, want an UnknownFieldError suggesting time", err)
	}
	if _, err := ParseClauses("zzzzzz:1"); !errors.As(err, &uf) || uf.Suggest != "" {
		t.Errorf("zzzzzz: %v, want no suggestion", err)
	}
	// quoted values followed by a space, and brackets in values, still parse
	for _, ok := range []string{`user:"alice@example.com" resource:secrets`, `name:"a b"`, `time:[2026-03-02T08:00 TO 2026-03-02T09:00] verb:get`, `name:x[1]`} {
		if _, err := ParseClauses(ok); err != nil {
			t.Errorf("ParseClauses(%q): %v", ok, err)
		}
	}
}

func TestTimeRange(t *testing.T) {
	from, to, ok, err := TimeRange("verb:get time:>=2026-03-02T08:00 time:<2026-03-02T09")
	if err != nil || !ok || from.Format(time.RFC3339) != "2026-03-02T08:00:00Z" || to.Format(time.RFC3339) != "2026-03-02T09:00:00Z" {
		t.Errorf("TimeRange = %s %s %v %v", from, to, ok, err)
	}
	if _, _, ok, err := TimeRange("verb:get"); ok || err != nil {
		t.Errorf("a query without time clauses: ok %v, %v", ok, err)
	}
	q, err := ApplyTime(Query{Text: `user:"a b" time:2026-03-02 -verb:watch`})
	if err != nil || q.Text != `user:"a b" -verb:watch` {
		t.Errorf("ApplyTime left %q, %v", q.Text, err)
	}
}
