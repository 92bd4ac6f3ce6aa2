package index

import (
	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/standard"
	"github.com/blevesearch/bleve/v2/mapping"
)

// groupKeywordFields are the signature's keyword fields as indexed on a group document.
var groupKeywordFields = []string{"stage", "level", "verb", "user", "group", "impersonatedUser",
	"namespace", "resource", "subresource", "name", "apiGroup", "sourceIP", "userAgent", "decision"}

// newMapping is the explicit mapping of a group document (group.go): the signature's
// keywords, requestURI (the union of the members') and reason as text, code and the
// members' latency bounds as numbers, the members' time span as two datetimes.
//
// Nothing is stored, nothing goes to _all, there are no term vectors and no doc values:
// the index only answers "which groups"; counts, facets, order and rows come from the
// event store, so bleve never sorts or facets.
func newMapping() *mapping.IndexMappingImpl {
	ev := bleve.NewDocumentStaticMapping()
	for _, f := range groupKeywordFields {
		fm := bleve.NewKeywordFieldMapping()
		fm.Store, fm.IncludeTermVectors, fm.DocValues, fm.IncludeInAll = false, false, false, false
		ev.AddFieldMappingsAt(f, fm)
	}
	for _, f := range []string{"requestURI", "reason"} {
		fm := bleve.NewTextFieldMapping()
		fm.Analyzer = standard.Name
		fm.Store, fm.IncludeTermVectors, fm.DocValues, fm.IncludeInAll = false, false, false, false
		ev.AddFieldMappingsAt(f, fm)
	}
	for _, f := range []string{"code", "latencyMin", "latencyMax"} {
		fm := bleve.NewNumericFieldMapping()
		fm.Store, fm.DocValues, fm.IncludeInAll = false, false, false
		ev.AddFieldMappingsAt(f, fm)
	}
	for _, f := range []string{"tmin", "tmax"} {
		fm := bleve.NewDateTimeFieldMapping()
		fm.Store, fm.DocValues, fm.IncludeInAll = false, false, false
		ev.AddFieldMappingsAt(f, fm)
	}
	m := bleve.NewIndexMapping()
	m.DefaultMapping = ev
	m.DefaultAnalyzer = keyword.Name
	m.StoreDynamic = false
	m.IndexDynamic = false
	m.DocValuesDynamic = false
	return m
}
