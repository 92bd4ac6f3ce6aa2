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
// keywords, requestURI (the union of the members') and reason as text, and as fixed-width
// keyword terms the code (codeTerm), the members' latency buckets (latencyTerm) and the
// group's hour (hourTerm).
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
	// code, the members' latency buckets and the group's hour are keyword terms of fixed
	// width (ranges are term ranges): bleve's numeric and datetime fields index 16 terms
	// each and made a document 2.6x as costly, which a log where every event has its own
	// identity (a document per event) pays in full
	for _, f := range []string{"code", "latency", "hour"} {
		fm := bleve.NewKeywordFieldMapping()
		fm.Store, fm.IncludeTermVectors, fm.DocValues, fm.IncludeInAll = false, false, false, false
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
