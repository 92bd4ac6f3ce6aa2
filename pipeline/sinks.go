package pipeline

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/analyzer/redact"
	"github.com/kubesleuth/kubesleuth/index"
)

// Resumable is a sink whose output can be put back to where a checkpoint found it: an
// alert file is truncated to its checkpointed length on restart, so that the alerts of
// events read again after a kill are written once, not twice.
type Resumable interface {
	// Position is where the output stands after the last Flush (opaque JSON).
	Position() (json.RawMessage, error)
	// Resume puts the output back to a Position.
	Resume(pos json.RawMessage) error
}

// AlertFormat is how an alert sink renders a finding.
type AlertFormat int

const (
	// FormatLine: one human line per finding: time, severity, rule, subject, message.
	FormatLine AlertFormat = iota
	// FormatJSONL: the finding's JSON shape (audit_ids included) with "alert": "new" or
	// "repeat", one per line.
	FormatJSONL
	// FormatFalco: Falco's JSON output (what falcosidekick's FalcoPayload decodes),
	// one per line; see FalcoPayload.
	FormatFalco
)

// ParseFormat names a format: line, jsonl or falco.
func ParseFormat(s string) (AlertFormat, bool) {
	switch s {
	case "line":
		return FormatLine, true
	case "jsonl":
		return FormatJSONL, true
	case "falco":
		return FormatFalco, true
	}
	return 0, false
}

// Alerts is the sink for live findings: a line (or JSON line) when a finding opens, and
// its repeats grouped: one "repeat" line per finding at most every GroupEvery (and when
// it closes or the run ends) with the count and the evidence added since the last line,
// instead of a line per event. Each auditID of a finding's evidence is in exactly one of
// its lines. Findings below Min are not alerted.
//
// Failure modes: a write error of the output is returned by Update or Flush (the run
// stops: an alert that cannot be delivered is not dropped silently).
type Alerts struct {
	Name       string // for errors: "stdout", the file's path
	Format     AlertFormat
	Min        analyzer.Severity
	GroupEvery time.Duration
	// Now is the clock of the grouping (default time.Now).
	Now func() time.Time
	// Hostname is the falco format's hostname (default os.Hostname).
	Hostname string

	w       *redact.Writer
	file    *os.File // when the output is a file of its own: Resumable
	poster  *Poster
	pending map[string]*group
}

type group struct {
	F      analyzer.Finding `json:"finding"`
	Added  int              `json:"added"`
	IDs    []string         `json:"ids,omitempty"`
	since  time.Time        // wall time of the last line for this finding
	Closed bool             `json:"closed,omitempty"`
}

// NewAlerts writes alerts to w (wrapped in a redacting Writer).
func NewAlerts(name string, w io.Writer, format AlertFormat, min analyzer.Severity) *Alerts {
	host, _ := os.Hostname()
	return &Alerts{Name: name, Format: format, Min: min, GroupEvery: 10 * time.Second, Hostname: host, w: redact.NewWriter(w), pending: map[string]*group{}}
}

// Poster is the HTTP poster behind a webhook sink (nil for other outputs).
func (a *Alerts) Poster() *Poster { return a.poster }

// OpenAlertFile appends alerts to the file at path (created 0600), resumable.
func OpenAlertFile(path string, format AlertFormat, min analyzer.Severity) (*Alerts, error) {
	// redact: what is written goes through redact.NewWriter (NewAlerts wraps it)
	fh, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("alert file: %w", err)
	}
	if _, err := fh.Seek(0, io.SeekEnd); err != nil {
		fh.Close()
		return nil, fmt.Errorf("alert file %s: %w", path, err)
	}
	a := NewAlerts(path, fh, format, min)
	a.file = fh
	return a, nil
}

