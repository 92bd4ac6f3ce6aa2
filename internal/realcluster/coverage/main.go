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
// A finding counts for a scenario when one of its audit_ids is one of the scenario's.
// It prints one line per scenario and a total per file; the exit code is 0 either way (it
// measures, the tests assert).
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
	}
	f, err := os.Open(labelsPath)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	hits, totals := map[string]int{}, map[string]int{}
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
		var missed []string
		for _, r := range l.Expect {
			totals[l.File]++
			if got[r] {
				hits[l.File]++
			} else {
				missed = append(missed, r)
			}
		}
		sort.Strings(missed)
		if len(missed) == 0 {
			missed = []string{"-"}
		}
		fmt.Printf("%-26s %-32s missed: %s\n", l.File, l.Scenario, strings.Join(missed, ","))
	}
	if err := sc.Err(); err != nil {
		return err
	}
	for _, f := range files {
		fmt.Printf("%s: %d of %d expected rules fired on their scenario's events\n", f, hits[f], totals[f])
	}
	return nil
}
