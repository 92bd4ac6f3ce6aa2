package report

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/kubesleuth/kubesleuth/analyzer"
)

// findingExtra is what a report adds to a finding's own JSON.
type findingExtra struct {
	ID           string     `json:"id"`
	Fingerprint  string     `json:"fingerprint"`
	Tactic       string     `json:"tactic"`
	Source       string     `json:"source"`
	Evidence     []Evidence `json:"evidence"`
	EvidenceMore int        `json:"evidence_more"`
	Location     *Location  `json:"location,omitempty"`
	Bookmarked   bool       `json:"bookmarked,omitempty"`
	Note         string     `json:"note,omitempty"`
}

// MarshalJSON is the finding's own JSON (analyzer.Finding's, as scan prints it) with the
// report's fields added: the embedded MarshalJSON would otherwise be promoted and drop
// them.
func (f Finding) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(f.Finding)
	if err != nil || len(b) < 2 {
		return b, err
	}
	ev := f.Evidence
	if ev == nil {
		ev = []Evidence{}
	}
	extra, err := json.Marshal(findingExtra{f.ID, f.Fingerprint, f.Tactic, f.Source, ev, f.EvidenceMore, f.Location, f.Bookmarked, f.Note})
	if err != nil {
		return nil, err
	}
	return append(append(b[:len(b)-1], ','), extra[1:]...), nil
}

// UnmarshalJSON reads both parts back.
func (f *Finding) UnmarshalJSON(b []byte) error {
	var base analyzer.Finding
	if err := json.Unmarshal(b, &base); err != nil {
		return err
	}
	var x findingExtra
	if err := json.Unmarshal(b, &x); err != nil {
		return err
	}
	*f = Finding{Finding: base, ID: x.ID, Fingerprint: x.Fingerprint, Tactic: x.Tactic, Source: x.Source, Evidence: x.Evidence,
		EvidenceMore: x.EvidenceMore, Location: x.Location, Bookmarked: x.Bookmarked, Note: x.Note}
	return nil
}

func writeJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// Read reads a saved JSON report (of this schema version) and passes every string of it
// through the redactor again: a report file is input like any other.
//
// Failure modes: a document that is not a JSON report, or of another schema_version.
func Read(rd io.Reader) (*Report, error) {
	var r Report
	dec := json.NewDecoder(rd)
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("not a kubesleuth JSON report: %w", err)
	}
	if r.SchemaVersion == 0 {
		return nil, fmt.Errorf("not a kubesleuth JSON report: no schema_version")
	}
	if r.SchemaVersion != Version {
		return nil, fmt.Errorf("report schema_version %d: this kubesleuth reads version %d", r.SchemaVersion, Version)
	}
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
	// the indexes the writers follow must stay inside the lists
	for _, t := range r.Tactics {
		for _, i := range t.Findings {
			if i < 0 || i >= len(r.Findings) {
				return nil, fmt.Errorf("report: tactic %q names finding %d of %d", t.Name, i, len(r.Findings))
			}
		}
	}
	for _, i := range r.Timeline.Findings {
		if i < 0 || i >= len(r.Findings) {
			return nil, fmt.Errorf("report: the timeline names finding %d of %d", i, len(r.Findings))
		}
	}
	for _, n := range r.Annotations {
		if n.Finding < -1 || n.Finding >= len(r.Findings) {
			return nil, fmt.Errorf("report: a note names finding %d of %d", n.Finding, len(r.Findings))
		}
	}
	if r.Etcd != nil {
		for _, row := range r.Etcd.ByNamespace {
			if len(row.Counts) != len(r.Etcd.States) {
				return nil, fmt.Errorf("report: etcd namespace %q has %d counts for %d states", row.Namespace, len(row.Counts), len(r.Etcd.States))
			}
		}
	}
	r.redact()
	return &r, nil
}
