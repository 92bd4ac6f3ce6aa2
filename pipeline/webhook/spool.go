// Package webhook is kube-apiserver's audit webhook backend as a live source of the
// pipeline: an HTTPS endpoint that accepts the EventList batches the apiserver posts
// (--audit-webhook-config-file), a durable spool that a batch is written to (and
// fsync'd) before it is answered 200, and a pipeline.LiveSource that reads the spool in
// order, its position checkpointed with the engine's state, so that every acknowledged
// event is processed exactly once across crashes.
//
//	apiserver ──POST──► Server: auth (mTLS, token), size, EventList check
//	                      └─► Spool.Append: group commit, fsync ──► 200 (or 429 when full)
//	Spool ──► Source (pipeline.Live): decode, rules, engine ──► sinks; checkpoint ──►
//	Spool.Release: segments before the checkpoint are deleted
//
// The apiserver never waits on the rules: an answer costs a parse of the envelope, a
// write and a shared fsync.
package webhook

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Pos is a place in the spool: a segment's number and a byte offset in it.
type Pos struct {
	Seg uint64 `json:"segment"`
	Off int64  `json:"offset"`
}

// ErrFull is Append's answer when the spool holds MaxBytes: the batch is refused (429),
// the apiserver re-sends it later.
var ErrFull = errors.New("spool full")

// ErrClosed is Append's answer after Close.
var ErrClosed = errors.New("spool closed")

const (
	recMagic  = 0x4b535731 // "KSW1"
	recHeader = 12         // magic, length, CRC-32C of the body
	segPrefix = "seg-"
	segSuffix = ".spool"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// SpoolOptions bound a spool.
type SpoolOptions struct {
	// MaxBytes bounds the segments on disk (what is not yet processed and checkpointed).
	// Default 1 GiB.
	MaxBytes int64
	// SegmentBytes is the size at which a new segment is started (segments are deleted
	// whole, once a checkpoint stands past them). Default 64 MiB, at most MaxBytes/8.
	SegmentBytes int64
	// NoSync skips fsync (tests of everything but durability; never in serve).
	NoSync bool
}

// Spool is an append-only queue of batches in segment files, written by many handlers at
// once (their appends share one write and one fsync: a group commit) and read by one
// Source. A record is a 12-byte header (magic, length, CRC-32C) and the batch's body.
//
// Failure modes: a write or fsync error fails the appends it concerned (the handlers
// answer 500: nothing was acknowledged) and every later one (the spool is broken: a
// restart recovers it). Open truncates a torn record at the end of the last segment
// (written by a process killed during the write: it was never acknowledged) and refuses
// a segment that is damaged before its end.
type Spool struct {
	dir  string
	opts SpoolOptions

	reqs   chan *appendReq
	notify chan struct{}
	done   chan struct{}

	mu      sync.Mutex
	segs    []segment // on disk, oldest first; the last is being written
	total   int64     // bytes of every segment
	durable Pos       // end of what was fsync'd: what a reader may read
	broken  error
	closed  bool

	cur *os.File // the last segment, open for appending (writer goroutine)
}

type segment struct {
	n    uint64
	size int64
}

type appendReq struct {
	body []byte
	done chan error
}

// OpenSpool opens (or creates, 0700) the spool folder and recovers it.
func OpenSpool(dir string, opts SpoolOptions) (*Spool, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 1 << 30
	}
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = 64 << 20
	}
	// the segment kept after a release (see Release) must not fill the bound
	opts.SegmentBytes = max(min(opts.SegmentBytes, opts.MaxBytes/8), 1)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	s := &Spool{dir: dir, opts: opts, reqs: make(chan *appendReq, 1024), notify: make(chan struct{}, 1), done: make(chan struct{})}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, segPrefix) || !strings.HasSuffix(name, segSuffix) {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(name, segPrefix), segSuffix), 10, 64)
		if err != nil {
			continue
		}
		st, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
		s.segs = append(s.segs, segment{n: n, size: st.Size()})
	}
	sort.Slice(s.segs, func(i, j int) bool { return s.segs[i].n < s.segs[j].n })
	for i := 1; i < len(s.segs); i++ {
		if s.segs[i].n != s.segs[i-1].n+1 {
			return nil, fmt.Errorf("spool %s: segment %d is missing (found %d and %d)", dir, s.segs[i-1].n+1, s.segs[i-1].n, s.segs[i].n)
		}
	}
	if len(s.segs) == 0 {
		s.segs = []segment{{n: 1}}
	} else if err := s.recoverLast(); err != nil {
		return nil, err
	}
	last := &s.segs[len(s.segs)-1]
	// redact: the spool holds the batches as the apiserver posted them: input at rest
	// like the apiserver's own audit log (0600 in a 0700 folder), read back by the
	// pipeline, whose outputs are redacted; deleted once processed and checkpointed
	f, err := os.OpenFile(s.path(last.n), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	s.cur = f
	s.syncDir()
	for _, sg := range s.segs {
		s.total += sg.size
	}
	s.durable = Pos{Seg: last.n, Off: last.size}
	go s.writer()
	return s, nil
}

