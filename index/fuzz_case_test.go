package index

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/ingest/audit"
	"github.com/kubesleuth/kubesleuth/internal/generate"
)

// fuzzCase is the undamaged case FuzzDamagedCase damages copies of, with the answers of
// every reader operation on it (the oracle).
type fuzzCase struct {
	dir    string
	events []*auditv1.Event
	files  []string          // every file of the case, slash-separated, sorted
	want   map[string]string // operation → its answer
	after  map[string]string // after an ingest of a few more events
}

var (
	fuzzOnce sync.Once
	fuzzBase *fuzzCase
	fuzzErr  error
	fuzzRoot string // removed by TestMain
)

// TestMain removes the damaged-case target's base case (built once per process, fuzz
// workers included).
func TestMain(m *testing.M) {
	code := m.Run()
	if fuzzRoot != "" {
		os.RemoveAll(fuzzRoot)
	}
	os.Exit(code)
}

// buildFuzzCase ingests 1,000 generated events (attacks included) and a finding, and
// annotates one event, once per process.
func buildFuzzCase(t testing.TB) *fuzzCase {
	fuzzOnce.Do(func() { fuzzBase, fuzzErr = makeFuzzCase() })
	if fuzzErr != nil {
		t.Fatal(fuzzErr)
	}
	return fuzzBase
}

