package vlstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/index"
)

// Case is a case whose events live in VictoriaLogs: the views' whole read side
// (index.Reader). The case folder answers what it holds (Info, findings, secrets at rest,
// annotations); the store answers searches, events and evidence.
type Case struct {
	*index.Case
	s    *Searcher
	info index.StoreInfo
}

var _ index.Reader = (*Case)(nil)

// OpenCase wraps an open case folder whose case.json records a store. It fails when the
// case records none (its events are in the folder: use it as it is). url, when not
// empty, is the store's URL with the credentials case.json does not keep.
func OpenCase(c *index.Case, url string) (*Case, error) {
	in, err := c.Info()
	if err != nil {
		return nil, err
	}
	if in.Store == nil {
		return nil, errNoStore
	}
	if url == "" {
		url = in.Store.URL
	}
	cl, err := NewClient(url, in.Store.Case)
	if err != nil {
		return nil, fmt.Errorf("case %s: %w", c.Dir(), err)
	}
	return &Case{Case: c, s: NewSearcher(cl), info: *in.Store}, nil
}

// Info is case.json with the store's count of events.
func (c *Case) Info() (*index.Info, error) {
	in, err := c.Case.Info()
	if err != nil {
		return nil, err
	}
	in.Events, in.First, in.Last = c.info.Events, c.info.First, c.info.Last
	return in, nil
}

func (c *Case) Search(ctx context.Context, q index.Query) (*index.Result, error) {
	return c.s.Search(ctx, q)
}
func (c *Case) Event(id index.EventID) (json.RawMessage, error) { return c.s.Event(id) }
func (c *Case) Row(id index.EventID) (index.Row, error)         { return c.s.Row(id) }
func (c *Case) Around(ctx context.Context, id index.EventID, n int) ([]index.Row, error) {
	return c.s.Around(ctx, id, n)
}
func (c *Case) ResolveEvidence(f analyzer.Finding) ([]index.Row, error) {
	return c.s.ResolveEvidence(f)
}
