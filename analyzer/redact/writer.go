package redact

import (
	"bytes"
	"io"
	"sync"
)

// maxLine is the longest line a Writer holds before redacting what it has: a secret that
// straddles the cut of a line longer than this is checked in two halves.
const maxLine = 4 << 20

// Writer redacts every line written through it (String on each line, '\n' and '\r'
// ending a line) before passing it on. Wrap every stream that leaves the process with
// one: standard output and error, export and report files, alert sinks. It is safe for
// concurrent use (a progress line and the main output share stderr).
//
// Failure modes: a partial line stays buffered until the next line end or Flush (Close
// flushes); an error of the underlying writer is returned by the Write that met it.
type Writer struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

// NewWriter wraps w. Wrapping a *Writer again returns it as is.
func NewWriter(w io.Writer) *Writer {
	if rw, ok := w.(*Writer); ok {
		return rw
	}
	return &Writer{w: w}
}

// Write buffers p and writes out every complete line, redacted. It reports len(p)
// written when the lines went out (their redacted length may differ).
func (rw *Writer) Write(p []byte) (int, error) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	// only the new bytes are searched for a line end: many small writes into one long
	// line (tabwriter's padding) stay linear
	from := len(rw.buf)
	rw.buf = append(rw.buf, p...)
	for {
		i := bytes.IndexAny(rw.buf[from:], "\n\r")
		if i < 0 {
			break
		}
		i += from
		if err := rw.emit(rw.buf[:i+1]); err != nil {
			return 0, err
		}
		rw.buf = rw.buf[i+1:]
		from = 0
	}
	if len(rw.buf) > maxLine {
		if err := rw.emit(rw.buf); err != nil {
			return 0, err
		}
		rw.buf = rw.buf[:0]
	}
	if len(rw.buf) == 0 {
		rw.buf = nil // do not pin a large backing array
	}
	return len(p), nil
}

func (rw *Writer) emit(line []byte) error {
	s := string(line)
	_, err := io.WriteString(rw.w, String(s))
	return err
}

// Flush writes out a partial line (redacted).
func (rw *Writer) Flush() error {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if len(rw.buf) == 0 {
		return nil
	}
	err := rw.emit(rw.buf)
	rw.buf = nil
	return err
}

// Close flushes, then closes the underlying writer when it is an io.Closer.
func (rw *Writer) Close() error {
	err := rw.Flush()
	if c, ok := rw.w.(io.Closer); ok {
		if cerr := c.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// Underlying returns the wrapped writer (to ask it whether it is a terminal; never to
// write to it).
func (rw *Writer) Underlying() io.Writer { return rw.w }
