package index

import (
	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/standard"
	"github.com/blevesearch/bleve/v2/mapping"
)

// facetFields keep doc values (needed for facets and sorting); the rest are searched only.
// Each costs ingest time and space, so only the fields a responder pivots on have them.
var facetFields = map[string]bool{
	"verb": true, "user": true, "namespace": true, "resource": true, "sourceIP": true,
	"userAgent": true, "name": true,
}

// newMapping is the explicit event mapping: keywords, a datetime, two numbers and two
// text fields. Nothing is stored (the event store holds the events) and there are no term
// vectors: the index answers "which IDs", the store answers "what".
func newMapping() *mapping.IndexMappingImpl {
	ev := bleve.NewDocumentStaticMapping()
	for _, f := range []string{"auditID", "stage", "level", "verb", "user", "group", "impersonatedUser",
		"namespace", "resource", "subresource", "name", "apiGroup", "sourceIP", "userAgent", "decision"} {
		fm := bleve.NewKeywordFieldMapping()
		fm.Store = false
		fm.IncludeTermVectors = false
		fm.DocValues = facetFields[f]
		fm.IncludeInAll = false
		ev.AddFieldMappingsAt(f, fm)
	}
	for _, f := range []string{"requestURI", "reason"} {
		fm := bleve.NewTextFieldMapping()
		fm.Analyzer = standard.Name
		fm.Store = false
		fm.IncludeTermVectors = false
		fm.DocValues = false
		fm.IncludeInAll = false
		ev.AddFieldMappingsAt(f, fm)
	}
	for _, f := range []string{"code", "latency"} {
		fm := bleve.NewNumericFieldMapping()
		fm.Store = false
		fm.DocValues = f == "code"
		fm.IncludeInAll = false
		ev.AddFieldMappingsAt(f, fm)
	}
	tm := bleve.NewDateTimeFieldMapping()
	tm.Store = false
	tm.DocValues = true
	tm.IncludeInAll = false
	ev.AddFieldMappingsAt("time", tm)

	m := bleve.NewIndexMapping()
	m.DefaultMapping = ev
	m.DefaultAnalyzer = keyword.Name
	m.StoreDynamic = false
	m.IndexDynamic = false
	m.DocValuesDynamic = false
	return m
}
