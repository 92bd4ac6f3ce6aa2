package report

import (
	"context"
	"time"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/analyzer/redact"
	"github.com/kubesleuth/kubesleuth/index"
	"github.com/kubesleuth/kubesleuth/pipeline"
)

// Collector gathers, during a pipeline run over audit log files, what a report needs
// beyond the engine's result: the levels and stages seen, the per-minute counts, each
// finding's first evidence events (summaries, redacted) and where its first evidence
// was read. Wire Record as the Pipeline's OnRecord and the Collector as one of its
// Sinks (without a Store: the sink then sees each update right after the event that
// made it). Memory: the counts are bounded (Counter); evidence is MaxEvidence summaries
// per finding, so it grows with the findings, as the engine's result does.
type Collector struct {
	levels, stages map[string]int
	counter        *Counter
	cur            pipeline.Record
	evidence       map[string]map[string]Evidence // FindingID -> auditID -> summary
	located        map[string]Location
}

// NewCollector returns an empty collector.
func NewCollector() *Collector {
	return &Collector{levels: map[string]int{}, stages: map[string]int{}, counter: NewCounter(),
		evidence: map[string]map[string]Evidence{}, located: map[string]Location{}}
}

// Record counts one event (Pipeline.OnRecord).
func (c *Collector) Record(rec pipeline.Record) {
	c.cur = rec
	ev := rec.Event
	if ev == nil {
		return
	}
	c.levels[string(ev.Level)]++
	c.stages[string(ev.Stage)]++
	c.counter.Add(ev.RequestReceivedTimestamp.Time)
}

// Update keeps the current event as evidence of the findings it opened or grew.
func (c *Collector) Update(u analyzer.Update) error {
	ev := c.cur.Event
	if ev == nil || u.Kind == analyzer.Closed {
		return nil
	}
	id := string(ev.AuditID)
	ids := u.Finding.AuditIDs
	if len(ids) > MaxEvidence {
		ids = ids[:MaxEvidence]
	}
	if !contains(ids, id) {
		return nil
	}
	fid := index.FindingID(u.Finding)
	m := c.evidence[fid]
	if m == nil {
		m = map[string]Evidence{}
		c.evidence[fid] = m
	}
	rs := redact.String
	t := ev.RequestReceivedTimestamp.Time.UTC()
	e := Evidence{AuditID: rs(id), Stage: string(ev.Stage), Time: &t, User: rs(ev.User.Username), Verb: rs(ev.Verb)}
	if len(ev.SourceIPs) > 0 {
		e.SourceIP = rs(ev.SourceIPs[0])
	}
	if o := ev.ObjectRef; o != nil {
		e.Resource, e.Subresource, e.Namespace, e.Name = rs(o.Resource), rs(o.Subresource), rs(o.Namespace), rs(o.Name)
	}
	if ev.ResponseStatus != nil {
		e.Code = int(ev.ResponseStatus.Code)
	}
	m[id] = e
	if id == ids[0] && c.cur.Pos.Line > 0 {
		if _, ok := c.located[fid]; !ok {
			c.located[fid] = Location{File: rs(c.cur.Pos.File), Line: c.cur.Pos.Line}
		}
	}
	return nil
}

// Flush implements pipeline.Sink.
func (c *Collector) Flush() error { return nil }

// Finish implements pipeline.Sink.
func (c *Collector) Finish(pipeline.End) error { return nil }

// RunInput is what a files run read, besides what the collector saw.
type RunInput struct {
	Result     analyzer.Result
	Sources    []Source
	Events     int
	First      *time.Time
	Last       *time.Time
	Skipped    int
	Duplicates int
	// Secrets are the secrets at rest of an etcd snapshot given with the files.
	Secrets []index.SecretAtRest
	// Locate lists the files (paths as opened) to look a stateful finding's first
	// evidence up in when the run did not see it as the finding's current event.
	Locate []string
}

// Report builds the report of the run.
func (c *Collector) Report(ctx context.Context, in RunInput, o Options) (*Report, error) {
	var files []locFile
	for _, p := range in.Locate {
		files = append(files, locFile{path: p, name: p})
	}
	nev := []NotEvaluable{}
	for _, ne := range in.Result.NotEvaluable {
		nev = append(nev, NotEvaluable{RuleID: ne.RuleID, Needs: ne.Needs, Events: ne.Events})
	}
	findings := in.Result.Findings
	bi := input{
		scope:  Scope{Mode: "files", Sources: in.Sources, Events: in.Events, First: in.First, Last: in.Last, Skipped: in.Skipped, Duplicates: in.Duplicates},
		levels: c.levels, stages: c.stages, notEvaluable: nev, hist: c.counter.histogram(), findings: findings,
		located: c.located, secrets: in.Secrets,
		locate: func(ids map[string]bool) (map[string]Location, error) { return locate(ctx, files, ids, o.Progress) },
		evidence: func(f analyzer.Finding) ([]Evidence, error) {
			m := c.evidence[index.FindingID(f)]
			out := []Evidence{}
			for i, id := range f.AuditIDs {
				if i == MaxEvidence {
					break
				}
				if e, ok := m[id]; ok {
					out = append(out, e)
				} else {
					out = append(out, Evidence{AuditID: redact.String(id)})
				}
			}
			return out, nil
		},
	}
	if bi.scope.Sources == nil {
		bi.scope.Sources = []Source{}
	}
	return build(bi, o)
}
