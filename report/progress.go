package report

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
)

// Progress says how far a report's building is, for a progress line: the stage, and
// done of total in the stage's unit. Safe for concurrent use (the line is drawn by
// another goroutine). A nil *Progress records nothing.
type Progress struct {
	mu          sync.Mutex
	stage, unit string
	total       int64
	done        atomic.Int64
}

func (p *Progress) set(stage, unit string, total int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.stage, p.unit, p.total = stage, unit, total
	p.done.Store(0)
	p.mu.Unlock()
}

func (p *Progress) add(n int64) {
	if p != nil {
		p.done.Add(n)
	}
}

// String is the line: "locating evidence: 512 MiB of 1.3 GiB".
func (p *Progress) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stage == "" {
		return "report: starting"
	}
	d := p.done.Load()
	if p.unit == "bytes" {
		return fmt.Sprintf("report: %s: %.0f of %.0f MiB", p.stage, float64(d)/(1<<20), float64(p.total)/(1<<20))
	}
	return fmt.Sprintf("report: %s: %d of %d %s", p.stage, d, p.total, p.unit)
}

// countingReader adds what it reads to a progress.
type countingReader struct {
	r io.Reader
	p *Progress
}

func (c countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.p.add(int64(n))
	return n, err
}
