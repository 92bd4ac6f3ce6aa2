package audit

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

func seedFixtures(add func([]byte)) {
	files, _ := filepath.Glob(filepath.Join(fixtures, "*"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil && len(b) < 64<<10 {
			add(b)
			if lines := bytes.Split(b, []byte("\n")); len(lines) > 1 {
				add(lines[0])
			}
		}
	}
	add([]byte(`{"records":[{"category":"kube-audit","properties":{"log":"{\"auditID\":\"a\",\"stage\":\"ResponseComplete\"}"}}]}`))
	add([]byte(`{"protoPayload":{"serviceName":"k8s.io","methodName":"io.k8s.v1","resourceName":"/"},"insertId":"i","timestamp":"2020-01-01T00:00:00Z"}`))
	add([]byte(`[[[[[[{"items":[{"items":[]}]}]]]]]]`))
	add([]byte("{\n  \"a-key-longer-than-the-limit\": 1,\n  \"items\": [\n    {\"auditID\": \"x\"},\n    {\"auditID\": \"y\", \"verb\": \"g\n  ]\n}\n"))
	add([]byte("[\n{\"auditID\":\"a\"}\n{\"auditID\":\"b\"}\n"))
	add([]byte("{\"kind\":\"Event\",\"auditID\":\"cut\",\"user\":\n{\"auditID\":\"n\",\"requestReceivedTimestamp\":\"9999-12-31T00:00:00Z\"}\n\x00\x00\xff\n"))
}

// FuzzDecodeValue: the line decoder and the wrappers never panic, and every outcome is
// either an event with an auditID or a reason with a message that quotes no more than
// a short preview of the input.
func FuzzDecodeValue(f *testing.F) {
	seedFixtures(func(b []byte) { f.Add(b) })
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, d := range decodeValue(data, nil) {
			if (d.ev == nil) == (d.reason == "") {
				t.Fatalf("outcome has both or neither an event and a reason: %+v", d)
			}
			if d.ev != nil && d.ev.AuditID == "" {
				t.Fatalf("event without auditID passed: %+v", d.ev)
			}
			if d.ev != nil && (outOfRange(d.ev.RequestReceivedTimestamp.Time) || outOfRange(d.ev.StageTimestamp.Time)) {
				t.Fatalf("event outside the timeline's range passed: %v %v", d.ev.RequestReceivedTimestamp, d.ev.StageTimestamp)
			}
			if d.ev == nil && d.msg == "" {
				t.Fatalf("reason %s without message", d.reason)
			}
			if d.ev == nil {
				checkNoEcho(t, d.msg, data)
			}
		}
	})
}

// FuzzReader: whole inputs (documents, lines, wrappers, gzip, truncated gzip, binary)
// through the Reader with any limit, down to a few bytes, never panic or hang; every
// piece of bad input is counted once with a place and a unit; no message quotes the
// input beyond a short preview; no event leaves the timeline's range.
func FuzzReader(f *testing.F) {
	seedFixtures(func(b []byte) {
		for _, limit := range []uint16{24, 64, 300, 4096} {
			f.Add(b, limit, uint8(0))
		}
		f.Add(b, uint16(48), uint8(1))  // gzip
		f.Add(b, uint16(100), uint8(3)) // truncated gzip
		f.Add(b, uint16(32), uint8(8))  // strict
	})
	f.Fuzz(func(t *testing.T, data []byte, limit uint16, mode uint8) {
		text := data
		if zr, err := gzip.NewReader(bytes.NewReader(data)); err == nil {
			text, _ = io.ReadAll(zr) // what the reader sees of an input that is gzip already
		}
		if mode&1 != 0 {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			zw.Write(data)
			zw.Close()
			data = buf.Bytes()
			if mode&2 != 0 {
				data = data[:len(data)/2]
			}
		}
		strict := mode&8 != 0
		var reports []*InputError
		opts := Options{Stdin: bytes.NewReader(data), MaxLineBytes: 8 + int(limit%2048), KeepDuplicates: mode&4 != 0, Strict: strict,
			OnError: func(e *InputError) { reports = append(reports, e) }}
		r := NewReader([]Input{{Path: "-"}}, opts)
		n := 0
		lines := bytes.Count(text, []byte("\n")) + 1
		err := r.Each(context.Background(), func(rec Record) error {
			n++
			if rec.Event.AuditID == "" || rec.Source.Line < 1 || rec.Source.Line > lines {
				t.Fatalf("record %+v from line %d of %d", rec.Event, rec.Source.Line, lines)
			}
			if outOfRange(rec.Event.RequestReceivedTimestamp.Time) || outOfRange(rec.Event.StageTimestamp.Time) {
				t.Fatalf("event outside the timeline's range: %v %v", rec.Event.RequestReceivedTimestamp, rec.Event.StageTimestamp)
			}
			return nil
		})
		var ie *InputError
		if err != nil && !(strict && errors.As(err, &ie)) {
			t.Fatalf("Each: %v", err)
		}
		s := r.Summary()
		if s.Events != n || s.SkippedTotal() != len(reports) || total(s.SkippedUnits) != len(reports) ||
			s.Files[0].SkippedTotal() != len(reports) || total(s.Files[0].SkippedUnits) != len(reports) {
			t.Fatalf("summary %d events %v %v; saw %d events %d reports", s.Events, s.Skipped, s.SkippedUnits, n, len(reports))
		}
		for _, e := range reports {
			if e.File != "-" || e.Line < 0 || e.Line > lines || e.Msg == "" || e.Reason == "" || (e.Unit != UnitLine && e.Unit != UnitValue && e.Unit != UnitFile) {
				t.Fatalf("report %+v (input of %d lines)", e, lines)
			}
		}
		for i, e := range reports {
			if i == 8 {
				break
			}
			checkNoEcho(t, e.Msg, text)
		}
	})
}

// outOfRange: a time that is set (the zero time means absent) and that the timeline
// cannot hold.
func outOfRange(t time.Time) bool { return !t.IsZero() && (t.Before(minTime) || t.After(maxTime)) }

// quoted matches what a message may quote: a field name of the schema, or a preview.
var quoted = regexp.MustCompile(`"[A-Za-z0-9._:/+\- ]{0,40}"`)

// checkNoEcho fails when msg, without its quoted previews and field names, still holds
// a run of the input longer than a preview, or is long enough to hold one.
func checkNoEcho(t *testing.T, msg string, input []byte) {
	t.Helper()
	if len(msg) > 300 {
		t.Fatalf("message of %d bytes: %q", len(msg), msg)
	}
	rest := quoted.ReplaceAllString(msg, `""`)
	const w = maxPreview + 8
	for i := 0; i+w <= len(rest); i++ {
		if bytes.Contains(input, []byte(rest[i:i+w])) {
			t.Fatalf("message quotes %d bytes of the input: %q", w, msg)
		}
	}
}
