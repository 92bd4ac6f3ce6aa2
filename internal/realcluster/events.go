package realcluster

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// Event is one line of the audit log: the decoded event and the line as the apiserver
// wrote it (without the newline). Raw is only valid during the callback of EachEvent.
type Event struct {
	auditv1.Event
	Raw []byte
}

// Code is the response code, 0 when the event has no responseStatus (RequestReceived).
func (e *Event) Code() int32 {
	if e.ResponseStatus == nil {
		return 0
	}
	return e.ResponseStatus.Code
}

// Resource is objectRef.resource (with "/subresource"), or "" for non-resource URLs.
func (e *Event) Resource() string {
	if e.ObjectRef == nil {
		return ""
	}
	if e.ObjectRef.Subresource != "" {
		return e.ObjectRef.Resource + "/" + e.ObjectRef.Subresource
	}
	return e.ObjectRef.Resource
}

// maxLine bounds one audit line. The apiserver writes whole request and response bodies
// at RequestResponse; a list of many secrets can reach a few MB.
const maxLine = 64 << 20

// LogFiles is the log at path and its rotated siblings, oldest first: lumberjack renames
// audit.log to audit-<UTC time>.log (maybe .gz with Compress), and the time sorts as text.
func LogFiles(path string) ([]string, error) {
	dir, base := filepath.Split(path)
	ext := filepath.Ext(base)
	stem := strings.TrimSuffix(base, ext)
	if dir == "" {
		dir = "."
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var rotated []string
	for _, e := range ents {
		n := e.Name()
		if n != base && strings.HasPrefix(n, stem+"-") && (strings.HasSuffix(n, ext) || strings.HasSuffix(n, ext+".gz")) {
			rotated = append(rotated, filepath.Join(dir, n))
		}
	}
	sort.Strings(rotated)
	if _, err := os.Stat(path); err == nil {
		rotated = append(rotated, path)
	}
	return rotated, nil
}

// EachEvent calls fn for every event of the file at path (gzip when it ends in .gz), in
// order. A line that is not an
// audit event stops the walk with an error naming the file and line (the apiserver wrote
// it, so that is a harness bug, not input to tolerate); fn's error stops it too and is
// returned as is.
func EachEvent(path string, fn func(*Event) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		defer zr.Close()
		r = zr
	}
	return eachEvent(path, r, fn)
}

func eachEvent(name string, r io.Reader, fn func(*Event) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), maxLine)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var e Event
		if err := json.Unmarshal(b, &e.Event); err != nil {
			return fmt.Errorf("%s:%d: not an audit event (%d bytes): %v", name, line, len(b), err)
		}
		if e.AuditID == "" {
			return fmt.Errorf("%s:%d: audit event without auditID", name, line)
		}
		e.Raw = b
		if err := fn(&e); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s:%d: %w", name, line+1, err)
	}
	return nil
}

// ReadEvents reads every event of the log at path and its rotated siblings (LogFiles),
// with Raw copied. For tests on small logs; the recorder streams with EachEvent.
func ReadEvents(path string) ([]Event, error) {
	files, err := LogFiles(path)
	if err != nil {
		return nil, err
	}
	var out []Event
	for _, f := range files {
		err := EachEvent(f, func(e *Event) error {
			e.Raw = append([]byte(nil), e.Raw...)
			out = append(out, *e)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
