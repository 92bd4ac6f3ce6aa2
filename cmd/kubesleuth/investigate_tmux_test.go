package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubesleuth/kubesleuth/internal/testbin"
)

// TestInvestigateTmux runs the real binary in a real terminal (tmux): the first screen,
// a search, a pivot on the user, the identity timeline, help, back, and quit. It polls
// the captured pane until the expected text appears, with a deadline.
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
	for _, args := range [][]string{
		{"generate", "--events", "3000", "--seed", "7", "--attacks", "-o", log},
		{"ingest", "--case", caseDir, log},
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
	waitFor := func(what string) string {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for {
			s := pane()
			if strings.Contains(s, what) {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("the pane never showed %q; it shows:\n%s", what, s)
			}
			time.Sleep(50 * time.Millisecond) // polling interval, not synchronization
		}
	}
	send := func(k ...string) { tm(append([]string{"send-keys"}, k...)...) }

	s := waitFor("Timeline: all events")
	for _, want := range []string{"Findings (", "events ", "? help", "Detail:"} {
		if !strings.Contains(s, want) {
			t.Errorf("first screen lacks %q:\n%s", want, s)
		}
	}
	send("/")
	waitFor("user:alice verb:delete") // the prompt's placeholder
	send("-l", "resource:secrets verb:list")
	send("Enter")
	waitFor("Timeline: resource:secrets verb:list")
	send("u")
	waitFor(`Timeline: user:"`)
	send("I")
	waitFor("burst 1:")
	send("?")
	waitFor("Pivot (filter on the selection)")
	send("?")
	send("Escape")
	waitFor(`Timeline: user:"`)
	send("q")
	s = waitFor("EXITED")
	if !strings.Contains(s, "EXITED 0") {
		t.Errorf("investigate did not exit 0:\n%s", s)
	}
}
