package audit

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const fixtures = "../../testdata/audit"

// readAll reads args and returns the events, the bad-input messages and the summary.
func readAll(t *testing.T, opts Options, args ...string) ([]Record, []string, *Summary) {
	t.Helper()
	var msgs []string
	opts.OnError = func(e *InputError) { msgs = append(msgs, e.Error()) }
	r, err := Open(args, opts)
	if err != nil {
		t.Fatalf("Open(%v): %v", args, err)
	}
	var recs []Record
	if err := r.Each(context.Background(), func(rec Record) error {
		recs = append(recs, rec)
		return nil
	}); err != nil {
		t.Fatalf("Each: %v", err)
	}
	return recs, msgs, r.Summary()
}

func ids(recs []Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, string(r.Event.AuditID)[len(r.Event.AuditID)-3:]+"/"+string(r.Event.Stage)[:4])
	}
	return out
}

// TestCorpus: every real log in ../shared/corpus parses with zero errors and the right counts.
func TestCorpus(t *testing.T) {
	corpus := "../../../shared/corpus"
	if _, err := os.Stat(corpus); err != nil {
		t.Skipf("shared corpus not beside the checkout: %v", err)
	}
	for _, tc := range []struct {
		file   string
		events int
	}{
		{"immudb/audit.log", 2971},
		{"aks/eventhubs-batch.json", 22},
		{"aks/single-event-pretty-bom.json", 1},
		{"aks/diagnostic-record-bom.json", 1},
	} {
		t.Run(tc.file, func(t *testing.T) {
			recs, msgs, sum := readAll(t, Options{}, filepath.Join(corpus, tc.file))
			if len(msgs) != 0 {
				t.Errorf("bad-input messages: %q", msgs)
			}
			if len(recs) != tc.events || sum.Events != tc.events {
				t.Errorf("events = %d (summary %d), want %d", len(recs), sum.Events, tc.events)
			}
			if sum.Duplicates != 0 || sum.SkippedTotal() != 0 {
				t.Errorf("duplicates %d, skipped %v", sum.Duplicates, sum.Skipped)
			}
			for _, r := range recs {
				if r.Event.AuditID == "" || r.Event.Stage == "" || r.Event.RequestReceivedTimestamp.IsZero() || r.Event.Verb == "" {
					t.Fatalf("incomplete event at %s: %+v", r.Source, r.Event)
				}
			}
		})
	}
}

func TestFormats(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		want  []string // last three digits of auditID / stage prefix, in order
		lines []int    // source line of each event, where it matters
	}{
		{"json lines", []string{"v1.jsonl"}, []string{"001/Resp", "002/Resp", "003/Resp"}, []int{1, 2, 3}},
		{"v1beta1", []string{"v1beta1.jsonl"}, []string{"011/Resp", "012/Resp"}, nil},
		{"no apiVersion", []string{"no-apiversion.jsonl"}, []string{"021/Resp", "022/Resp"}, nil},
		{"pretty event", []string{"pretty.json"}, []string{"031/Resp"}, []int{1}},
		{"array", []string{"array.json"}, []string{"041/Resp", "042/Resp", "043/Resp"}, []int{2, 37, 72}},
		{"EventList document", []string{"eventlist.json"}, []string{"051/Resp", "052/Resp", "053/Resp", "054/Resp"}, nil},
		{"EventList lines", []string{"eventlist.jsonl"}, []string{"051/Resp", "052/Resp", "053/Resp", "054/Resp", "055/Resp", "056/Resp"}, []int{1, 1, 1, 1, 2, 2}},
		{"gzip", []string{"v1.jsonl.gz"}, []string{"091/Resp", "092/Resp"}, []int{1, 2}},
		{"folder in rotation order", []string{"rotated"}, []string{"081/Resp", "082/Resp", "083/Resp", "084/Resp", "085/Resp", "086/Resp", "087/Resp"}, nil},
		{"glob", []string{"rotated/audit*"}, []string{"081/Resp", "082/Resp", "083/Resp", "084/Resp", "085/Resp", "086/Resp", "087/Resp"}, nil},
		{"BOM before JSON lines", []string{"bom.jsonl"}, []string{"203/Resp"}, []int{1}},
		{"stages kept, repeats dropped", []string{"stages.jsonl"}, []string{"061/Requ", "061/Resp", "061/Resp"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var args []string
			for _, a := range tc.args {
				args = append(args, filepath.Join(fixtures, a))
			}
			recs, msgs, _ := readAll(t, Options{}, args...)
			if len(msgs) != 0 {
				t.Errorf("bad-input messages: %q", msgs)
			}
			if got := strings.Join(ids(recs), " "); got != strings.Join(tc.want, " ") {
				t.Errorf("events\n got %s\nwant %s", got, strings.Join(tc.want, " "))
			}
			for i, l := range tc.lines {
				if i < len(recs) && recs[i].Source.Line != l {
					t.Errorf("event %d source line = %d, want %d", i, recs[i].Source.Line, l)
				}
			}
			for _, r := range recs {
				if r.Event.RequestReceivedTimestamp.IsZero() || r.Event.StageTimestamp.IsZero() {
					t.Errorf("%s: timestamps not set", r.Source)
				}
			}
		})
	}
}

