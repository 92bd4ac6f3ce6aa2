package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubesleuth/kubesleuth/index"
)

// ksRunCode runs one command line in process and returns its exit code and output.
func ksRunCode(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(context.Background(), args, stdio{in: strings.NewReader(""), out: &out, err: &errb})
	return code, out.String(), errb.String()
}

// TestIngestHugeAuditID: one event whose auditID is 33 KB (over bbolt's key limit; an
// apiserver writes UUIDs) is bad input like any other: reported as FILE:LINE without its
// value, skipped, and the ingest goes on; a re-run works and adds nothing.
func TestIngestHugeAuditID(t *testing.T) {
	dir := t.TempDir()
	_, lines, _ := genLog(t, dir, 5000)
	var ev map[string]any
	if err := json.Unmarshal([]byte(lines[100]), &ev); err != nil {
		t.Fatal(err)
	}
	huge := strings.Repeat("7c3a", 33000/4)
	ev["auditID"] = huge
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	lines[100] = string(b) + "\n"
	log := writeLines(t, filepath.Join(dir, "huge.log"), lines)
	cdir := filepath.Join(dir, "case")

	for run := 1; run <= 2; run++ {
		code, _, stderr := ksRunCode("ingest", "--case", cdir, log)
		if code != 0 {
			t.Fatalf("ingest %d: exit %d\n%s", run, code, stderr)
		}
		if strings.Contains(stderr, huge[:64]) {
			t.Errorf("ingest %d: stderr echoes the auditID", run)
		}
		if run == 1 && !strings.Contains(stderr, log+":101: auditID of 33000 bytes") {
			t.Errorf("ingest %d: stderr does not report %s:101 with the auditID's length:\n%s", run, log, stderr)
		}
		in := caseCounts(t, cdir)
		if in.Events != len(lines)-1 || !in.Complete {
			t.Errorf("ingest %d: %d events, complete %v; want %d, complete", run, in.Events, in.Complete, len(lines)-1)
		}
		if r := in.Sources[0].Read; r != len(lines)-1 {
			t.Errorf("ingest %d: source read %d events, want %d (the bad one is skipped, not read)", run, r, len(lines)-1)
		}
	}
	// the case holds no trace of the value either
	err = filepath.Walk(cdir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if bytes.Contains(b, []byte(huge[:64])) {
			t.Errorf("%s holds the auditID", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestCaseModes: every folder of a case is 0700 and every file 0600, whoever wrote it
// (the store, the blob log, bleve, case.json, the notes), whatever the umask.
func TestCaseModes(t *testing.T) {
	dir := t.TempDir()
	log, _, _ := genLog(t, dir, 3000)
	cdir := filepath.Join(dir, "case")
	ksRun(t, "ingest", "-q", "--case", cdir, log)
	c, err := index.Open(cdir, index.OpenOptions{Writable: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Annotate(index.Annotation{Target: index.Target{Kind: "event", ID: "x/y"}, Bookmarked: true}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	ksRun(t, "ingest", "-q", "--case", cdir, writeLines(t, filepath.Join(dir, "more.log"), []string{}))
	files := 0
	err = filepath.Walk(cdir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		want := os.FileMode(0o600)
		if fi.IsDir() {
			want = 0o700
		} else {
			files++
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
		}
		return nil
	})
	if err != nil || files < 6 {
		t.Fatalf("walking the case: %v (%d files)", err, files)
	}
}