func (s *Spool) path(n uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%s%016d%s", segPrefix, n, segSuffix))
}

// Dir is the spool's folder.
func (s *Spool) Dir() string { return s.dir }

// recoverLast checks the records of the last segment and cuts a torn one at its end.
func (s *Spool) recoverLast() error {
	last := &s.segs[len(s.segs)-1]
	// redact: opened to truncate a torn record, nothing is written
	f, err := os.OpenFile(s.path(last.n), os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	var off int64
	hdr := make([]byte, recHeader)
	for off < last.size {
		n, err := readRecord(f, off, hdr, nil)
		if err != nil {
			break
		}
		off += n
	}
	if off < last.size {
		if err := f.Truncate(off); err != nil {
			return fmt.Errorf("spool: cutting the torn record at %s offset %d: %w", s.path(last.n), off, err)
		}
		if !s.opts.NoSync {
			if err := f.Sync(); err != nil {
				return fmt.Errorf("spool: %w", err)
			}
		}
		last.size = off
	}
	return nil
}

// errBadRecord is a record whose header or CRC is wrong, or that the file ends inside.
var errBadRecord = errors.New("bad record")

// readRecord reads the record at off into body (when not nil: its length is checked
// only) and returns the record's length.
func readRecord(r io.ReaderAt, off int64, hdr []byte, body *[]byte) (int64, error) {
	if _, err := r.ReadAt(hdr, off); err != nil {
		return 0, errBadRecord
	}
	if binary.BigEndian.Uint32(hdr[0:4]) != recMagic {
		return 0, errBadRecord
	}
	n := int64(binary.BigEndian.Uint32(hdr[4:8]))
	b := make([]byte, n)
	if _, err := r.ReadAt(b, off+recHeader); err != nil {
		return 0, errBadRecord
	}
	if crc32.Checksum(b, castagnoli) != binary.BigEndian.Uint32(hdr[8:12]) {
		return 0, errBadRecord
	}
	if body != nil {
		*body = b
	}
	return recHeader + n, nil
}

// Append writes body as one record and returns once it is fsync'd (nil), or refused
// (ErrFull: the spool would exceed MaxBytes), or failed.
func (s *Spool) Append(body []byte) error {
	if int64(len(body)) > 1<<32-1 {
		return ErrFull
	}
	r := &appendReq{body: body, done: make(chan error, 1)}
	select {
	case s.reqs <- r:
	case <-s.done:
		return ErrClosed
	}
	select {
	case err := <-r.done:
		return err
	case <-s.done:
		// not answered: not acknowledged (the client sends it again; the source's
		// duplicate filter drops it if it was written after all)
		return ErrClosed
	}
}

// writer is the one goroutine that writes: it takes every append waiting, writes them,
// fsyncs once and answers them all.
func (s *Spool) writer() {
	var batch []*appendReq
	var buf []byte
	for {
		var first *appendReq
		select {
		case first = <-s.reqs:
		case <-s.done:
			return
		}
		batch = append(batch[:0], first)
	drain:
		for len(batch) < cap(s.reqs) {
			select {
			case r := <-s.reqs:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		s.mu.Lock()
		broken, total := s.broken, s.total
		s.mu.Unlock()
		buf = buf[:0]
		var ok []*appendReq
		for _, r := range batch {
			size := int64(recHeader + len(r.body))
			switch {
			case broken != nil:
				r.done <- broken
				continue
			case total+size > s.opts.MaxBytes:
				r.done <- ErrFull
				continue
			}
			// a new segment when this one is big enough: what is gathered goes first
			if s.durable.Off+int64(len(buf)) > 0 && s.durable.Off+int64(len(buf))+size > s.opts.SegmentBytes {
				if err := s.commit(buf, ok); err != nil {
					broken = err
				} else if err := s.rotate(); err != nil {
					broken = err
					s.setBroken(err)
				}
				buf, ok = buf[:0], ok[:0]
				if broken != nil {
					r.done <- broken
					continue
				}
			}
			var hdr [recHeader]byte
			binary.BigEndian.PutUint32(hdr[0:4], recMagic)
			binary.BigEndian.PutUint32(hdr[4:8], uint32(len(r.body)))
			binary.BigEndian.PutUint32(hdr[8:12], crc32.Checksum(r.body, castagnoli))
			buf = append(append(buf, hdr[:]...), r.body...)
			total += size
			ok = append(ok, r)
		}
		if len(ok) > 0 {
			s.commit(buf, ok)
		}
		clear(batch)
	}
}

// commit writes buf (the records of reqs), fsyncs, publishes the new durable end and
// answers reqs.
func (s *Spool) commit(buf []byte, reqs []*appendReq) error {
	if len(reqs) == 0 {
		return nil
	}
	_, err := s.cur.Write(buf)
	if err == nil && !s.opts.NoSync {
		err = s.cur.Sync()
	}
	if err != nil {
		err = fmt.Errorf("spool %s: %w", s.cur.Name(), err)
		s.setBroken(err)
	} else {
		s.mu.Lock()
		s.durable.Off += int64(len(buf))
		s.segs[len(s.segs)-1].size = s.durable.Off
		s.total += int64(len(buf))
		s.mu.Unlock()
		select {
		case s.notify <- struct{}{}:
		default:
		}
	}
	for _, r := range reqs {
		r.done <- err
	}
	return err
}

func (s *Spool) setBroken(err error) {
	s.mu.Lock()
	if s.broken == nil {
		s.broken = err
	}
	s.mu.Unlock()
}

// rotate closes the current segment (fsync'd by its last commit) and starts the next.
func (s *Spool) rotate() error {
	n := s.durable.Seg + 1
	// redact: a spool segment, see OpenSpool
	f, err := os.OpenFile(s.path(n), os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.syncDir()
	s.cur.Close()
	s.cur = f
	s.mu.Lock()
	s.segs = append(s.segs, segment{n: n})
	s.durable = Pos{Seg: n}
	s.mu.Unlock()
	return nil
}

func (s *Spool) syncDir() {
	if s.opts.NoSync {
		return
	}
	if d, err := os.Open(s.dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// Notify is signalled (at most one pending) after each commit: a reader at the end waits
// on it.
func (s *Spool) Notify() <-chan struct{} { return s.notify }

// Durable is the end of what was fsync'd.
func (s *Spool) Durable() Pos {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.durable
}

// Bytes is what the segments on disk hold, and MaxBytes.
func (s *Spool) Bytes() (int64, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total, s.opts.MaxBytes
}

// After is how many bytes of records lie after p.
func (s *Spool) After(p Pos) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, sg := range s.segs {
		switch {
		case sg.n == p.Seg:
			n += max(sg.size-p.Off, 0)
		case sg.n > p.Seg:
			n += sg.size
		}
	}
	return n
}

// Start is the first record kept: where a reader without a checkpoint starts.
func (s *Spool) Start() Pos {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Pos{Seg: s.segs[0].n}
}

// Check tells whether p lies within the spool (a checkpoint of this spool).
func (s *Spool) Check(p Pos) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	first, last := s.segs[0], s.segs[len(s.segs)-1]
	if p.Seg < first.n || p.Seg > last.n {
		return fmt.Errorf("the checkpoint stands in spool segment %d, the spool %s holds %d to %d: it is not this spool's, or segments were removed", p.Seg, s.dir, first.n, last.n)
	}
	if sg := s.segs[p.Seg-first.n]; p.Off > sg.size {
		return fmt.Errorf("the checkpoint stands at offset %d of spool segment %d, which holds %d bytes: the spool was cut", p.Off, p.Seg, sg.size)
	}
	return nil
}

// Release deletes the segments before the one before p's (a checkpoint stands at p):
// one whole segment of what was processed is kept, for the duplicate filter of a
// restart (see Source).
func (s *Spool) Release(p Pos) {
	s.mu.Lock()
	var drop []segment
	for len(s.segs) > 1 && s.segs[0].n+1 < p.Seg {
		drop = append(drop, s.segs[0])
		s.total -= s.segs[0].size
		s.segs = s.segs[1:]
	}
	s.mu.Unlock()
	for _, sg := range drop {
		os.Remove(s.path(sg.n))
	}
}

// Batch is one record read back.
type Batch struct {
	Body []byte
	At   Pos // where the record starts
}

// Reader reads the spool's records in order from a position. One goroutine.
type Reader struct {
	s   *Spool
	pos Pos
	f   *os.File
	fn  uint64
	hdr []byte
	// Until, when set, is where Read stops (a record boundary).
	Until *Pos
}

// NewReader reads from p.
func (s *Spool) NewReader(p Pos) *Reader { return &Reader{s: s, pos: p, hdr: make([]byte, recHeader)} }

// Pos is the position after the last record read.
func (r *Reader) Pos() Pos { return r.pos }

// Close closes the segment open for reading.
func (r *Reader) Close() {
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
}

// Read returns the records from the reader's position up to max bytes (at least one
// when one is durable) and moves past them; none when it is at the durable end.
//
// Failure modes: a record that does not check (a segment damaged after it was written)
// is an error naming the segment and offset: the reader stops there, never skips.
func (r *Reader) Read(max int64, out []Batch) ([]Batch, error) {
	var got int64
	for got < max {
		if u := r.Until; u != nil && (r.pos.Seg > u.Seg || r.pos.Seg == u.Seg && r.pos.Off >= u.Off) {
			return out, nil
		}
		d := r.s.Durable()
		if r.pos.Seg == d.Seg && r.pos.Off >= d.Off {
			return out, nil
		}
		if r.pos.Seg < d.Seg {
			// a segment before the last is whole: past its end, on to the next
			r.s.mu.Lock()
			first := r.s.segs[0].n
			size := int64(-1)
			if r.pos.Seg >= first {
				size = r.s.segs[r.pos.Seg-first].size
			}
			r.s.mu.Unlock()
			if size < 0 {
				return out, fmt.Errorf("spool segment %d was released before it was read", r.pos.Seg)
			}
			if r.pos.Off >= size {
				r.pos = Pos{Seg: r.pos.Seg + 1}
				continue
			}
		}
		if r.f == nil || r.fn != r.pos.Seg {
			r.Close()
			f, err := os.Open(r.s.path(r.pos.Seg))
			if err != nil {
				return out, fmt.Errorf("spool: %w", err)
			}
			r.f, r.fn = f, r.pos.Seg
		}
		var body []byte
		n, err := readRecord(r.f, r.pos.Off, r.hdr, &body)
		if err != nil {
			return out, fmt.Errorf("spool %s offset %d: a record that does not check (damaged after it was written)", r.s.path(r.pos.Seg), r.pos.Off)
		}
		out = append(out, Batch{Body: body, At: r.pos})
		r.pos.Off += n
		got += n
	}
	return out, nil
}

// Close stops the writer; appends waiting are answered ErrClosed.
func (s *Spool) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.done)
	// the writer may be inside a commit: it finishes it (its handlers are answered); the
	// file is closed by the process's end otherwise
	return nil
}
