//go:build !linux

package audit

import (
	"context"
	"io"
	"os"
)

// openInput opens path. Failure mode: off Linux, opening a FIFO without a writer
// blocks until one comes, whatever ctx says.
func openInput(_ context.Context, path string) (io.ReadCloser, error) {
	return os.Open(path)
}