func makeFuzzCase() (*fuzzCase, error) {
	root, err := os.MkdirTemp("", "kubesleuth-fuzz-case-")
	if err != nil {
		return nil, err
	}
	fuzzRoot = root
	var buf bytes.Buffer
	if _, err := generate.Audit(&buf, generate.Options{Events: 1000, Seed: 11, Attacks: true, Start: start}); err != nil {
		return nil, err
	}
	log := filepath.Join(root, "audit.log")
	if err := os.WriteFile(log, buf.Bytes(), 0o600); err != nil {
		return nil, err
	}
	fc := &fuzzCase{dir: filepath.Join(root, "case")}
	w, err := Create(fc.dir, "test")
	if err != nil {
		return nil, err
	}
	r, err := audit.Open([]string{log}, audit.Options{})
	if err != nil {
		return nil, err
	}
	err = r.Each(context.Background(), func(rec audit.Record) error {
		p, err := Prepare(rec.Event)
		if err != nil {
			return err
		}
		fc.events = append(fc.events, rec.Event)
		return w.Add(p)
	})
	if err != nil {
		return nil, err
	}
	fs := []analyzer.Finding{{RuleID: "t1", Severity: analyzer.High, AuditIDs: []string{string(fc.events[10].AuditID)}, FirstSeen: start}}
	if err := w.Finish(fs, []byte(`{}`), nil, []SourceInfo{{Path: log, Kind: "audit"}}); err != nil {
		return nil, err
	}
	c, err := Open(fc.dir, OpenOptions{Writable: true})
	if err != nil {
		return nil, err
	}
	err = c.Annotate(Annotation{Target: Target{Kind: "event", ID: string(IDOf(fc.events[20]))}, Bookmarked: true, Note: "start here", Updated: start})
	c.Close()
	if err != nil {
		return nil, err
	}
	err = filepath.Walk(fc.dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && !strings.HasSuffix(p, ".lock") {
			rel, _ := filepath.Rel(fc.dir, p)
			fc.files = append(fc.files, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(fc.files)
	// the oracle, on a copy (an ingest changes it)
	tmp, err := os.MkdirTemp("", "kubesleuth-fuzz-oracle-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "case")
	if err := copyDirTimes(fc.dir, dir); err != nil {
		return nil, err
	}
	res := fc.run(dir, true)
	if res.openErr != nil || len(res.errs) > 0 || res.ingestErr != nil || !res.verify.OK {
		return nil, fmt.Errorf("the undamaged case: open %v, errors %v, ingest %v, verify %v", res.openErr, res.errs, res.ingestErr, res.verify.Problems())
	}
	fc.want, fc.after = res.answers, res.after
	return fc, nil
}

func copyDirTimes(src, dst string) error {
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		return err
	}
	return filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		return os.Chtimes(filepath.Join(dst, rel), fi.ModTime(), fi.ModTime())
	})
}

// fuzzResult is what the reader operations answered on one case.
type fuzzResult struct {
	openErr   error
	answers   map[string]string // operation → answer, for those that answered
	errs      map[string]error  // operation → error, for those that did not
	verify    *VerifyReport
	ingestErr error
	after     map[string]string
}

var fuzzQueries = []Query{
	{Newest: true, Limit: 20},
	{Text: "verb:get", Limit: 5, Facets: []string{"user", "code"}},
	{Text: "resource:secrets -verb:watch", Limit: 10, Histogram: time.Minute},
	{Text: "*", Limit: 1, Facets: []string{"verb", "namespace", "sourceIP"}},
	{Text: "requestURI:leases", Limit: 3},
	{Limit: 5, Offset: 100, Histogram: 30 * time.Second},
}

// run does what every command does with a case: open, info, searches (facets,
// histograms, loose clauses), findings and their evidence, events by ID, the context
// view, notes; then verify; then an ingest of a few more events and two searches.
func (fc *fuzzCase) run(dir string, readers bool) *fuzzResult {
	res := &fuzzResult{answers: map[string]string{}, errs: map[string]error{}}
	put := func(op string, v any, err error) {
		if err != nil {
			res.errs[op] = err
			return
		}
		b, _ := json.Marshal(v)
		res.answers[op] = string(b)
	}
	var c *Case
	var err error
	if readers {
		c, err = Open(dir, OpenOptions{Writable: true})
	}
	if !readers {
	} else if err != nil {
		res.openErr = err
	} else {
		ctx := context.Background()
		info, err := c.Info()
		put("info", info, err)
		for i, q := range fuzzQueries {
			r, err := c.Search(ctx, q)
			put(fmt.Sprintf("search %d %q", i, q.Text), r, err)
		}
		fs, err := c.Findings()
		put("findings", fs, err)
		if len(fs) > 0 {
			ev, err := c.ResolveEvidence(fs[0])
			put("evidence", ev, err)
		}
		for _, i := range []int{0, 500, 999} {
			id := IDOf(fc.events[i])
			raw, err := c.Event(id)
			put("event "+string(id), raw, err)
			row, err := c.Row(id)
			put("row "+string(id), row, err)
			around, err := c.Around(ctx, id, 3)
			put("around "+string(id), around, err)
		}
		as, err := c.Annotations()
		put("notes", as, err)
		sr, err := c.SecretsAtRest()
		put("secrets", sr, err)
		c.Close()
	}
	res.verify, err = Verify(context.Background(), dir)
	if err != nil {
		res.verify = &VerifyReport{Checks: []Check{{Name: "verify", Detail: err.Error()}}}
	}
	if res.ingestErr = ingestAs(nopT{}, dir, &fixture{events: fc.events}, "fuzz-more", 20, true); res.ingestErr == nil {
		res.after = map[string]string{}
		c, err := Open(dir, OpenOptions{})
		if err != nil {
			res.ingestErr = fmt.Errorf("reopening after the ingest: %w", err)
			return res
		}
		defer c.Close()
		for _, q := range []Query{{Newest: true, Limit: 30}, {Text: "verb:get", Limit: 5, Facets: []string{"user"}}} {
			r, err := c.Search(context.Background(), q)
			if err != nil {
				res.ingestErr = fmt.Errorf("searching after the ingest: %w", err)
				return res
			}
			b, _ := json.Marshal(r)
			res.after[q.Text] = string(b)
		}
	}
	return res
}

// nopT lets ingestAs run outside a test's goroutine rules (it only calls Helper).
type nopT struct{ testing.TB }

func (nopT) Helper() {}

// FuzzDamagedCase damages one file of a copy of a small case, the input choosing the
// file, truncation or flipped bytes (offset, XOR mask), and whether the file keeps its
// modification time, then runs every reader operation, verify and an ingest:
//
//   - nothing panics or faults, whatever the damage;
//   - a file whose content is unchanged: every answer is the undamaged case's;
//   - a changed file with a new time (what real damage leaves): open refuses, naming
//     it (notes.json, not in the record: the notes refuse, the rest answers right);
//   - a changed file that kept its size and time (invisible to the cheap check on open):
//     the operations answer or fail with a *DamagedError; verify and the ingest (which
//     hashes every file first) name the file; a truncation is still seen on open.
func FuzzDamagedCase(f *testing.F) {
	fc := buildFuzzCase(f)
	for i := range fc.files {
		f.Add(uint8(i), uint8(0), uint32(4096), []byte{0xff})   // flip, new time
		f.Add(uint8(i), uint8(1), uint32(1000), []byte{})       // truncate
		f.Add(uint8(i), uint8(2), uint32(8192*3+17), []byte{1}) // flip, time kept
		f.Add(uint8(i), uint8(3), uint32(100), []byte{})        // truncate, time kept
	}
	f.Add(uint8(0), uint8(0), uint32(0), []byte{0}) // no change
	f.Fuzz(func(t *testing.T, file, mode uint8, off uint32, mask []byte) { fuzzOne(t, fc, file, mode, off, mask) })
}

// fuzzOne is one input of FuzzDamagedCase.
func fuzzOne(t *testing.T, fc *fuzzCase, file, mode uint8, off uint32, mask []byte) {
	{
		dir := filepath.Join(t.TempDir(), "case")
		if err := copyDirTimes(fc.dir, dir); err != nil {
			t.Fatal(err)
		}
		name := fc.files[int(file)%len(fc.files)]
		p := filepath.Join(dir, filepath.FromSlash(name))
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		orig, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b := append([]byte(nil), orig...)
		if mode&1 == 1 {
			b = b[:int(off)%(len(b)+1)]
		} else if len(b) > 0 {
			at := int(off) % len(b)
			for i := 0; i < len(mask) && i < 512 && at+i < len(b); i++ {
				b[at+i] ^= mask[i]
			}
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		keepTime := mode&2 != 0
		if keepTime {
			if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
				t.Fatal(err)
			}
		}
		changed := !bytes.Equal(orig, b)
		hidden := keepTime && len(b) == len(orig)
		// a bbolt page tree made cyclic under the same size and time makes a cursor
		// descend without end (bbolt does not look for cycles, an open cannot afford to):
		// the documented limit; verify and the ingest must still see it
		readers := true
		if hidden && (name == storeFile || name == "bleve/store/root.bolt") {
			if err := checkBoltFile(p); err != nil && strings.Contains(err.Error(), "reached twice") {
				readers = false
				t.Logf("%s: %v: readers not run", name, err)
			}
		}
		res := fc.run(dir, readers)

		if !changed {
			if res.openErr != nil || len(res.errs) > 0 {
				t.Fatalf("%s unchanged: open %v, errors %v", name, res.openErr, res.errs)
			}
			for op, want := range fc.want {
				if res.answers[op] != want {
					t.Fatalf("%s unchanged: %s answered differently", name, op)
				}
			}
			if !res.verify.OK || res.ingestErr != nil {
				t.Fatalf("%s unchanged: verify %v, ingest %v", name, res.verify.Problems(), res.ingestErr)
			}
			for q, want := range fc.after {
				if res.after[q] != want {
					t.Fatalf("%s unchanged: after the ingest, %q answered differently", name, q)
				}
			}
			return
		}

		// changed: every error is damage, named; what answers without one is right
		// unless the damage is invisible to the open (same size, same time)
		for op, err := range res.errs {
			switch {
			case errors.Is(err, ErrDamaged):
			case hidden && errors.Is(err, ErrNotFound):
				// an ID the flipped bytes took out of the ID index: a wrong answer, of
				// the kind only verify sees
				t.Logf("%s damaged, same size and time: %s: %v (verify and the next ingest see it)", name, op, err)
			default:
				t.Fatalf("%s damaged: %s: %v, want a *DamagedError", name, op, err)
			}
		}
		if res.openErr != nil && !errors.Is(res.openErr, ErrDamaged) {
			t.Fatalf("%s damaged: open: %v, want a *DamagedError", name, res.openErr)
		}
		switch {
		case name == notesFile:
			if res.openErr != nil {
				t.Fatalf("notes.json damaged: open: %v", res.openErr)
			}
			if err := res.errs["notes"]; err == nil || !strings.Contains(err.Error(), notesFile) {
				t.Fatalf("notes.json damaged: notes: %v, want an error naming it", err)
			}
			for op, want := range fc.want {
				if op != "notes" && res.answers[op] != want {
					t.Fatalf("notes.json damaged: %s answered differently (%v)", op, res.errs[op])
				}
			}
		case !hidden || name == recordFile:
			var de *DamagedError
			if !errors.As(res.openErr, &de) || de.File != name {
				t.Fatalf("%s damaged (time kept %v, %d of %d bytes): open: %v, want it refused naming the file", name, keepTime, len(b), len(orig), res.openErr)
			}
		default:
			for op, got := range res.answers {
				if got != fc.want[op] {
					t.Logf("%s damaged, same size and time: %s answered differently (verify and the next ingest see it)", name, op)
				}
			}
		}
		named := false
		for _, pr := range res.verify.Problems() {
			named = named || strings.HasPrefix(pr, name+":")
		}
		if !named {
			t.Fatalf("%s damaged: verify does not name it: %v", name, res.verify.Problems())
		}
		if name != notesFile {
			var de *DamagedError
			if !errors.As(res.ingestErr, &de) {
				t.Fatalf("%s damaged: the ingest went ahead: %v", name, res.ingestErr)
			}
			if !hidden && de.File != name {
				t.Fatalf("%s damaged: the ingest names %s", name, de.File)
			}
		}
	}
}

// TestFuzzCaseOracle: the oracle FuzzDamagedCase compares with holds real answers
// (plain go test also runs the target's seeds: every file truncated and flipped, with
// and without its time kept).
func TestFuzzCaseOracle(t *testing.T) {
	fc := buildFuzzCase(t)
	if len(fc.want) < 15 || len(fc.after) != 2 || len(fc.files) < 7 {
		t.Fatalf("oracle: %d answers, %d after the ingest, %d files (%v)", len(fc.want), len(fc.after), len(fc.files), fc.files)
	}
	for op, a := range fc.want {
		var r struct {
			Total int
		}
		if strings.HasPrefix(op, "search") && (json.Unmarshal([]byte(a), &r) != nil || r.Total == 0) {
			t.Errorf("%s: %s: no match, the fuzz target would compare nothing", op, a[:min(len(a), 80)])
		}
	}
	if !strings.Contains(fc.want["notes"], "start here") || !strings.Contains(fc.want["findings"], "t1") {
		t.Errorf("oracle without the notes or findings: %s %s", fc.want["notes"], fc.want["findings"])
	}
}
