package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubesleuth/kubesleuth/analyzer/redact"
)

// The tests of this file are the outside reports of issue 11, one by one: input nobody
// on the team wrote. Each failed on the reader before the fix.

// evLine is a compact v1 event, as the apiserver writes one per line.
func evLine(id string) string {
	return `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"` + id +
		`","stage":"ResponseComplete","requestURI":"/api/v1/pods","verb":"list","user":{"username":"alice"},` +
		`"requestReceivedTimestamp":"2026-03-10T10:00:00.000001Z","stageTimestamp":"2026-03-10T10:00:00.000002Z"}`
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// goodLines returns n event lines with IDs prefix-0 ... prefix-(n-1).
func goodLines(prefix string, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString(evLine(fmt.Sprintf("%s-%d", prefix, i)) + "\n")
	}
	return b.String()
}

func checkRead(t *testing.T, recs []Record, msgs []string, sum *Summary, events int, wantMsgs []string) {
	t.Helper()
	if len(recs) != events || sum.Events != events {
		t.Errorf("events = %d (summary %d), want %d", len(recs), sum.Events, events)
	}
	if strings.Join(msgs, "\n") != strings.Join(wantMsgs, "\n") {
		t.Errorf("messages\n got %q\nwant %q", msgs, wantMsgs)
	}
	if sum.SkippedTotal() != len(wantMsgs) {
		t.Errorf("skipped %d (%v), want %d", sum.SkippedTotal(), sum.Skipped, len(wantMsgs))
	}
}

// Item 1: a document key longer than --max-line panicked (slice bounds out of range in
// docscan.go) and took every other file of the run with it; so did a key after a value
// that was too long.
func TestDocumentKeyOverLimit(t *testing.T) {
	dir := t.TempDir()
	key := writeFile(t, dir, "key.json", []byte("{\n  \""+strings.Repeat("k", 200)+"\": 1\n}\n"))
	after := writeFile(t, dir, "after.json", []byte("{\n  \"a\": \""+strings.Repeat("v", 200)+"\",\n  \"b\": 1\n}\n"))
	small := `{"auditID":"s1","stage":"ResponseComplete","requestReceivedTimestamp":"2026-01-01T00:00:00Z"}`
	good := writeFile(t, dir, "good.jsonl", []byte(small+"\n"))
	recs, msgs, sum := readAll(t, Options{MaxLineBytes: 128}, key, after, good)
	checkRead(t, recs, msgs, sum, 1, []string{
		key + ":1: JSON value longer than 128 bytes (--max-line), skipped",
		after + ":1: JSON value longer than 128 bytes (--max-line), skipped",
	})
	if sum.Skipped[TooLong] != 2 {
		t.Errorf("skipped %v, want too_long 2", sum.Skipped)
	}
}

// Item 2: a JSON-lines file whose first line was cut, or began with "[" and text, was
// read as one document, and everything after the first line was lost.
func TestJSONLinesAfterABadFirstLine(t *testing.T) {
	dir := t.TempDir()
	cut := `{"kind":"Event","auditID":"cut","verb":"ge`
	for i, tc := range []struct {
		name, first, msg string
	}{
		{"cut inside a string", cut, fmt.Sprintf("malformed JSON at line 1 column %d: a line break inside a string; line 1 skipped", len(cut)+1)},
		{"cut after a key", `{"kind":"Event","auditID":"cut","user":`, "malformed JSON at line 2 column 1: a new JSON line begins before the value ends; line 1 skipped"},
		{"cut inside an object", `{"kind":"Event","auditID":"cut","user":{"username":"a"`, "malformed JSON at line 2 column 1: a new JSON line begins before the value ends; line 1 skipped"},
		{"a log prefix in brackets", `[2024-02-13 12:45:06] apiserver starting`, "malformed JSON at line 1 column 2: an array element that is not JSON; line 1 skipped"},
		{"a bare [", `[`, "malformed JSON at line 3 column 1: a new JSON line begins before the array begun at line 1 is closed; the lines from there on are read as JSON lines"},
		{"plain text", `apiserver starting`, "malformed JSON at line 1 column 1: unexpected 'a' where a JSON value should begin; line 1 skipped"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := writeFile(t, dir, fmt.Sprintf("first%d.jsonl", i), []byte(tc.first+"\n"+goodLines("g", 999)))
			recs, msgs, sum := readAll(t, Options{}, f)
			checkRead(t, recs, msgs, sum, 999, []string{f + ":1: " + tc.msg})
			if len(recs) > 0 && recs[0].Source.Line != 2 {
				t.Errorf("first event from line %d, want 2", recs[0].Source.Line)
			}
			if sum.Skipped[Malformed] != 1 {
				t.Errorf("skipped %v, want malformed 1", sum.Skipped)
			}
		})
	}
}

