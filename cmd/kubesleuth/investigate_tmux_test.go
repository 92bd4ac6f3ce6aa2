package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kubesleuth/kubesleuth/internal/testbin"
)

// TestInvestigateTmux runs the real binary in a real terminal (tmux, 160x48) and works
// through an incident on the demo's case (scripts/demo.sh: seed 7, attacks, its
// allowlist, an etcd snapshot; 20,000 events instead of 200,000 to keep the test short):
// open the most severe finding, its evidence, pivot on its user, jump to a time, filter
// the findings to critical, bookmark and note an event, list the notes, export, quit. It
// asserts what is on the screen at each step, polling the captured pane with a deadline.
func TestInvestigateTmux(t *testing.T) {
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("tmux is not installed (CI installs it: .ci/run)")
		}
		t.Fatal("tmux is not installed; .ci/run installs it")
	}
	bin := testbin.Path(t)
	dir := t.TempDir()
	log, caseDir := filepath.Join(dir, "audit.log"), filepath.Join(dir, "case")
	snap, enc := filepath.Join(dir, "etcd.db"), filepath.Join(dir, "encryption-config.yaml")
	for _, args := range [][]string{
		{"generate", "--events", "20000", "--seed", "7", "--attacks", "-o", log},
		{"generate", "etcd", "--secrets", "200", "--seed", "7", "--out", snap, "--encryption-config", enc},
		{"ingest", "--case", caseDir, "--allowlist", filepath.Join("..", "..", "testdata", "generated", "allowlist.yaml"), log,
			"--etcd-snapshot", snap, "--encryption-config", enc},
	} {
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Fatalf("kubesleuth %v: %v\n%s", args, err, out)
		}
	}
	sock := fmt.Sprintf("kubesleuth-test-%d", os.Getpid())
	tm := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(tmux, append([]string{"-L", sock}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	t.Cleanup(func() { _ = exec.Command(tmux, "-L", sock, "kill-server").Run() })
	// remain-on-exit keeps the pane after the program ends so its exit can be checked
	tm("-f", "/dev/null", "new-session", "-d", "-x", "160", "-y", "48", "-e", "TERM=xterm-256color",
		fmt.Sprintf("%s investigate --case %s; echo EXITED $?; sleep 30", bin, caseDir))
	pane := func() string { return tm("capture-pane", "-p") }
	waitFor := func(step, what string) string {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for {
			s := pane()
			if strings.Contains(s, what) {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the pane never showed %q; it shows:\n%s", step, what, s)
			}
			time.Sleep(50 * time.Millisecond) // polling interval, not synchronization
		}
	}
	send := func(k ...string) { tm(append([]string{"send-keys"}, k...)...) }
	typeIn := func(s string) { tm("send-keys", "-l", s) }

	waitFor("first screen", "Timeline: all events")
	// the histogram and the findings load after the timeline: on a loaded machine they
	// come later than the first frame that shows it
	for _, want := range []string{"Findings (", "by rule", "UTC", "? help", "Detail:", "one row per request"} {
		waitFor("first screen", want)
	}
	s := pane()

	// 1. the most severe finding: the first row of the findings, a critical one
	send("BTab")
	s = waitFor("findings focused", "▶ Findings (")
	first := regexp.MustCompile(`(?m)^(CRIT) (KS-[A-Z]+-\d+)`).FindStringSubmatch(s)
	if first == nil {
		t.Fatalf("the first finding is not critical:\n%s", s)
	}
	rule := first[2]
	if strings.Contains(s, first[0]+" ▸") { // a group: open it, to its first subject
		send("Enter")
		waitFor("group opened", "▾ ")
		send("j")
	}
	s = waitFor("finding detail", "What happened")

	// 2. its evidence
	send("Enter")
	s = waitFor("evidence", "Evidence of "+rule)
	if !strings.Contains(s, "evidence of "+rule) {
		t.Errorf("the status bar does not say the rows are the evidence:\n%s", s)
	}

	// 3. pivot on its user
	send("u")
	s = waitFor("pivot", "query user:")
	user := regexp.MustCompile(`query user:"([^"]+)"`).FindStringSubmatch(s)
	if user == nil {
		t.Fatalf("no user query:\n%s", s)
	}
	if !strings.Contains(s, "following the timeline (user") {
		t.Errorf("the findings pane does not follow the pivot:\n%s", s)
	}

	// 4. jump to a time: the minute of the case's last event
	last := regexp.MustCompile(`–(\d\d:\d\d):\d\d UTC`).FindStringSubmatch(s)
	if last == nil {
		t.Fatalf("no case span in the status bar:\n%s", s)
	}
	send("@")
	waitFor("jump prompt", "jump to UTC:")
	typeIn(last[1])
	send("Enter")
	s = waitFor("time jump", "Timeline from "+last[1]+":00 UTC back (↑ newer)")
	if strings.Contains(s, "no events match") {
		t.Errorf("the jump shows nothing:\n%s", s)
	}

	// 5. the findings, filtered to critical
	send("BTab")
	waitFor("findings again", "▶ Findings")
	send("/")
	waitFor("findings prompt", "findings/")
	typeIn("sev:critical")
	send("Enter")
	s = waitFor("critical only", "· sev:critical")
	if regexp.MustCompile(`(?m)^(HIGH|MED |LOW |INFO) KS-`).MatchString(s) {
		t.Errorf("a finding below critical is listed:\n%s", s)
	}

	// 6. bookmark and note an event of the timeline
	send("Tab")
	waitFor("timeline focused", "▶ Timeline")
	send("b")
	waitFor("bookmark", "bookmarked event")
	send("m")
	waitFor("note prompt", "note:")
	typeIn("first sign of the token theft")
	send("Enter")
	waitFor("note saved", "note saved")

	// 7. the notes
	send("B")
	s = waitFor("notes view", "Bookmarks and notes")
	if !strings.Contains(s, "first sign of the token theft") || !strings.Contains(s, "events: 1") {
		t.Errorf("the notes view does not list the note:\n%s", s)
	}

	// 8. export the notes
	send("x")
	s = waitFor("export", "exported 1 to")
	if !strings.Contains(s, filepath.Join(caseDir, "exports")) {
		t.Errorf("the export is not in the case's exports:\n%s", s)
	}
	files, _ := filepath.Glob(filepath.Join(caseDir, "exports", "*.jsonl"))
	if len(files) != 1 {
		t.Fatalf("exports: %v", files)
	}
	b, _ := os.ReadFile(files[0])
	if !strings.Contains(string(b), `"note":"first sign of the token theft"`) {
		t.Errorf("the export lacks the note: %s", b)
	}

	send("q")
	s = waitFor("quit", "EXITED")
	if !strings.Contains(s, "EXITED 0") || !strings.Contains(s, "1 bookmarks, 1 notes") {
		t.Errorf("investigate did not exit 0 with the case's summary:\n%s", s)
	}
}