func (a *Alerts) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// Update implements Sink.
func (a *Alerts) Update(u analyzer.Update) error {
	if u.Finding.Severity < a.Min {
		return nil
	}
	id := index.FindingID(u.Finding)
	switch u.Kind {
	case analyzer.Opened:
		a.pending[id] = &group{F: u.Finding, since: a.now()}
		return a.write("new", u.Finding, u.Finding.Count, u.Finding.AuditIDs)
	case analyzer.Grew:
		g := a.pending[id]
		if g == nil { // opened before a restart
			g = &group{since: a.now()}
			a.pending[id] = g
		}
		g.F = u.Finding
		g.Added += u.Added
		g.IDs = append(g.IDs, u.NewIDs...)
	case analyzer.Closed:
		if g := a.pending[id]; g != nil {
			g.F, g.Closed = u.Finding, true
		}
	}
	return nil
}

// Flush implements Sink: repeats grouped long enough (or of closed findings) are written.
func (a *Alerts) Flush() error {
	return a.flush(false)
}

func (a *Alerts) flush(all bool) error {
	now := a.now()
	for id, g := range a.pending {
		if g.Added > 0 && (all || g.Closed || now.Sub(g.since) >= a.GroupEvery) {
			if err := a.write("repeat", g.F, g.Added, g.IDs); err != nil {
				return err
			}
			g.Added, g.IDs, g.since = 0, nil, now
		}
		if g.Closed {
			delete(a.pending, id)
		}
	}
	return a.w.Flush()
}

// Finish implements Sink: every pending repeat is written.
func (a *Alerts) Finish(End) error { return a.flush(true) }

// Close writes what is pending and closes a file output.
func (a *Alerts) Close() error {
	err := a.flush(true)
	if a.file != nil {
		if e := a.file.Close(); err == nil {
			err = e
		}
	}
	return err
}

// alertJSON is the JSON shape of an alert: the finding's, with "alert" ("new" or
// "repeat") and "added" (the count this line adds; the finding's count is the total so
// far) in front. audit_ids are the evidence this line adds.
func alertJSON(kind string, f analyzer.Finding, added int) ([]byte, error) {
	b, err := json.Marshal(f)
	if err != nil {
		return nil, err
	}
	head := fmt.Sprintf(`{"alert":%q,"added":%d,`, kind, added)
	return append([]byte(head), b[1:]...), nil
}

func (a *Alerts) write(kind string, f analyzer.Finding, added int, ids []string) error {
	var err error
	switch a.Format {
	case FormatJSONL:
		f.AuditIDs = ids
		b, e := alertJSON(kind, f, added)
		if e != nil {
			return e
		}
		_, err = a.w.Write(append(b, '\n'))
	case FormatFalco:
		b, e := json.Marshal(NewFalcoPayload(kind, f, added, ids, a.Hostname))
		if e != nil {
			return e
		}
		_, err = a.w.Write(append(b, '\n'))
	default:
		msg := f.Message
		if kind == "repeat" {
			msg = fmt.Sprintf("repeated %d more time(s), %d in all, last at %s", added, f.Count, f.LastSeen.UTC().Format(time.RFC3339))
		}
		_, err = fmt.Fprintf(a.w, "%s %-8s %s %s: %s\n", f.FirstSeen.UTC().Format(time.RFC3339), strings.ToUpper(f.Severity.String()),
			f.RuleID, f.Subject.String(), msg)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", a.Name, err)
	}
	return nil
}

// alertsPos is an alert sink's checkpointed position: the file's length (for a file of
// its own) and the repeats grouped but not yet written (the engine's state has counted
// them: after a restart they would otherwise never be alerted).
type alertsPos struct {
	Offset  int64             `json:"offset"`
	Pending map[string]*group `json:"pending,omitempty"`
}

// Position implements Resumable. A stream (stdout) has no offset: it cannot be put back,
// and an alert written between the last checkpoint and a kill is written again.
func (a *Alerts) Position() (json.RawMessage, error) {
	if err := a.w.Flush(); err != nil {
		return nil, err
	}
	pos := alertsPos{Offset: -1}
	for id, g := range a.pending {
		if g.Added > 0 || g.Closed {
			if pos.Pending == nil {
				pos.Pending = map[string]*group{}
			}
			pos.Pending[id] = g
		}
	}
	if a.file != nil {
		off, err := a.file.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, err
		}
		pos.Offset = off
	}
	return json.Marshal(pos)
}

