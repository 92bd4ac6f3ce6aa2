package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// progressMinBytes is the input size above which a progress bar is worth showing.
const progressMinBytes = 8 << 20

// progress draws a one-line bar on a terminal: bytes done of total, events/s and ETA.
// It draws nothing unless started on a terminal with input large enough to wait for.
type progress struct {
	w      io.Writer
	total  int64
	bytes  func() int64
	events func() int64
	start  time.Time
	stop   chan struct{}
	wg     sync.WaitGroup
}

// startProgress returns nil (a no-op) when w is not a terminal or total is small.
func startProgress(w io.Writer, total int64, bytes, events func() int64) *progress {
	if !isTerminal(w) || total < progressMinBytes {
		return nil
	}
	p := &progress{w: w, total: total, bytes: bytes, events: events, start: time.Now(), stop: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				fmt.Fprint(p.w, "\r\033[K")
				flush(p.w)
				return
			case <-t.C:
				fmt.Fprint(p.w, "\r"+p.line()+"\033[K")
				flush(p.w) // the redacting stream holds a line until its end
			}
		}
	}()
	return p
}

func (p *progress) line() string {
	done, ev := p.bytes(), p.events()
	el := time.Since(p.start).Seconds()
	frac := float64(done) / float64(p.total)
	if frac > 1 {
		frac = 1
	}
	const width = 24
	n := int(frac * width)
	bar := strings.Repeat("█", n) + strings.Repeat("░", width-n)
	rate := 0.0
	if el > 0 {
		rate = float64(ev) / el
	}
	eta := "--"
	if frac > 0.01 && el > 0 {
		eta = (time.Duration(el/frac*(1-frac)) * time.Second).Round(time.Second).String()
	}
	return fmt.Sprintf("%s %3.0f%%  %s / %s  %s events/s  ETA %s", bar, frac*100, humanBytes(done), humanBytes(p.total), humanCount(rate), eta)
}

// Stop clears the bar. Safe on nil.
func (p *progress) Stop() {
	if p == nil {
		return
	}
	close(p.stop)
	p.wg.Wait()
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func humanCount(f float64) string {
	switch {
	case f >= 1e6:
		return fmt.Sprintf("%.1fM", f/1e6)
	case f >= 1e3:
		return fmt.Sprintf("%.0fk", f/1e3)
	}
	return fmt.Sprintf("%.0f", f)
}

// flush pushes out a partial line held by a buffering writer (the redacting streams).
func flush(w io.Writer) {
	if f, ok := w.(interface{ Flush() error }); ok {
		_ = f.Flush()
	}
}
