package audit

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Reason classifies why input was skipped. The values are stable: they appear in JSON output.
type Reason string

const (
	Malformed    Reason = "malformed"      // not valid JSON (or NUL bytes, invalid UTF-8 that break it)
	NoAuditID    Reason = "no_audit_id"    // an audit event without auditID
	NoTimestamp  Reason = "no_timestamp"   // an audit event without any timestamp
	BadTimestamp Reason = "bad_timestamp"  // a timestamp that does not parse or lies outside 1678-2262
	WrongType    Reason = "wrong_type"     // a field of an event or wrapper holds the wrong JSON type
	NotAnEvent   Reason = "not_an_event"   // valid JSON that is no audit event or known wrapper
	TooLong      Reason = "too_long"       // a line or JSON value over Options.MaxLineBytes
	Truncated    Reason = "truncated_gzip" // a gzip stream that ends early or is corrupt
	Binary       Reason = "binary"         // a file that is not text
	OtherService Reason = "other_service"  // a cloud log entry of another service (GKE, AKS)
	Unreadable   Reason = "unreadable"     // an I/O error while reading, or a dangling link in a folder
	LinkLoop     Reason = "link_loop"      // a link in a folder that leads back to a folder above it
	LinkRepeat   Reason = "link_repeat"    // a link (or second name) of a file or folder read already
)

// Unit says what one skipped piece is, so that counts say what they count.
type Unit string

const (
	UnitLine  Unit = "line"  // one line of JSON lines
	UnitValue Unit = "value" // one JSON value: an element of a wrapper, or a value of a document
	UnitFile  Unit = "file"  // a whole file, the rest of one, or a path skipped while expanding folders
)

// InputError is one piece of bad input: where it is and what is wrong with it. Msg never
// quotes more of the input than a short, redacted identifier (a service name, a
// timestamp): the place, a length and a fingerprint stand for the bytes.
type InputError struct {
	File   string
	Line   int   // 1-based; 0 when not known
	Offset int64 // byte offset in the (decompressed) stream where the bad input starts
	Reason Reason
	Unit   Unit
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
	// SkippedUnits counts the same pieces as Skipped by what they are (line, value, file).
	SkippedUnits map[Unit]int `json:"skipped_units"`
	First        *time.Time   `json:"first_event,omitempty"`
	Last         *time.Time   `json:"last_event,omitempty"`
}

// SkippedTotal is the number of skipped pieces (lines, values, files) of any reason.
func (f *FileStats) SkippedTotal() int { return total(f.Skipped) }

// SkippedPhrase says what was skipped: "2 lines and 1 value skipped (malformed 2,
// too_long 1)", or "nothing skipped".
func (f *FileStats) SkippedPhrase() string { return skippedPhrase(f.Skipped, f.SkippedUnits) }

// Summary is the closing account of a read: totals and per-file figures. Paths skipped
// while expanding folders (links to a loop or a repeat, dangling links) are counted in
// Skipped and SkippedUnits (as files) but belong to no entry of Files.
type Summary struct {
	Events       int            `json:"events"`
	Duplicates   int            `json:"duplicates"`
	Skipped      map[Reason]int `json:"skipped"`
	SkippedUnits map[Unit]int   `json:"skipped_units"`
	Files        []*FileStats   `json:"files"`
}

// SkippedTotal is the number of skipped pieces (lines, values, files) of any reason.
func (s *Summary) SkippedTotal() int { return total(s.Skipped) }

// SkippedPhrase says what was skipped: "2 lines and 1 value skipped (malformed 2,
// too_long 1)", or "nothing skipped".
func (s *Summary) SkippedPhrase() string { return skippedPhrase(s.Skipped, s.SkippedUnits) }

func total[K comparable](m map[K]int) int {
	n := 0
	for _, c := range m {
		n += c
	}
	return n
}

func skippedPhrase(reasons map[Reason]int, units map[Unit]int) string {
	if total(reasons) == 0 {
		return "nothing skipped"
	}
	var parts []string
	for _, u := range []Unit{UnitLine, UnitValue, UnitFile} {
		if n := units[u]; n > 0 {
			w := string(u)
			if n != 1 {
				w += "s"
			}
			parts = append(parts, fmt.Sprintf("%d %s", n, w))
		}
	}
	var what string
	switch len(parts) {
	case 0:
		what = fmt.Sprintf("%d pieces", total(reasons))
	case 1:
		what = parts[0]
	default:
		what = strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
	}
	var rs []string
	for _, r := range Reasons(reasons) {
		rs = append(rs, fmt.Sprintf("%s %d", r, reasons[r]))
	}
	return what + " skipped (" + strings.Join(rs, ", ") + ")"
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
