// Package report is the report a responder hands on: one document (Report), built once
// from a case (FromCase) or from a run over audit log files (Builder), and one writer per
// format (html, md, json, sarif, csv) that renders it and computes nothing of its own.
//
// Everything a writer shows is in the document: counts, groups, orders, the evidence
// kept per finding and how much was left out. A saved JSON report (Read) renders again
// in any format, identical to the first rendering.
//
// Redaction: every string of the document passed through analyzer/redact when it was
// built (Finalize), and again when a report is read back (Read); writers write through
// redact.Writer (Write). No writer quotes an event body: evidence is the event's
// summary (who, verb, object, code).
//
// Failure modes: building from a case fails with the case's error (a *index.DamagedError);
// Read fails on a document that is not JSON or whose schema_version is not Version;
// Write fails with the writer's error (a full disk).
package report

import (
	"time"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/index"
)

// Version is the report document's schema version (schema_version in JSON, and the
// report/schema/report-v<Version>.schema.json file). A change that removes or retypes a
// field makes a new version.
const Version = 1

// Bounds: what one report holds at most, whatever the case's size. What is left out is
// counted in the document (…_more fields).
const (
	MaxEvidence   = 5      // evidence events per finding
	MaxIdentities = 20     // identities in the executive summary
	MaxSecrets    = 50     // exposed secrets named in the executive summary
	MaxEtcdList   = 10000  // secrets at rest in the appendix
	MaxFindings   = 100000 // findings in the document
	FixFirst      = 3      // the things to fix first
)

// Report is the document.
type Report struct {
	SchemaVersion int       `json:"schema_version"`
	Title         string    `json:"title"`
	Generated     time.Time `json:"generated"`
	GeneratedBy   string    `json:"generated_by,omitempty"`
	ToolVersion   string    `json:"tool_version"`
	Filter        Filter    `json:"filter"`

	Scope    Scope    `json:"scope"`
	Coverage Coverage `json:"coverage"`
	Summary  Summary  `json:"summary"`
	// Findings are ordered as the report shows them: by tactic (Tactics' order), most
	// severe first, then by time. FindingsMore counts the findings past MaxFindings.
	Findings     []Finding `json:"findings"`
	FindingsMore int       `json:"findings_more,omitempty"`
	Tactics      []Tactic  `json:"tactics"`
	Timeline     Timeline  `json:"timeline"`
	Etcd         *Etcd     `json:"etcd,omitempty"`
	Annotations  []Note    `json:"annotations"`
	// Rules holds the texts of every rule a finding names (sorted by ID).
	Rules []RuleText `json:"rules"`
}

// Filter records what the report was asked to leave out, and how much that was.
type Filter struct {
	MinSeverity  string   `json:"min_severity,omitempty"`
	Rules        []string `json:"rules,omitempty"`
	ExcludeRules []string `json:"exclude_rules,omitempty"`
	Excluded     int      `json:"excluded"`
}

// Scope is the chain of custody: what was read, and the case it was read into.
type Scope struct {
	// Mode is "case" (built from a case folder) or "files" (a run over files).
	Mode    string     `json:"mode"`
	Case    *Case      `json:"case,omitempty"`
	Sources []Source   `json:"sources"`
	Events  int        `json:"events"`
	First   *time.Time `json:"first,omitempty"`
	Last    *time.Time `json:"last,omitempty"`
	// Skipped counts input the reader rejected (malformed lines, …) in a files run.
	Skipped    int `json:"skipped,omitempty"`
	Duplicates int `json:"duplicates,omitempty"`
}

// Case is what case.json says of the case.
type Case struct {
	Dir         string    `json:"dir"`
	Created     time.Time `json:"created"`
	Updated     time.Time `json:"updated"`
	CreatedBy   string    `json:"created_by,omitempty"`
	ToolVersion string    `json:"tool_version"`
	Complete    bool      `json:"complete"`
	Ingests     int       `json:"ingests"`
}

