// Package testbin builds the real kubesleuth binary once per test process, for end-to-end
// tests that run it as a user would (subprocesses, tmux, SIGKILL).
package testbin

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var (
	once sync.Once
	path string
	err  error
	out  []byte
)

// Path returns the path of a freshly built kubesleuth binary, building it on first use.
// The test fails (not skips) when it cannot be built: a broken build is a real failure.
func Path(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		dir, e := os.MkdirTemp("", "kubesleuth-testbin-")
		if e != nil {
			err = e
			return
		}
		path = filepath.Join(dir, "kubesleuth")
		cmd := exec.Command("go", "build", "-o", path, "github.com/kubesleuth/kubesleuth/cmd/kubesleuth")
		cmd.Dir = moduleRoot()
		out, err = cmd.CombinedOutput()
	})
	if err != nil {
		t.Fatalf("building kubesleuth: %v\n%s", err, out)
	}
	return path
}

// moduleRoot is the repository root, found from this file's location.
func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}
