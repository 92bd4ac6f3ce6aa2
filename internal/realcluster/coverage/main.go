// Command coverage tells, for each labelled scenario of testdata/realapiserver, which of
// the rules it is meant to trigger (its "expect") fired on its events, from the output of
// `kubesleuth scan -o json` on the fixture files:
//
//	for f in benign attacks no-requestreceived metadata-only; do
//	  kubesleuth scan -o json testdata/realapiserver/$f.jsonl > /tmp/$f.scan.json
//	done
//	go run ./internal/realcluster/coverage -labels testdata/realapiserver/labels.jsonl \
//	  benign.jsonl=/tmp/benign.scan.json attacks.jsonl=/tmp/attacks.scan.json ...
//
// A finding counts for a scenario when one of its audit_ids is one of the scenario's. An
// expected rule that did not fire but that the scan reports not evaluable in that file
// (its body was not logged: the Metadata-level recording) is listed apart, as such.
// It prints one line per scenario and a total per file; the exit code is 0 either way (it
// measures, analyzer/ruletest's TestRealAPIServerCoverage asserts, per event). The
// recordings' attacks start seconds into the log: scan them with
// --allowlist testdata/realapiserver/allowlist.yaml (shorter learning periods).
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
)

type label struct {
	Scenario string   `json:"scenario"`
	File     string   `json:"file"`
	Expect   []string `json:"expect"`
	AuditIDs []string `json:"auditIDs"`
}

type scan struct {
	Findings []struct {
		RuleID   string   `json:"rule_id"`
		AuditIDs []string `json:"audit_ids"`
	} `json:"findings"`
	Summary struct {
		NotEvaluable []struct {
			RuleID string `json:"rule_id"`
		} `json:"not_evaluable"`
	} `json:"summary"`
}

func main() {
	labels := flag.String("labels", "testdata/realapiserver/labels.jsonl", "the labels file")
	flag.Parse()
	if err := run(*labels, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "coverage:", err)
		os.Exit(2)
	}
}

func run(labelsPath string, scans []string) error {
	fired := map[string]map[string]map[string]bool{} // file -> auditID -> rules
	notEval := map[string]map[string]bool{}          // file -> rules reported not evaluable
	for _, a := range scans {
		file, path, ok := strings.Cut(a, "=")
		if !ok {
			return fmt.Errorf("%q: want FIXTURE=SCAN.json", a)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var s scan
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		m := map[string]map[string]bool{}
		for _, f := range s.Findings {
			for _, id := range f.AuditIDs {
				if m[id] == nil {
					m[id] = map[string]bool{}
				}
				m[id][f.RuleID] = true
			}
		}
		fired[file] = m
		notEval[file] = map[string]bool{}
		for _, r := range s.Summary.NotEvaluable {
			notEval[file][r.RuleID] = true
		}
	}
	f, err := os.Open(labelsPath)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	hits, totals, unknown := map[string]int{}, map[string]int{}, map[string]int{}
	var files []string
	for n := 1; sc.Scan(); n++ {
		var l label
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return fmt.Errorf("%s:%d: %w", labelsPath, n, err)
		}
		m, ok := fired[l.File]
		if !ok || len(l.Expect) == 0 {
			continue
		}
		if _, seen := totals[l.File]; !seen {
			files = append(files, l.File)
		}
		got := map[string]bool{}
		for _, id := range l.AuditIDs {
			for r := range m[id] {
				got[r] = true
			}
		}
		var missed, ne []string
		for _, r := range l.Expect {
			totals[l.File]++
			switch {
			case got[r]:
				hits[l.File]++
			case notEval[l.File][r]:
				unknown[l.File]++
				ne = append(ne, r)
			default:
				missed = append(missed, r)
			}
		}
		sort.Strings(missed)
		if len(missed) == 0 {
			missed = []string{"-"}
		}
		line := fmt.Sprintf("%-26s %-32s missed: %s", l.File, l.Scenario, strings.Join(missed, ","))
		if len(ne) > 0 {
			sort.Strings(ne)
			line += "  not evaluable: " + strings.Join(ne, ",")
		}
		fmt.Println(line)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	for _, f := range files {
		fmt.Printf("%s: %d of %d expected rules fired on their scenario's events", f, hits[f], totals[f])
		if unknown[f] > 0 {
			fmt.Printf(", %d reported not evaluable", unknown[f])
		}
		fmt.Println()
	}
	return nil
}