// Item 2: NUL bytes or invalid UTF-8 anywhere in the first 8 KiB made the whole file
// "binary". They cost the lines they are on.
func TestBadBytesCostTheirLines(t *testing.T) {
	dir := t.TempDir()
	nul := strings.Replace(evLine("nul"), `"level"`, "\x00\"level\"", 1)
	nulAt := strings.IndexByte(nul, 0) + 1
	latin1 := strings.Replace(evLine("latin1"), "alice", "al\xefce", 1) // inside a string: the event is kept
	data := goodLines("a", 1) + nul + "\n" + latin1 + "\n" + "\xff\xfe" + evLine("bom16") + "\n" +
		strings.Repeat("\x00", 2000) + "\n" + goodLines("b", 10)
	f := writeFile(t, dir, "bad-bytes.jsonl", []byte(data))
	recs, msgs, sum := readAll(t, Options{}, f)
	checkRead(t, recs, msgs, sum, 12, []string{
		fmt.Sprintf("%s:2: malformed JSON: unexpected byte 0x00 near byte %d (%d bytes, %s); a NUL byte at byte %d", f, nulAt, len(nul), redact.Fingerprint([]byte(nul)), nulAt),
		f + ":4: malformed JSON at line 4 column 1: unexpected byte 0xff where a JSON value should begin; line 4 skipped",
		f + ":5: malformed JSON at line 5 column 1: unexpected byte 0x00 where a JSON value should begin; line 5 skipped",
	})
	var user string
	for _, r := range recs {
		if r.Event.AuditID == "latin1" {
			user = r.Event.User.Username
		}
	}
	if user != "al\ufffdce" {
		t.Errorf("event with invalid UTF-8 in a string: user %q, want the byte replaced", user)
	}

	// a crash leaves a run of NULs longer than the 8 KiB looked at first
	crash := writeFile(t, dir, "crash.jsonl", []byte(goodLines("c", 1)+strings.Repeat("\x00", 20000)+goodLines("d", 5)))
	recs, msgs, sum = readAll(t, Options{}, crash)
	checkRead(t, recs, msgs, sum, 5, []string{crash + ":2: malformed JSON at line 2 column 1: unexpected byte 0x00 where a JSON value should begin; line 2 skipped"})
}

// Truly binary files stay one message, not thousands of malformed lines.
func TestBinaryFilesOneMessage(t *testing.T) {
	dir := t.TempDir()
	exe, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		t.Skip("no /proc/self/exe")
	}
	elf := writeFile(t, dir, "kubesleuth.elf", exe[:min(len(exe), 1<<20)])
	img := image.NewRGBA(image.Rect(0, 0, 256, 256))
	rng := rand.New(rand.NewSource(1))
	for i := range img.Pix {
		img.Pix[i] = byte(rng.Intn(256))
	}
	img.Set(0, 0, color.White)
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	pic := writeFile(t, dir, "noise.png", buf.Bytes())
	recs, msgs, sum := readAll(t, Options{}, elf, pic)
	checkRead(t, recs, msgs, sum, 0, []string{
		elf + ": binary file (not JSON text), skipped",
		pic + ": binary file (not JSON text), skipped",
	})
}

