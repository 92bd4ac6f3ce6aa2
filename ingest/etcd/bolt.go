package etcd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
)

// The bbolt on-disk format (go.etcd.io/bbolt internal/common), read here directly
// because bbolt's API does not expose which pages are free, and carving needs exactly
// those. All integers are little-endian (bbolt writes native order; every platform etcd
// ships on is little-endian).
const (
	boltMagic          = 0xED0CDAED
	boltVersion        = 2
	pageHeaderSize     = 16 // id u64, flags u16, count u16, overflow u32
	branchElemSize     = 16 // pos u32, ksize u32, pgid u64
	leafElemSize       = 16 // flags u32, pos u32, ksize u32, vsize u32
	bucketHeaderSize   = 16 // root pgid u64, sequence u64
	branchPageFlag     = 0x01
	leafPageFlag       = 0x02
	metaPageFlag       = 0x04
	freelistPageFlag   = 0x10
	bucketLeafFlag     = 0x01
	metaSize           = 64
	noFreelist         = ^uint64(0)
	maxReasonablePages = 1 << 40
)

// boltMeta is a decoded bbolt meta page.
type boltMeta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	hwm      uint64 // high-water mark: pages in use by the file
	txid     uint64
}

// ErrNotBolt is returned for files that are not bbolt databases at all.
var ErrNotBolt = errors.New("not a bbolt database (no bbolt magic number at the start): is it an etcd snapshot or member/snap/db file?")

// readMeta decodes the meta page that starts at b (page header included).
func readMeta(b []byte) (boltMeta, error) {
	le := binary.LittleEndian
	if len(b) < pageHeaderSize+4 || le.Uint32(b[pageHeaderSize:]) != boltMagic {
		return boltMeta{}, ErrNotBolt
	}
	if len(b) < pageHeaderSize+metaSize {
		return boltMeta{}, errors.New("meta page is cut short")
	}
	m := b[pageHeaderSize : pageHeaderSize+metaSize]
	if v := le.Uint32(m[4:]); v != boltVersion {
		return boltMeta{}, fmt.Errorf("bbolt format version %d (this reader knows %d)", v, boltVersion)
	}
	h := fnv.New64a()
	h.Write(m[:56])
	if h.Sum64() != le.Uint64(m[56:]) {
		return boltMeta{}, errors.New("meta page checksum does not match")
	}
	meta := boltMeta{pageSize: le.Uint32(m[8:]), root: le.Uint64(m[16:]), freelist: le.Uint64(m[32:]), hwm: le.Uint64(m[40:]), txid: le.Uint64(m[48:])}
	if meta.pageSize < 512 || meta.pageSize > 1<<20 || meta.pageSize&(meta.pageSize-1) != 0 {
		return boltMeta{}, fmt.Errorf("implausible page size %d", meta.pageSize)
	}
	if meta.hwm < 2 || meta.hwm > maxReasonablePages || meta.root >= meta.hwm {
		return boltMeta{}, fmt.Errorf("implausible page counts (root %d, high-water mark %d)", meta.root, meta.hwm)
	}
	return meta, nil
}

// pickMeta reads both meta pages and returns the valid one with the higher transaction,
// as bbolt does on open. head holds at least the first page; readAt fetches the second.
func pickMeta(head []byte, readAt func(p []byte, off int64) (int, error)) (boltMeta, error) {
	m0, err0 := readMeta(head)
	if errors.Is(err0, ErrNotBolt) {
		return boltMeta{}, ErrNotBolt
	}
	ps := uint32(4096)
	if err0 == nil {
		ps = m0.pageSize
	} else if len(head) >= pageHeaderSize+12 {
		// The checksum failed but the page size field may still be right.
		if v := binary.LittleEndian.Uint32(head[pageHeaderSize+8:]); v >= 512 && v <= 1<<20 && v&(v-1) == 0 {
			ps = v
		}
	}
	buf := make([]byte, pageHeaderSize+metaSize)
	var m1 boltMeta
	err1 := errors.New("second meta page is missing")
	if n, err := readAt(buf, int64(ps)); n == len(buf) || err == nil {
		m1, err1 = readMeta(buf)
	}
	switch {
	case err0 == nil && err1 == nil:
		if m1.txid > m0.txid {
			return m1, nil
		}
		return m0, nil
	case err0 == nil:
		return m0, nil
	case err1 == nil:
		return m1, nil
	}
	return boltMeta{}, fmt.Errorf("both bbolt meta pages are invalid (%v; %v)", err0, err1)
}

// pageSet marks pages by id.
type pageSet []uint64