func TestV1beta1Converted(t *testing.T) {
	recs, _, _ := readAll(t, Options{}, filepath.Join(fixtures, "v1beta1.jsonl"))
	ev := recs[0].Event
	if ev.APIVersion != "audit.k8s.io/v1" {
		t.Errorf("apiVersion = %q, want audit.k8s.io/v1", ev.APIVersion)
	}
	want := time.Date(2019, 1, 2, 3, 4, 11, 0, time.UTC)
	if !ev.RequestReceivedTimestamp.Time.Equal(want) || !ev.StageTimestamp.Time.Equal(want) {
		t.Errorf("timestamps = %v / %v, want %v from v1beta1 timestamp", ev.RequestReceivedTimestamp, ev.StageTimestamp, want)
	}
}

func TestGKE(t *testing.T) {
	recs, msgs, sum := readAll(t, Options{}, filepath.Join(fixtures, "gke.jsonl"))
	wantMsg := []string{fixtures + `/gke.jsonl:3: cloud audit entry of service "compute.googleapis.com", not k8s.io`}
	if strings.Join(msgs, "\n") != strings.Join(wantMsg, "\n") {
		t.Errorf("messages = %q, want %q", msgs, wantMsg)
	}
	if sum.Skipped[OtherService] != 1 || len(recs) != 2 {
		t.Fatalf("events %d, skipped %v", len(recs), sum.Skipped)
	}
	ev := recs[0].Event
	checks := map[string][2]string{
		"auditID":     {string(ev.AuditID), "gke-insert-1"},
		"verb":        {ev.Verb, "create"},
		"user":        {ev.User.Username, "bob@example.com"},
		"resource":    {ev.ObjectRef.Resource, "pods"},
		"subresource": {ev.ObjectRef.Subresource, "exec"},
		"namespace":   {ev.ObjectRef.Namespace, "prod"},
		"name":        {ev.ObjectRef.Name, "web-0"},
		"sourceIP":    {ev.SourceIPs[0], "203.0.113.9"},
		"requestURI":  {ev.RequestURI, "/api/v1/namespaces/prod/pods/web-0/exec"},
		"decision":    {ev.Annotations["authorization.k8s.io/decision"], "allow"},
		"stage":       {string(ev.Stage), "ResponseComplete"},
	}
	for k, v := range checks {
		if v[0] != v[1] {
			t.Errorf("%s = %q, want %q", k, v[0], v[1])
		}
	}
	denied := recs[1].Event
	if denied.ResponseStatus.Code != 403 || denied.ObjectRef.Resource != "secrets" || denied.ObjectRef.Namespace != "kube-system" || denied.Verb != "list" {
		t.Errorf("denied entry mapped to %+v %+v", denied.ResponseStatus, denied.ObjectRef)
	}
}

func TestAKSRecords(t *testing.T) {
	recs, msgs, sum := readAll(t, Options{}, filepath.Join(fixtures, "aks-records.jsonl"))
	if got := strings.Join(ids(recs), " "); got != "201/Resp 202/Resp" {
		t.Errorf("events %s, want the object and the string forms of properties.log", got)
	}
	want := fixtures + `/aks-records.jsonl:3: AKS record of category "kube-apiserver", not kube-audit`
	if len(msgs) != 1 || msgs[0] != want || sum.Skipped[OtherService] != 1 {
		t.Errorf("messages %q (want %q), skipped %v", msgs, want, sum.Skipped)
	}
}

