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

// TestLineProgressOnATerminal: the report's status line is drawn on a terminal (a real
// pseudo-terminal here) after the first second, redrawn, and cleared on Stop; on a
// buffer nothing is drawn.
func TestLineProgressOnATerminal(t *testing.T) {
	var buf bytes.Buffer
	if p := startLineProgress(&buf, func() string { return "x" }); p != nil {
		t.Fatal("a status line started on a buffer")
	}
	master, slave, err := openPTY()
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	defer master.Close()
	defer slave.Close()
	read := make(chan []byte)
	go func() {
		var all []byte
		b := make([]byte, 4096)
		for {
			n, err := master.Read(b)
			all = append(all, b[:n]...)
			if err != nil || bytes.Contains(all, []byte("\r\033[K\r\033[K")) || bytes.HasSuffix(all, []byte("\r\033[K")) && bytes.Count(all, []byte("report:")) > 1 {
				read <- all
				return
			}
		}
	}()
	n := 0
	p := startLineProgress(slave, func() string { n++; return "report: evidence: " + itoa(n) + " of 9 findings" })
	if p == nil {
		t.Fatal("no status line on a terminal")
	}
	time.Sleep(1600 * time.Millisecond)
	p.Stop()
	select {
	case out := <-read:
		s := string(out)
		if !strings.Contains(s, "report: evidence: 1 of 9 findings") || !strings.Contains(s, "report: evidence: 2 of 9 findings") || !strings.HasSuffix(s, "\r\033[K") {
			t.Errorf("the terminal got %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("nothing drawn on the terminal")
	}
}
