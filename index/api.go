// Package index is the case folder: everything one investigation knows, read by every view
// (the TUI, reports, `kubesleuth search`).
//
// A case folder holds
//
//	case.json     chain of custody: every source ingested (path, size, SHA-256, events,
//	              time range, ingest time, tool version)
//	events.zst    the redacted events, zstd blocks of 64, append-only (blobs.go)
//	events.db     bbolt: rows keyed by (time, ID) so that the timeline of an unfiltered
//	              time range is a cursor walk, per-minute counts, signatures, index groups
//	              and their members (group.go), the ID index, findings, secrets-at-rest
//	              records and the detection engine's saved state
//	bleve/        the search index (scorch): one document per group
//	notes.json    bookmarks and notes (notes.go), with their own checksum
//	integrity.json  the case's own chain of custody: every file above as the last
//	              ingest left it (size, modification time, SHA-256), the store's and
//	              the index's counts, sealed by its own SHA-256 (integrity.go)
//
// Every open checks the files against integrity.json cheaply (sizes, times, counts) and
// fails with a *DamagedError naming the file; every API method turns a panic or fault
// of bbolt or bleve on a damaged file into one; an ingest checks every SHA-256 before
// it writes; Verify checks everything.
//
// Nothing stored holds a secret value: events are redacted (analyzer/redact) before they
// are written. Files are 0600, folders 0700.
//
// Concurrency: one writer (an ingest) at a time; bbolt's file lock makes a second writer
// wait or fail. Readers open the case read-only (a shared lock: an ingest waits for them)
// and may run queries concurrently from many goroutines. A live writer (tail) serves
// the reads of other processes while it holds the case (Writer.ServeReads, live.go);
// OpenReader reads through it, or from the files when no writer serves.
package index

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/analyzer/secrets"
)

// EventID identifies one stored event: auditID + "/" + stage (a request logged at
// RequestReceived and ResponseComplete is two events). It is also the evidence format
// findings use once resolved (Case.ResolveEvidence).
type EventID string

