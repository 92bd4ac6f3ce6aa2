package audit

import (
	"fmt"
	"sort"
	"time"
)

// Reason classifies why input was skipped. The values are stable: they appear in JSON output.
type Reason string

const (
	Malformed    Reason = "malformed"      // not valid JSON
	NoAuditID    Reason = "no_audit_id"    // an audit event without auditID
	NoTimestamp  Reason = "no_timestamp"   // an audit event without any timestamp
	NotAnEvent   Reason = "not_an_event"   // valid JSON that is no audit event or known wrapper
	TooLong      Reason = "too_long"       // a line over Options.MaxLineBytes
	Truncated    Reason = "truncated_gzip" // a gzip stream that ends early or is corrupt
	Binary       Reason = "binary"         // a file that is not text
	OtherService Reason = "other_service"  // a cloud log entry of another service (GKE, AKS)
	Unreadable   Reason = "unreadable"     // an I/O error while reading
)

// InputError is one piece of bad input: where it is and what is wrong with it.
type InputError struct {
	File   string
	Line   int   // 1-based; 0 when not known
	Offset int64 // byte offset in the (decompressed) stream where the bad input starts
	Reason Reason
	Msg    string
}

// Error renders the message as FILE:LINE: what is wrong.
func (e *InputError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// FileStats is what one input contributed.
type FileStats struct {
	Path       string         `json:"path"`
	Bytes      int64          `json:"bytes"`
	Events     int            `json:"events"`
	Duplicates int            `json:"duplicates"`
	Skipped    map[Reason]int `json:"skipped"`
	First      *time.Time     `json:"first_event,omitempty"`
	Last       *time.Time     `json:"last_event,omitempty"`
}

// SkippedTotal is the number of skipped inputs of any reason.
func (f *FileStats) SkippedTotal() int {
	n := 0
	for _, c := range f.Skipped {
		n += c
	}
	return n
}

// Summary is the closing account of a read: totals and per-file figures.
type Summary struct {
	Events     int            `json:"events"`
	Duplicates int            `json:"duplicates"`
	Skipped    map[Reason]int `json:"skipped"`
	Files      []*FileStats   `json:"files"`
}

// SkippedTotal is the number of skipped inputs of any reason.
func (s *Summary) SkippedTotal() int {
	n := 0
	for _, c := range s.Skipped {
		n += c
	}
	return n
}

// Reasons returns the skip reasons present in m, sorted, for stable output.
func Reasons(m map[Reason]int) []Reason {
	out := make([]Reason, 0, len(m))
	for r := range m {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
