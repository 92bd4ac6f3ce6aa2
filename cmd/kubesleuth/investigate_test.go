package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestInvestigateNeedsTerminal: without a terminal investigate refuses with a usage
// error (exit 2) that points to kubesleuth search, before touching the case.
func TestInvestigateNeedsTerminal(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"investigate", "--case", t.TempDir()}, stdio{in: strings.NewReader(""), out: &out, err: &errb})
	if code != exitUsage {
		t.Errorf("exit code %d, want %d", code, exitUsage)
	}
	if !strings.Contains(errb.String(), "kubesleuth search") || !strings.Contains(errb.String(), "terminal") {
		t.Errorf("stderr %q does not explain the terminal and point to kubesleuth search", errb.String())
	}
	if out.Len() != 0 {
		t.Errorf("stdout %q, want nothing", out.String())
	}
}

// TestInvestigateHelp: the help names the keys and has examples.
func TestInvestigateHelp(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"investigate", "--help"}, stdio{in: strings.NewReader(""), out: &out, err: &errb}); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"--case", "--query", "kubesleuth investigate --case ./incident-42", "identity timeline", "bookmark"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
}
