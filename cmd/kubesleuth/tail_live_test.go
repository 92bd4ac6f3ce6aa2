package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubesleuth/kubesleuth/internal/generate"
	"github.com/kubesleuth/kubesleuth/internal/testbin"
)

// searchTotal runs the real binary's search on a case and returns its total and stderr.
func searchTotal(t *testing.T, bin, caseDir, query string) (int, string) {
	t.Helper()
	cmd := exec.Command(bin, "search", "--case", caseDir, "-o", "json", "--limit", "0", query)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("search %q on the case tail writes: %v\n%s", query, err, errb.String())
	}
	var res struct{ Total int }
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("search output: %v", err)
	}
	return res.Total, errb.String()
}

// waitTotal runs search until it counts want events (the deadline is a hang guard, not
// a measure: the time taken is logged).
func waitTotal(t *testing.T, bin, caseDir, query string, want int, p *tailProc) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(60 * time.Second)
	last := -1
	for time.Now().Before(deadline) {
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("tail exited while search ran: %v", err)
		default:
		}
		n, _ := searchTotal(t, bin, caseDir, query)
		if n == want {
			return time.Since(start)
		}
		if n > want {
			t.Fatalf("search %q: %d events, more than the %d written", query, n, want)
		}
		last = n
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("search %q never saw the %d events written (last %d)", query, want, last)
	return 0
}

// TestTailCaseSearchWhileRunning runs the real tail --case on a log a test writes and
// the real search against that case while tail runs: search answers (tail holds the
// store; it serves the reads), sees each part of the log once tail has read it, finds
// an attack event by its auditID, case info shows the findings so far; once tail stops
// the case is sealed, verifies, and opens from its files.
func TestTailCaseSearchWhileRunning(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	bin := testbin.Path(t)
	l := makeTailLog(t, bin, 6000, 21)
	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	os.Mkdir(logs, 0o700)
	w := &logWriter{t: t, dir: logs}
	w.open()
	state := filepath.Join(dir, "tail.state")
	caseDir := filepath.Join(dir, "case")
	p := startTail(t, bin, dir, w.live(), "--state", state, "--case", caseDir, "--alert", "jsonl="+filepath.Join(dir, "alerts.jsonl"), "--poll", "20ms")
	waitStarted(t, state)

	half := len(l.lines) / 2
	w.write(l.lines[:half])
	took := waitTotal(t, bin, caseDir, "*", half, p)
	t.Logf("search saw the first %d events %v after they were written", half, took.Round(time.Millisecond))
	_, stderr := searchTotal(t, bin, caseDir, "*")
	if !strings.Contains(stderr, "incomplete") {
		t.Errorf("search on a case tail is writing does not say it is incomplete: %q", stderr)
	}

	// an attack event of the second half, by a filtered (indexed) query
	var attack string
	for _, id := range l.order[half:] {
		a, _, _ := strings.Cut(id, "/")
		if l.attacks[a] {
			attack = a
			break
		}
	}
	if attack == "" {
		t.Fatal("no attack event in the second half of the log")
	}
	stages := 0
	for _, id := range l.order {
		if strings.HasPrefix(id, attack+"/") {
			stages++
		}
	}
	if n, _ := searchTotal(t, bin, caseDir, "auditID:"+attack); n != 0 {
		t.Fatalf("the attack event %s is in the case before it was written", attack)
	}
	w.write(l.lines[half:])
	took = waitTotal(t, bin, caseDir, "*", len(l.lines), p)
	t.Logf("search saw all %d events %v after the second half was written", len(l.lines), took.Round(time.Millisecond))
	if n, _ := searchTotal(t, bin, caseDir, "auditID:"+attack); n != stages {
		t.Errorf("auditID:%s: %d events while tail runs, want %d", attack, n, stages)
	}
	// the findings so far are in the case (committed with the events)
	out, err := exec.Command(bin, "case", "info", "--case", caseDir, "-o", "json").Output()
	if err != nil {
		t.Fatalf("case info while tail runs: %v", err)
	}
	var info struct {
		Events, Findings int
		Complete         bool
	}
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatal(err)
	}
	if info.Events != len(l.lines) || info.Findings == 0 || info.Complete {
		t.Errorf("case info while tail runs: %+v, want %d events, findings, incomplete", info, len(l.lines))
	}

	if code := p.stop(t, syscall.SIGTERM); code != 143 {
		t.Errorf("exit %d after SIGTERM, want 143", code)
	}
	if _, err := os.Stat(filepath.Join(caseDir, "live.sock")); !os.IsNotExist(err) {
		t.Errorf("live.sock outlived tail: %v", err)
	}
	if out, err := exec.Command(bin, "case", "verify", "--case", caseDir).CombinedOutput(); err != nil {
		t.Errorf("case verify after tail stopped: %v\n%s", err, out)
	}
	if n, stderr := searchTotal(t, bin, caseDir, "*"); n != len(l.lines) || strings.Contains(stderr, "incomplete") {
		t.Errorf("search after tail stopped: %d events (want %d), stderr %q", n, len(l.lines), stderr)
	}
	checkCase(t, l, caseDir)
}

