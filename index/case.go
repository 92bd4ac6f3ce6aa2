package index

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/kubesleuth/kubesleuth/analyzer"
)

var errTODO = errors.New("not implemented yet")

// Case is an open case folder. It implements Reader.
type Case struct {
	dir string
}

var _ Reader = (*Case)(nil)

// Open opens the case in dir for reading (and annotating when o.Writable). It fails with
// ErrNoCase when dir holds no case.
func Open(dir string, o OpenOptions) (*Case, error) { return nil, errTODO }

// Close releases the case's files.
func (c *Case) Close() error { return nil }

// Dir is the case folder.
func (c *Case) Dir() string { return c.dir }

func (c *Case) Info() (*Info, error)                                         { return nil, errTODO }
func (c *Case) Search(ctx context.Context, q Query) (*Result, error)         { return nil, errTODO }
func (c *Case) Event(id EventID) (json.RawMessage, error)                    { return nil, errTODO }
func (c *Case) Row(id EventID) (Row, error)                                  { return Row{}, errTODO }
func (c *Case) Around(ctx context.Context, id EventID, n int) ([]Row, error) { return nil, errTODO }
func (c *Case) Findings() ([]analyzer.Finding, error)                        { return nil, errTODO }
func (c *Case) ResolveEvidence(f analyzer.Finding) ([]Row, error)            { return nil, errTODO }
func (c *Case) SecretsAtRest() ([]SecretAtRest, error)                       { return nil, errTODO }
func (c *Case) Annotations() ([]Annotation, error)                           { return nil, errTODO }
func (c *Case) Annotate(a Annotation) error                                  { return errTODO }
