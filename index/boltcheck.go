package index

import (
	"encoding/binary"
	"hash/fnv"
	"io"
	"os"
)

// checkBoltFile runs checkPages on the bbolt file at p (events.db, or bleve's
// store/root.bolt), its page size read from its first meta page.
func checkBoltFile(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	hdr := make([]byte, pageHeaderSize+16)
	if _, err := f.ReadAt(hdr, 0); err != nil {
		return damaged(storeFile, "unreadable: %v", err)
	}
	return checkPages(f, fi.Size(), int(binary.LittleEndian.Uint32(hdr[pageHeaderSize+8:])))
}

// checkPages walks the bbolt file f (size bytes, pageSize pages) from its meta page
// through every bucket's tree and its freelist, reading with ReadAt, never through the
// memory map, and checks what bbolt's own Check and its cursors read blindly: each
// page lies below the high-water mark, says its own ID, is a branch or a leaf, holds its
// elements, and each element's key and value lie within the page; no page is reached
// twice (a cycle would recurse without end). tx.Check runs on its own goroutine, where a
// fault reading past the file is fatal, not a panic: Verify runs it only after this.
//
// The layout is bbolt's (v1.x, format version 2): a 16-byte page header (id u64, flags
// u16, count u16, overflow u32), 16-byte elements (branch: pos u32, ksize u32, pgid u64;
// leaf: flags u32, pos u32, ksize u32, vsize u32; pos counts from the element), the meta
// after the header of pages 0 and 1, and a bucket value holding its root page ID and
// sequence, followed by the page itself when the root is 0 (an inline bucket).
func checkPages(f io.ReaderAt, size int64, pageSize int) error {
	ps := uint64(pageSize)
	if pageSize < 1024 || size < 2*int64(pageSize) {
		return damaged(storeFile, "%d bytes: too small for a store of %d-byte pages", size, pageSize)
	}
	m, err := readMeta(f, ps)
	if err != nil {
		return err
	}
	hwm := m.pgid
	if hwm*ps > uint64(size) || hwm < 2 {
		return damaged(storeFile, "truncated: %d bytes, its pages need %d", size, hwm*ps)
	}
	w := &pageWalker{f: f, ps: ps, hwm: hwm, seen: map[uint64]bool{}}
	if m.freelist != ^uint64(0) {
		if err := w.freelist(m.freelist); err != nil {
			return err
		}
	}
	stack := []uint64{m.root}
	for len(stack) > 0 {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		children, err := w.page(id)
		if err != nil {
			return err
		}
		stack = append(stack, children...)
	}
	return nil
}

type boltMeta struct {
	root, freelist, pgid, txid uint64
}

const (
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	pageHeaderSize = 16
	elementSize    = 16
	branchFlag     = 0x01
	leafFlag       = 0x02
	freelistFlag   = 0x10
	bucketLeafFlag = 0x01
)

// readMeta returns the valid meta page with the highest transaction ID, as bbolt does.
func readMeta(f io.ReaderAt, ps uint64) (*boltMeta, error) {
	var best *boltMeta
	for i := uint64(0); i < 2; i++ {
		b := make([]byte, 64)
		if _, err := f.ReadAt(b, int64(i*ps+pageHeaderSize)); err != nil {
			continue
		}
		h := fnv.New64a()
		h.Write(b[:56])
		le := binary.LittleEndian
		if le.Uint32(b) != boltMagic || le.Uint32(b[4:]) != boltVersion || uint64(le.Uint32(b[8:])) != ps || h.Sum64() != le.Uint64(b[56:]) {
			continue
		}
		m := &boltMeta{root: le.Uint64(b[16:]), freelist: le.Uint64(b[32:]), pgid: le.Uint64(b[40:]), txid: le.Uint64(b[48:])}
		if best == nil || m.txid > best.txid {
			best = m
		}
	}
	if best == nil {
		return nil, damaged(storeFile, "neither meta page is valid")
	}
	return best, nil
}

type pageWalker struct {
	f    io.ReaderAt
	ps   uint64
	hwm  uint64
	seen map[uint64]bool
}