// TestInvestigateFollowTail runs the real tail --case on a log a test writes and the real
// investigate --follow on that case in a real terminal (tmux): once the UI is up, the
// test writes more of the log, with events of a user of its own after the others; the
// UI shows them at the top of the timeline and the findings count tail recorded, without
// a key pressed. When tail stops, the UI goes on over the sealed files.
func TestInvestigateFollowTail(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("tmux is not installed (CI installs it: .ci/run)")
		}
		t.Fatal("tmux is not installed; .ci/run installs it")
	}
	bin := testbin.Path(t)
	var buf bytes.Buffer
	if _, err := generate.Audit(&buf, generate.Options{Events: 4000, Seed: 31, Attacks: true}); err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	var last time.Time
	for _, l := range lines {
		var ev struct{ RequestReceivedTimestamp time.Time }
		if err := json.Unmarshal(l, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.RequestReceivedTimestamp.After(last) {
			last = ev.RequestReceivedTimestamp
		}
	}
	if !bytes.HasSuffix(lines[len(lines)-1], []byte("\n")) {
		lines[len(lines)-1] = append(lines[len(lines)-1], '\n')
	}
	// the test's own events: the newest of the log
	for i := 0; i < 3; i++ {
		at := last.Add(time.Duration(i+1) * time.Second).UTC().Format(time.RFC3339Nano)
		lines = append(lines, []byte(fmt.Sprintf(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"7e57f0110-0000-4000-8000-%012d","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/configmaps/c","verb":"get","user":{"username":"zqxfollow-user"},"sourceIPs":["10.0.0.9"],"objectRef":{"resource":"configmaps","namespace":"default","name":"c","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":%q,"stageTimestamp":%q}`+"\n", i, at, at)))
	}
	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	os.Mkdir(logs, 0o700)
	w := &logWriter{t: t, dir: logs}
	w.open()
	state := filepath.Join(dir, "tail.state")
	caseDir := filepath.Join(dir, "case")
	p := startTail(t, bin, dir, w.live(), "--state", state, "--case", caseDir, "--poll", "20ms")
	waitStarted(t, state)
	half := 2000
	w.write(lines[:half])
	waitTotal(t, bin, caseDir, "*", half, p)

	sock := fmt.Sprintf("kubesleuth-follow-%d", os.Getpid())
	tm := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(tmux, append([]string{"-L", sock}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	t.Cleanup(func() { _ = exec.Command(tmux, "-L", sock, "kill-server").Run() })
	tm("-f", "/dev/null", "new-session", "-d", "-x", "160", "-y", "48", "-e", "TERM=xterm-256color",
		fmt.Sprintf("%s investigate --follow --case %s; echo EXITED $?; sleep 30", bin, caseDir))
	waitFor := func(step, what string) string {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for {
			s := tm("capture-pane", "-p")
			if strings.Contains(s, what) {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the pane never showed %q; it shows:\n%s", step, what, s)
			}
			time.Sleep(50 * time.Millisecond) // polling interval, not synchronization
		}
	}
	s := waitFor("first screen", "Timeline: all events")
	if !strings.Contains(s, "following") || strings.Contains(s, "zqxfollow-user") {
		t.Fatalf("first screen: not following, or the test's events already there:\n%s", s)
	}
	countRe := regexp.MustCompile(`Findings \((\d+)\)`)
	m := countRe.FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no findings count on the first screen:\n%s", s)
	}
	firstFindings, _ := strconv.Atoi(m[1])
	w.write(lines[half:])
	waitTotal(t, bin, caseDir, "*", len(lines), p)
	s = waitFor("new events", "zqxfollow-user")
	// the findings tail recorded (it records them every few seconds while they change):
	// the pane shows the count case info reads
	deadline := time.Now().Add(90 * time.Second)
	for {
		out, err := exec.Command(bin, "case", "info", "--case", caseDir, "-o", "json").Output()
		if err != nil {
			t.Fatal(err)
		}
		var info struct{ Findings int }
		if err := json.Unmarshal(out, &info); err != nil {
			t.Fatal(err)
		}
		s = tm("capture-pane", "-p")
		if info.Findings > firstFindings && strings.Contains(s, fmt.Sprintf("Findings (%d)", info.Findings)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pane never showed the %d findings case info reads (%d on the first screen):\n%s", info.Findings, firstFindings, s)
		}
		time.Sleep(100 * time.Millisecond) // polling interval, not synchronization
	}
	// the newest first: the test's events are the first rows of the timeline
	if i, j := strings.Index(s, "zqxfollow-user"), strings.Index(s, "Timeline: all events"); i < j {
		t.Errorf("the new events are not in the timeline:\n%s", s)
	}
	if code := p.stop(t, syscall.SIGINT); code != 130 {
		t.Errorf("tail exit %d after SIGINT, want 130", code)
	}
	// the UI reads the sealed files now: a search still answers
	tm("send-keys", "/")
	waitFor("prompt", "/")
	tm("send-keys", "-l", "user:zqxfollow-user")
	tm("send-keys", "Enter")
	s = waitFor("search after tail stopped", "Timeline: user:zqxfollow-user (newest first) — 1 of 3")
	if strings.Contains(s, "error") || strings.Contains(s, "live writer") {
		t.Errorf("the UI failed once tail stopped:\n%s", s)
	}
	tm("send-keys", "q")
	waitFor("quit", "EXITED 0")
}
