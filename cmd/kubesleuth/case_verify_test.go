package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubesleuth/kubesleuth/index"
	"github.com/kubesleuth/kubesleuth/internal/testbin"
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
	// a second ingest into the case (an empty file: nothing read, exit 3, yet the case
	// is opened for writing and sealed again)
	if code, _, stderr := ksRunCode("ingest", "-q", "--case", cdir, writeLines(t, filepath.Join(dir, "more.log"), []string{})); code != exitNoEvents {
		t.Fatalf("ingest of an empty file: exit %d: %s", code, stderr)
	}
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

// damage is one way a case file gets damaged.
type damage struct {
	name string
	file string // relative to the case folder; "zap" is the index's first segment
	do   func(t *testing.T, path string)
	// keepTime restores the file's modification time after the damage (what the cheap
	// check on open cannot see: the counts have to)
	keepTime bool
	// hidden: a change of same size and time that still loads: only the full checks of
	// an ingest and of verify can see it, reads answer from it
	hidden bool
}

func truncateTo(frac float64) func(*testing.T, string) {
	return func(t *testing.T, p string) {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, int64(float64(fi.Size())*frac)); err != nil {
			t.Fatal(err)
		}
	}
}

func zeroMiddle(n int) func(*testing.T, string) { return zeroAt(n, 0.5) }

func zeroAt(n int, frac float64) func(*testing.T, string) {
	return func(t *testing.T, p string) {
		f, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		fi, _ := f.Stat()
		if _, err := f.WriteAt(make([]byte, n), min(int64(float64(fi.Size())*frac), fi.Size()-int64(n))); err != nil {
			t.Fatal(err)
		}
	}
}

func zapOf(t *testing.T, cdir string) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(cdir, "bleve", "store", "*.zap"))
	if err != nil || len(m) == 0 {
		t.Fatalf("no index segment in %s: %v", cdir, err)
	}
	return m[0]
}

// TestDamagedCaseRefused damages one file of a case the way it was seen to happen (a
// truncated or emptied events.db, a bleve segment with zeroed bytes, with and without
// its modification time kept) and runs the real binary on it: search, search --facet,
// case info and ingest each exit 2 naming the file and saying what to do, never panic
// and never answer; case verify names it too; restoring the file gives back the right
// answers (the refused ingest overwrote nothing). Before the integrity record, the
// truncated store panicked (SIGSEGV with --facet), the segment answered 0 matches with
// exit 0, and the emptied store was replaced by a fresh one.
func TestDamagedCaseRefused(t *testing.T) {
	bin := testbin.Path(t)
	dir := t.TempDir()
	log, lines, _ := genLog(t, dir, 3000)
	more := writeLines(t, filepath.Join(dir, "more.log"), lines[:200])
	good := filepath.Join(dir, "good")
	ksRun(t, "ingest", "-q", "--case", good, log)
	truth, _ := ksRun(t, "search", "--case", good, "-o", "json", "--limit", "0", "verb:get")
	if totalOf(t, truth) == 0 {
		t.Fatal("no verb:get in the case: the test proves nothing")
	}
	if code, out, stderr := ksRunCode("case", "verify", "--case", good, "-o", "json"); code != 0 || !strings.Contains(out, `"ok": true`) {
		t.Fatalf("case verify on the intact case: exit %d\n%s\n%s", code, out, stderr)
	}

	for _, d := range []damage{
		{"events.db truncated to half", "events.db", truncateTo(0.5), false, false},
		{"events.db truncated, time kept", "events.db", truncateTo(0.5), true, false},
		{"events.db emptied", "events.db", truncateTo(0), false, false},
		{"segment zeroed", "zap", zeroMiddle(5000), false, false},
		{"segment footer zeroed, time kept", "zap", zeroAt(5000, 1), true, false},
		{"segment zeroed inside, time kept", "zap", zeroMiddle(5000), true, true},
		{"events.zst truncated", "events.zst", truncateTo(0.7), false, false},
	} {
		t.Run(strings.ReplaceAll(d.name, " ", "_"), func(t *testing.T) {
			cdir := filepath.Join(t.TempDir(), "case")
			if err := os.CopyFS(cdir, os.DirFS(good)); err != nil {
				t.Fatal(err)
			}
			// a copy keeps the content, not the times: put them back as an ingest left them
			copyTimes(t, good, cdir)
			path := filepath.Join(cdir, d.file)
			if d.file == "zap" {
				path = zapOf(t, cdir)
			}
			rel, _ := filepath.Rel(cdir, path)
			orig, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			fi, _ := os.Stat(path)
			d.do(t, path)
			if d.keepTime {
				if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
					t.Fatal(err)
				}
			}
			named := filepath.ToSlash(rel)
			if d.keepTime && d.file == "zap" {
				named = "bleve/" // same size, same time: the index's document count tells
			}
			for _, args := range [][]string{
				{"search", "--case", cdir, "--limit", "1", "verb:get"},
				{"search", "--case", cdir, "--facet", "user", "*"},
				{"search", "--case", cdir, "--newest", "*"},
				{"case", "info", "--case", cdir},
				{"ingest", "-q", "--case", cdir, more},
				{"case", "verify", "--case", cdir},
			} {
				if d.hidden && args[0] != "ingest" && args[1] != "verify" {
					continue
				}
				cmd := exec.Command(bin, args...)
				var out, stderr bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &stderr
				err := cmd.Run()
				code := cmd.ProcessState.ExitCode()
				msg := stderr.String()
				switch {
				case err == nil:
					t.Errorf("%s: exit 0 on a damaged case:\n%s", args[0], out.String())
				case strings.Contains(msg, "panic") || strings.Contains(msg, "goroutine ") || strings.Contains(msg, "SIG"):
					t.Errorf("%s: crashed:\n%s", args[0], msg)
				case code != 2 || !strings.Contains(msg, named) || !strings.Contains(msg, "verify") && args[1] != "verify":
					t.Errorf("%s %s: exit %d, stderr does not name %s and say what to do:\n%s", args[0], args[1], code, named, msg)
				}
				if args[0] == "search" && out.Len() > 0 {
					t.Errorf("%s answered on a damaged case:\n%s", args[0], out.String())
				}
			}
			// nothing was overwritten: with the file restored, the case answers as before
			if err := os.WriteFile(path, orig, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
				t.Fatal(err)
			}
			if got, _ := ksRun(t, "search", "--case", cdir, "-o", "json", "--limit", "0", "verb:get"); got != truth {
				t.Errorf("restored: %s, want %s", got, truth)
			}
			ksRun(t, "case", "verify", "--case", cdir)
		})
	}
}