// read returns page id with its overflow pages, after checking its header.
func (w *pageWalker) read(id uint64, want uint16) ([]byte, error) {
	if id < 2 || id >= w.hwm {
		return nil, damaged(storeFile, "a page points at page %d, outside the %d pages of the store", id, w.hwm)
	}
	hdr := make([]byte, pageHeaderSize)
	if _, err := w.f.ReadAt(hdr, int64(id*w.ps)); err != nil {
		return nil, damaged(storeFile, "page %d: unreadable: %v", id, err)
	}
	le := binary.LittleEndian
	flags, overflow := le.Uint16(hdr[8:]), uint64(le.Uint32(hdr[12:]))
	if le.Uint64(hdr) != id {
		return nil, damaged(storeFile, "page %d says it is page %d", id, le.Uint64(hdr))
	}
	if flags&want == 0 {
		return nil, damaged(storeFile, "page %d: flags %#x, want %#x", id, flags, want)
	}
	if id+overflow >= w.hwm {
		return nil, damaged(storeFile, "page %d: %d overflow pages run past the %d pages of the store", id, overflow, w.hwm)
	}
	for i := id; i <= id+overflow; i++ {
		if w.seen[i] {
			return nil, damaged(storeFile, "page %d is reached twice", i)
		}
		w.seen[i] = true
	}
	b := make([]byte, (overflow+1)*w.ps)
	if _, err := w.f.ReadAt(b, int64(id*w.ps)); err != nil {
		return nil, damaged(storeFile, "page %d: unreadable: %v", id, err)
	}
	return b, nil
}

func (w *pageWalker) freelist(id uint64) error {
	b, err := w.read(id, freelistFlag)
	if err != nil {
		return err
	}
	n, ids := uint64(binary.LittleEndian.Uint16(b[10:])), uint64(pageHeaderSize)
	if n == 0xFFFF {
		if len(b) < pageHeaderSize+8 {
			return damaged(storeFile, "freelist page %d does not decode", id)
		}
		n, ids = binary.LittleEndian.Uint64(b[pageHeaderSize:]), pageHeaderSize+8
	}
	if n > uint64(len(b)) || ids+8*n > uint64(len(b)) {
		return damaged(storeFile, "freelist page %d lists more pages than it holds", id)
	}
	return nil
}

// page checks a branch or leaf page and returns the pages it points at.
func (w *pageWalker) page(id uint64) ([]uint64, error) {
	b, err := w.read(id, branchFlag|leafFlag)
	if err != nil {
		return nil, err
	}
	return w.elements(id, b)
}

// elements checks the elements of page b (a page read from the file, or an inline
// bucket's page inside a value) and returns the pages they point at.
func (w *pageWalker) elements(id uint64, b []byte) ([]uint64, error) {
	le := binary.LittleEndian
	if len(b) < pageHeaderSize {
		return nil, damaged(storeFile, "page %d: an inline bucket of %d bytes does not decode", id, len(b))
	}
	flags, count := le.Uint16(b[8:]), uint64(le.Uint16(b[10:]))
	if pageHeaderSize+count*elementSize > uint64(len(b)) {
		return nil, damaged(storeFile, "page %d: %d elements do not fit in it", id, count)
	}
	var out []uint64
	for i := uint64(0); i < count; i++ {
		e := pageHeaderSize + i*elementSize
		el := b[e : e+elementSize]
		switch {
		case flags&branchFlag != 0:
			pos, ksize := uint64(le.Uint32(el)), uint64(le.Uint32(el[4:]))
			if e+pos+ksize > uint64(len(b)) {
				return nil, damaged(storeFile, "page %d: element %d's key lies outside the page", id, i)
			}
			out = append(out, le.Uint64(el[8:]))
		case flags&leafFlag != 0:
			eflags, pos, ksize, vsize := le.Uint32(el), uint64(le.Uint32(el[4:])), uint64(le.Uint32(el[8:])), uint64(le.Uint32(el[12:]))
			if e+pos+ksize+vsize > uint64(len(b)) {
				return nil, damaged(storeFile, "page %d: element %d's key or value lies outside the page", id, i)
			}
			if eflags&bucketLeafFlag == 0 {
				continue
			}
			v := b[e+pos+ksize : e+pos+ksize+vsize]
			if len(v) < 16 {
				return nil, damaged(storeFile, "page %d: element %d's bucket does not decode", id, i)
			}
			if root := le.Uint64(v); root != 0 {
				out = append(out, root)
				continue
			}
			inner, err := w.elements(id, v[16:])
			if err != nil {
				return nil, err
			}
			out = append(out, inner...)
		default:
			return nil, damaged(storeFile, "page %d: flags %#x: neither a branch nor a leaf", id, flags)
		}
	}
	return out, nil
}
