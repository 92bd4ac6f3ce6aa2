//go:build !unix

package etcd

import (
	"io"
	"os"
)

// mapFile reads the whole file where mmap is not available.
func mapFile(f *os.File, size int64) ([]byte, func(), error) {
	b := make([]byte, size)
	_, err := f.ReadAt(b, 0)
	if err != nil && err != io.EOF {
		return nil, nil, err
	}
	return b, func() {}, nil
}
