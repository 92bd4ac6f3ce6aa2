//go:build !unix

package index

import (
	"fmt"
	"os"
	"time"
)

// lockFile creates path exclusively, waiting up to timeout (no flock here).
func lockFile(path string, timeout time.Duration) (func(), error) {
	deadline := time.Now().Add(timeout)
	for {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600) // redact: an empty lock file
		if err == nil {
			f.Close()
			return func() { os.Remove(path) }, nil
		}
		if !os.IsExist(err) || time.Now().After(deadline) {
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ownedByMe: without unix owners, whoever may open the folder's files.
func ownedByMe(os.FileInfo) bool { return true }