// copyTimes gives every file under dst the modification time of the same file under src.
func copyTimes(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		return os.Chtimes(filepath.Join(dst, rel), fi.ModTime(), fi.ModTime())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestCaseVerify: on an intact case verify lists every file with its SHA-256 and every
// check, exit 0; -o json says ok; on a case whose ingest was interrupted it exits 2 and
// says to run the ingest again; on a folder without a case, exit 2.
func TestCaseVerify(t *testing.T) {
	dir := t.TempDir()
	log, _, _ := genLog(t, dir, 2000)
	cdir := filepath.Join(dir, "case")
	ksRun(t, "ingest", "-q", "--case", cdir, log)
	out, _ := ksRun(t, "case", "verify", "--case", cdir)
	for _, want := range []string{"events.db", "events.zst", "case.json", "bleve/store/root.bolt", "bbolt consistency", "blob log", "index documents", "The case is intact."} {
		if !strings.Contains(out, want) {
			t.Errorf("verify output lacks %q:\n%s", want, out)
		}
	}
	js, _ := ksRun(t, "case", "verify", "--case", cdir, "-o", "json")
	var rep index.VerifyReport
	if err := json.Unmarshal([]byte(js), &rep); err != nil || !rep.OK || rep.State != "sealed" || len(rep.Files) < 6 {
		t.Fatalf("verify -o json: %v\n%s", err, js)
	}

	// an ingest that stopped before it finished
	w, err := index.Create(cdir, "test")
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	code, _, stderr := ksRunCode("case", "verify", "--case", cdir)
	if code != 2 || !strings.Contains(stderr, "run the same ingest again") {
		t.Errorf("verify of an interrupted case: exit %d\n%s", code, stderr)
	}
	ksRun(t, "ingest", "-q", "--case", cdir, log)
	ksRun(t, "case", "verify", "--case", cdir)

	if code, _, stderr := ksRunCode("case", "verify", "--case", filepath.Join(dir, "none")); code != 2 || !strings.Contains(stderr, "no case") {
		t.Errorf("verify of no case: exit %d\n%s", code, stderr)
	}
}

// TestVerifyAfterKillAndOverlap: a case an ingest was SIGKILLed in, then completed by a
// re-run, then extended by an overlapping file, verifies: the record, the counts and the
// index agree after each of the ways a case grows.
func TestVerifyAfterKillAndOverlap(t *testing.T) {
	bin := testbin.Path(t)
	dir := t.TempDir()
	log, lines, _ := genLog(t, dir, 12000)
	cdir := filepath.Join(dir, "case")
	cmd := exec.Command(bin, "ingest", "-q", "--case", cdir, log)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	killed := false
wait:
	for {
		select {
		case <-done:
			break wait
		case <-time.After(time.Millisecond):
		}
		if fi, err := os.Stat(filepath.Join(cdir, "events.zst")); err == nil && fi.Size() > 1<<20 {
			killed = cmd.Process.Signal(syscall.SIGKILL) == nil
			<-done
			break
		}
	}
	if killed {
		if code, _, _ := ksRunCode("case", "verify", "--case", cdir); code != 2 {
			t.Errorf("verify of the killed ingest's case: exit %d, want 2", code)
		}
	}
	ksRun(t, "ingest", "-q", "--case", cdir, log)
	ksRun(t, "case", "verify", "--case", cdir)
	more := writeLines(t, filepath.Join(dir, "more.log"), lines[6000:])
	ksRun(t, "ingest", "-q", "--case", cdir, more)
	out, _ := ksRun(t, "case", "verify", "--case", cdir, "-o", "json")
	if !strings.Contains(out, `"ok": true`) {
		t.Errorf("verify after the overlapping ingest:\n%s", out)
	}
	t.Logf("killed mid-ingest: %v", killed)
}
