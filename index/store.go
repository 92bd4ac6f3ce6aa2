package index

import (
	"context"
	"encoding/json"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/kubesleuth/kubesleuth/analyzer"
)

// The case is two things with different owners: the event store (every redacted event,
// searchable) and the case's metadata (chain of custody, findings, the engine's state,
// notes, the etcd result). The interfaces below split them so that a second event store
// (a distributed one, VictoriaLogs: issue 18) can stand behind the same case. Neither
// names a type of bbolt or bleve: queries are text (ParseClauses parses one), results
// are Rows and raw JSON.
//
// *Writer implements EventStore and CaseMeta for an ingest or a tail; *Case implements
// EventSearcher (and Reader, the views' whole read side). Views open a case with
// OpenReader (a CaseReader): from its files, or through the live writer that holds it
// (live.go), behind the same interface.

// EventStore is the write side of the event store. One goroutine writes; StatusOf is
// also safe from the decoding goroutines (it reads a committed snapshot).
//
// Failure modes: every method fails with a *DamagedError when the store's files do not
// decode, and with the file system's error when a write fails (a full disk): the caller
// stops, the store stays as a kill would leave it (it opens, a re-run completes it).
type EventStore interface {
	// StatusOf says what the store knows of one event (New, Pending, Done), by its ID.
	StatusOf(ev *auditv1.Event) (Status, error)
	// Classify says the same of a batch of prepared events, in order, seeing also the
	// events of the batch itself and those added but not yet flushed.
	Classify(ps []*Prepared) ([]Status, error)
	// Add stores a New event; Reindex groups again an event a killed run left Pending.
	Add(p *Prepared) error
	Reindex(p *Prepared) error
	// Flush writes what is buffered (events and the groups that closed).
	Flush() error
	// Commit makes what was added durable and complete in the store (as a finished run
	// would) without sealing the case: a live run's checkpoint stands on it.
	Commit() error
	// Added is the number of events this writer stored.
	Added() int
}

// CaseMeta is the case's metadata that a run reads at its start and records at its end.
type CaseMeta interface {
	// Info is case.json as the run found it (sources already ingested).
	Info() Info
	// EngineState is the detection engine's state the last finished run saved (nil: none).
	EngineState() ([]byte, error)
	// Finish records the findings (replacing the previous ones), the engine's state, the
	// etcd result (when non-nil) and the new sources, then seals the case (integrity.json).
	Finish(findings []analyzer.Finding, engineState []byte, etcd *EtcdResult, sources []SourceInfo) error
	// Progress stages the findings of a live run so far, recorded (replacing the case's)
	// by the EventStore's next Commit, so that readers of the live case see them.
	Progress(findings []analyzer.Finding)
	// Close releases the case without finishing it (it stays incomplete; a re-run
	// completes it).
	Close() error
}

// EventSearcher is the read side of the event store: what search and the views ask.
type EventSearcher interface {
	Search(ctx context.Context, q Query) (*Result, error)
	Event(id EventID) (json.RawMessage, error)
	Row(id EventID) (Row, error)
	Around(ctx context.Context, id EventID, n int) ([]Row, error)
}

var (
	_ EventStore    = (*Writer)(nil)
	_ CaseMeta      = (*Writer)(nil)
	_ EventSearcher = (*Case)(nil)
)
