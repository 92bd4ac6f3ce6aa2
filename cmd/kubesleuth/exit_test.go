package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubesleuth/kubesleuth/internal/generate"
	"github.com/kubesleuth/kubesleuth/internal/testbin"
)

// TestNothingReadIsAnError: reading input that holds no audit event is not success.
// scan of README.md read 335 malformed lines and printed "No findings." with exit 0;
// ingest of it created an empty case.
func TestNothingReadIsAnError(t *testing.T) {
	readme := filepath.Join("..", "..", "README.md")
	for _, o := range []string{"table", "json"} {
		code, out, stderr := runCmd(t, "", "scan", "-q", "-o", o, readme)
		if code != exitNoEvents || !strings.Contains(stderr, "no audit event read from 1 input file(s)") || !strings.Contains(stderr, "malformed") {
			t.Errorf("scan -o %s README.md: exit %d, stderr %q; want exit %d and why", o, code, stderr, exitNoEvents)
		}
		if o == "table" && strings.Contains(out, "No findings") {
			t.Errorf("scan README.md says %q", out)
		}
	}
	// a folder whose only file is not an audit log
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("hello\nworld\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCmd(t, "", "scan", "-q", dir); code != exitNoEvents {
		t.Errorf("scan of a folder without an audit log: exit %d: %s", code, stderr)
	}
	caseDir := filepath.Join(t.TempDir(), "case")
	code, _, stderr := runCmd(t, "", "ingest", "-q", "--case", caseDir, readme)
	if code != exitNoEvents || !strings.Contains(stderr, "no audit event read") {
		t.Errorf("ingest README.md: exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(caseDir); !os.IsNotExist(err) {
		t.Errorf("ingest of nothing left a case folder behind: %v", err)
	}
}

// TestSignalsExitCodes: SIGINT and SIGTERM stop a real ingest with 130 and 143 (they
// exited 2 with "context canceled"), the case opens incomplete, and the same command
// completes it.
func TestSignalsExitCodes(t *testing.T) {
	bin := testbin.Path(t)
	dir := t.TempDir()
	var buf bytes.Buffer
	if _, err := generate.Audit(&buf, generate.Options{Events: 120000, Seed: 4}); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "audit.log")
	if err := os.WriteFile(log, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, sig := range []struct {
		s    syscall.Signal
		code int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
		cdir := filepath.Join(dir, "case-"+sig.s.String())
		cmd := exec.Command(bin, "ingest", "-q", "--case", cdir, log)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		// signal once the ingest is writing its event store
		sent := false
	wait:
		for {
			select {
			case <-done:
				break wait
			case <-time.After(2 * time.Millisecond):
			}
			if fi, err := os.Stat(filepath.Join(cdir, "events.zst")); !sent && err == nil && fi.Size() > 1<<20 {
				_ = cmd.Process.Signal(sig.s)
				sent = true
			}
		}
		if !sent {
			t.Fatalf("%v: the ingest ended before the signal was sent", sig.s)
		}
		if got := cmd.ProcessState.ExitCode(); got != sig.code || !strings.Contains(stderr.String(), "interrupted") {
			t.Errorf("%v: exit %d, stderr %q; want %d and \"interrupted\"", sig.s, got, stderr.String(), sig.code)
		}
		ksRun(t, "ingest", "-q", "--case", cdir, log)
		if in := caseCounts(t, cdir); !in.Complete || in.Events != 120000 {
			t.Errorf("%v: after the re-run the case holds %d events, complete %v", sig.s, in.Events, in.Complete)
		}
	}
}

// TestIngestRefusesAFIFO: a FIFO given to ingest blocked forever (and its SHA-256, for
// the chain of custody, cannot be taken): it is refused, naming the path.
func TestIngestRefusesAFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "pipe")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	code, _, stderr := runCmd(t, "", "ingest", "--case", filepath.Join(t.TempDir(), "c"), fifo)
	if code != exitUsage || !strings.Contains(stderr, "not a regular file") || !strings.Contains(stderr, fifo) {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}
