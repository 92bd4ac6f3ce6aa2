package report

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/index"
)

// FromCase builds the report of a case. It reads case.json, the findings, the levels
// and stages seen (a facet over every event), the per-minute counts, the evidence of
// each finding (its first MaxEvidence auditIDs), the secrets at rest and the notes; it
// locates each finding's first evidence in the audit log files the case recorded, when
// they are still at their absolute path with the size recorded (else no location).
//
// Failure modes: the case's errors (*index.DamagedError), ctx's error.
func FromCase(ctx context.Context, r index.Reader, dir string, o Options) (*Report, error) {
	info, err := r.Info()
	if err != nil {
		return nil, err
	}
	in := input{levels: map[string]int{}, stages: map[string]int{}}
	in.scope = Scope{Mode: "case", Events: info.Events, First: info.First, Last: info.Last, Sources: []Source{},
		Case: &Case{Dir: dir, Created: info.Created.UTC(), CreatedBy: info.CreatedBy, Updated: info.Updated.UTC(), ToolVersion: info.ToolVersion, Complete: info.Complete, Ingests: info.Ingests}}
	var located []locFile
	for _, s := range info.Sources {
		at := s.IngestedAt.UTC()
		in.scope.Sources = append(in.scope.Sources, Source{Path: s.Path, AbsPath: s.AbsPath, Kind: s.Kind, Size: s.Size, SHA256: s.SHA256,
			Events: s.Events, First: s.First, Last: s.Last, IngestedAt: &at, SameAs: s.SameAs})
		if s.Kind == "audit" && s.AbsPath != "" && s.SameAs == "" {
			located = append(located, locFile{path: s.AbsPath, name: s.AbsPath, size: s.Size})
		}
	}
	if info.Events > 0 {
		o.Progress.set("counting events", "queries", 9)
		// level and stage are not facet fields: one count per value the audit API defines
		for field, values := range map[string][]string{
			"level": {"None", "Metadata", "Request", "RequestResponse"},
			"stage": {"RequestReceived", "ResponseStarted", "ResponseComplete", "Panic"},
		} {
			for _, v := range values {
				res, err := r.Search(ctx, index.Query{Text: field + ":" + v, Limit: 1})
				if err != nil {
					return nil, err
				}
				o.Progress.add(1)
				if res.Total > 0 {
					if field == "level" {
						in.levels[v] = res.Total
					} else {
						in.stages[v] = res.Total
					}
				}
			}
		}
		if info.First != nil && info.Last != nil {
			iv := intervalFor(info.Last.Sub(*info.First)+time.Minute, time.Minute)
			from := info.First.UTC().Truncate(iv)
			to := info.Last.UTC().Truncate(iv).Add(iv)
			res, err := r.Search(ctx, index.Query{From: from, To: to, Histogram: iv, Limit: 1})
			if err != nil {
				return nil, err
			}
			in.hist = histogram{start: from, interval: iv}
			for _, b := range res.Histogram {
				in.hist.counts = append(in.hist.counts, b.Count)
			}
		}
	}
	// the engine's own counts of the events each rule could not look at, when the case
	// keeps its state (else coverage derives them from the levels seen)
	if sr, ok := r.(interface{ EngineState() ([]byte, error) }); ok {
		st, err := sr.EngineState()
		if err != nil {
			return nil, err
		}
		if st != nil {
			counts, err := analyzer.StateCoverage(st)
			if err != nil {
				return nil, fmt.Errorf("case %s: %w", dir, err)
			}
			in.notEvaluable = []NotEvaluable{}
			ids := make([]string, 0, len(counts))
			for id, n := range counts {
				if n > 0 {
					ids = append(ids, id)
				}
			}
			sort.Strings(ids)
			for _, id := range ids {
				t, _ := o.Catalog.Lookup(id) // a rule of a file not given to report: no title, no needs
				in.notEvaluable = append(in.notEvaluable, NotEvaluable{RuleID: id, Needs: t.needs, Events: counts[id]})
			}
		}
	}
	if in.findings, err = r.Findings(); err != nil {
		return nil, err
	}
	in.evidence = func(f analyzer.Finding) ([]Evidence, error) {
		ids := f.AuditIDs
		if len(ids) > MaxEvidence {
			ids = ids[:MaxEvidence]
		}
		f.AuditIDs = ids
		rows, err := r.ResolveEvidence(f)
		if err != nil {
			return nil, err
		}
		// one row per request: the last stage seen (ResponseComplete carries the code)
		byID := map[string]int{}
		out := []Evidence{}
		for _, row := range rows {
			if i, ok := byID[row.AuditID]; ok {
				out[i] = rowEvidence(row)
				continue
			}
			byID[row.AuditID] = len(out)
			out = append(out, rowEvidence(row))
		}
		return out, nil
	}
	in.locate = func(ids map[string]bool) (map[string]Location, error) { return locate(ctx, located, ids, o.Progress) }
	if in.secrets, err = r.SecretsAtRest(); err != nil {
		return nil, err
	}
	if in.notes, err = r.Annotations(); err != nil {
		return nil, err
	}
	return build(in, o)
}
