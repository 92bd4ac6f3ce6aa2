package audit

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// openInput opens path for reading so that neither the open nor the reads outlive ctx.
// open(2) of a FIFO blocks until a writer comes, and a read of one blocks until the
// writer writes: a FIFO is therefore opened non-blocking (which Go puts on its poller),
// the first writer is awaited on the poller, and ctx's end sets a read deadline that
// wakes both the wait and any read. Regular files are opened as usual (their reads do
// not block for long).
func openInput(ctx context.Context, path string) (io.ReadCloser, error) {
	st, err := os.Stat(path)
	if err != nil || st.Mode()&fs.ModeNamedPipe == 0 {
		return os.Open(path)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { f.SetReadDeadline(time.Unix(1, 0)) })
	p := &fifo{f: f, ctx: ctx, stop: stop}
	if err := p.awaitWriter(); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

type fifo struct {
	f    *os.File
	ctx  context.Context
	stop func() bool
}

// awaitWriter waits until a writer has opened the FIFO: before that a read would
// return end of file at once (no writer), where the writer may just not be there yet.
// poll(2) reports nothing on such a FIFO until a writer has come (POLLIN when it wrote,
// POLLHUP when it left).
func (p *fifo) awaitWriter() error {
	rc, err := p.f.SyscallConn()
	if err != nil {
		return err
	}
	err = rc.Read(func(fd uintptr) bool {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 0)
		return err == nil && n > 0 && fds[0].Revents&(unix.POLLIN|unix.POLLHUP|unix.POLLERR) != 0
	})
	return p.mapErr(err)
}

func (p *fifo) Read(b []byte) (int, error) {
	n, err := p.f.Read(b)
	return n, p.mapErr(err)
}

// mapErr turns the deadline set on cancellation into ctx's error.
func (p *fifo) mapErr(err error) error {
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) && p.ctx.Err() != nil {
		return p.ctx.Err()
	}
	return err
}

func (p *fifo) Close() error {
	p.stop()
	return p.f.Close()
}
