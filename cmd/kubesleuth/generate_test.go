package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func TestGenerateFiles(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "audit.log.gz")
	labels := filepath.Join(dir, "labels.jsonl")
	code, stdout, stderr := runCmd(t, "", "generate", "--events", "1500", "--seed", "3", "--attacks", "--labels", labels, "-o", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if stdout != "" {
		t.Errorf("stdout should stay empty with -o FILE, got %d bytes", len(stdout))
	}
	if !strings.Contains(stderr, "wrote 1500 events") || !strings.Contains(stderr, "secret-enumeration=") {
		t.Errorf("summary: %s", stderr)
	}
	for _, p := range []string{out, labels} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", p, st.Mode().Perm())
		}
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s is not gzip: %v", out, err)
	}
	sc := bufio.NewScanner(zr)
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		n++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n != 1500 {
		t.Errorf("gzip output holds %d lines, want 1500", n)
	}
	lb, _ := os.ReadFile(labels)
	if bytes.Count(lb, []byte("\n")) < 19 {
		t.Errorf("labels file has %d lines", bytes.Count(lb, []byte("\n")))
	}
}

func TestGenerateStdoutDeterministic(t *testing.T) {
	_, a, _ := runCmd(t, "", "generate", "--events", "300", "--seed", "9", "--start", "2025-01-01T00:00:00Z")
	_, b, _ := runCmd(t, "", "generate", "--events", "300", "--seed", "9", "--start", "2025-01-01T00:00:00Z")
	if a != b || strings.Count(a, "\n") != 300 {
		t.Fatalf("two runs differ or have the wrong length (%d lines)", strings.Count(a, "\n"))
	}
	if !strings.Contains(a, `"requestReceivedTimestamp":"2025-01-01T00:00:0`) {
		t.Errorf("--start not honoured: %.300s", a)
	}
}

func TestGenerateUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"generate", "--events", "0"}, "--events must be positive"},
		{[]string{"generate", "--events", "10", "--attacks"}, "--attacks needs --events of at least 1000"},
		{[]string{"generate", "--labels", "x.jsonl"}, "--labels needs --attacks"},
		{[]string{"generate", "--start", "yesterday"}, "--start"},
		{[]string{"generate", "extra"}, "unknown command"},
		{[]string{"generate", "-o", filepath.Join(t.TempDir(), "missing", "a.log"), "--events", "5"}, "creating"},
		{[]string{"generate", "--omit-stages", "ResponseComplete"}, `--omit-stages: cannot omit stage "ResponseComplete": the stages that can be omitted are RequestReceived, ResponseStarted`},
		{[]string{"generate", "--unique", "user,uid"}, `--unique: unknown unique field "uid": the fields are user, source-ip, user-agent, name`},
		{[]string{"generate", "--apiservers", "0"}, "--apiservers must be between 1 and 16, got 0"},
		{[]string{"generate", "--apiservers", "17"}, "--apiservers must be between 1 and 16, got 17"},
		{[]string{"generate", "--identities", "0"}, "--identities must be at least 27, got 0"},
		{[]string{"generate", "--identities", "27", "--apiservers", "3"}, "--identities must be at least 29 (the simulated cluster's own), got 27"},
		{[]string{"generate", "--bodies", "1.5"}, "--bodies must be a share between 0 and 1, got 1.5"},
		{[]string{"generate", "--bodies", "half"}, "--bodies"},
	} {
		code, _, stderr := runCmd(t, "", tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

// TestGenerateSubcommands checks the hook other generators use to add `generate <kind>`.
func TestGenerateSubcommands(t *testing.T) {
	saved := generateSubcommands
	defer func() { generateSubcommands = saved }()
	generateSubcommands = append(generateSubcommands, func(io stdio) *cobra.Command {
		return &cobra.Command{Use: "fake", RunE: func(*cobra.Command, []string) error {
			_, err := io.out.Write([]byte("fake ran\n"))
			return err
		}}
	})
	code, stdout, stderr := runCmd(t, "", "generate", "fake")
	if code != 0 || stdout != "fake ran\n" {
		t.Errorf("generate fake: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestGenerateCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errb bytes.Buffer
	code := run(ctx, []string{"generate", "--events", "100000"}, stdio{in: strings.NewReader(""), out: &out, err: &errb})
	if code != 130 || out.Len() != 0 {
		t.Errorf("cancelled run: exit %d, %d bytes written, stderr %q; want exit 130 and nothing written", code, out.Len(), errb.String())
	}
}

// TestGenerateShapes runs the binary's flags for the log shapes end to end: a managed HA
// log with a population, fresh users, and no bodies, each checked on its output.
func TestGenerateShapes(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "managed.jsonl")
	code, _, stderr := runCmd(t, "", "generate", "--events", "3000", "--attacks", "--labels", filepath.Join(dir, "l.jsonl"),
		"--omit-stages", "RequestReceived", "--identities", "300", "--apiservers", "3", "--bodies", "0", "--unique", "user-agent", "-o", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"wrote 3000 events", "events per apiserver: 1=", "fresh values for ", "secret-enumeration="} {
		if !strings.Contains(stderr, want) {
			t.Errorf("summary lacks %q: %s", want, stderr)
		}
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ev struct {
		Stage     string `json:"stage"`
		Level     string `json:"level"`
		UserAgent string `json:"userAgent"`
		User      struct {
			Username string `json:"username"`
		} `json:"user"`
	}
	users, fresh, n := map[string]bool{}, 0, 0
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatal(err)
		}
		n++
		if ev.Stage == "RequestReceived" {
			t.Fatal("a RequestReceived event though omitted")
		}
		users[ev.User.Username] = true
		if strings.Contains(ev.UserAgent, "/r") {
			fresh++
		}
	}
	if n != 3000 || len(users) < 250 || fresh < 2000 {
		t.Errorf("%d events, %d distinct users, %d fresh user agents", n, len(users), fresh)
	}
	// --help teaches the shapes with an example each.
	_, help, _ := runCmd(t, "", "generate", "--help")
	for _, want := range []string{"--omit-stages RequestReceived", "--identities 100000", "--unique user", "--apiservers 3", "--bodies 0"} {
		if !strings.Contains(help, want) {
			t.Errorf("generate --help has no example of %q", want)
		}
	}
}
