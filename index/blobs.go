package index

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// The blob log (events.zst) holds the redacted events, appended in blocks: each block is
// one zstd frame of up to blockEvents events (uvarint length + JSON each). Consecutive
// events of one cluster share most of their text, so a block compresses ~4x where one
// event alone compresses ~2x. A row points at its event: block offset, block length and
// the index in the block (blobRef).
//
// It is a plain append-only file, not a bbolt bucket: bbolt reads the pages it rewrites
// through its memory map, and a bucket of large values kept most of the store resident
// during an ingest. A kill mid-append leaves a tail no row points at; the next ingest
// appends after it.
const (
	blobFile    = "events.zst"
	blockEvents = 64
	blockBytes  = 1 << 20
	refLen      = 14 // blobRef encoding
	// maxBlock bounds what a (corrupt) row may make a reader allocate: 64 events of at
	// most the reader's 4 MiB line limit, compressed, stay far below it.
	maxBlock = 256 << 20
)

// blobRef locates one event in the blob log.
type blobRef struct {
	off   uint64
	n     uint32
	index uint16
}

func (r blobRef) put(b []byte) {
	binary.BigEndian.PutUint64(b, r.off)
	binary.BigEndian.PutUint32(b[8:], r.n)
	binary.BigEndian.PutUint16(b[12:], r.index)
}

func getRef(b []byte) (blobRef, error) {
	if len(b) < refLen {
		return blobRef{}, damaged(storeFile, "a row of %d bytes does not decode", len(b))
	}
	return blobRef{binary.BigEndian.Uint64(b), binary.BigEndian.Uint32(b[8:]), binary.BigEndian.Uint16(b[12:])}, nil
}

var (
	zenc, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	zdec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(1<<30))
)

// blobWriter appends blocks to the blob log.
type blobWriter struct {
	f   *os.File
	off uint64
}

func openBlobWriter(path string) (*blobWriter, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600) // redact: the blob log holds events redacted by Prepare
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	return &blobWriter{f: f, off: uint64(st.Size())}, nil
}

// write compresses the events' bodies in blocks (on all cores), appends them, syncs, and
// sets each event's reference. Only then may rows pointing at them be committed.
func (w *blobWriter) write(ps []*Prepared) error {
	if len(ps) == 0 {
		return nil
	}
	// block boundaries: up to blockEvents events and blockBytes of JSON (big request
	// bodies make small blocks, so a reader never inflates much to read one event)
	var cut []int
	size := 0
	for i, p := range ps {
		if len(cut) == 0 || i-cut[len(cut)-1] == blockEvents || size+len(p.blob) > blockBytes {
			cut = append(cut, i)
			size = 0
		}
		size += len(p.blob)
	}
	cut = append(cut, len(ps))
	nb := len(cut) - 1
	blocks := make([][]byte, nb)
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for b := 0; b < nb; b++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(b int) {
			defer func() { <-sem; wg.Done() }()
			var raw []byte
			for _, p := range ps[cut[b]:cut[b+1]] {
				raw = appendStr(raw, string(p.blob))
			}
			blocks[b] = zenc.EncodeAll(raw, nil)
		}(b)
	}
	wg.Wait()
	var buf []byte
	for b, blk := range blocks {
		for i, p := range ps[cut[b]:cut[b+1]] {
			p.ref = blobRef{off: w.off + uint64(len(buf)), n: uint32(len(blk)), index: uint16(i)}
		}
		buf = append(buf, blk...)
	}
	if _, err := w.f.Write(buf); err != nil {
		return fmt.Errorf("writing %s: %w", w.f.Name(), err)
	}
	w.off += uint64(len(buf))
	return nil
}

func (w *blobWriter) sync() error { return w.f.Sync() }

func (w *blobWriter) close() error { return w.f.Close() }

// readBlob returns the event ref points at in the blob log f.
func readBlob(f io.ReaderAt, ref blobRef) ([]byte, error) {
	if ref.n > maxBlock {
		return nil, damaged(storeFile, "a row points at a block of %d bytes in %s", ref.n, blobFile)
	}
	blk := make([]byte, ref.n)
	if _, err := f.ReadAt(blk, int64(ref.off)); err != nil {
		return nil, damaged(blobFile, "reading %d bytes at offset %d: %v", ref.n, ref.off, err)
	}
	raw, err := zdec.DecodeAll(blk, nil)
	if err != nil {
		return nil, damaged(blobFile, "the block at offset %d does not decompress: %v", ref.off, err)
	}
	d := &sigReader{b: raw}
	for i := 0; ; i++ {
		s := d.bytes()
		if d.err != nil {
			return nil, damaged(blobFile, "the block at offset %d holds no event %d", ref.off, ref.index)
		}
		if i == int(ref.index) {
			return s, nil
		}
	}
}