// Item 2: a one-line EventList over 4 MiB (webhook batches reach 10 MB) was one too_long
// and 0 events. The limit applies to each event of a one-line wrapper.
func TestOneLineWrapperOverLimit(t *testing.T) {
	dir := t.TempDir()
	const n = 16000
	items := make([]string, n)
	for i := range items {
		items[i] = evLine(fmt.Sprintf("big-%d", i))
	}
	list := `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[` + strings.Join(items, ",") + "]}\n"
	if len(list) <= DefaultMaxLineBytes {
		t.Fatalf("the list is %d bytes, not over the default limit", len(list))
	}
	f := writeFile(t, dir, "webhook.jsonl", []byte(list+goodLines("after", 2)))
	recs, msgs, sum := readAll(t, Options{}, f)
	checkRead(t, recs, msgs, sum, n+2, nil)
	if len(recs) == n+2 && (recs[n-1].Source.Line != 1 || recs[n].Source.Line != 2) {
		t.Errorf("sources %v and %v, want lines 1 and 2", recs[n-1].Source, recs[n].Source)
	}

	// with a small limit: each wrapper kind, one event of each too long
	pad := strings.Replace(evLine("fat"), `"verb"`, `"userAgent":"`+strings.Repeat("x", 3000)+`","verb"`, 1)
	five := []string{evLine("w1"), evLine("w2"), pad, evLine("w3"), evLine("w4")}
	body := strings.Join(five, ",")
	data := `{"kind":"EventList","items":[` + body + "]}\n" + "[" + body + "]\n" + `{"records":[` + body + "]}\n"
	w := writeFile(t, dir, "wrappers.jsonl", []byte(data))
	recs, msgs, sum = readAll(t, Options{MaxLineBytes: 2048, KeepDuplicates: true}, w)
	checkRead(t, recs, msgs, sum, 12, []string{
		w + ":1: JSON value longer than 2048 bytes (--max-line), skipped",
		w + ":2: JSON value longer than 2048 bytes (--max-line), skipped",
		w + ":3: JSON value longer than 2048 bytes (--max-line), skipped",
	})
}

