package ruletest

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/ingest/audit"
)

// TestCorpusRaisesNothingAboveInfo: real benign traffic captured by others
// (../shared/corpus) must raise no finding above info with the whole catalog.
func TestCorpusRaisesNothingAboveInfo(t *testing.T) {
	corpus := "../../../shared/corpus"
	files, _ := filepath.Glob(filepath.Join(corpus, "*", "*.*"))
	if len(files) == 0 {
		if _, err := os.Stat(corpus); err != nil {
			t.Skipf("shared corpus not beside the checkout: %v", err)
		}
	}
	rules, err := analyzer.BuiltinRules()
	if err != nil {
		t.Fatal(err)
	}
	al, _ := analyzer.DefaultAllowlists()
	compiled, err := analyzer.NewEngine(rules, analyzer.Config{Allowlists: al})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if filepath.Ext(f) == ".md" {
			continue
		}
		eng := compiled.Fresh()
		r, err := audit.Open([]string{f}, audit.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Each(context.Background(), func(rec audit.Record) error { eng.Observe(rec.Event); return nil }); err != nil {
			t.Fatal(err)
		}
		for _, fd := range eng.Result().Findings {
			if fd.Severity > analyzer.Info {
				t.Errorf("%s: %s %s %s: %s", f, fd.Severity, fd.RuleID, fd.Subject, fd.Message)
			}
		}
	}
}
