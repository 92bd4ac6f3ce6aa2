package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubesleuth/kubesleuth/index"
	"github.com/kubesleuth/kubesleuth/internal/canary"
	"github.com/kubesleuth/kubesleuth/internal/generate"
	"github.com/kubesleuth/kubesleuth/internal/testbin"
	"github.com/kubesleuth/kubesleuth/pipeline"
)

// tailLog is a generated log with injected attacks, split in lines, with what scan (the
// batch engine over the whole file) alerts on its attack events: the reference every
// tail run must match, each (rule, auditID) exactly once.
type tailLog struct {
	lines   [][]byte
	order   []string        // auditID/stage of each line
	ids     map[string]bool // auditID/stage of every event
	attacks map[string]bool // auditIDs of attack events
	want    map[string]int  // "rule auditID" -> 1, attack events only
}

func makeTailLog(t *testing.T, bin string, events int, seed uint64) *tailLog {
	t.Helper()
	var buf, labels bytes.Buffer
	if _, err := generate.Audit(&buf, generate.Options{Events: events, Seed: seed, Attacks: true, Labels: &labels}); err != nil {
		t.Fatal(err)
	}
	l := &tailLog{ids: map[string]bool{}, attacks: map[string]bool{}, want: map[string]int{}}
	for _, line := range bytes.SplitAfter(buf.Bytes(), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		l.lines = append(l.lines, line)
		var ev struct{ AuditID, Stage string }
		if err := json.Unmarshal(line, &ev); err != nil {
			t.Fatal(err)
		}
		l.ids[ev.AuditID+"/"+ev.Stage] = true
		l.order = append(l.order, ev.AuditID+"/"+ev.Stage)
	}
	sc := bufio.NewScanner(&labels)
	for sc.Scan() {
		var lab struct{ AuditID string }
		if err := json.Unmarshal(sc.Bytes(), &lab); err != nil {
			t.Fatal(err)
		}
		l.attacks[lab.AuditID] = true
	}
	ref := filepath.Join(t.TempDir(), "ref.log")
	if err := os.WriteFile(ref, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "scan", "-q", "-o", "json", ref).Output()
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	var res struct {
		Findings []struct {
			RuleID   string   `json:"rule_id"`
			AuditIDs []string `json:"audit_ids"`
		} `json:"findings"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Findings {
		for _, id := range f.AuditIDs {
			if l.attacks[id] {
				l.want[f.RuleID+" "+id]++
			}
		}
	}
	if len(l.want) < 10 {
		t.Fatalf("scan alerts on only %d (rule, attack event) pairs: the reference is too thin", len(l.want))
	}
	return l
}

// tailProc is one running kubesleuth tail.
type tailProc struct {
	cmd          *exec.Cmd
	stdout, errb *os.File
	done         chan error
}

func startTail(t *testing.T, bin, dir string, args ...string) *tailProc {
	t.Helper()
	out, err := os.OpenFile(filepath.Join(dir, "stdout.txt"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	errf, err := os.OpenFile(filepath.Join(dir, "stderr.txt"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"tail"}, args...)...)
	cmd.Stdout, cmd.Stderr = out, errf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &tailProc{cmd: cmd, stdout: out, errb: errf, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-p.done
		}
		out.Close()
		errf.Close()
	})
	return p
}

// stop signals tail and returns its exit code.
func (p *tailProc) stop(t *testing.T, sig syscall.Signal) int {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	defer func() { t.Logf("tail exited %s after %v", time.Since(sent).Round(time.Millisecond), sig) }()
	select {
	case err := <-p.done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				return 128 + int(ws.Signal())
			}
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(30 * time.Second):
		t.Fatalf("tail did not stop on %v", sig)
	}
	return -1
}

// logWriter plays the apiserver (and logrotate) on a folder.
type logWriter struct {
	t    *testing.T
	dir  string
	f    *os.File
	rot  int
	sync bool
}

func (w *logWriter) live() string { return filepath.Join(w.dir, "audit.log") }

func (w *logWriter) open() {
	f, err := os.OpenFile(w.live(), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		w.t.Fatal(err)
	}
	w.f = f
}

func (w *logWriter) write(lines [][]byte) {
	if w.f == nil {
		w.open()
	}
	for _, l := range lines {
		if _, err := w.f.Write(l); err != nil {
			w.t.Fatal(err)
		}
	}
}

// rename is the apiserver's own rotation: audit.log becomes audit-<time>.log and a new
// audit.log is opened.
func (w *logWriter) rename() string {
	w.rot++
	name := filepath.Join(w.dir, fmt.Sprintf("audit-2026-03-02T08-%02d-00.000.log", w.rot))
	w.f.Close()
	if err := os.Rename(w.live(), name); err != nil {
		w.t.Fatal(err)
	}
	w.open()
	return name
}

// gzip compresses a rotated file after the switch and removes it (the apiserver's
// --audit-log-compress, logrotate's compress).
func (w *logWriter) gzip(name string) {
	b, err := os.ReadFile(name)
	if err != nil {
		w.t.Fatal(err)
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(b)
	zw.Close()
	if err := os.WriteFile(name+".gz", z.Bytes(), 0o600); err != nil {
		w.t.Fatal(err)
	}
	os.Remove(name)
}

// numbered is logrotate's rename (audit.log.1, older backups shifted), with gz the
// compression of the rotated file right after the switch.
func (w *logWriter) numbered(gz bool) {
	w.f.Close()
	for i := 9; i >= 1; i-- {
		for _, ext := range []string{"", ".gz"} {
			old := fmt.Sprintf("%s.%d%s", w.live(), i, ext)
			if _, err := os.Stat(old); err == nil {
				os.Rename(old, fmt.Sprintf("%s.%d%s", w.live(), i+1, ext))
			}
		}
	}
	if err := os.Rename(w.live(), w.live()+".1"); err != nil {
		w.t.Fatal(err)
	}
	w.open()
	if gz {
		w.gzip(w.live() + ".1")
	}
}

// copytruncate is logrotate's copytruncate: copy audit.log to audit.log.1, truncate it.
func (w *logWriter) copytruncate() {
	b, err := os.ReadFile(w.live())
	if err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(w.live()+".1", b, 0o600); err != nil {
		w.t.Fatal(err)
	}
	if err := w.f.Truncate(0); err != nil {
		w.t.Fatal(err)
	}
}

// waitStarted waits for tail's first checkpoint: its starting position (a first run
// starts at the end of the log: what is written before is not read, as with tail).
func waitStarted(t *testing.T, state string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(state); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("tail wrote no checkpoint %s", state)
}

// waitCaughtUp waits until tail's checkpoint stands at the end of the live log.
func waitCaughtUp(t *testing.T, state, live string, p *tailProc) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("tail exited early: %v", err)
		default:
		}
		cp, err := pipeline.LoadCheckpoint(state)
		st, serr := os.Stat(live)
		if err == nil && cp != nil && serr == nil && cp.File.Path == live && cp.File.Offset == st.Size() {
			sys := st.Sys().(*syscall.Stat_t)
			if cp.File.Ino == sys.Ino {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("tail did not catch up with %s", live)
}

// checkAlerts reads an alert file and checks that every (rule, attack auditID) scan
// reports is alerted exactly once, and no other pair on an attack event.
func checkAlerts(t *testing.T, l *tailLog, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for i, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var a struct {
			Alert    string   `json:"alert"`
			RuleID   string   `json:"rule_id"`
			AuditIDs []string `json:"audit_ids"`
		}
		if err := json.Unmarshal(line, &a); err != nil {
			t.Fatalf("%s line %d: %v", path, i+1, err)
		}
		if a.Alert != "new" && a.Alert != "repeat" {
			t.Fatalf("%s line %d: alert %q", path, i+1, a.Alert)
		}
		for _, id := range a.AuditIDs {
			if l.attacks[id] {
				got[a.RuleID+" "+id]++
			}
		}
	}
	var bad []string
	for k, n := range l.want {
		if got[k] != n {
			bad = append(bad, fmt.Sprintf("%s: alerted %d time(s), want %d", k, got[k], n))
		}
	}
	for k, n := range got {
		if l.want[k] == 0 {
			bad = append(bad, fmt.Sprintf("%s: alerted %d time(s), scan does not", k, n))
		}
	}
	sort.Strings(bad)
	if len(bad) > 0 {
		t.Errorf("%d of %d (rule, attack event) pairs wrong, e.g.:\n%s", len(bad), len(l.want), strings.Join(bad[:min(len(bad), 15)], "\n"))
	}
}

// checkCase opens the case and checks that it holds every event of the log once.
func checkCase(t *testing.T, l *tailLog, dir string) {
	t.Helper()
	c, err := index.Open(dir, index.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	info, err := c.Info()
	if err != nil {
		t.Fatal(err)
	}
	if info.Events != len(l.ids) {
		t.Errorf("case holds %d events (%d ingests), the log %d", info.Events, info.Ingests, len(l.ids))
	}
	var missing []int
	for i, id := range l.order {
		if _, err := c.Row(index.EventID(id)); err != nil {
			missing = append(missing, i+1)
		}
	}
	if len(missing) > 0 {
		// runs of missing lines say which part of the log was lost
		var runs []string
		for i := 0; i < len(missing); {
			j := i
			for j+1 < len(missing) && missing[j+1] == missing[j]+1 {
				j++
			}
			runs = append(runs, fmt.Sprintf("%d-%d", missing[i], missing[j]))
			i = j + 1
		}
		t.Errorf("%d events of the log are not in the case: lines %s", len(missing), strings.Join(runs[:min(len(runs), 10)], ", "))
	}
	fs, err := c.Findings()
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) == 0 {
		t.Errorf("the case holds no finding")
	}
}

// TestTailFollowsRotations runs the real binary on a log written by a test playing the
// apiserver and logrotate, one rotation style per case, and checks that every event is
// in the case once and every attack alerted once, as scan over the whole log reports.
func TestTailFollowsRotations(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	bin := testbin.Path(t)
	l := makeTailLog(t, bin, 6000, 11)
	n := len(l.lines)
	parts := func(k int) [][][]byte {
		var out [][][]byte
		for i := 0; i < k; i++ {
			out = append(out, l.lines[i*n/k:(i+1)*n/k])
		}
		return out
	}
	pause := func() { time.Sleep(300 * time.Millisecond) }
	cases := []struct {
		name string
		// later: the live file does not exist when tail starts
		later bool
		play  func(w *logWriter, p [][][]byte)
		k     int
	}{
		{name: "apiserver-rename", k: 3, play: func(w *logWriter, p [][][]byte) {
			w.write(p[0])
			pause()
			w.rename()
			w.write(p[1])
			pause()
			w.rename()
			w.write(p[2])
		}},
		{name: "logrotate-rename", k: 3, play: func(w *logWriter, p [][][]byte) {
			w.write(p[0])
			pause()
			w.numbered(false)
			w.write(p[1])
			pause()
			w.numbered(false)
			w.write(p[2])
		}},
		{name: "copytruncate", k: 3, play: func(w *logWriter, p [][][]byte) {
			w.write(p[0])
			pause()
			w.copytruncate()
			w.write(p[1])
			pause()
			w.copytruncate()
			w.write(p[2])
		}},
		{name: "gzip-after-rotation", k: 3, play: func(w *logWriter, p [][][]byte) {
			w.write(p[0])
			pause()
			w.numbered(true)
			w.write(p[1])
			pause()
			w.numbered(true)
			w.write(p[2])
		}},
		{name: "created-later", k: 2, later: true, play: func(w *logWriter, p [][][]byte) {
			time.Sleep(time.Second)
			w.write(p[0])
			pause()
			w.write(p[1])
		}},
		// the writer does not wait for the reader: everything written and rotated three
		// times, gzip included, before tail has read much of it
		{name: "fast-writer", k: 4, play: func(w *logWriter, p [][][]byte) {
			w.write(p[0])
			w.rename()
			w.write(p[1])
			w.gzip(w.rename())
			w.write(p[2])
			w.rename()
			w.write(p[3])
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			logs := filepath.Join(dir, "logs")
			os.Mkdir(logs, 0o700)
			w := &logWriter{t: t, dir: logs}
			if !tc.later {
				w.open() // an empty log, as an apiserver that just started
			}
			state := filepath.Join(dir, "tail.state")
			alerts := filepath.Join(dir, "alerts.jsonl")
			caseDir := filepath.Join(dir, "case")
			p := startTail(t, bin, dir, w.live(), "--state", state, "--case", caseDir, "--alert", "jsonl="+alerts, "--poll", "50ms", "--group", "1s")
			waitStarted(t, state) // tail starts at the end of an empty log
			tc.play(w, parts(tc.k))
			waitCaughtUp(t, state, w.live(), p)
			if code := p.stop(t, syscall.SIGTERM); code != 143 {
				t.Errorf("exit code %d after SIGTERM, want 143", code)
			}
			checkAlerts(t, l, alerts)
			checkCase(t, l, caseDir)
			if b, _ := os.ReadFile(filepath.Join(dir, "stderr.txt")); len(b) > 0 {
				t.Logf("stderr:\n%s", b)
			}
		})
	}
}

// TestTailSIGKILLRestart kills tail with SIGKILL several times while the log is written
// and rotated, restarting it each time from its checkpoint: no event is lost or stored
// twice, no attack alerted twice.
func TestTailSIGKILLRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	bin := testbin.Path(t)
	l := makeTailLog(t, bin, 8000, 12)
	dir := t.TempDir()
	if d := os.Getenv("KUBESLEUTH_TAIL_TEST_DIR"); d != "" {
		dir = d // keep what the test left, to look at
	}
	logs := filepath.Join(dir, "logs")
	os.Mkdir(logs, 0o700)
	w := &logWriter{t: t, dir: logs}
	w.open()
	state := filepath.Join(dir, "tail.state")
	alerts := filepath.Join(dir, "alerts.jsonl")
	caseDir := filepath.Join(dir, "case")
	args := []string{w.live(), "--state", state, "--case", caseDir, "--alert", "jsonl=" + alerts, "--poll", "20ms", "--group", "1s"}
	p := startTail(t, bin, dir, args...)
	waitStarted(t, state)
	const k = 8
	n := len(l.lines)
	for i := 0; i < k; i++ {
		part := l.lines[i*n/k : (i+1)*n/k]
		// write in small pieces, so that the kill lands while tail reads
		for j := 0; j < len(part); j += 50 {
			w.write(part[j:min(j+50, len(part))])
			time.Sleep(2 * time.Millisecond)
		}
		switch i % 3 {
		case 0:
			w.rename()
		case 1:
			w.gzip(w.rename())
		}
		if i%2 == 1 {
			time.Sleep(time.Duration(50*i) * time.Millisecond)
			if code := p.stop(t, syscall.SIGKILL); code != 137 {
				t.Fatalf("exit %d after SIGKILL", code)
			}
			p = startTail(t, bin, dir, args...)
		}
	}
	waitCaughtUp(t, state, w.live(), p)
	if code := p.stop(t, syscall.SIGINT); code != 130 {
		t.Errorf("exit code %d after SIGINT, want 130", code)
	}
	checkAlerts(t, l, alerts)
	checkCase(t, l, caseDir)
	if b, _ := os.ReadFile(filepath.Join(dir, "stderr.txt")); len(b) > 0 {
		t.Logf("stderr:\n%s", b)
	}
}

// TestNoCanaryLeaksTail runs tail over the canary inputs (every place a secret can sit;
// see TestNoCanaryLeaks), one file after the other as rotations of one log, with a case,
// a JSON-lines alert file and human lines: no canary may appear in stdout, stderr, the
// alert file, the checkpoint (engine state, grouped repeats, findings) or the case.
func TestNoCanaryLeaksTail(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	bin := testbin.Path(t)
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "in"), 0o700)
	set, err := canary.Write(filepath.Join(dir, "in"))
	if err != nil {
		t.Fatal(err)
	}
	var inputs []string
	for _, p := range set.Files {
		inputs = append(inputs, p)
	}
	sort.Strings(inputs)
	logs := filepath.Join(dir, "logs")
	os.Mkdir(logs, 0o700)
	w := &logWriter{t: t, dir: logs}
	w.open()
	state := filepath.Join(dir, "tail.state")
	alerts := filepath.Join(dir, "alerts.jsonl")
	caseDir := filepath.Join(dir, "case")
	p := startTail(t, bin, dir, w.live(), "--state", state, "--case", caseDir, "--alert", "jsonl="+alerts, "--alert", "line", "--poll", "20ms", "--max-errors", "0")
	waitStarted(t, state)
	for _, in := range inputs {
		b, err := os.ReadFile(in)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
			continue // a gzip file is not a log being written
		}
		if len(b) > 0 && b[len(b)-1] != '\n' {
			b = append(b, '\n')
		}
		w.write([][]byte{b})
		w.rename()
	}
	waitCaughtUp(t, state, w.live(), p)
	if code := p.stop(t, syscall.SIGTERM); code != 143 {
		t.Errorf("exit %d after SIGTERM", code)
	}
	checked := 0
	check := func(what string, b []byte) {
		t.Helper()
		checked++
		for _, l := range set.Leaks(b) {
			t.Errorf("%s leaks %s", what, l)
		}
	}
	for _, f := range []string{"stdout.txt", "stderr.txt", "alerts.jsonl", "tail.state"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 && f != "stderr.txt" {
			t.Errorf("%s is empty: nothing was alerted", f)
		}
		check(f, b)
	}
	if b, _ := os.ReadFile(alerts); !bytes.Contains(b, []byte("KS-SECRET-")) {
		st, _ := os.ReadFile(state)
		se, _ := os.ReadFile(filepath.Join(dir, "stderr.txt"))
		t.Errorf("no secret finding alerted: the canaries were not seen by the rules (state %.300s; stderr %s)", st, se)
	}
	err = filepath.WalkDir(caseDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		check("case file "+d.Name(), b)
		switch d.Name() {
		case "events.zst":
			check("events.zst decompressed", decompressAll(t, b))
		case "events.db":
			check("events.db values", boltValues(t, path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 8 {
		t.Fatalf("only %d outputs checked", checked)
	}
}

// TestTailExitCodes: a bad --alert, a state file that does not decode (both the caller's
// to fix: 2), and an alert file that cannot be opened (kubesleuth's failure: 4).
func TestTailExitCodes(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "audit.log")
	os.WriteFile(log, nil, 0o600)
	bad := filepath.Join(dir, "bad.state")
	os.WriteFile(bad, []byte("{not json"), 0o600)
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"tail", log, "--alert", "xml"}, exitUsage, "unknown kind"},
		{[]string{"tail", log, "--alert", "jsonl,min=severe"}, exitUsage, "unknown severity"},
		{[]string{"tail", log, "--alert", "webhook=ftp://127.0.0.1:1/x"}, exitUsage, "http:// or https://"},
		{[]string{"tail", log, "--alert", "jsonl,format=falco"}, exitUsage, "webhook only"},
		{[]string{"tail"}, exitUsage, "accepts 1 arg"},
		{[]string{"tail", log, "--state", filepath.Join(dir, "s2"), "--store", "victorialogs://127.0.0.1:1"}, exitUsage, "--store goes with --case"},
		{[]string{"tail", log, "--state", bad}, exitUsage, "do not decode"},
		{[]string{"tail", log, "--state", filepath.Join(dir, "s"), "--alert", "jsonl=" + filepath.Join(dir, "no", "such", "dir", "a.jsonl")}, exitFailure, "alert file"},
	} {
		var out, errb bytes.Buffer
		code := run(context.Background(), tc.args, stdio{in: strings.NewReader(""), out: &out, err: &errb})
		if code != tc.code || !strings.Contains(errb.String(), tc.msg) {
			t.Errorf("%v: exit %d (%q), want %d with %q", tc.args, code, errb.String(), tc.code, tc.msg)
		}
	}
}