// A broken element of a pretty-printed array costs its own lines; the array goes on.
func TestPrettyArrayBrokenElement(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(fixtures, "array.json"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	if !strings.Contains(lines[39], `"level": "Metadata",`) {
		t.Fatalf("fixture changed: line 40 is %q", lines[39])
	}
	lines[39] = strings.Replace(lines[39], `Metadata"`, `Metadata`, 1) // the string runs into the line break
	f := writeFile(t, t.TempDir(), "broken.json", []byte(strings.Join(lines, "\n")))
	recs, msgs, sum := readAll(t, Options{}, f)
	checkRead(t, recs, msgs, sum, 2, []string{fmt.Sprintf("%s:37: malformed JSON at line 40 column %d: a line break inside a string; lines 37-71 skipped", f, len(lines[39])+1)})
	if got := strings.Join(ids(recs), " "); got != "041/Resp 043/Resp" {
		t.Errorf("events %s, want the first and the last", got)
	}
}

// Item 3: timestamps outside 1678-2262 were stored at wrapped times (9999-12-31 as
// 1816-03-30) without a word; exports' "2024-02-13 12:45:06.073905" were malformed.
func TestTimestamps(t *testing.T) {
	dir := t.TempDir()
	ts := func(id, rr, st string) string {
		l := strings.Replace(evLine(id), "2026-03-10T10:00:00.000001Z", rr, 1)
		return strings.Replace(l, "2026-03-10T10:00:00.000002Z", st, 1)
	}
	data := strings.Join([]string{
		ts("far", "9999-12-31T23:59:59Z", "9999-12-31T23:59:59Z"),
		ts("old", "2026-01-01T00:00:00Z", "1500-01-01T00:00:00Z"),
		ts("bq", "2024-02-13 12:45:06.073905", "2024-02-13 12:45:06.073905 UTC"),
		ts("tz", "2024-02-13T12:45:06", "2024-02-13 13:45:06.5+01:00"),
		ts("text", "yesterday", "2024-02-13T12:45:06Z"),
		`{"kind":"Event","apiVersion":"audit.k8s.io/v1beta1","auditID":"beta","stage":"ResponseComplete","verb":"get","timestamp":"9999-01-01T00:00:00Z"}`,
		`{"protoPayload":{"serviceName":"k8s.io","methodName":"io.k8s.core.v1.pods.get","resourceName":"core/v1/namespaces/a/pods/b"},"insertId":"gke","timestamp":"2263-01-01T00:00:00Z"}`,
	}, "\n") + "\n"
	f := writeFile(t, dir, "times.jsonl", []byte(data))
	recs, msgs, sum := readAll(t, Options{}, f)
	checkRead(t, recs, msgs, sum, 2, []string{
		f + `:1: field "requestReceivedTimestamp": "9999-12-31T23:59:59Z" lies outside the years 1678-2262 that the timeline can hold`,
		f + `:2: field "stageTimestamp": "1500-01-01T00:00:00Z" lies outside the years 1678-2262 that the timeline can hold`,
		f + `:5: field "requestReceivedTimestamp": "yesterday" is not a timestamp (RFC 3339, or "2006-01-02 15:04:05" in UTC)`,
		f + `:6: field "timestamp": "9999-01-01T00:00:00Z" lies outside the years 1678-2262 that the timeline can hold`,
		f + `:7: GKE audit entry field "timestamp": "2263-01-01T00:00:00Z" lies outside the years 1678-2262 that the timeline can hold`,
	})
	if sum.Skipped[Reason("bad_timestamp")] != 5 {
		t.Errorf("skipped %v, want bad_timestamp 5", sum.Skipped)
	}
	if len(recs) == 2 {
		want := []time.Time{time.Date(2024, 2, 13, 12, 45, 6, 73905000, time.UTC), time.Date(2024, 2, 13, 12, 45, 6, 0, time.UTC)}
		wantStage := []time.Time{want[0], time.Date(2024, 2, 13, 12, 45, 6, 5e8, time.UTC)}
		for i, r := range recs {
			if !r.Event.RequestReceivedTimestamp.Time.Equal(want[i]) || !r.Event.StageTimestamp.Time.Equal(wantStage[i]) {
				t.Errorf("%s: times %v / %v, want %v / %v", r.Event.AuditID, r.Event.RequestReceivedTimestamp.Time, r.Event.StageTimestamp.Time, want[i], wantStage[i])
			}
		}
	}
}

// Item 4: links inside a folder were skipped without a word. They are followed, each
// file is read once, and what is not followed is said.
func TestFolderLinks(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "logs")
	mk := func(p string) {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mk(filepath.Join(root, "sub"))
	mk(filepath.Join(base, "outside"))
	writeFile(t, root, "a.log", []byte(evLine("a")+"\n"))
	writeFile(t, filepath.Join(root, "sub"), "c.log", []byte(evLine("c")+"\n"))
	writeFile(t, filepath.Join(base, "outside"), "d.log", []byte(evLine("d")+"\n"))
	writeFile(t, base, "e.log", []byte(evLine("e")+"\n"))
	for link, target := range map[string]string{
		"b.log":    "a.log",          // a second name of a file read anyway
		"sub/up":   "..",             // a loop
		"linked":   "../outside",     // a folder outside
		"again":    "sub",            // a folder read anyway
		"e.log":    "../e.log",       // a file outside
		"dangling": "nowhere.log",    // leads nowhere
		"sub/a2":   "../a.log",       // another name, one folder down
		"loop2":    "../logs/linked", // a second way into a linked folder
	} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	recs, msgs, sum := readAll(t, Options{}, root)
	var got []string
	for _, r := range recs {
		got = append(got, string(r.Event.AuditID)+"@"+strings.TrimPrefix(r.Source.File, root+"/"))
	}
	sort.Strings(got)
	if strings.Join(got, " ") != "a@a.log c@sub/c.log d@linked/d.log e@e.log" {
		t.Errorf("events %q", got)
	}
	sort.Strings(msgs)
	checkRead(t, recs, msgs, sum, 4, []string{
		root + "/again: a link to sub, a folder read already as " + root + "/sub; not followed",
		root + "/b.log: a link to a.log, which is read already as " + root + "/a.log; not read again",
		root + "/dangling: a link to nowhere.log, which cannot be reached (no such file or directory); skipped",
		root + "/loop2: a link to ../logs/linked, a folder read already as " + root + "/linked; not followed",
		root + "/sub/a2: a link to ../a.log, which is read already as " + root + "/a.log; not read again",
		root + "/sub/up: a link to .., a folder above it (a loop); not followed",
	})
	if sum.Skipped[Reason("link_repeat")] != 4 || sum.Skipped[Reason("link_loop")] != 1 || sum.Skipped[Unreadable] != 1 {
		t.Errorf("skipped %v", sum.Skipped)
	}

	// named on the command line: the link to a file given before it is said too
	recs, msgs, _ = readAll(t, Options{Strict: true}, filepath.Join(root, "a.log"), filepath.Join(root, "b.log"))
	if len(recs) != 1 || strings.Join(msgs, "\n") != root+"/b.log: a link to a.log, which is read already as "+root+"/a.log; not read again" {
		t.Errorf("explicit link: %d events, %q", len(recs), msgs)
	}
}

// Item 5: wrong types were "not_an_event ... no auditID". Say which field and what.
func TestWrongTypes(t *testing.T) {
	ev := evLine("typed")
	lines := []string{
		strings.Replace(ev, `"verb":"list"`, `"verb":5`, 1),
		strings.Replace(ev, `"user":{"username":"alice"}`, `"user":"x"`, 1),
		strings.Replace(ev, `"user":{"username":"alice"}`, `"user":{"groups":"x"}`, 1),
		strings.Replace(ev, `"verb":"list"`, `"verb":"list","sourceIPs":["10.0.0.1",7]`, 1),
		strings.Replace(ev, `"verb":"list"`, `"verb":"list","annotations":{"token-of-alice":5}`, 1),
		`{"kind":"EventList","items":{"a":1}}`,
	}
	f := writeFile(t, t.TempDir(), "types.jsonl", []byte(strings.Join(lines, "\n")+"\n"))
	recs, msgs, sum := readAll(t, Options{}, f)
	checkRead(t, recs, msgs, sum, 0, []string{
		f + `:1: audit event field "verb": want a string, found a number`,
		f + `:2: audit event field "user": want an object, found a string`,
		f + `:3: audit event field "user.groups": want an array, found a string`,
		f + `:4: audit event field "sourceIPs[1]": want a string, found a number`,
		f + `:5: audit event field "annotations[…]": want a string, found a number`,
		f + `:6: wrapper field "items": want an array, found an object`,
	})
	if sum.Skipped[Reason("wrong_type")] != 6 {
		t.Errorf("skipped %v, want wrong_type 6", sum.Skipped)
	}
}

// Item 6: a FIFO without a writer blocked open(2) forever, deaf to SIGINT and SIGTERM.
func TestFIFOHonoursContext(t *testing.T) {
	dir := t.TempDir()
	mkfifo := func(name string) string {
		p := filepath.Join(dir, name)
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			t.Skipf("mkfifo: %v", err)
		}
		// whatever happens, do not leave a reader blocked in open(2) behind
		t.Cleanup(func() {
			if w, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				w.Close()
			}
		})
		return p
	}
	// each returns Each's error, or fails when Each does not return: the 10 s are a
	// watchdog against a hang, not a measure of speed
	each := func(t *testing.T, r *Reader, ctx context.Context, fn func(Record) error) error {
		done := make(chan error, 1)
		go func() { done <- r.Each(ctx, fn) }()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("Each did not return after the context was cancelled")
			return nil
		}
	}

	t.Run("no writer", func(t *testing.T) {
		p := mkfifo("nowriter")
		r, err := Open([]string{p}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		if err := each(t, r, ctx, func(Record) error { return nil }); !errors.Is(err, context.Canceled) {
			t.Errorf("Each = %v, want context.Canceled", err)
		}
		if r.Summary().SkippedTotal() != 0 {
			t.Errorf("cancellation counted as bad input: %v", r.Summary().Skipped)
		}
	})

	t.Run("writer that stays", func(t *testing.T) {
		p := mkfifo("stays")
		go func() {
			w, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				return
			}
			defer w.Close()
			w.Write([]byte(evLine("fifo-1") + "\n"))
			time.Sleep(30 * time.Second) // keeps the FIFO open: the reader waits for more
		}()
		// the reader is blocked reading the FIFO for more when the context ends
		r := NewReader([]Input{{Path: p}}, Options{})
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(200*time.Millisecond, cancel)
		if err := each(t, r, ctx, func(Record) error { return nil }); !errors.Is(err, context.Canceled) {
			t.Errorf("Each = %v, want context.Canceled", err)
		}
	})

	t.Run("writer that finishes", func(t *testing.T) {
		p := mkfifo("finishes")
		go func() {
			w, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond) // the reader waits for data, not only for the writer
			w.Write([]byte(goodLines("fifo", 3)))
			w.Close()
		}()
		recs, msgs, _ := readAll(t, Options{}, p)
		if len(recs) != 3 || len(msgs) != 0 {
			t.Errorf("%d events, %q", len(recs), msgs)
		}
	})
}