func TestDuplicates(t *testing.T) {
	recs, _, sum := readAll(t, Options{}, filepath.Join(fixtures, "overlap-a.jsonl"), filepath.Join(fixtures, "overlap-b.jsonl"))
	if len(recs) != 8 || sum.Events != 8 || sum.Duplicates != 2 {
		t.Errorf("events %d/%d duplicates %d, want 8 and 2", len(recs), sum.Events, sum.Duplicates)
	}
	a, b := sum.Files[0], sum.Files[1]
	if a.Events != 5 || a.Duplicates != 0 || b.Events != 3 || b.Duplicates != 2 {
		t.Errorf("per file: a %d/%d b %d/%d, want 5/0 and 3/2", a.Events, a.Duplicates, b.Events, b.Duplicates)
	}
	if a.First == nil || a.Last == nil || !a.Last.After(*a.First) {
		t.Errorf("file time range not kept: %v %v", a.First, a.Last)
	}
	_, _, sum = readAll(t, Options{}, filepath.Join(fixtures, "stages.jsonl"))
	if sum.Events != 3 || sum.Duplicates != 3 {
		t.Errorf("stages: events %d duplicates %d, want 3 and 3", sum.Events, sum.Duplicates)
	}
	recs, _, sum = readAll(t, Options{KeepDuplicates: true}, filepath.Join(fixtures, "stages.jsonl"))
	if len(recs) != 6 || sum.Duplicates != 0 {
		t.Errorf("KeepDuplicates: %d events, %d duplicates", len(recs), sum.Duplicates)
	}
	// the same file twice on the command line is read once
	recs, _, _ = readAll(t, Options{}, filepath.Join(fixtures, "v1.jsonl"), filepath.Join(fixtures, "v1.jsonl"))
	if len(recs) != 3 {
		t.Errorf("same file twice: %d events, want 3", len(recs))
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	// a gzip stream cut in the middle
	gz, err := os.ReadFile(filepath.Join(fixtures, "rotated/audit-2026-03-10T09-00-00.000.log.gz"))
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.log.gz")
	os.WriteFile(truncated, gz[:len(gz)-12], 0o600)
	// a line over the limit between two good ones
	good, _ := os.ReadFile(filepath.Join(fixtures, "v1.jsonl"))
	lines := bytes.SplitAfter(good, []byte("\n"))
	long := filepath.Join(dir, "long.jsonl")
	os.WriteFile(long, bytes.Join([][]byte{lines[0], []byte(`{"pad":"` + strings.Repeat("x", 3000) + "\"}\n"), lines[1]}, nil), 0o600)

	for _, tc := range []struct {
		name    string
		file    string
		opts    Options
		events  int
		skipped map[Reason]int
		msgs    []string
	}{
		{"malformed, no auditID, not an event", filepath.Join(fixtures, "bad-lines.jsonl"), Options{}, 3,
			map[Reason]int{Malformed: 1, NoAuditID: 1, NotAnEvent: 1},
			[]string{
				fixtures + "/bad-lines.jsonl:2: malformed JSON at line 3 column 1: a new JSON line begins before the value ends; line 2 skipped",
				fixtures + "/bad-lines.jsonl:4: audit event without auditID",
				fixtures + "/bad-lines.jsonl:5: not an audit event (no auditID, and no known wrapper: EventList, records, properties.log, protoPayload)",
			}},
		{"no timestamp", filepath.Join(fixtures, "no-timestamp.jsonl"), Options{}, 1,
			map[Reason]int{NoTimestamp: 1},
			[]string{fixtures + "/no-timestamp.jsonl:2: audit event without requestReceivedTimestamp or stageTimestamp"}},
		{"binary file", filepath.Join(fixtures, "binary.bin"), Options{}, 0,
			map[Reason]int{Binary: 1},
			[]string{fixtures + "/binary.bin: binary file (not JSON text), skipped"}},
		{"truncated gzip", truncated, Options{}, 0,
			map[Reason]int{Truncated: 1},
			[]string{truncated + ":1: gzip stream truncated or corrupt (unexpected EOF); the rest of the file is lost"}},
		{"line over the limit", long, Options{MaxLineBytes: 2048}, 2,
			map[Reason]int{TooLong: 1},
			[]string{long + ":2: line longer than 2048 bytes (--max-line), skipped"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs, msgs, sum := readAll(t, tc.opts, tc.file)
			if len(recs) != tc.events {
				t.Errorf("events = %d, want %d", len(recs), tc.events)
			}
			if len(msgs) != len(tc.msgs) {
				t.Fatalf("messages = %q, want %q", msgs, tc.msgs)
			}
			for i := range msgs {
				// malformed messages end with the decoder's own words; the place and kind are ours
				if !strings.HasPrefix(msgs[i], tc.msgs[i]) || (!strings.HasSuffix(tc.msgs[i], ": ") && msgs[i] != tc.msgs[i]) {
					t.Errorf("message %d = %q, want %q", i, msgs[i], tc.msgs[i])
				}
			}
			for r, n := range tc.skipped {
				if sum.Skipped[r] != n || sum.Files[0].Skipped[r] != n {
					t.Errorf("skipped[%s] = %d (file %d), want %d", r, sum.Skipped[r], sum.Files[0].Skipped[r], n)
				}
			}
			if sum.SkippedTotal() != len(tc.msgs) {
				t.Errorf("skipped total %d, want %d", sum.SkippedTotal(), len(tc.msgs))
			}
		})
	}
}

func TestStrict(t *testing.T) {
	r, err := Open([]string{filepath.Join(fixtures, "bad-lines.jsonl")}, Options{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	err = r.Each(context.Background(), func(Record) error { n++; return nil })
	var ie *InputError
	if !errors.As(err, &ie) || ie.Line != 2 || ie.Reason != Malformed {
		t.Fatalf("err = %v, want the malformed line 2", err)
	}
	if n != 1 {
		t.Errorf("events before the error = %d, want 1", n)
	}
}

func TestStdin(t *testing.T) {
	data, _ := os.ReadFile(filepath.Join(fixtures, "v1.jsonl.gz"))
	recs, msgs, sum := readAll(t, Options{Stdin: bytes.NewReader(data)}, "-")
	if len(recs) != 2 || len(msgs) != 0 || sum.Files[0].Path != "-" {
		t.Errorf("stdin: %d events, %q, file %q", len(recs), msgs, sum.Files[0].Path)
	}
}

func TestOpenErrors(t *testing.T) {
	for _, args := range [][]string{{"/nonexistent/audit.log"}, {filepath.Join(fixtures, "nomatch-*.log")}} {
		if _, err := Open(args, Options{}); err == nil {
			t.Errorf("Open(%v) succeeded", args)
		}
	}
}

func TestSortRotated(t *testing.T) {
	in := []Input{{Path: "d/audit.log"}, {Path: "d/audit.log.1"}, {Path: "d/audit.log.2.gz"},
		{Path: "d/audit-2026-01-02T00-00-00.000.log.gz"}, {Path: "d/audit-2026-01-01T00-00-00.000.log"}, {Path: "d/other.log"}}
	SortRotated(in)
	var got []string
	for _, f := range in {
		got = append(got, f.Path)
	}
	want := "d/audit-2026-01-01T00-00-00.000.log d/audit-2026-01-02T00-00-00.000.log.gz d/audit.log.2.gz d/audit.log.1 d/audit.log d/other.log"
	if strings.Join(got, " ") != want {
		t.Errorf("order\n got %s\nwant %s", strings.Join(got, " "), want)
	}
}

// TestManyBatches crosses batch boundaries and checks order and counts survive.
func TestManyBatches(t *testing.T) {
	line, _ := os.ReadFile(filepath.Join(fixtures, "v1.jsonl"))
	first := bytes.SplitAfter(line, []byte("\n"))[0]
	var buf bytes.Buffer
	const n = 10000
	for i := 0; i < n; i++ {
		buf.Write(bytes.Replace(first, []byte("000000000001"), []byte(pad12(i)), 1))
	}
	var last int
	r := NewReader([]Input{{Path: "-"}}, Options{Stdin: &buf, Workers: 4})
	err := r.Each(context.Background(), func(rec Record) error {
		if rec.Source.Line != last+1 {
			t.Fatalf("out of order: line %d after %d", rec.Source.Line, last)
		}
		last = rec.Source.Line
		return nil
	})
	if err != nil || last != n || r.Summary().Events != n {
		t.Errorf("err %v, last line %d, events %d", err, last, r.Summary().Events)
	}
}

func pad12(i int) string {
	s := strings.Repeat("0", 12) + itoa(i)
	return s[len(s)-12:]
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}