// Resume implements Resumable: the file is cut back to the checkpointed length and the
// grouped repeats are pending again.
func (a *Alerts) Resume(raw json.RawMessage) error {
	if len(raw) == 0 {
		return nil
	}
	var pos alertsPos
	if err := json.Unmarshal(raw, &pos); err != nil {
		return fmt.Errorf("%s: checkpointed position: %w", a.Name, err)
	}
	now := a.now()
	for id, g := range pos.Pending {
		g.since = now
		a.pending[id] = g
	}
	off := pos.Offset
	if a.file == nil || off < 0 {
		return nil
	}
	st, err := a.file.Stat()
	if err != nil {
		return err
	}
	if off > st.Size() {
		return fmt.Errorf("%s is shorter (%d bytes) than its checkpoint (%d): it was changed by someone else", a.Name, st.Size(), off)
	}
	if err := a.file.Truncate(off); err != nil {
		return err
	}
	_, err = a.file.Seek(off, io.SeekStart)
	return err
}

// Findings is the sink that keeps every finding of a live run for the case: the engine
// forgets a finding once its fold closes; this sink remembers the last state of each, to
// record them at the end (index.Writer.Finish replaces the case's findings).
//
// With Meta set, a live run records them in the case too (index.CaseMeta.Progress, with
// the store's Commit), so that readers of the case (investigate --follow) see the
// findings as they open and grow: at a checkpoint after they changed, at most every
// StageEvery (default 5 s). Recording costs a redaction and an encoding of every finding
// held (about 0.2 s for 1,000 findings of 100 auditIDs each on a loaded core), on the
// serial stage: hence not at every checkpoint.
type Findings struct {
	Meta       index.CaseMeta
	StageEvery time.Duration

	byID   map[string]analyzer.Finding
	order  []string
	dirty  bool      // updated since the last stage
	staged time.Time // when they were last staged
}

// NewFindings starts from the findings the case already holds.
func NewFindings(have []analyzer.Finding) *Findings {
	s := &Findings{byID: map[string]analyzer.Finding{}}
	for _, f := range have {
		s.put(f)
	}
	return s
}

func (s *Findings) put(f analyzer.Finding) {
	id := index.FindingID(f)
	if _, ok := s.byID[id]; !ok {
		s.order = append(s.order, id)
	}
	s.byID[id] = f
}

// Update implements Sink.
func (s *Findings) Update(u analyzer.Update) error {
	s.put(u.Finding)
	s.dirty = true
	return nil
}

// stage hands the findings to Meta for the next commit when they changed since the
// last; it returns whether it did.
func (s *Findings) stage(now time.Time) bool {
	every := s.StageEvery
	if every <= 0 {
		every = 5 * time.Second
	}
	if s.Meta == nil || !s.dirty || now.Sub(s.staged) < every {
		return false
	}
	s.Meta.Progress(s.All())
	s.staged = now
	return true
}

// Flush implements Sink.
func (s *Findings) Flush() error { return nil }

// Finish implements Sink.
func (s *Findings) Finish(End) error { return nil }

// All returns every finding, in the order they opened.
func (s *Findings) All() []analyzer.Finding {
	out := make([]analyzer.Finding, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, s.byID[id])
	}
	return out
}

// Position implements Resumable: the findings themselves (a kill must not lose those
// that closed since the case was last finished).
func (s *Findings) Position() (json.RawMessage, error) { return json.Marshal(s.All()) }

// Resume implements Resumable.
func (s *Findings) Resume(pos json.RawMessage) error {
	if len(pos) == 0 {
		return nil
	}
	var fs []analyzer.Finding
	if err := json.Unmarshal(pos, &fs); err != nil {
		return err
	}
	for _, f := range fs {
		s.put(f)
	}
	return nil
}