// Item 7: messages quoted the input: the first 40 bytes of a malformed line, a key whole.
func TestMessagesDoNotEchoInput(t *testing.T) {
	const canary = "password=CANARY-7f3a9c1e"
	const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJDQU5BUlkifQ.c2lnbmF0dXJlLXZhbHVl"
	secret := canary + " " + jwt
	ev := evLine("echo")
	cases := []string{
		`{"a":"` + secret + `", "b": }`,                              // malformed, looks like one line
		`a":"` + secret + `","b":1}`,                                 // a line cut at its start
		`{"a":"` + secret,                                            // a line cut inside a string
		"{\n  \"" + secret + "\" 5\n}",                               // a key without its colon
		"{\n  \"" + secret + strings.Repeat("k", 3<<20) + "\": 1\n}", // a 3 MiB key
		`{"x":"` + secret + strings.Repeat("v", 5<<20) + `"}`,        // a 5 MiB line
		strings.Replace(ev, `"user":{"username":"alice"}`, `"user":"`+secret+`"`, 1),
		strings.Replace(ev, `"verb":"list"`, `"verb":"list","annotations":{"`+secret+`":5}`, 1),
		strings.Replace(ev, "2026-03-10T10:00:00.000001Z", secret, 1),
		strings.Replace(ev, "2026-03-10T10:00:00.000002Z", jwt, 1),
		`{"kind":"Event","apiVersion":"audit.k8s.io/v1beta1","auditID":"b","verb":"get","timestamp":"` + secret + `"}`,
		`{"protoPayload":{"serviceName":"` + secret + `"},"insertId":"i","timestamp":"2026-01-01T00:00:00Z"}`,
		`{"protoPayload":{"serviceName":"k8s.io"},"insertId":"i","timestamp":"` + jwt + `"}`,
		`{"category":"` + secret + `","properties":{"log":"{}"}}`,
		`{"category":"kube-audit","properties":{"log":"{\"a\":\"` + secret + `\" x}"}}`,
		`{"auditID":"` + secret + `","stage":"ResponseComplete"}`,
		"[\"" + secret + "\" \"x\"]",
		`{"items":[{"auditID":"i1",` + "\x00" + `"verb":"` + secret + `"}]}`,
		`{"x":"` + secret + "\xff\xfe" + `" oops}`,
	}
	dir := t.TempDir()
	var files []string
	for i, c := range cases {
		files = append(files, writeFile(t, dir, fmt.Sprintf("case%02d.jsonl", i), []byte(c+"\n")))
	}
	_, msgs, _ := readAll(t, Options{}, files...)
	if len(msgs) < len(cases) {
		t.Errorf("%d messages for %d bad inputs: %q", len(msgs), len(cases), msgs)
	}
	place := regexp.MustCompile(`^` + regexp.QuoteMeta(dir) + `/case\d\d\.jsonl:\d+: `)
	for _, m := range msgs {
		if !place.MatchString(m) {
			t.Errorf("message without FILE:LINE: %q", m)
		}
		if strings.Contains(m, "CANARY") || strings.Contains(m, "eyJ") || strings.Contains(m, "password") {
			t.Errorf("message echoes the input: %q", m)
		}
		if len(m) > len(dir)+250 {
			t.Errorf("message of %d bytes: %q", len(m), m)
		}
	}
}