// Source is one file read.
type Source struct {
	Path       string     `json:"path"`
	AbsPath    string     `json:"abs_path,omitempty"`
	Kind       string     `json:"kind"`
	Size       int64      `json:"size"`
	SHA256     string     `json:"sha256,omitempty"`
	Events     int        `json:"events"`
	First      *time.Time `json:"first,omitempty"`
	Last       *time.Time `json:"last,omitempty"`
	IngestedAt *time.Time `json:"ingested_at,omitempty"`
	SameAs     string     `json:"same_as,omitempty"`
}

// Coverage says what the audit trail can and cannot show.
type Coverage struct {
	Levels []Count `json:"levels"`
	Stages []Count `json:"stages"`
	// NotEvaluable: rules that read bodies the levels seen did not record.
	NotEvaluable []NotEvaluable `json:"not_evaluable"`
	// NotEvaluableExact: the counts are the engine's (a files run); otherwise they are
	// the events at levels that do not record the body (a case keeps no per-rule
	// count): an upper bound.
	NotEvaluableExact bool `json:"not_evaluable_exact"`
	// Gaps are stretches of at least MinGap inside the trail's time range with no event.
	Gaps   []Gap  `json:"gaps"`
	MinGap string `json:"min_gap"`
}

// Count is a name with how many.
type Count struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

// NotEvaluable is one rule the trail could not answer.
type NotEvaluable struct {
	RuleID string `json:"rule_id"`
	Title  string `json:"title"`
	Needs  string `json:"needs"`
	// Events is how many events the rule could not look at (0: not known, a case does
	// not keep the count; the levels seen say it).
	Events int `json:"events,omitempty"`
}

// Gap is a stretch without events.
type Gap struct {
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	Duration string    `json:"duration"`
}

// Summary is the executive summary.
type Summary struct {
	Findings       int             `json:"findings"`
	BySeverity     []Count         `json:"by_severity"` // critical first, every severity listed
	Identities     []Identity      `json:"identities"`
	IdentitiesMore int             `json:"identities_more,omitempty"`
	Secrets        []ExposedSecret `json:"secrets_exposed"`
	SecretsMore    int             `json:"secrets_exposed_more,omitempty"`
	// EtcdPlaintext counts secrets stored in plaintext in the etcd snapshot.
	EtcdPlaintext int   `json:"etcd_plaintext,omitempty"`
	FixFirst      []Fix `json:"fix_first"`
}

// Identity is a user behind findings.
type Identity struct {
	User     string            `json:"user"`
	Findings int               `json:"findings"`
	Worst    analyzer.Severity `json:"worst"`
	Rules    []string          `json:"rules"`
}

// ExposedSecret is a secret a finding names.
type ExposedSecret struct {
	Namespace string            `json:"namespace,omitempty"`
	Name      string            `json:"name"`
	Worst     analyzer.Severity `json:"worst"`
	Rules     []string          `json:"rules"`
}

// Fix is one of the things to fix first: a rule's findings and its remediation.
type Fix struct {
	RuleID      string            `json:"rule_id"`
	Title       string            `json:"title"`
	Severity    analyzer.Severity `json:"severity"`
	Findings    int               `json:"findings"`
	Remediation string            `json:"remediation"`
}

// Finding is a finding with what the report adds to it. Its JSON is the finding's own
// (the shape `kubesleuth scan -o json` prints) plus the fields below.
type Finding struct {
	analyzer.Finding
	ID          string `json:"id"`
	Fingerprint string `json:"fingerprint"`
	Tactic      string `json:"tactic"`
	Source      string `json:"source"` // "audit" or "etcd"
	// Evidence are the first MaxEvidence events (time order); EvidenceMore the rest.
	Evidence     []Evidence `json:"evidence"`
	EvidenceMore int        `json:"evidence_more"`
	// Location is where the first evidence event is in the audit log (SARIF's location).
	Location   *Location `json:"location,omitempty"`
	Bookmarked bool      `json:"bookmarked,omitempty"`
	Note       string    `json:"note,omitempty"`
}

