package ruletest

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/ingest/audit"
)

// The recordings of a real kube-apiserver (testdata/realapiserver, README there) are the
// catalog's acceptance: what the scenarios are meant to trigger fires, and the benign
// traffic stays quiet.

const realDir = "../../testdata/realapiserver"

type label struct {
	Scenario string   `json:"scenario"`
	Kind     string   `json:"kind"`
	File     string   `json:"file"`
	Expect   []string `json:"expect"`
	AuditIDs []string `json:"auditIDs"`
}

func readLabels(t *testing.T) []label {
	t.Helper()
	f, err := os.Open(filepath.Join(realDir, "labels.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	var out []label
	for sc.Scan() {
		var l label
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil || len(out) == 0 {
		t.Fatalf("labels: %d read, %v", len(out), err)
	}
	return out
}

// scanned is what the engine made of one recording: its findings, and per rule the
// auditIDs of the events it reported not evaluable.
type scanned struct {
	findings []analyzer.Finding
	notEval  map[string]map[string]bool
	errs     map[string]int
	order    map[string]int // auditID -> position of its first event
}

func scanFile(t *testing.T, eng *analyzer.Engine, file string) scanned {
	t.Helper()
	r, err := audit.Open([]string{filepath.Join(realDir, file)}, audit.Options{OnError: func(e *audit.InputError) { t.Errorf("%s", e) }})
	if err != nil {
		t.Fatal(err)
	}
	m := eng.NewMatcher()
	out := scanned{notEval: map[string]map[string]bool{}, order: map[string]int{}}
	if err := r.Each(context.Background(), func(rec audit.Record) error {
		if _, ok := out.order[string(rec.Event.AuditID)]; !ok {
			out.order[string(rec.Event.AuditID)] = len(out.order)
		}
		hit := m.Match(rec.Event)
		for _, id := range hit.NotEvaluable() {
			if out.notEval[id] == nil {
				out.notEval[id] = map[string]bool{}
			}
			out.notEval[id][string(rec.Event.AuditID)] = true
		}
		eng.ObserveMatched(rec.Event, hit)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	res := eng.Result()
	out.findings, out.errs = res.Findings, res.EvalErrors
	return out
}

func engineWith(t *testing.T, extra string) *analyzer.Engine {
	t.Helper()
	rules, err := analyzer.BuiltinRules()
	if err != nil {
		t.Fatal(err)
	}
	al, err := analyzer.DefaultAllowlists()
	if err != nil {
		t.Fatal(err)
	}
	if extra != "" {
		if al, err = al.With(extra); err != nil {
			t.Fatal(err)
		}
	}
	eng, err := analyzer.NewEngine(rules, analyzer.Config{Allowlists: al})
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

// TestRealAPIServerCoverage: every rule a recorded scenario is meant to trigger fires on
// that scenario's events; on the Metadata-level recording, a rule that cannot work
// without bodies is instead reported not evaluable on the scenario's events, never
// silently missed. (The recordings span minutes: testdata/realapiserver/allowlist.yaml
// shortens the first-seen rules' learning hour.)
func TestRealAPIServerCoverage(t *testing.T) {
	labels := readLabels(t)
	compiled := engineWith(t, filepath.Join(realDir, "allowlist.yaml"))
	sequences := map[string]bool{}
	for _, r := range compiled.Rules() {
		sequences[r.ID] = r.Kind == analyzer.KindSequence
	}
	files := map[string]scanned{}
	for _, l := range labels {
		if _, ok := files[l.File]; !ok {
			files[l.File] = scanFile(t, compiled.Fresh(), l.File)
		}
	}
	total, fired, notEval := 0, 0, 0
	for _, l := range labels {
		s := files[l.File]
		ids := map[string]bool{}
		for _, id := range l.AuditIDs {
			ids[id] = true
		}
		got := map[string]bool{}
		for _, f := range s.findings {
			for _, id := range f.AuditIDs {
				if ids[id] {
					got[f.RuleID] = true
				}
			}
		}
		for _, r := range l.Expect {
			total++
			if got[r] {
				fired++
				continue
			}
			// not evaluable on the scenario's events, or, for a sequence, on an earlier
			// step's event (a chain whose middle step could not be judged cannot end)
			reported := false
			for id := range s.notEval[r] {
				if ids[id] || (sequences[r] && s.order[id] < s.order[l.AuditIDs[0]]) {
					reported = true
					break
				}
			}
			switch {
			case reported && l.File == "metadata-only.jsonl":
				notEval++
			case reported:
				t.Errorf("%s %s: %s reported not evaluable on a log with bodies", l.File, l.Scenario, r)
			default:
				t.Errorf("%s %s: %s did not fire", l.File, l.Scenario, r)
			}
		}
	}
	t.Logf("%d expected rules: %d fired, %d reported not evaluable (Metadata level)", total, fired, notEval)
	for f, s := range files {
		for r, n := range s.errs {
			t.Errorf("%s: %s: CEL failed on %d events", f, r, n)
		}
	}
}

// logConfiguration are the rules whose finding is about the log itself, not about what
// anyone did: the recordings' audit policy logs Secrets and TokenRequests at
// RequestResponse on purpose (the detections of secret values in the log need them), and
// these rules say that the log now holds secret values.
var logConfiguration = map[string]bool{"KS-SECRET-009": true, "KS-SECRET-010": true}

// TestRealAPIServerBenignRaisesNothingAboveLow: the benign traffic of a real cluster
// (controllers, leases, nodes, an admin's set-up, a developer's and a CI pipeline's
// kubectl, helm, every kind of patch, reviews) raises no finding above low with the
// default catalog and allowlists, in every recording where it occurs. The one exception
// is the log-configuration rules, which are checked to report only Secrets and
// TokenRequests that the policy logged with bodies.
func TestRealAPIServerBenignRaisesNothingAboveLow(t *testing.T) {
	labels := readLabels(t)
	compiled := engineWith(t, "")
	benign := map[string]map[string]bool{} // file -> auditIDs of benign scenarios
	for _, l := range labels {
		if l.Kind != "benign" {
			continue
		}
		if benign[l.File] == nil {
			benign[l.File] = map[string]bool{}
		}
		for _, id := range l.AuditIDs {
			benign[l.File][id] = true
		}
	}
	if len(benign["benign.jsonl"]) == 0 {
		t.Fatal("no benign scenario in benign.jsonl")
	}
	var files []string
	for f := range benign {
		files = append(files, f)
	}
	sort.Strings(files)
	for _, f := range files {
		s := scanFile(t, compiled.Fresh(), f)
		ids := benign[f]
		for _, fd := range s.findings {
			// a finding belongs to the benign traffic when all its evidence does (in
			// benign.jsonl, everything does)
			all := len(fd.AuditIDs) > 0
			for _, id := range fd.AuditIDs {
				all = all && (ids[id] || f == "benign.jsonl")
			}
			if !all || fd.Severity <= analyzer.Low {
				continue
			}
			if logConfiguration[fd.RuleID] && (fd.Subject.Resource == "secrets" || fd.Subject.Subresource == "token") {
				continue
			}
			t.Errorf("%s: %s %s %s: %s", f, fd.Severity, fd.RuleID, fd.Subject, fd.Message)
		}
	}
}

// TestControllerPodsFoldIntoTheirTemplate: on the attack recording, the privileged
// Deployment's finding holds the evidence of the ReplicaSet and the pods its controllers
// made (one finding, not one per object), and the DaemonSet's holds its pods'.
func TestControllerPodsFoldIntoTheirTemplate(t *testing.T) {
	s := scanFile(t, engineWith(t, ""), "attacks.jsonl")
	r, err := audit.Open([]string{filepath.Join(realDir, "attacks.jsonl")}, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	made := map[string][]string{} // owner prefix -> auditIDs of controller creates
	if err := r.Each(context.Background(), func(rec audit.Record) error {
		ev := rec.Event
		if ev.Verb != "create" || ev.ObjectRef == nil || (ev.ObjectRef.Resource != "pods" && ev.ObjectRef.Resource != "replicasets") ||
			ev.ResponseStatus == nil || ev.ResponseStatus.Code >= 400 || string(ev.Stage) != "ResponseComplete" ||
			!strings.HasPrefix(ev.User.Username, "system:serviceaccount:kube-system:") {
			return nil
		}
		for _, p := range []string{"log-agent", "node-debugger"} {
			if ev.ResponseObject != nil && strings.Contains(string(ev.ResponseObject.Raw), `"generateName":"`+p+`-`) ||
				ev.ObjectRef.Name != "" && strings.HasPrefix(ev.ObjectRef.Name, p+"-") {
				made[p] = append(made[p], string(ev.AuditID))
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{"log-agent": "deployments", "node-debugger": "daemonsets"} {
		if len(made[p]) < 2 {
			t.Fatalf("%s: %d controller-made objects in the recording", p, len(made[p]))
		}
		var owner []analyzer.Finding
		for _, f := range s.findings {
			if f.RuleID == "KS-WL-001" && strings.HasPrefix(f.Subject.Name, p) {
				owner = append(owner, f)
			}
		}
		if len(owner) != 1 || owner[0].Subject.Resource != want || strings.HasPrefix(owner[0].Subject.User, "system:") {
			t.Fatalf("%s: KS-WL-001 findings %+v, want one on the %s by its author", p, owner, want)
		}
		ev := map[string]bool{}
		for _, id := range owner[0].AuditIDs {
			ev[id] = true
		}
		for _, id := range made[p] {
			if !ev[id] {
				t.Errorf("%s: controller-made %s not in the %s's finding (count %d)", p, id, want, owner[0].Count)
			}
		}
	}
}