// Documents cut short or broken in the middle keep what they held.
func TestDocumentsCutOrBroken(t *testing.T) {
	dir := t.TempDir()
	arr, err := os.ReadFile(filepath.Join(fixtures, "array.json"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(arr), "\n")
	inThird := writeFile(t, dir, "in-third.json", []byte(strings.Join(lines[:80], "")))
	afterSecond := writeFile(t, dir, "after-second.json", []byte(strings.Join(lines[:71], "")))
	pretty, err := os.ReadFile(filepath.Join(fixtures, "pretty.json"))
	if err != nil {
		t.Fatal(err)
	}
	one := strings.TrimRight(string(pretty), "\n") + "\n"
	n := strings.Count(one, "\n")
	broken := strings.Replace(one, `"verb": "list",`, `"verb": "list" "oops",`, 1)
	three := writeFile(t, dir, "three.json", []byte(strings.Replace(one, "031", "301", 1)+broken+strings.Replace(one, "031", "303", 1)))
	brokenAt := strings.Count(broken[:strings.Index(broken, `"oops"`)], "\n") + 1
	crlf := writeFile(t, dir, "crlf.jsonl", []byte(strings.ReplaceAll(goodLines("crlf", 3), "\n", "\r\n")))

	recs, msgs, sum := readAll(t, Options{}, inThird, afterSecond, three, crlf)
	if sum.Duplicates != 2 {
		t.Errorf("duplicates %d, want 2", sum.Duplicates)
	}
	checkRead(t, recs, msgs, sum, 2+2+3, []string{ // the second file's two are duplicates of the first's
		inThird + ":72: malformed JSON: the input ends inside the value begun at line 72; lines 72-80 skipped",
		afterSecond + ":1: malformed JSON: the input ends before the document begun at line 1 is closed",
		fmt.Sprintf("%s:%d: malformed JSON at line %d column %d: unexpected '\"' after an object member (want ',' or '}'); lines %d-%d skipped",
			three, n+1, n+brokenAt, strings.Index(strings.Split(broken, "\n")[brokenAt-1], `"oops"`)+1, n+1, 2*n),
	})
	if got := strings.Join(ids(recs), " "); got != "041/Resp 042/Resp 301/Resp 303/Resp f-0/Resp f-1/Resp f-2/Resp" {
		t.Errorf("events %s", got)
	}
}

// A standard input that is a pipe nobody writes to does not hold a cancelled run.
func TestStdinPipeHonoursContext(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	defer pr.Close()
	r := NewReader([]Input{{Path: StdinName}}, Options{Stdin: pr})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	done := make(chan error, 1)
	go func() { done <- r.Each(ctx, func(Record) error { return nil }) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Each = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second): // a watchdog against a hang, not a measure
		t.Fatal("Each did not return after the context was cancelled")
	}
}