func newPageSet(n uint64) pageSet        { return make(pageSet, (n+63)/64) }
func (s pageSet) has(id uint64) bool     { return id/64 < uint64(len(s)) && s[id/64]&(1<<(id%64)) != 0 }
func (s pageSet) add(id uint64)          { s[id/64] |= 1 << (id % 64) }
func (s pageSet) inRange(id uint64) bool { return id/64 < uint64(len(s)) }

// usedPages walks the tree of the current meta and returns every page it reaches (with
// overflow), the meta pages and the freelist. Every other page below the high-water mark
// is free: left over from older transactions, and the place remnants are carved from.
// Pages are read with ReadAt rather than mapped, so that the walk does not add the whole
// file to the process's resident memory. Corrupt structure ends the walk of that branch;
// it never panics.
func usedPages(readAt func(p []byte, off int64) (int, error), m boltMeta) pageSet {
	ps := uint64(m.pageSize)
	used := newPageSet(m.hwm)
	used.add(0)
	used.add(1)
	hdr := make([]byte, pageHeaderSize)
	var scratch []byte
	// mark records a page and its overflow as used and returns its bytes (nil when it
	// was already seen or cannot be read). needBody false reads only the header.
	mark := func(id uint64, needBody bool) (page []byte, ok bool) {
		if id >= m.hwm || used.has(id) {
			return nil, false
		}
		if n, err := readAt(hdr, int64(id*ps)); n != len(hdr) && err != nil {
			return nil, false
		}
		overflow := uint64(binary.LittleEndian.Uint32(hdr[12:]))
		end := id + 1 + overflow
		if end > m.hwm || end < id {
			end = m.hwm
		}
		for p := id; p < end; p++ {
			used.add(p)
		}
		if !needBody {
			return hdr, true
		}
		flags := binary.LittleEndian.Uint16(hdr[8:])
		if flags != branchPageFlag && flags != leafPageFlag {
			return nil, true
		}
		size := (end - id) * ps
		if flags == leafPageFlag {
			// Most leaves hold only records; read them into scratch and keep a copy only
			// of those that hold buckets (which the walk descends into).
			if uint64(cap(scratch)) < size {
				scratch = make([]byte, size)
			}
			b := scratch[:size]
			if n, err := readAt(b, int64(id*ps)); n != len(b) && err != nil {
				return nil, true
			}
			if !hasBucket(b) {
				return nil, true
			}
			return append([]byte(nil), b...), true
		}
		b := make([]byte, size)
		if n, err := readAt(b, int64(id*ps)); n != len(b) && err != nil {
			return nil, true
		}
		return b, true
	}
	if m.freelist != noFreelist {
		mark(m.freelist, false)
	}
	var walk func(page []byte, depth int)
	walk = func(page []byte, depth int) {
		if depth > 64 || len(page) < pageHeaderSize {
			return
		}
		le := binary.LittleEndian
		flags := le.Uint16(page[8:])
		count := int(le.Uint16(page[10:]))
		switch flags {
		case branchPageFlag:
			for i := 0; i < count; i++ {
				off := pageHeaderSize + i*branchElemSize
				if off+branchElemSize > len(page) {
					return
				}
				if p, ok := mark(le.Uint64(page[off+8:]), true); ok && p != nil {
					walk(p, depth+1)
				}
			}
		case leafPageFlag:
			for i := 0; i < count; i++ {
				off := pageHeaderSize + i*leafElemSize
				if off+leafElemSize > len(page) {
					return
				}
				if le.Uint32(page[off:])&bucketLeafFlag == 0 {
					continue
				}
				pos, ks, vs := int(le.Uint32(page[off+4:])), int(le.Uint32(page[off+8:])), int(le.Uint32(page[off+12:]))
				vstart := off + pos + ks
				if pos < 0 || ks < 0 || vstart < 0 || vs < bucketHeaderSize || vstart+vs > len(page) || vstart+vs < vstart {
					continue
				}
				v := page[vstart : vstart+vs]
				if root := le.Uint64(v); root == 0 {
					walk(v[bucketHeaderSize:], depth+1) // inline bucket
				} else if p, ok := mark(root, true); ok && p != nil {
					walk(p, depth+1)
				}
			}
		}
	}
	if p, ok := mark(m.root, true); ok && p != nil {
		walk(p, 0)
	}
	return used
}

// hasBucket reports whether a leaf page holds a bucket element.
func hasBucket(page []byte) bool {
	count := int(binary.LittleEndian.Uint16(page[10:]))
	for i := 0; i < count; i++ {
		off := pageHeaderSize + i*leafElemSize
		if off+leafElemSize > len(page) {
			return false
		}
		if binary.LittleEndian.Uint32(page[off:])&bucketLeafFlag != 0 {
			return true
		}
	}
	return false
}
