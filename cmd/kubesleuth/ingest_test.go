package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubesleuth/kubesleuth/index"
	"github.com/kubesleuth/kubesleuth/internal/generate"
	"github.com/kubesleuth/kubesleuth/internal/testbin"
)

// genLog writes a generated log with attacks and returns its path, its lines and the
// secret values it discloses.
func genLog(t *testing.T, dir string, events int) (string, []string, []string) {
	t.Helper()
	var buf bytes.Buffer
	st, err := generate.Audit(&buf, generate.Options{Events: events, Seed: 7, Attacks: true, Start: time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "audit.log")
	if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(strings.TrimRight(buf.String(), "\n"), "\n")
	return p, lines, st.SecretValues
}

func writeLines(t *testing.T, path string, lines []string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(lines, "")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func ksRun(t *testing.T, args ...string) (string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	if code := run(context.Background(), args, stdio{in: strings.NewReader(""), out: &out, err: &errb}); code != 0 {
		t.Fatalf("kubesleuth %s: exit %d\n%s", strings.Join(args, " "), code, errb.String())
	}
	return out.String(), errb.String()
}

func caseCounts(t *testing.T, dir string) index.Info {
	t.Helper()
	out, _ := ksRun(t, "case", "info", "--case", dir, "-o", "json")
	var in index.Info
	if err := json.Unmarshal([]byte(out), &in); err != nil {
		t.Fatalf("case info: %v\n%s", err, out)
	}
	return in
}

// TestIngestIdempotent ingests a log, the same log again, and an overlapping part: the
// counts stay. A case built from two overlapping halves ends with the same events and
// findings as the one-shot case (the detectors continue from saved state).
func TestIngestIdempotent(t *testing.T) {
	dir := t.TempDir()
	full, lines, _ := genLog(t, dir, 8000)
	first := writeLines(t, filepath.Join(dir, "first.log"), lines[:5000])
	second := writeLines(t, filepath.Join(dir, "second.log"), lines[4000:])
	overlap := writeLines(t, filepath.Join(dir, "overlap.log"), lines[2000:6000])

	one := filepath.Join(dir, "one")
	ksRun(t, "ingest", "-q", "--case", one, full)
	want := caseCounts(t, one)
	if want.Events != len(lines) || want.Findings == 0 || !want.Complete {
		t.Fatalf("first ingest: %d events (want %d), %d findings, complete %v", want.Events, len(lines), want.Findings, want.Complete)
	}
	// the same file again is recognised by its SHA-256 and not read; a copy with one more
	// (blank) line and the overlapping part are read, and every event in them is a duplicate
	grown := writeLines(t, filepath.Join(dir, "grown.log"), append(append([]string{}, lines...), "\n"))
	for _, f := range []string{full, grown, overlap} {
		ksRun(t, "ingest", "-q", "--case", one, f)
		got := caseCounts(t, one)
		if got.Events != want.Events || got.Findings != want.Findings {
			t.Errorf("after re-ingesting %s: %d events, %d findings; want %d, %d", filepath.Base(f), got.Events, got.Findings, want.Events, want.Findings)
		}
		last := got.Sources[len(got.Sources)-1]
		if last.Path != f || last.Events != 0 || last.SHA256 == "" {
			t.Errorf("source %s: added %d (want 0), sha256 %q", last.Path, last.Events, last.SHA256)
		}
		switch f {
		case full:
			if last.SameAs != full || last.Read != 0 || last.SHA256 != want.Sources[0].SHA256 {
				t.Errorf("the same file again: same_as %q, read %d, sha256 %s; want same_as %s, nothing read, sha256 %s", last.SameAs, last.Read, last.SHA256, full, want.Sources[0].SHA256)
			}
		default:
			if last.SameAs != "" || last.Read == 0 {
				t.Errorf("%s: same_as %q, read %d; want it read event by event", filepath.Base(f), last.SameAs, last.Read)
			}
		}
	}

	two := filepath.Join(dir, "two")
	ksRun(t, "ingest", "-q", "--case", two, first)
	ksRun(t, "ingest", "-q", "--case", two, second)
	got := caseCounts(t, two)
	if got.Events != want.Events || got.Findings != want.Findings {
		t.Errorf("two halves: %d events, %d findings; one shot: %d, %d", got.Events, got.Findings, want.Events, want.Findings)
	}
}

// TestIngestKilled SIGKILLs a real ingest at several moments (once part of the event
// store is written, and later, after whole hours of index groups were written): the case
// opens each time and a re-run completes it with the counts of an uninterrupted ingest.
func TestIngestKilled(t *testing.T) {
	bin := testbin.Path(t)
	dir := t.TempDir()
	// two bursts three hours apart: the first hour's groups are indexed mid-ingest
	var buf bytes.Buffer
	for i, start := range []time.Time{time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC), time.Date(2026, 3, 2, 11, 0, 0, 0, time.UTC)} {
		if _, err := generate.Audit(&buf, generate.Options{Events: 9000, Seed: uint64(20 + i), Attacks: true, Start: start}); err != nil {
			t.Fatal(err)
		}
	}
	log := filepath.Join(dir, "audit.log")
	if err := os.WriteFile(log, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	clean := filepath.Join(dir, "clean")
	ksRun(t, "ingest", "-q", "--case", clean, log)
	want := caseCounts(t, clean)
	fi, err := os.Stat(filepath.Join(clean, "events.zst"))
	if err != nil {
		t.Fatal(err)
	}
	full := fi.Size()

	interrupted := 0
	for i, frac := range []float64{0.01, 0.5, 0.8} {
		cdir := filepath.Join(dir, "killed"+itoa(i))
		cmd := exec.Command(bin, "ingest", "-q", "--case", cdir, log)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// kill once this much of the event store is written (or when it ends by itself)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
	wait:
		for {
			select {
			case <-done:
				break wait
			case <-time.After(time.Millisecond):
			}
			if fi, err := os.Stat(filepath.Join(cdir, "events.zst")); err == nil && float64(fi.Size()) >= frac*float64(full) {
				_ = cmd.Process.Signal(syscall.SIGKILL)
				<-done
				break
			}
		}
		// it must open and answer, complete or not
		c, err := index.Open(cdir, index.OpenOptions{})
		if err != nil {
			t.Fatalf("kill at %.0f%%: case does not open: %v", frac*100, err)
		}
		if _, err := c.Search(context.Background(), index.Query{Text: "verb:get"}); err != nil {
			t.Errorf("kill at %.0f%%: search: %v", frac*100, err)
		}
		in, err := c.Info()
		c.Close()
		if err == nil && !in.Complete {
			interrupted++
			if _, stderr := ksRun(t, "search", "--case", cdir, "--limit", "1", "*"); !strings.Contains(stderr, "incomplete") {
				t.Errorf("kill at %.0f%%: search on the incomplete case does not say so: %q", frac*100, stderr)
			}
		}
		ksRun(t, "ingest", "-q", "--case", cdir, log)
		got := caseCounts(t, cdir)
		if got.Events != want.Events || got.Findings != want.Findings || !got.Complete {
			t.Errorf("kill at %.0f%% then re-run: %d events, %d findings, complete %v; want %d, %d", frac*100, got.Events, got.Findings, got.Complete, want.Events, want.Findings)
		}
		for _, q := range []string{"verb:get", "*", "resource:secrets -verb:watch", "requestURI:leases"} {
			out, _ := ksRun(t, "search", "--case", cdir, "-o", "json", "--limit", "0", "--facet", "user", q)
			ref, _ := ksRun(t, "search", "--case", clean, "-o", "json", "--limit", "0", "--facet", "user", q)
			if out != ref {
				t.Errorf("kill at %.0f%%: %q differs from the clean case:\n%s\nclean:\n%s", frac*100, q, out, ref)
			}
		}
	}
	if interrupted < 2 {
		t.Errorf("only %d of 3 kills landed inside an ingest: the test proves little", interrupted)
	}
	t.Logf("%d of 3 kills interrupted an ingest with events stored", interrupted)
}

func totalOf(t *testing.T, js string) int {
	var r struct {
		Total int `json:"total"`
	}
	if err := json.Unmarshal([]byte(js), &r); err != nil {
		t.Fatalf("%v: %s", err, js)
	}
	return r.Total
}

// TestCaseHoldsNoSecret reads every byte of a case folder for the secret values the
// generated log discloses (decoded and base64, as the apiserver logs them).
func TestCaseHoldsNoSecret(t *testing.T) {
	dir := t.TempDir()
	log, _, secrets := genLog(t, dir, 8000)
	if len(secrets) == 0 {
		t.Fatal("the generated log discloses no secret: the test proves nothing")
	}
	raw, _ := os.ReadFile(log)
	var needles [][]byte
	for _, s := range secrets {
		enc := base64.StdEncoding.EncodeToString([]byte(s))
		needles = append(needles, []byte(s), []byte(enc))
		if !bytes.Contains(raw, []byte(enc)) && !bytes.Contains(raw, []byte(s)) {
			t.Fatalf("secret %d is not in the log itself: the needles are wrong", len(needles)/2)
		}
	}
	cdir := filepath.Join(dir, "case")
	ksRun(t, "ingest", "-q", "--case", cdir, log)
	files := 0
	err := filepath.Walk(cdir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if fi.IsDir() {
			if fi.Mode().Perm() != 0o700 {
				t.Errorf("%s: mode %v, want 0700", p, fi.Mode().Perm())
			}
			return nil
		}
		files++
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, n := range needles {
			if bytes.Contains(b, n) {
				t.Errorf("%s holds a secret value (%d bytes)", p, len(n))
			}
		}
		return nil
	})
	if err != nil || files == 0 {
		t.Fatalf("walking the case: %v (%d files)", err, files)
	}
	// the event store is compressed: read every stored event back, too
	c, err := index.Open(cdir, index.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	all, err := c.Search(context.Background(), index.Query{Limit: 1 << 20})
	if err != nil || all.Total == 0 || len(all.Events) != all.Total {
		t.Fatalf("reading the case back: %v (%d of %d events)", err, len(all.Events), all.Total)
	}
	for _, r := range all.Events {
		ev, err := c.Event(r.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range needles {
			if bytes.Contains(ev, n) {
				t.Fatalf("stored event %s holds a secret value", r.ID)
			}
		}
	}
	// a stored event still shows that the Secret was read, with fingerprints
	out, _ := ksRun(t, "search", "--case", cdir, "-o", "jsonl", "--limit", "1000", "resource:secrets verb:get")
	sc := bufio.NewScanner(strings.NewReader(out))
	if !sc.Scan() {
		t.Fatal("no secret reads found in the case")
	}
}

// TestIngestEtcdSnapshot stores the secrets-at-rest records and findings in the case; a
// later audit-only ingest keeps them.
func TestIngestEtcdSnapshot(t *testing.T) {
	dir := t.TempDir()
	log, _, _ := genLog(t, dir, 3000)
	snap, enc := filepath.Join(dir, "etcd.db"), filepath.Join(dir, "enc.yaml")
	ksRun(t, "generate", "etcd", "--secrets", "200", "--seed", "1", "--out", snap, "--encryption-config", enc)
	cdir := filepath.Join(dir, "case")
	ksRun(t, "ingest", "-q", "--case", cdir, "--etcd-snapshot", snap, "--encryption-config", enc)
	c, err := index.Open(cdir, index.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := c.SecretsAtRest()
	fs, _ := c.Findings()
	c.Close()
	if err != nil || len(recs) < 200 || len(fs) == 0 {
		t.Fatalf("secrets at rest: %d records, %d findings, %v", len(recs), len(fs), err)
	}
	ksRun(t, "ingest", "-q", "--case", cdir, log)
	in := caseCounts(t, cdir)
	if in.Findings <= len(fs) || in.Events != 3000 || len(in.Sources) != 2 || in.Sources[0].Kind != "etcd-snapshot" {
		t.Errorf("after the audit ingest: %d findings (etcd alone %d), %d events, sources %+v", in.Findings, len(fs), in.Events, in.Sources)
	}
}
