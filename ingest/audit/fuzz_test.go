package audit

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

func seedFixtures(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(fixtures, "*"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil && len(b) < 64<<10 {
			f.Add(b)
			if lines := bytes.Split(b, []byte("\n")); len(lines) > 1 {
				f.Add(lines[0])
			}
		}
	}
	f.Add([]byte(`{"records":[{"category":"kube-audit","properties":{"log":"{\"auditID\":\"a\",\"stage\":\"ResponseComplete\"}"}}]}`))
	f.Add([]byte(`{"protoPayload":{"serviceName":"k8s.io","methodName":"io.k8s.v1","resourceName":"/"},"insertId":"i","timestamp":"2020-01-01T00:00:00Z"}`))
	f.Add([]byte(`[[[[[[{"items":[{"items":[]}]}]]]]]]`))
}

// FuzzDecodeValue: the line decoder and the wrappers never panic, and every outcome is
// either an event with an auditID or a reason with a message.
func FuzzDecodeValue(f *testing.F) {
	seedFixtures(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, d := range decodeValue(data, nil) {
			if (d.ev == nil) == (d.reason == "") {
				t.Fatalf("outcome has both or neither an event and a reason: %+v", d)
			}
			if d.ev != nil && d.ev.AuditID == "" {
				t.Fatalf("event without auditID passed: %+v", d.ev)
			}
			if d.ev == nil && d.msg == "" {
				t.Fatalf("reason %s without message", d.reason)
			}
		}
	})
}

// FuzzReader: whole inputs (documents, lines, gzip, binary) through the Reader never
// panic or hang, and every piece of bad input is counted.
func FuzzReader(f *testing.F) {
	seedFixtures(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		reported := 0
		r := NewReader([]Input{{Path: "-"}}, Options{Stdin: bytes.NewReader(data), MaxLineBytes: 4096, OnError: func(*InputError) { reported++ }})
		n := 0
		if err := r.Each(context.Background(), func(Record) error { n++; return nil }); err != nil {
			t.Fatalf("Each: %v", err)
		}
		s := r.Summary()
		if s.Events != n || s.SkippedTotal() != reported {
			t.Fatalf("summary %d events %d skipped; saw %d events %d reports", s.Events, s.SkippedTotal(), n, reported)
		}
	})
}
