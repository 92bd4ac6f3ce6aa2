package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const auditFixtures = "../../testdata/audit"

// runCmd runs the CLI in-process and returns exit code, stdout and stderr.
func runCmd(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, stdio{in: strings.NewReader(stdin), out: &out, err: &errb})
	return code, out.String(), errb.String()
}

func TestScanJSON(t *testing.T) {
	code, out, stderr := runCmd(t, "", "scan", "-o", "json",
		filepath.Join(auditFixtures, "overlap-a.jsonl"), filepath.Join(auditFixtures, "overlap-b.jsonl"), filepath.Join(auditFixtures, "bad-lines.jsonl"))
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	var res struct {
		Summary struct {
			Events     int            `json:"events"`
			Duplicates int            `json:"duplicates"`
			Skipped    map[string]int `json:"skipped"`
			Files      []struct {
				Path       string         `json:"path"`
				Events     int            `json:"events"`
				Duplicates int            `json:"duplicates"`
				Skipped    map[string]int `json:"skipped"`
				First      string         `json:"first_event"`
				Last       string         `json:"last_event"`
			} `json:"files"`
		} `json:"summary"`
		Findings []json.RawMessage `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("output is not the JSON document: %v\n%s", err, out)
	}
	s := res.Summary
	if s.Events != 11 || s.Duplicates != 2 || s.Skipped["malformed"] != 1 || s.Skipped["no_audit_id"] != 1 || s.Skipped["not_an_event"] != 1 {
		t.Errorf("summary = %+v", s)
	}
	if len(s.Files) != 3 || s.Files[1].Duplicates != 2 || s.Files[2].Skipped["malformed"] != 1 || s.Files[0].First == "" || s.Files[0].Last == "" {
		t.Errorf("files = %+v", s.Files)
	}
	if res.Findings == nil {
		t.Errorf("findings must be a list, even empty")
	}
	// bad input is reported on stderr with its place
	if !strings.Contains(stderr, "bad-lines.jsonl:2: malformed JSON") {
		t.Errorf("stderr lacks the bad-line message:\n%s", stderr)
	}
}

func TestScanStdinAndTable(t *testing.T) {
	code, out, stderr := runCmd(t, `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a1","stage":"ResponseComplete","verb":"get","requestReceivedTimestamp":"2026-01-01T00:00:00Z","stageTimestamp":"2026-01-01T00:00:00Z"}`+"\n", "scan", "-")
	if code != 0 || !strings.Contains(stderr, "Read 1 events from 1 input(s)") || !strings.Contains(out, "No findings.") {
		t.Errorf("exit %d\nstdout %s\nstderr %s", code, out, stderr)
	}
}

func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"missing file", []string{"scan", "/nonexistent/audit.log"}, 2, "no such file"},
		{"empty glob", []string{"scan", "/nonexistent/*.log"}, 2, "no files match"},
		{"bad output", []string{"scan", "-o", "xml", filepath.Join(auditFixtures, "v1.jsonl")}, 2, `unknown output format "xml"`},
		{"bad fail-on", []string{"scan", "--fail-on", "severe", filepath.Join(auditFixtures, "v1.jsonl")}, 2, "unknown severity"},
		{"unknown flag", []string{"scan", "--nope"}, 2, "unknown flag"},
		{"strict on bad input", []string{"scan", "--strict", filepath.Join(auditFixtures, "bad-lines.jsonl")}, 2, "bad-lines.jsonl:2: malformed JSON"},
		{"clean input", []string{"scan", "--fail-on", "info", filepath.Join(auditFixtures, "v1.jsonl")}, 0, ""},
		{"bad max-line", []string{"scan", "--max-line", "lots", filepath.Join(auditFixtures, "v1.jsonl")}, 2, "invalid size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCmd(t, "", tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.msg) {
				t.Errorf("exit %d (want %d), stderr %q (want %q)", code, tc.code, stderr, tc.msg)
			}
		})
	}
}

func TestMaxErrors(t *testing.T) {
	_, _, stderr := runCmd(t, "", "scan", "--max-errors", "1", filepath.Join(auditFixtures, "bad-lines.jsonl"))
	if strings.Count(stderr, "bad-lines.jsonl:2:")+strings.Count(stderr, "bad-lines.jsonl:4:")+strings.Count(stderr, "bad-lines.jsonl:5:") != 1 || !strings.Contains(stderr, "more bad input not shown (--max-errors 1)") {
		t.Errorf("stderr:\n%s", stderr)
	}
	_, _, stderr = runCmd(t, "", "scan", "-q", filepath.Join(auditFixtures, "bad-lines.jsonl"))
	if strings.Contains(stderr, "bad-lines.jsonl:2") || !strings.Contains(stderr, "malformed 1") {
		t.Errorf("quiet still counts but does not print:\n%s", stderr)
	}
}

func TestVersionAndHelp(t *testing.T) {
	code, out, _ := runCmd(t, "", "--version")
	if code != 0 || !strings.HasPrefix(out, "kubesleuth ") {
		t.Errorf("--version: %d %q", code, out)
	}
	code, out, _ = runCmd(t, "", "scan", "--help")
	if code != 0 || !strings.Contains(out, "Exit codes") || !strings.Contains(out, "Examples:") {
		t.Errorf("scan --help: %d\n%s", code, out)
	}
	code, out, _ = runCmd(t, "", "completion", "bash")
	if code != 0 || !strings.Contains(out, "bash completion") {
		t.Errorf("completion bash: %d", code)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"4MiB": 4 << 20, "512KiB": 512 << 10, "1000": 1000, "2m": 2 << 20, "1GB": 1 << 30} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "4XB", "0"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) accepted", in)
		}
	}
}

// TestNotEvaluableCountsEvents: on 50 Metadata-level pod creations, every rule that reads
// the pod spec is not evaluable on each of them; the summary counts 50 events, not the
// sum over rules (it said "61 event(s)" when 50 were read).
func TestNotEvaluableCountsEvents(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&b, `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"00000000-0000-4000-8000-%012d","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/shop/pods","verb":"create","user":{"username":"alice@example.com"},"sourceIPs":["10.0.0.1"],"objectRef":{"resource":"pods","namespace":"shop","name":"p%d","apiVersion":"v1"},"responseStatus":{"code":201},"requestReceivedTimestamp":"2026-03-10T10:00:%02d.000000Z","stageTimestamp":"2026-03-10T10:00:%02d.000000Z"}`+"\n", i, i, i, i)
	}
	path := filepath.Join(t.TempDir(), "meta.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCmd(t, "", "scan", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "could not be evaluated on 50 of the 50 event(s)") {
		t.Errorf("summary does not count events: %s", stderr)
	}
}

// TestScanSummarySaysWhatWasSkipped: the closing sentence counts skipped pieces by what
// they are (lines, values, files), not as "inputs".
func TestScanSummarySaysWhatWasSkipped(t *testing.T) {
	_, _, stderr := runCmd(t, "", "scan", filepath.Join(auditFixtures, "bad-lines.jsonl"))
	if want := "0 duplicates dropped, 3 lines skipped (malformed 1, no_audit_id 1, not_an_event 1)."; !strings.Contains(stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr)
	}
}
