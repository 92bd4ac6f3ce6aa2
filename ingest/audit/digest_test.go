package audit

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
)

// The digest is the SHA-256 of the whole file as it is on disk, whatever the reader did
// with its content: plain lines, gzip, a binary file skipped, a last line without a
// newline.
func TestDigestCoversTheBytesRead(t *testing.T) {
	dir := t.TempDir()
	line := `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a%d","stage":"ResponseComplete","verb":"get","requestURI":"/api","user":{"username":"u"},"requestReceivedTimestamp":"2026-01-01T00:00:00Z","stageTimestamp":"2026-01-01T00:00:00Z"}`
	var plain bytes.Buffer
	for i := 0; i < 300; i++ {
		plain.WriteString(line)
		plain.WriteString("\n")
	}
	plain.WriteString(line) // no final newline
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(plain.Bytes())
	zw.Close()
	bin := bytes.Repeat([]byte{0x7f, 'E', 'L', 'F', 1, 2, 3, 0xff}, 4096)
	files := map[string][]byte{"plain.log": plain.Bytes(), "audit.log.gz": gz.Bytes(), "binary": bin}
	var inputs []Input
	for name, b := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, Input{Path: p, Size: int64(len(b))})
	}
	r := NewReader(inputs, Options{Digest: true, OnError: func(*InputError) {}})
	if err := r.Each(context.Background(), func(Record) error { return nil }); err != nil {
		t.Fatal(err)
	}
	for i, in := range inputs {
		want := sha256.Sum256(files[filepath.Base(in.Path)])
		d := r.Digest(i)
		if !d.OK || d.Size != in.Size || d.SHA256 != hex.EncodeToString(want[:]) {
			t.Errorf("%s: digest %+v, want size %d sha %x", in.Path, d, in.Size, want)
		}
	}
	if r := NewReader(inputs, Options{OnError: func(*InputError) {}}); r.Digest(0).OK {
		t.Error("a reader without Options.Digest reports a digest")
	}
}
