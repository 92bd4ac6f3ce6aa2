package report

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
)

// locFile is an audit log file to look evidence up in: path opened, name reported.
// size > 0: the file must still have this size (the case's custody), or it is skipped.
type locFile struct {
	path, name string
	size       int64
}

// locate finds the file and line of each auditID in ids: the first line of the files
// (in order) that holds `"auditID":"<id>"`. It reads line by line (gzip by content),
// looks at the text, decodes nothing, and stops once every ID is found. A file that is
// gone, changed size or does not read is skipped: its findings get no location.
func locate(ctx context.Context, files []locFile, ids map[string]bool, p *Progress) (map[string]Location, error) {
	out := map[string]Location{}
	var total int64
	for _, f := range files {
		if st, err := os.Stat(f.path); err == nil {
			total += st.Size()
		}
	}
	p.set("locating evidence in the audit logs", "bytes", total)
	for _, f := range files {
		if len(out) == len(ids) {
			break
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if f.size > 0 {
			if st, err := os.Stat(f.path); err != nil || st.Size() != f.size {
				continue
			}
		}
		_ = locateFile(ctx, f, ids, out, p) // a file that fails part way keeps what it found
	}
	return out, nil
}

var auditIDKey = []byte(`"auditID"`)

func locateFile(ctx context.Context, f locFile, ids map[string]bool, out map[string]Location, p *Progress) error {
	fh, err := os.Open(f.path)
	if err != nil {
		return err
	}
	defer fh.Close()
	br := bufio.NewReaderSize(countingReader{fh, p}, 1<<20)
	var r io.Reader = br
	if head, _ := br.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return err
		}
		defer gz.Close()
		r = bufio.NewReaderSize(gz, 1<<20)
	}
	lr := r.(*bufio.Reader)
	line := 1
	for n := 0; ; n++ {
		if n%65536 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		b, err := lr.ReadSlice('\n')
		// a line longer than the buffer arrives in pieces: an auditID cut between two
		// pieces is missed (its finding gets no location), the line count stays right
		if i := bytes.Index(b, auditIDKey); i >= 0 {
			if id, ok := jsonStringAfter(b[i+len(auditIDKey):]); ok && ids[id] {
				if _, seen := out[id]; !seen {
					out[id] = Location{File: f.name, Line: line}
					if len(out) == len(ids) {
						return nil
					}
				}
			}
		}
		if len(b) > 0 && b[len(b)-1] == '\n' {
			line++
		}
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// jsonStringAfter reads `\s*:\s*"value"` (a value without escapes, as auditIDs are).
func jsonStringAfter(b []byte) (string, bool) {
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	if i >= len(b) || b[i] != ':' {
		return "", false
	}
	i++
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	if i >= len(b) || b[i] != '"' {
		return "", false
	}
	j := bytes.IndexByte(b[i+1:], '"')
	if j < 0 || j > 256 {
		return "", false
	}
	return string(b[i+1 : i+1+j]), true
}