// Evidence is one event's summary. Fields the report could not learn are empty (a
// stateful finding's earlier evidence in a files run has its auditID only).
type Evidence struct {
	AuditID     string     `json:"audit_id"`
	Stage       string     `json:"stage,omitempty"`
	Time        *time.Time `json:"time,omitempty"`
	User        string     `json:"user,omitempty"`
	SourceIP    string     `json:"source_ip,omitempty"`
	Verb        string     `json:"verb,omitempty"`
	Resource    string     `json:"resource,omitempty"`
	Subresource string     `json:"subresource,omitempty"`
	Namespace   string     `json:"namespace,omitempty"`
	Name        string     `json:"name,omitempty"`
	Code        int        `json:"code,omitempty"`
}

// Location is a file and line (1-based). Line 0 is the whole file (an etcd snapshot),
// Size bytes long.
type Location struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Size int64  `json:"size,omitempty"`
}

// Tactic is one group of findings, by index into Report.Findings. Findings about one
// stored object each (an etcd key: a snapshot holds thousands) are not listed one by
// one: Objects counts them per rule, and the etcd appendix lists the objects.
type Tactic struct {
	Name string `json:"name"`
	// Count is every finding of the tactic, those in Objects included.
	Count    int           `json:"count"`
	Findings []int         `json:"findings"`
	Objects  []ObjectGroup `json:"objects,omitempty"`
}

// ObjectGroup is one rule's findings on stored objects.
type ObjectGroup struct {
	RuleID   string            `json:"rule_id"`
	Title    string            `json:"title"`
	Severity analyzer.Severity `json:"severity"`
	Count    int               `json:"count"`
	// Examples names the first few objects (etcd keys).
	Examples []string `json:"examples"`
}

// Timeline is the event histogram with the findings placed on it.
type Timeline struct {
	Start    *time.Time `json:"start,omitempty"`
	Interval string     `json:"interval,omitempty"` // a Go duration
	Counts   []int      `json:"counts"`
	Max      int        `json:"max"`
	// Findings are indexes into Report.Findings in time order (findings with a time).
	Findings []int `json:"findings"`
}

// Etcd summarizes the secrets at rest.
type Etcd struct {
	Total       int            `json:"total"`
	ByState     []Count        `json:"by_state"`
	ByNamespace []NamespaceRow `json:"by_namespace"`
	States      []string       `json:"states"` // the columns of ByNamespace, in order
	Secrets     []EtcdSecret   `json:"secrets"`
	SecretsMore int            `json:"secrets_more,omitempty"`
}

// NamespaceRow counts one namespace's secrets per state (in Etcd.States' order).
type NamespaceRow struct {
	Namespace string `json:"namespace"`
	Total     int    `json:"total"`
	Counts    []int  `json:"counts"`
}

// EtcdSecret is one secret at rest (no value).
type EtcdSecret struct {
	Namespace             string `json:"namespace"`
	Name                  string `json:"name"`
	Type                  string `json:"type,omitempty"`
	State                 string `json:"state"`
	Provider              string `json:"provider,omitempty"`
	KeyName               string `json:"key_name,omitempty"`
	Deleted               bool   `json:"deleted,omitempty"`
	OldPlaintextRevisions int    `json:"old_plaintext_revisions,omitempty"`
}

// Note is a bookmark or note of the case.
type Note struct {
	Kind       string    `json:"kind"` // "event" or "finding"
	Target     string    `json:"target"`
	Bookmarked bool      `json:"bookmarked"`
	Note       string    `json:"note,omitempty"`
	Updated    time.Time `json:"updated"`
	// Finding is the index of the finding the note is on, -1 for an event or a finding
	// the report left out.
	Finding int `json:"finding"`
}

// rowEvidence is an index.Row's summary.
func rowEvidence(r index.Row) Evidence {
	t := r.Time
	return Evidence{AuditID: r.AuditID, Stage: r.Stage, Time: &t, User: r.User, SourceIP: r.SourceIP, Verb: r.Verb,
		Resource: r.Resource, Subresource: r.Subresource, Namespace: r.Namespace, Name: r.Name, Code: r.Code}
}