// Row is the summary of an event a list or timeline shows; Case.Event returns the whole
// (redacted) event.
type Row struct {
	ID          EventID   `json:"id"`
	AuditID     string    `json:"auditID"`
	Stage       string    `json:"stage"`
	Time        time.Time `json:"time"` // requestReceivedTimestamp
	User        string    `json:"user"`
	Impersonate string    `json:"impersonatedUser,omitempty"`
	SourceIP    string    `json:"sourceIP,omitempty"`
	UserAgent   string    `json:"userAgent,omitempty"`
	Verb        string    `json:"verb"`
	APIGroup    string    `json:"apiGroup,omitempty"`
	Resource    string    `json:"resource,omitempty"`
	Subresource string    `json:"subresource,omitempty"`
	Namespace   string    `json:"namespace,omitempty"`
	Name        string    `json:"name,omitempty"`
	Code        int       `json:"code,omitempty"`
	Decision    string    `json:"decision,omitempty"`
	URI         string    `json:"requestURI,omitempty"`
	Level       string    `json:"level,omitempty"`
	Groups      []string  `json:"groups,omitempty"`
	SourceIPs   []string  `json:"sourceIPs,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	// Latency is stageTimestamp - requestReceivedTimestamp in milliseconds, -1 when the
	// event lacks one of them.
	Latency int64 `json:"latencyMs"`
}

// Query is one search. Text uses bleve's query-string syntax with the field names of the
// audit schema (see Fields): `user:ci-deployer verb:delete resource:secrets`, `-verb:get`,
// `name:db-*`, `code:>=400`. An empty Text or "*" matches every event. A bare term
// without a field name searches user, namespace, name and resource.
type Query struct {
	Text string
	// From and To bound the request time [From, To); zero means unbounded.
	From, To time.Time
	// Limit is the page size (0 means 50); Offset skips that many results of the order.
	Limit, Offset int
	// Newest orders results newest first (the TUI's timeline); the default is oldest first.
	Newest bool
	// Facets asks for the top FacetSize values (default 10) with counts of these fields,
	// counted over all matches, not just the page.
	Facets    []string
	FacetSize int
	// Histogram, when > 0, counts matches per interval of this length over [From, To)
	// (or the matches' time span when unbounded).
	Histogram time.Duration
}

// Result is one page of a search. Total counts every match, not just the page.
type Result struct {
	Total     int                     `json:"total"`
	Events    []Row                   `json:"events"`
	Facets    map[string][]FacetCount `json:"facets,omitempty"`
	Histogram []Bucket                `json:"histogram,omitempty"`
	// Took is how long the query ran (for the status bar and benchmarks).
	Took time.Duration `json:"-"`
}

// FacetCount is one value of a faceted field with how many matches have it.
type FacetCount struct {
	Value string `json:"value"`
	Count int    `json:"count"`
}

// Bucket is one interval of a histogram: events with Start <= time < Start+interval.
type Bucket struct {
	Start time.Time `json:"start"`
	Count int       `json:"count"`
}

// Target is what a bookmark or note is attached to: an event (ID is an EventID) or a
// finding (ID is FindingID of it).
type Target struct {
	Kind string `json:"kind"` // "event" or "finding"
	ID   string `json:"id"`
}

// Annotation is a responder's bookmark and/or note on an event or finding, saved in the
// case so that reports include them.
type Annotation struct {
	Target     Target    `json:"target"`
	Bookmarked bool      `json:"bookmarked"`
	Note       string    `json:"note,omitempty"`
	Updated    time.Time `json:"updated"`
}

// Info is case.json: the chain of custody.
type Info struct {
	Version int       `json:"version"` // format version of the case folder
	Created time.Time `json:"created"`
	// CreatedBy is who made the case: the user and host of the first ingest (user@host).
	CreatedBy   string       `json:"created_by,omitempty"`
	Updated     time.Time    `json:"updated"`
	ToolVersion string       `json:"tool_version"`
	Sources     []SourceInfo `json:"sources"`
	Events      int          `json:"events"`   // events in the store
	Findings    int          `json:"findings"` // findings in the case
	First       *time.Time   `json:"first,omitempty"`
	Last        *time.Time   `json:"last,omitempty"`
	// Complete is false while an ingest runs or after one was killed; a re-run of the
	// same command completes the case.
	Complete bool `json:"complete"`
	// Ingests counts the finished ingests (the generation stamped on the rows they stored).
	Ingests int `json:"ingests"`
	// Store is set when the case's events live in another event store (VictoriaLogs):
	// the folder then holds only the case's metadata. Nil: events are in this folder.
	Store *StoreInfo `json:"store,omitempty"`
}

// SourceInfo describes one ingested file. Events counts the events this file added to the
// case (duplicates of events already in the case are not counted again); Read counts every
// event decoded from it. SameAs is set when the file was not read because a finished ingest
// already read a file of the same size and SHA-256 (that source's path).
type SourceInfo struct {
	Path string `json:"path"`
	// AbsPath is Path made absolute when it was ingested (chain of custody: a relative
	// path says nothing once the case has moved).
	AbsPath     string     `json:"abs_path,omitempty"`
	Kind        string     `json:"kind"` // "audit" or "etcd-snapshot"
	Size        int64      `json:"size"`
	SHA256      string     `json:"sha256"`
	Read        int        `json:"read"`
	Events      int        `json:"events"`
	First       *time.Time `json:"first,omitempty"`
	Last        *time.Time `json:"last,omitempty"`
	IngestedAt  time.Time  `json:"ingested_at"`
	ToolVersion string     `json:"tool_version"`
	SameAs      string     `json:"same_as,omitempty"`
}

// SecretAtRest is one secret as stored in etcd, from the secrets-at-rest analysis (no value,
// only its state, provider, key and fingerprint).
type SecretAtRest = secrets.Secret

// Reader is what views use: the read side of a case. *Case implements it. Every method
// fails with a *DamagedError (errors.Is ErrDamaged) naming the file when a record of
// the case does not decode or its store or index panics: the case is never answered
// from past one.
type Reader interface {
	// Info returns case.json.
	Info() (*Info, error)
	// Search runs q; it stops with ctx.Err() when ctx is cancelled. An unfiltered query
	// (empty Text, no facets) is answered from the time-ordered store by a cursor walk;
	// a filtered one by bleve with a time-range query and a small page.
	Search(ctx context.Context, q Query) (*Result, error)
	// Event returns one redacted event as stored (the audit.k8s.io/v1 JSON), or an error
	// wrapping ErrNotFound.
	Event(id EventID) (json.RawMessage, error)
	// Row returns the summary of one event, or an error wrapping ErrNotFound.
	Row(id EventID) (Row, error)
	// Around returns up to n events before and n after id in time order (the context view).
	Around(ctx context.Context, id EventID, n int) ([]Row, error)
	// Findings returns every finding in the case (audit and etcd), most severe first.
	Findings() ([]analyzer.Finding, error)
	// ResolveEvidence maps a finding's evidence auditIDs to the stored events (every stage).
	ResolveEvidence(f analyzer.Finding) ([]Row, error)
	// SecretsAtRest returns the etcd secrets-at-rest records (empty when no snapshot was
	// ingested).
	SecretsAtRest() ([]SecretAtRest, error)
	// Annotations returns every bookmark and note.
	Annotations() ([]Annotation, error)
	// Annotate saves (or, when neither bookmarked nor noted, removes) an annotation. It
	// needs the case opened writable (OpenOptions.Writable).
	Annotate(a Annotation) error
}

// Fields are the searchable field names, as used in queries and --facet. Time is not a
// field: Query.From and Query.To bound it (--from, --to), and so do time: clauses
// (timequery.go), which ApplyTime moves into them.
var Fields = []string{
	"auditID", "stage", "level", "verb", "user", "group", "impersonatedUser", "namespace",
	"resource", "subresource", "name", "apiGroup", "sourceIP", "userAgent", "decision",
	"code", "latency", "requestURI", "reason",
}

// OpenOptions controls Open.
type OpenOptions struct {
	// Writable allows annotations (bookmarks and notes, kept in notes.json); searching
	// works either way. The event store is opened read-only in both cases, so an open
	// TUI does not lock out searches, reports or other TUIs (an ingest waits for it).
	Writable bool
	// Timeout bounds the wait for another process's lock on the event store (default 1 s).
	Timeout time.Duration
}

// ErrNotFound is wrapped by lookups of an ID the case does not hold.
var ErrNotFound = errors.New("not found")

// ErrNoCase is wrapped by Open when the folder holds no case.
var ErrNoCase = errors.New("no case here (run kubesleuth ingest --case DIR first)")

// FindingID is a finding's identity in the case, for bookmarks, notes and reports: its
// rule, subject and first evidence time. A later ingest that folds more events into the
// same finding keeps it (the fold keeps its first time); two folds of one rule on one
// subject at different times are two findings.
func FindingID(f analyzer.Finding) string {
	return f.RuleID + " " + f.Subject.String() + " @" + f.FirstSeen.UTC().Format(time.RFC3339Nano)
}
