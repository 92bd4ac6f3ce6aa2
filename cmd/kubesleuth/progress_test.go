package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestProgressOnlyOnTerminals(t *testing.T) {
	var buf bytes.Buffer
	if p := startProgress(&buf, 1<<30, func() int64 { return 0 }, func() int64 { return 0 }); p != nil {
		t.Fatal("progress started on a buffer, which is not a terminal")
	}
	var nilp *progress
	nilp.Stop() // a no-op, so callers need no check
}

func TestProgressLine(t *testing.T) {
	p := &progress{total: 100 << 20, start: time.Now().Add(-10 * time.Second),
		bytes: func() int64 { return 50 << 20 }, events: func() int64 { return 1_500_000 }}
	line := p.line()
	for _, want := range []string{" 50%", "50.0 MiB / 100.0 MiB", "150k events/s", "ETA 10s"} {
		if !strings.Contains(line, want) {
			t.Errorf("progress line %q lacks %q", line, want)
		}
	}
}
