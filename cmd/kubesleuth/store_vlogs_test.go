package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubesleuth/kubesleuth/index"
	"github.com/kubesleuth/kubesleuth/vlstore"

	"github.com/kubesleuth/kubesleuth/internal/testbin"
	"github.com/kubesleuth/kubesleuth/internal/vlogstest"
)

func runBin(t *testing.T, bin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// TestStoreVictoriaLogsEndToEnd drives the real binary: ingest --store into a
// VictoriaLogs cluster records the store in case.json, search answers as it does on a
// case folder ingested from the same log (same JSON, facets and histogram included), a
// second ingest of an overlapping file adds nothing, case info counts the store's events,
// and export sends a folder case's events to VictoriaLogs, which then holds them all.
func TestStoreVictoriaLogsEndToEnd(t *testing.T) {
	bin := testbin.Path(t)
	vl := vlogstest.Start(t, vlogstest.Options{Cluster: true})
	store := strings.Replace(vl.URL, "http://", "victorialogs://", 1)
	dir := t.TempDir()
	log := filepath.Join(dir, "audit.log")
	if _, errs, code := runBin(t, bin, "generate", "--events", "6000", "--attacks", "-o", log); code != 0 {
		t.Fatalf("generate: %d %s", code, errs)
	}
	vcase, fcase := filepath.Join(dir, "vl-case"), filepath.Join(dir, "folder-case")
	if _, errs, code := runBin(t, bin, "ingest", "--case", vcase, "--store", store, log); code != 0 {
		t.Fatalf("ingest --store: %d %s", code, errs)
	}
	if _, errs, code := runBin(t, bin, "ingest", "--case", fcase, log); code != 0 {
		t.Fatalf("ingest: %d %s", code, errs)
	}
	var info struct {
		Events int
		Store  *struct {
			URL    string `json:"url"`
			Events int    `json:"events"`
		} `json:"store"`
	}
	b, err := os.ReadFile(filepath.Join(vcase, "case.json"))
	if err != nil || json.Unmarshal(b, &info) != nil || info.Store == nil || info.Store.URL != store || info.Store.Events != 6000 || info.Events != 0 {
		t.Fatalf("case.json does not record the store: %s (%v)", b, err)
	}
	for _, q := range [][]string{
		{"resource:secrets -verb:watch", "--facet", "user", "--facet", "verb", "--histogram", "10m"},
		{"user:system:serviceaccount:ci:deployer", "--newest", "--limit", "7", "--offset", "3"},
		{"code:>=400 requestURI:secrets"},
		{"*", "--from", "2026-03-02T08:05:00Z", "--to", "2026-03-02T08:07:30Z", "--limit", "500", "--histogram", "1m"},
	} {
		args := append([]string{"search", "-o", "json"}, q...)
		want, errs, code := runBin(t, bin, append(args, "--case", fcase)...)
		if code != 0 {
			t.Fatalf("search %v on the folder: %d %s", q, code, errs)
		}
		got, errs, code := runBin(t, bin, append(args, "--case", vcase)...)
		if code != 0 {
			t.Fatalf("search %v on VictoriaLogs: %d %s", q, code, errs)
		}
		if got != want {
			t.Errorf("search %v: VictoriaLogs answers %d bytes, the folder %d:\n%.600s\n---\n%.600s", q, len(got), len(want), got, want)
		}
	}
	// an overlapping file: every event is already in the store
	part := filepath.Join(dir, "part.log")
	all, _ := os.ReadFile(log)
	lines := bytes.SplitAfter(all, []byte("\n"))
	os.WriteFile(part, bytes.Join(lines[1000:3000], nil), 0o600)
	if _, errs, code := runBin(t, bin, "ingest", "--case", vcase, part); code != 0 || !strings.Contains(errs, "(0 new)") {
		t.Errorf("re-ingest of overlapping events: %d %s", code, errs)
	}
	if out, _, code := runBin(t, bin, "case", "info", "--case", vcase); code != 0 || !strings.Contains(out, "6000 events") {
		t.Errorf("case info: %d %s", code, out)
	}
	// a --store the case does not keep its events in: refused before the case is touched
	if _, errs, code := runBin(t, bin, "ingest", "--case", fcase, "--store", store, part); code != 2 || !strings.Contains(errs, "holds its 6000 events in its folder") {
		t.Errorf("--store on a folder case: %d %s", code, errs)
	}
	out, errs, code := runBin(t, bin, "export", "--case", fcase, "--to", store, "resource:secrets")
	if code != 0 || !strings.Contains(errs, "Exported") {
		t.Fatalf("export: %d %s %s", code, out, errs)
	}
	want, _, _ := runBin(t, bin, "search", "--case", fcase, "-o", "json", "--limit", "0", "resource:secrets")
	var w struct{ Total int }
	json.Unmarshal([]byte(want), &w)
	if !strings.Contains(errs, "Exported "+itoa(w.Total)+" of "+itoa(w.Total)+" events") || w.Total == 0 {
		t.Errorf("export: %s, want %d events", errs, w.Total)
	}
	// export of the case kept in VictoriaLogs (a page's events fetched at once) and of the
	// folder case: the same documents, but for the case's name
	var got [2]map[string]map[string]any
	for i, cs := range []string{vcase, fcase} {
		es := &bulkStandIn{docs: map[string][]byte{}}
		srv := httptest.NewServer(es)
		if _, errs, code := runBin(t, bin, "export", "--case", cs, "--to", srv.URL, "--index", "incident", "--", "-verb:watch"); code != 0 {
			t.Fatalf("export of %s: %d %s", cs, code, errs)
		}
		srv.Close()
		got[i] = map[string]map[string]any{}
		for id, d := range es.docs {
			var m map[string]any
			json.Unmarshal(d, &m)
			delete(m, "kubesleuth.case")
			delete(m, "kubesleuth.run")
			got[i][id] = m
		}
	}
	if len(got[0]) == 0 || !reflect.DeepEqual(got[0], got[1]) {
		t.Errorf("exports differ: %d documents from VictoriaLogs, %d from the folder", len(got[0]), len(got[1]))
	}
}

// TestStoreOldImportFails: an ingest into a VictoriaLogs whose retention is shorter than
// the log's age fails (exit 1) and says why, instead of a case that silently misses them.
func TestStoreOldImportFails(t *testing.T) {
	bin := testbin.Path(t)
	vl := vlogstest.Start(t, vlogstest.Options{Retention: "30d"})
	dir := t.TempDir()
	log := filepath.Join(dir, "audit.log")
	if _, errs, code := runBin(t, bin, "generate", "--events", "2000", "-o", log); code != 0 {
		t.Fatalf("generate: %d %s", code, errs)
	}
	_, errs, code := runBin(t, bin, "ingest", "--case", filepath.Join(dir, "c"), "--store", vl.URL, log)
	if code == 0 || !strings.Contains(errs, "accepted 2000 events of this run but keeps 0") || !strings.Contains(errs, "-retentionPeriod") {
		t.Fatalf("an import older than the retention: exit %d, %s", code, errs)
	}
}

// TestTailStoreVictoriaLogs: tail --case --store follows a rotating log into VictoriaLogs,
// killed (SIGKILL) twice and restarted at once: the store ends with every event of the log
// exactly once (the restarted run sees what the killed one sent after its checkpoint),
// and search reads them.
func TestTailStoreVictoriaLogs(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	bin := testbin.Path(t)
	vl := vlogstest.Start(t, vlogstest.Options{Cluster: true})
	l := makeTailLog(t, bin, 6000, 21)
	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	os.Mkdir(logs, 0o700)
	w := &logWriter{t: t, dir: logs}
	w.open()
	state := filepath.Join(dir, "tail.state")
	caseDir := filepath.Join(dir, "case")
	args := []string{w.live(), "--state", state, "--case", caseDir, "--store", vl.URL, "--poll", "20ms", "--alert", "jsonl=" + filepath.Join(dir, "alerts.jsonl")}
	p := startTail(t, bin, dir, args...)
	waitStarted(t, state)
	const k = 6
	n := len(l.lines)
	for i := 0; i < k; i++ {
		part := l.lines[i*n/k : (i+1)*n/k]
		for j := 0; j < len(part); j += 100 {
			w.write(part[j:min(j+100, len(part))])
			time.Sleep(2 * time.Millisecond)
		}
		if i%2 == 0 {
			w.rename()
		}
		if i == 1 || i == 3 {
			time.Sleep(300 * time.Millisecond)
			if code := p.stop(t, syscall.SIGKILL); code != 137 {
				t.Fatalf("exit %d after SIGKILL", code)
			}
			p = startTail(t, bin, dir, args...)
		}
	}
	waitCaughtUp(t, state, w.live(), p)
	if code := p.stop(t, syscall.SIGINT); code != 130 {
		b, _ := os.ReadFile(filepath.Join(dir, "stderr.txt"))
		t.Fatalf("exit code %d after SIGINT, want 130: %s", code, b)
	}
	out, errs, code := runBin(t, bin, "search", "--case", caseDir, "-o", "json", "--limit", "0", "*")
	if code != 0 {
		t.Fatalf("search: %d %s", code, errs)
	}
	var res struct{ Total int }
	json.Unmarshal([]byte(out), &res)
	if res.Total != len(l.ids) {
		t.Errorf("the store holds %d events of the case, the log %d distinct", res.Total, len(l.ids))
	}
	// every event once: the same count by ID
	c, err := vlstoreClientOf(caseDir)
	if err != nil {
		t.Fatal(err)
	}
	ids := 0
	if err := c.Query(t.Context(), `kubesleuth.case:="`+c.Case+`" | uniq by (kubesleuth.id) | stats count() as n`, func(m map[string]string) error {
		ids = atoiOr(m["n"])
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if ids != len(l.ids) {
		t.Errorf("%d distinct IDs in the store, the log has %d", ids, len(l.ids))
	}
}

func vlstoreClientOf(caseDir string) (*vlstore.Client, error) {
	b, err := os.ReadFile(filepath.Join(caseDir, "case.json"))
	if err != nil {
		return nil, err
	}
	var in index.Info
	if err := json.Unmarshal(b, &in); err != nil || in.Store == nil {
		return nil, fmt.Errorf("case.json records no store: %v", err)
	}
	return vlstore.NewClient(in.Store.URL, in.Store.Case)
}

func atoiOr(s string) int { n, _ := strconv.Atoi(s); return n }

// TestInvestigateTmuxVictoriaLogs: the TUI (the real binary in tmux, 160x48) over a case
// whose events live in a VictoriaLogs cluster: the first screen (findings, timeline,
// histogram over the case's span), a finding's evidence, and a pivot on its user all
// come from the store.
func TestInvestigateTmuxVictoriaLogs(t *testing.T) {
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("tmux is not installed (CI installs it: .ci/run)")
		}
		t.Fatal("tmux is not installed; .ci/run installs it")
	}
	bin := testbin.Path(t)
	vl := vlogstest.Start(t, vlogstest.Options{Cluster: true})
	dir := t.TempDir()
	log, caseDir := filepath.Join(dir, "audit.log"), filepath.Join(dir, "case")
	for _, args := range [][]string{
		{"generate", "--events", "8000", "--seed", "7", "--attacks", "-o", log},
		{"ingest", "--case", caseDir, "--store", vl.URL, log},
	} {
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Fatalf("kubesleuth %v: %v\n%s", args, err, out)
		}
	}
	sock := fmt.Sprintf("kubesleuth-vl-test-%d", os.Getpid())
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
		fmt.Sprintf("%s investigate --case %s; echo EXITED $?; sleep 30", bin, caseDir))
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
	waitFor("first screen", "Timeline: all events, newest first — 1 of 8000")
	waitFor("histogram", "UTC")
	s := waitFor("findings", "Findings (")
	if strings.Contains(s, "Findings (0)") {
		t.Fatalf("no findings:\n%s", s)
	}
	tm("send-keys", "BTab")
	s = waitFor("findings focused", "▶ Findings (")
	first := regexp.MustCompile(`(?m)^(CRIT|HIGH) (KS-[A-Z]+-\d+) +(▸)?`).FindStringSubmatch(s)
	if first == nil {
		t.Fatalf("no finding on the first row:\n%s", s)
	}
	if first[3] != "" { // a group: open it, to its first subject
		tm("send-keys", "Enter")
		waitFor("group opened", "▾ ")
		tm("send-keys", "j")
	}
	waitFor("finding detail", "What happened")
	tm("send-keys", "Enter")
	s = waitFor("evidence", "Evidence of "+first[2])
	if strings.Contains(s, "no events match") {
		t.Errorf("the evidence is empty:\n%s", s)
	}
	tm("send-keys", "u")
	waitFor("pivot", "query user:")
	tm("send-keys", "q")
	waitFor("exit", "EXITED 0")
}

