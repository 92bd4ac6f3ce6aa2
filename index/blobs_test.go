package index

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestBlobBlocks: events of every size come back from their block; big ones make small
// blocks (by bytes), small ones blocks of blockEvents.
func TestBlobBlocks(t *testing.T) {
	path := filepath.Join(t.TempDir(), blobFile)
	w, err := openBlobWriter(path)
	if err != nil {
		t.Fatal(err)
	}
	var ps []*Prepared
	for i := range 200 {
		n := 100
		if i%50 >= 7 && i%50 <= 9 { // three big ones in a row
			n = 700 << 10 // a big request body
		}
		body := fmt.Sprintf(`{"i":%d,"pad":"%s"}`, i, bytes.Repeat([]byte{'x'}, n))
		ps = append(ps, &Prepared{blob: []byte(body)})
	}
	if err := w.write(ps[:120]); err != nil {
		t.Fatal(err)
	}
	if err := w.write(ps[120:]); err != nil { // a second flush appends
		t.Fatal(err)
	}
	w.close()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	blocks, raw := map[uint64]int{}, map[uint64]int{}
	for i, p := range ps {
		got, err := readBlob(f, p.ref)
		if err != nil || !bytes.Equal(got, p.blob) {
			t.Fatalf("event %d: %v (%d bytes, want %d)", i, err, len(got), len(p.blob))
		}
		blocks[p.ref.off]++
		raw[p.ref.off] += len(p.blob)
	}
	for off, n := range blocks {
		if n > blockEvents {
			t.Errorf("block at %d holds %d events", off, n)
		}
		if n > 1 && raw[off] > blockBytes {
			t.Errorf("block at %d holds %d events, %d bytes (limit %d)", off, n, raw[off], blockBytes)
		}
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
}
