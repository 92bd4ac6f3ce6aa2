package audit

import (
	"context"
	"io"
	"os"
)

// stdinReader makes reads from standard input return when ctx is done. A read from a
// terminal or a pipe blocks in the kernel and cannot be interrupted, so such a stdin is
// read by a goroutine of its own; on cancellation the reader returns at once and that
// goroutine is left to finish its read (the process is about to exit). Regular files
// and in-memory readers are read directly.
func stdinReader(ctx context.Context, r io.Reader) io.Reader {
	f, ok := r.(*os.File)
	if !ok {
		return r
	}
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		return r
	}
	return &ctxReader{ctx: ctx, r: r}
}

type readResult struct {
	b   []byte
	err error
}

// ctxReader reads r in a goroutine per Read, so that Read can give up when ctx is done.
type ctxReader struct {
	ctx     context.Context
	r       io.Reader
	pending chan readResult
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	if c.pending == nil {
		ch := make(chan readResult, 1)
		c.pending = ch
		n := len(p)
		go func() {
			b := make([]byte, n)
			k, err := c.r.Read(b)
			ch <- readResult{b[:k], err}
		}()
	}
	select {
	case res := <-c.pending:
		c.pending = nil
		return copy(p, res.b), res.err
	case <-c.ctx.Done():
		return 0, c.ctx.Err()
	}
}
