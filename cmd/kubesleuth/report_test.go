package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/kubesleuth/kubesleuth/index"
	"github.com/kubesleuth/kubesleuth/internal/generate"
	"github.com/kubesleuth/kubesleuth/internal/testbin"
)

// reportFixture is a generated case made with the real binary: an audit log with every
// attack scenario, an etcd snapshot with secrets in every state, a bookmark and a note.
type reportFixture struct {
	bin, dir, caseDir, log, snap, enc string
	info                              *index.Info
}

// the report's own time in the golden files (SOURCE_DATE_EPOCH)
const reportEpoch = "1772438400" // 2026-03-02T08:00:00Z

func newReportFixture(t *testing.T) *reportFixture {
	t.Helper()
	f := &reportFixture{bin: testbin.Path(t), dir: t.TempDir()}
	f.caseDir = filepath.Join(f.dir, "case")
	f.log = filepath.Join(f.dir, "audit.log")
	f.snap = filepath.Join(f.dir, "snap.db")
	f.enc = filepath.Join(f.dir, "enc.yaml")
	var buf bytes.Buffer
	if _, err := generate.Audit(&buf, generate.Options{Events: 3000, Seed: 7, Attacks: true}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.log, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	f.mustRun(t, "generate", "etcd", "--secrets", "40", "--seed", "7", "--out", f.snap, "--encryption-config", f.enc)
	f.mustRun(t, "ingest", "-q", "--case", f.caseDir, f.log, "--etcd-snapshot", f.snap, "--encryption-config", f.enc)
	c, err := index.Open(f.caseDir, index.OpenOptions{Writable: true})
	if err != nil {
		t.Fatal(err)
	}
	fs, err := c.Findings()
	if err != nil || len(fs) < 20 {
		t.Fatalf("the case holds %d findings (%v): the fixture proves nothing", len(fs), err)
	}
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	if err := c.Annotate(index.Annotation{Target: index.Target{Kind: "finding", ID: index.FindingID(fs[0])}, Bookmarked: true, Note: "escalated to the platform team", Updated: at}); err != nil {
		t.Fatal(err)
	}
	if err := c.Annotate(index.Annotation{Target: index.Target{Kind: "event", ID: fs[0].AuditIDs[0] + "/ResponseComplete"}, Note: "first request of the chain", Updated: at.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if f.info, err = c.Info(); err != nil {
		t.Fatal(err)
	}
	c.Close()
	return f
}

func (f *reportFixture) run(t *testing.T, env []string, args ...string) (int, []byte, []byte) {
	t.Helper()
	cmd := exec.Command(f.bin, args...)
	cmd.Env = append(append(os.Environ(), "SOURCE_DATE_EPOCH="+reportEpoch), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return code, out.Bytes(), errb.Bytes()
}

func (f *reportFixture) mustRun(t *testing.T, args ...string) []byte {
	t.Helper()
	code, out, errb := f.run(t, nil, args...)
	if code != 0 {
		t.Fatalf("%s: exit %d: %s", strings.Join(args, " "), code, errb)
	}
	return out
}

// normalize replaces what differs between two runs of the fixture: the temporary folder,
// the ingest's times, who ran it, and the snapshot's SHA-256 and size (the etcd
// generator's encryption is random; its secrets' names and states are not).
func (f *reportFixture) normalize(b []byte) []byte {
	s := string(b)
	s = strings.ReplaceAll(s, f.dir, "/FIXTURE")
	for _, tm := range []time.Time{f.info.Created, f.info.Updated} {
		s = strings.ReplaceAll(s, tm.UTC().Format(time.RFC3339Nano), "2026-01-01T00:00:00Z")
		s = strings.ReplaceAll(s, tm.UTC().Format(time.RFC3339), "2026-01-01T00:00:00Z")
	}
	for _, src := range f.info.Sources {
		s = strings.ReplaceAll(s, src.IngestedAt.UTC().Format(time.RFC3339Nano), "2026-01-01T00:00:00Z")
		s = strings.ReplaceAll(s, src.IngestedAt.UTC().Format(time.RFC3339), "2026-01-01T00:00:00Z")
		if src.Kind == "etcd-snapshot" {
			s = strings.ReplaceAll(s, src.SHA256, strings.Repeat("0", 64))
			s = regexp.MustCompile(`\b`+strconv.FormatInt(src.Size, 10)+`\b`).ReplaceAllString(s, "999999")
		}
	}
	if me := whoami(); me != "@" {
		s = strings.ReplaceAll(s, me, "user@host")
	}
	return []byte(s)
}

func reportGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "report", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/kubesleuth -run TestReport -update)", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) && i < len(wl); i++ {
			if gl[i] != wl[i] {
				t.Fatalf("%s differs from the golden file at line %d:\n got %q\nwant %q\n(run -update after checking the change)", name, i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("%s differs from the golden file in length: %d lines, want %d", name, len(gl), len(wl))
	}
}

// TestReport: the report of one generated case in every format, each equal to its golden
// file (md, json, csv, sarif), the JSON valid against the schema in the repo and
// re-rendered by --from into the same bytes as from the case, the flags, and a report
// from the log files themselves.
func TestReport(t *testing.T) {
	f := newReportFixture(t)
	outputs := map[string][]byte{}
	for _, format := range []string{"md", "json", "csv", "sarif", "html"} {
		out := f.mustRun(t, "report", "--case", f.caseDir, "--format", format)
		if len(out) == 0 {
			t.Fatalf("report --format %s wrote nothing", format)
		}
		outputs[format] = out
	}
	// the same case gives the same bytes
	if again := f.mustRun(t, "report", "--case", f.caseDir, "--format", "json"); !bytes.Equal(again, outputs["json"]) {
		t.Fatal("two reports of the same case differ")
	}
	t.Run("golden", func(t *testing.T) {
		for _, format := range []string{"md", "json", "csv", "sarif"} {
			reportGolden(t, "case."+format, f.normalize(outputs[format]))
		}
	})

	var doc struct {
		Findings []struct {
			RuleID   string   `json:"rule_id"`
			Severity string   `json:"severity"`
			AuditIDs []string `json:"audit_ids"`
			Location *struct {
				File string `json:"file"`
				Line int    `json:"line"`
			} `json:"location"`
			Evidence     []json.RawMessage `json:"evidence"`
			EvidenceMore int               `json:"evidence_more"`
		} `json:"findings"`
		Annotations []struct {
			Finding int `json:"finding"`
		} `json:"annotations"`
		Etcd struct {
			Total int `json:"total"`
		} `json:"etcd"`
	}
	if err := json.Unmarshal(outputs["json"], &doc); err != nil {
		t.Fatal(err)
	}

	t.Run("schema", func(t *testing.T) {
		validateReportSchema(t, outputs["json"])
		// the schema is not a blank check: a report missing a field, or with a
		// severity of its own, fails it
		var m map[string]any
		_ = json.Unmarshal(outputs["json"], &m)
		delete(m, "coverage")
		m["findings"].([]any)[0].(map[string]any)["severity"] = "urgent"
		bad, _ := json.Marshal(m)
		if err := reportSchemaError(t, bad); err == nil {
			t.Error("the schema accepts a report without coverage and with severity \"urgent\"")
		}
	})

	t.Run("contents", func(t *testing.T) {
		located, evidenced := 0, 0
		for _, x := range doc.Findings {
			if len(x.Evidence) > 5 || x.EvidenceMore != max(0, len(x.AuditIDs)-len(x.Evidence)) {
				t.Errorf("%s: %d evidence, %d more, of %d auditIDs", x.RuleID, len(x.Evidence), x.EvidenceMore, len(x.AuditIDs))
			}
			if len(x.Evidence) > 0 {
				evidenced++
			}
			if x.Location != nil && x.Location.Line > 0 {
				located++
				// the line named holds the finding's first evidence
				b, _ := os.ReadFile(x.Location.File)
				lines := strings.Split(string(b), "\n")
				if x.Location.Line > len(lines) || !strings.Contains(lines[x.Location.Line-1], `"auditID":"`+x.AuditIDs[0]+`"`) {
					t.Errorf("%s: %s:%d does not hold auditID %s", x.RuleID, x.Location.File, x.Location.Line, x.AuditIDs[0])
				}
			}
		}
		if located < len(doc.Findings)/3 || evidenced < len(doc.Findings)/3 {
			t.Errorf("%d of %d findings located, %d with evidence", located, len(doc.Findings), evidenced)
		}
		if len(doc.Annotations) != 2 || doc.Annotations[0].Finding < 0 || doc.Etcd.Total < 40 {
			t.Errorf("annotations %+v, etcd %+v", doc.Annotations, doc.Etcd)
		}
		md := string(outputs["md"])
		for _, s := range []string{"## 1. Scope and chain of custody", "## 2. Audit coverage", "## 3. Executive summary", "## 4. Findings by MITRE ATT&CK tactic",
			"## 5. Timeline of findings", "## 6. Secrets at rest (etcd)", "## 7. Bookmarks and notes", "## Appendix: secrets at rest",
			"escalated to the platform team", f.log, "made by "} {
			if !strings.Contains(md, s) {
				t.Errorf("the Markdown report lacks %q", s)
			}
		}
		// sections in the order
		last := -1
		for _, h := range []string{"## 1.", "## 2.", "## 3.", "## 4.", "## 5.", "## 6.", "## 7.", "## Appendix"} {
			i := strings.Index(md, h)
			if i < last {
				t.Errorf("%q out of order", h)
			}
			last = i
		}
	})

	t.Run("from", func(t *testing.T) {
		saved := filepath.Join(f.dir, "report.json")
		f.mustRun(t, "report", "--case", f.caseDir, "--format", "json", "-o", saved)
		if st, err := os.Stat(saved); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("report -o: %v %v", st, err)
		}
		for _, format := range []string{"md", "json", "csv", "sarif", "html"} {
			if out := f.mustRun(t, "report", "--from", saved, "--format", format); !bytes.Equal(out, outputs[format]) {
				t.Errorf("--from %s --format %s differs from the report of the case", saved, format)
			}
		}
		if code, _, errb := f.run(t, nil, "report", "--from", saved, "--min-severity", "high"); code != exitUsage {
			t.Errorf("--from with a filter: exit %d: %s", code, errb)
		}
		if code, _, errb := f.run(t, nil, "report", "--from", f.log); code != exitUsage || !strings.Contains(string(errb), "not a kubesleuth JSON report") {
			t.Errorf("--from an audit log: exit %d: %s", code, errb)
		}
	})

	t.Run("flags", func(t *testing.T) {
		count := func(args ...string) (int, map[string]int) {
			t.Helper()
			code, out, errb := f.run(t, nil, append([]string{"report", "--case", f.caseDir, "--format", "json"}, args...)...)
			if code != 0 && code != exitFindings {
				t.Fatalf("%v: exit %d: %s", args, code, errb)
			}
			var d struct {
				Findings []struct {
					RuleID   string `json:"rule_id"`
					Severity string `json:"severity"`
				} `json:"findings"`
				Filter struct {
					Excluded int `json:"excluded"`
				} `json:"filter"`
			}
			if err := json.Unmarshal(out, &d); err != nil {
				t.Fatal(err)
			}
			m := map[string]int{"excluded": d.Filter.Excluded}
			for _, x := range d.Findings {
				m[x.Severity]++
				m[x.RuleID]++
				m["all"]++
			}
			return code, m
		}
		all := map[string]int{}
		for _, x := range doc.Findings {
			all[x.Severity]++
			all[x.RuleID]++
		}
		if _, m := count("--min-severity", "high"); m["all"] != all["high"]+all["critical"] || m["excluded"] != len(doc.Findings)-m["all"] || m["medium"] != 0 {
			t.Errorf("--min-severity high: %v (all: %v)", m, all)
		}
		if _, m := count("--rule", "KS-ETCD-*"); m["all"] == 0 || m["all"] != sumPrefix(all, "KS-ETCD-") {
			t.Errorf("--rule KS-ETCD-*: %d findings, want %d", m["all"], sumPrefix(all, "KS-ETCD-"))
		}
		if _, m := count("--exclude-rule", "KS-ETCD-*", "--exclude-rule", "KS-WL-*"); sumPrefix(m, "KS-ETCD-")+sumPrefix(m, "KS-WL-") != 0 || m["all"] != len(doc.Findings)-sumPrefix(all, "KS-ETCD-")-sumPrefix(all, "KS-WL-") {
			t.Errorf("--exclude-rule: %v", m)
		}
		if code, _ := count("--fail-on", "critical"); code != exitFindings || all["critical"] == 0 {
			t.Errorf("--fail-on critical with %d critical findings: exit %d", all["critical"], code)
		}
		if code, _ := count("--fail-on", "critical", "--rule", "KS-ETCD-*"); code != 0 {
			t.Errorf("--fail-on critical over etcd findings (none critical): exit %d", code)
		}
		for _, bad := range [][]string{{"--format", "pdf"}, {"--min-severity", "urgent"}, {"--rule", "KS-["}, {"--fail-on", "severe"}} {
			if code, _, errb := f.run(t, nil, append([]string{"report", "--case", f.caseDir}, bad...)...); code != exitUsage {
				t.Errorf("%v: exit %d: %s", bad, code, errb)
			}
		}
		if code, _, _ := f.run(t, nil, "report", "--case", f.caseDir, f.log); code != exitUsage {
			t.Errorf("--case and FILES: exit %d", code)
		}
	})

	t.Run("files", func(t *testing.T) {
		// the same log and snapshot read directly: the same findings as the case's
		code, out, errb := f.run(t, nil, "report", "--format", "json", f.log, "--etcd-snapshot", f.snap, "--encryption-config", f.enc)
		if code != 0 {
			t.Fatalf("report FILES: exit %d: %s", code, errb)
		}
		validateReportSchema(t, out)
		var d struct {
			Scope struct {
				Mode    string `json:"mode"`
				Sources []struct {
					SHA256 string `json:"sha256"`
				} `json:"sources"`
			} `json:"scope"`
			Coverage struct {
				Exact        bool            `json:"not_evaluable_exact"`
				NotEvaluable json.RawMessage `json:"not_evaluable"`
			} `json:"coverage"`
			Findings []struct {
				ID       string `json:"id"`
				Location *struct {
					Line int `json:"line"`
				} `json:"location"`
			} `json:"findings"`
		}
		if err := json.Unmarshal(out, &d); err != nil {
			t.Fatal(err)
		}
		if d.Scope.Mode != "files" || len(d.Scope.Sources) != 2 || d.Scope.Sources[0].SHA256 != f.info.Sources[0].SHA256 || !d.Coverage.Exact {
			t.Errorf("files scope %+v coverage %+v (case sources %+v)", d.Scope, d.Coverage, f.info.Sources)
		}
		if len(d.Findings) != len(doc.Findings) {
			t.Errorf("report FILES has %d findings, the case's report %d", len(d.Findings), len(doc.Findings))
		}
		// the case's coverage counts are the engine's, read from its saved state: the
		// same as the run's over the same log
		var c struct {
			Coverage struct {
				NotEvaluable json.RawMessage `json:"not_evaluable"`
			} `json:"coverage"`
		}
		_ = json.Unmarshal(outputs["json"], &c)
		if !bytes.Equal(compactJSON(c.Coverage.NotEvaluable), compactJSON(d.Coverage.NotEvaluable)) || len(c.Coverage.NotEvaluable) < 10 {
			t.Errorf("not evaluable: case %s, files %s", compactJSON(c.Coverage.NotEvaluable), compactJSON(d.Coverage.NotEvaluable))
		}
		for i := range d.Findings {
			if i < len(doc.Findings) && (d.Findings[i].Location == nil) != (doc.Findings[i].Location == nil) {
				t.Errorf("finding %s located in one report, not in the other", d.Findings[i].ID)
			}
		}
		// a file with no event is exit 3, as scan's
		empty := filepath.Join(f.dir, "empty.log")
		_ = os.WriteFile(empty, nil, 0o600)
		if code, _, _ := f.run(t, nil, "report", "--format", "md", empty); code != exitNoEvents {
			t.Errorf("report of an empty file: exit %d", code)
		}
	})
}

func sumPrefix(m map[string]int, p string) int {
	n := 0
	for k, v := range m {
		if strings.HasPrefix(k, p) {
			n += v
		}
	}
	return n
}

func reportSchemaError(t *testing.T, doc []byte) error {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	sch, err := c.Compile(filepath.Join("..", "..", "report", "schema", "report-v1.schema.json"))
	if err != nil {
		t.Fatalf("compiling the report schema: %v", err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	return sch.Validate(v)
}

func validateReportSchema(t *testing.T, doc []byte) {
	t.Helper()
	if err := reportSchemaError(t, doc); err != nil {
		t.Errorf("the JSON report does not match report/schema/report-v1.schema.json: %v", err)
	}
}

// toolOrSkip finds a program; without it the test skips, except under CI, where every
// tool the tests need is installed by .ci/run.
func toolOrSkip(t *testing.T, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s not found (CI is set: .ci/run installs it)", names[0])
	}
	t.Skipf("%s not found (install it, see .ci/run)", names[0])
	return ""
}

// TestReportSARIFValidates: Microsoft's SARIF multitool (npm @microsoft/sarif-multitool)
// validates the SARIF report against the 2.1.0 schema and its rules: no error and no
// warning; and it does report errors on a broken log, so its silence means something.
func TestReportSARIFValidates(t *testing.T) {
	tool := toolOrSkip(t, "sarif-multitool")
	f := newReportFixture(t)
	sarif := filepath.Join(f.dir, "report.sarif")
	f.mustRun(t, "report", "--case", f.caseDir, "--format", "sarif", "-o", sarif)
	files := []string{sarif}
	f.mustRun(t, "report", "--format", "sarif", "-o", filepath.Join(f.dir, "files.sarif"), f.log, "--etcd-snapshot", f.snap)
	files = append(files, filepath.Join(f.dir, "files.sarif"))
	for _, p := range files {
		if n := sarifProblems(t, tool, p); len(n) > 0 {
			t.Errorf("sarif-multitool validate %s: %d problem(s):\n%s", filepath.Base(p), len(n), strings.Join(n[:min(len(n), 10)], "\n"))
		}
	}
	// a broken log: no version, a result without a message
	broken := filepath.Join(f.dir, "broken.sarif")
	_ = os.WriteFile(broken, []byte(`{"runs":[{"tool":{"driver":{"name":"x"}},"results":[{"ruleId":"A"}]}]}`), 0o600)
	if n := sarifProblems(t, tool, broken); len(n) == 0 {
		t.Error("sarif-multitool finds nothing wrong in a broken log: the validation proves nothing")
	}
}

// sarifProblems runs the validator and returns its results (errors and warnings).
func sarifProblems(t *testing.T, tool, path string) []string {
	t.Helper()
	out := path + ".validation.sarif"
	_ = os.Remove(out)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool, "validate", path, "--output", out)
	cmd.Env = append(os.Environ(), "DOTNET_CLI_TELEMETRY_OPTOUT=1")
	msg, err := cmd.CombinedOutput()
	b, rerr := os.ReadFile(out)
	if rerr != nil {
		t.Fatalf("sarif-multitool wrote no result (%v): %v\n%s", err, rerr, msg)
	}
	var log struct {
		Runs []struct {
			Results []struct {
				RuleID  string `json:"ruleId"`
				Level   string `json:"level"`
				Message struct {
					Text string `json:"text"`
				} `json:"message"`
			} `json:"results"`
			Invocations []struct {
				Notifications []struct {
					Level   string `json:"level"`
					Message struct {
						Text string `json:"text"`
					} `json:"message"`
				} `json:"toolExecutionNotifications"`
			} `json:"invocations"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(b, &log); err != nil {
		t.Fatalf("sarif-multitool's output: %v", err)
	}
	var out2 []string
	for _, r := range log.Runs {
		for _, x := range r.Results {
			out2 = append(out2, fmt.Sprintf("%s %s: %s", x.Level, x.RuleID, x.Message.Text))
		}
		for _, inv := range r.Invocations {
			for _, n := range inv.Notifications {
				if n.Level == "error" {
					out2 = append(out2, "notification: "+n.Message.Text)
				}
			}
		}
	}
	return out2
}

func compactJSON(b []byte) []byte {
	var out bytes.Buffer
	_ = json.Compact(&out, b)
	return out.Bytes()
}
