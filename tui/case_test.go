package tui

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/kubesleuth/kubesleuth/index"
	"github.com/kubesleuth/kubesleuth/internal/testbin"
)

var (
	caseOnce sync.Once
	caseDir  string
	caseErr  error
	caseRoot string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if caseRoot != "" {
		os.RemoveAll(caseRoot)
	}
	os.Exit(code)
}

// generatedCase returns a fresh copy of a case the real binary made from a generated
// audit log with attacks (5,000 events) and an etcd snapshot (50 secrets). The case is
// built once per test process; each caller gets its own copy to annotate.
func generatedCase(t testing.TB) string {
	t.Helper()
	bin := testbin.Path(t)
	caseOnce.Do(func() {
		caseRoot, caseErr = os.MkdirTemp("", "kubesleuth-tui-case-")
		if caseErr != nil {
			return
		}
		log := filepath.Join(caseRoot, "audit.log")
		snap := filepath.Join(caseRoot, "etcd.db")
		enc := filepath.Join(caseRoot, "enc.yaml")
		caseDir = filepath.Join(caseRoot, "case")
		for _, args := range [][]string{
			{"generate", "--events", "5000", "--seed", "7", "--attacks", "-o", log},
			{"generate", "etcd", "--secrets", "50", "--seed", "7", "--out", snap, "--encryption-config", enc},
			{"ingest", "--case", caseDir, log, "--etcd-snapshot", snap, "--encryption-config", enc},
		} {
			if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
				caseErr = fmt.Errorf("kubesleuth %v: %v\n%s", args, err, out)
				return
			}
		}
	})
	if caseErr != nil {
		t.Fatal(caseErr)
	}
	dst := filepath.Join(t.TempDir(), "case")
	if err := copyDir(caseDir, dst); err != nil {
		t.Fatal(err)
	}
	return dst
}

// openCase opens dir writable and closes it at the end of the test.
func openCase(t testing.TB, dir string) *index.Case {
	t.Helper()
	c, err := index.Open(dir, index.OpenOptions{Writable: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func copyDir(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o700)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}
