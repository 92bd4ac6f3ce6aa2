package report

import (
	"encoding/csv"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/kubesleuth/kubesleuth/internal/csvsafe"
)

// writeCSV writes one row per finding, in the report's order, with the formula guard.
func writeCSV(w io.Writer, r *Report) error {
	cw := csv.NewWriter(w)
	put := csvsafe.Put(cw)
	put("severity", "rule_id", "title", "tactic", "mitre", "subject", "user", "namespace", "resource", "name", "count",
		"first_seen", "last_seen", "message", "location", "fingerprint", "bookmarked", "note")
	for _, f := range r.Findings {
		loc := ""
		if f.Location != nil {
			loc = f.Location.File + ":" + strconv.Itoa(f.Location.Line)
		}
		put(f.Severity.String(), f.RuleID, f.Title, f.Tactic, strings.Join(f.MITRE, " "), f.Subject.String(), f.Subject.User,
			f.Subject.Namespace, f.Subject.Resource, f.Subject.Name, strconv.Itoa(f.Count), csvTime(f.FirstSeen), csvTime(f.LastSeen),
			f.Message, loc, f.Fingerprint, strconv.FormatBool(f.Bookmarked), f.Note)
	}
	cw.Flush()
	return cw.Error()
}

func csvTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}