// TestStoreCredentials: a VictoriaLogs behind basic auth. case.json keeps the store's URL
// without the password; a later search without it is refused by the store (exit 1, and
// the password appears in no output), and with $KUBESLEUTH_STORE_URL naming the same
// store with its credentials it reads the case.
func TestStoreCredentials(t *testing.T) {
	bin := testbin.Path(t)
	vl := vlogstest.Start(t, vlogstest.Options{User: "ks", Password: "pw-9f3e1c"})
	dir := t.TempDir()
	log, cs := filepath.Join(dir, "audit.log"), filepath.Join(dir, "case")
	if _, errs, code := runBin(t, bin, "generate", "--events", "1500", "-o", log); code != 0 {
		t.Fatalf("generate: %s", errs)
	}
	withAuth := strings.Replace(vl.URL, "http://", "victorialogs://ks:pw-9f3e1c@", 1)
	if _, errs, code := runBin(t, bin, "ingest", "--case", cs, "--store", withAuth, log); code != 0 {
		t.Fatalf("ingest: %d %s", code, errs)
	}
	b, _ := os.ReadFile(filepath.Join(cs, "case.json"))
	if strings.Contains(string(b), "pw-9f3e1c") || !strings.Contains(string(b), "victorialogs://ks@") {
		t.Fatalf("case.json: %s", b)
	}
	out, errs, code := runBin(t, bin, "search", "--case", cs, "--limit", "0", "-o", "json", "*")
	if code == 0 || !strings.Contains(errs, "401") || strings.Contains(out+errs, "pw-9f3e1c") {
		t.Errorf("search without the password: exit %d, %s", code, errs)
	}
	cmd := exec.Command(bin, "search", "--case", cs, "--limit", "0", "-o", "json", "*")
	cmd.Env = append(os.Environ(), "KUBESLEUTH_STORE_URL="+withAuth)
	o, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(o), `"total": 1500`) {
		t.Errorf("search with $KUBESLEUTH_STORE_URL: %v %s", err, o)
	}
}
