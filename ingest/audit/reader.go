package audit

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/maphash"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"

	"unicode/utf8"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// DefaultMaxLineBytes is the default limit on one line (or one JSON value of a document).
const DefaultMaxLineBytes = 4 << 20

// Options tune a Reader. The zero value is usable.
type Options struct {
	// MaxLineBytes skips (and reports) lines longer than this. Default 4 MiB.
	MaxLineBytes int
	// Strict makes the first bad input end the run with that error.
	Strict bool
	// Workers decoding in parallel. Default GOMAXPROCS.
	Workers int
	// KeepDuplicates passes repeated auditID+stage events on instead of dropping them.
	KeepDuplicates bool
	// OnError is called, in input order, for every piece of bad input, and first for
	// every path in Notes.
	OnError func(*InputError)
	// Notes are paths ExpandNotes skipped (links to a loop or to what is read already,
	// dangling links). They are reported and counted (as files) before the first input,
	// and never end the run under Strict: they are not bad content.
	Notes []*InputError
	// Stdin is read for the input "-". Default os.Stdin.
	Stdin io.Reader
	// Prepare, when set, is called once by each decoding goroutine; the function it
	// returns runs on every event that goroutine decodes, and its result is handed over
	// as Record.Prepared. It moves per-event work that needs no order (rule evaluation)
	// onto all cores. It may see events later dropped as duplicates.
	Prepare func() func(*auditv1.Event) any
	// Digest makes the reader take each file's SHA-256 over the very bytes it reads
	// (see Reader.Digest), for a chain of custody that holds when the file grows or
	// changes while it is read. It costs one hash pass in the splitting goroutine.
	Digest bool
}

// FileDigest is the SHA-256 and length of the bytes the reader took from one input file:
// every event it read from that file lies within them, even if the file grew while it
// was read (the bytes read past the stat size are covered too).
type FileDigest struct {
	Size   int64
	SHA256 string
	// OK is false when the file was not read to its end (an error, a cancelled run,
	// standard input): Size and SHA256 then describe nothing.
	OK bool
}

// Source says where an event was read: the file, the line it starts on (1-based) and
// its byte offset in the decompressed stream.
type Source struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Offset int64  `json:"offset"`
}

func (s Source) String() string { return fmt.Sprintf("%s:%d", s.File, s.Line) }

// Record is one audit event and where it came from. Events from one wrapper (an
// EventList line, an Event Hubs batch) share the wrapper's Source.
type Record struct {
	Event  *auditv1.Event
	Source Source
	// Prepared is what Options.Prepare's function returned for Event (nil without it).
	Prepared any
}

// Reader reads audit events from a list of inputs. Use Each once.
type Reader struct {
	inputs []Input
	opts   Options
	read   atomic.Int64 // bytes of input consumed, for progress
	sum    Summary
	digest []FileDigest // per input, with Options.Digest; written by the producer
}

// Digest is input i's FileDigest (Options.Digest). It is complete once Each has returned
// and must not be called before.
func (r *Reader) Digest(i int) FileDigest {
	if i < 0 || i >= len(r.digest) {
		return FileDigest{}
	}
	return r.digest[i]
}

// Open expands the arguments (files, folders, globs, "-") and prepares a Reader; what
// the expansion skipped (see ExpandNotes) is reported as Options.Notes. It fails when an
// argument names nothing readable.
func Open(args []string, opts Options) (*Reader, error) {
	inputs, notes, err := ExpandNotes(args)
	if err != nil {
		return nil, err
	}
	opts.Notes = append(notes, opts.Notes...)
	return NewReader(inputs, opts), nil
}

// NewReader prepares a Reader over already expanded inputs.
func NewReader(inputs []Input, opts Options) *Reader {
	if opts.MaxLineBytes <= 0 {
		opts.MaxLineBytes = DefaultMaxLineBytes
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.Stdin == nil {
		opts.Stdin = os.Stdin
	}
	r := &Reader{inputs: inputs, opts: opts}
	if opts.Digest {
		r.digest = make([]FileDigest, len(inputs))
	}
	r.sum.Skipped, r.sum.SkippedUnits = map[Reason]int{}, map[Unit]int{}
	for _, in := range inputs {
		r.sum.Files = append(r.sum.Files, &FileStats{Path: in.Path, Bytes: in.Size, Skipped: map[Reason]int{}, SkippedUnits: map[Unit]int{}})
	}
	return r
}

// Inputs lists what will be read, in order.
func (r *Reader) Inputs() []Input { return r.inputs }

// TotalBytes is the size of all inputs on disk (standard input counts 0).
func (r *Reader) TotalBytes() int64 {
	var n int64
	for _, in := range r.inputs {
		n += in.Size
	}
	return n
}

// BytesRead is how much of the inputs has been consumed so far (on-disk bytes, so that
// it compares with TotalBytes for compressed files too). Safe to call concurrently.
func (r *Reader) BytesRead() int64 { return r.read.Load() }

// Summary is the account of the read so far; complete once Each has returned.
func (r *Reader) Summary() *Summary { return &r.sum }

// item is one unit of work: a line or a document value, or bad input found while
// splitting (too long, truncated, binary).
type item struct {
	start, end int // data = batch.buf[start:end]
	line       int
	off        int64
	unit       Unit        // what the item is: a whole line, or a value of a document
	bad        *InputError // set: report this instead of decoding
}

// batch is a run of items from one file, decoded by one worker.
type batch struct {
	file  int
	buf   []byte
	items []item
	out   [][]decoded // per item
	done  chan struct{}
}

const (
	batchBytes = 512 << 10
	batchItems = 2048
)

var batchPool = sync.Pool{New: func() any { return &batch{buf: make([]byte, 0, batchBytes+64<<10)} }}

// Each reads every input and calls fn for each event, in input order. It returns the
// first error of fn, ctx's error, or with Options.Strict the first bad input. Bad input
// is otherwise reported through Options.OnError, counted, and skipped.
func (r *Reader) Each(ctx context.Context, fn func(Record) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	work := make(chan *batch, r.opts.Workers)
	order := make(chan *batch, r.opts.Workers*2+1)
	var wg sync.WaitGroup
	for i := 0; i < r.opts.Workers; i++ {
		wg.Add(1)
		var prep func(*auditv1.Event) any
		if r.opts.Prepare != nil {
			prep = r.opts.Prepare()
		}
		go func() {
			defer wg.Done()
			for b := range work {
				b.decode(prep)
			}
		}()
	}
	go func() {
		r.produce(ctx, work, order)
		close(work)
		close(order)
	}()
	err := r.collect(ctx, order, fn)
	cancel()
	// drain so the producer and workers can finish
	for b := range order {
		<-b.done
	}
	wg.Wait()
	return err
}

func (b *batch) decode(prep func(*auditv1.Event) any) {
	if cap(b.out) < len(b.items) {
		b.out = make([][]decoded, len(b.items))
	}
	b.out = b.out[:len(b.items)]
	for i, it := range b.items {
		b.out[i] = b.out[i][:0]
		if it.bad == nil {
			b.out[i] = decodeValue(b.buf[it.start:it.end], b.out[i])
			if prep != nil {
				for j := range b.out[i] {
					if ev := b.out[i][j].ev; ev != nil {
						b.out[i][j].prep = prep(ev)
					}
				}
			}
		}
	}
	close(b.done)
}

// collect hands events to fn in order, dropping duplicates and keeping the account.
func (r *Reader) collect(ctx context.Context, order <-chan *batch, fn func(Record) error) error {
	seed1, seed2 := maphash.MakeSeed(), maphash.MakeSeed()
	var h1, h2 maphash.Hash
	h1.SetSeed(seed1)
	h2.SetSeed(seed2)
	seen := map[[2]uint64]struct{}{}

	report := func(fs *FileStats, e *InputError) error {
		fs.Skipped[e.Reason]++
		fs.SkippedUnits[e.Unit]++
		r.sum.Skipped[e.Reason]++
		r.sum.SkippedUnits[e.Unit]++
		if r.opts.OnError != nil {
			r.opts.OnError(e)
		}
		if r.opts.Strict {
			return e
		}
		return nil
	}
	for _, n := range r.opts.Notes {
		r.sum.Skipped[n.Reason]++
		r.sum.SkippedUnits[n.Unit]++
		if r.opts.OnError != nil {
			r.opts.OnError(n)
		}
	}
	for b := range order {
		<-b.done
		if err := ctx.Err(); err != nil {
			return err
		}
		fs := r.sum.Files[b.file]
		for i, it := range b.items {
			if it.bad != nil {
				if err := report(fs, it.bad); err != nil {
					return err
				}
				continue
			}
			for _, d := range b.out[i] {
				if d.ev == nil {
					unit := it.unit
					if d.inList {
						unit = UnitValue
					}
					e := &InputError{File: fs.Path, Line: it.line, Offset: it.off, Reason: d.reason, Unit: unit, Msg: d.msg}
					if err := report(fs, e); err != nil {
						return err
					}
					continue
				}
				ev := d.ev
				if !r.opts.KeepDuplicates {
					h1.Reset()
					h2.Reset()
					for _, h := range []*maphash.Hash{&h1, &h2} {
						h.WriteString(string(ev.AuditID))
						h.WriteByte(0)
						h.WriteString(string(ev.Stage))
					}
					k := [2]uint64{h1.Sum64(), h2.Sum64()}
					if _, dup := seen[k]; dup {
						fs.Duplicates++
						r.sum.Duplicates++
						continue
					}
					seen[k] = struct{}{}
				}
				fs.Events++
				r.sum.Events++
				t := ev.RequestReceivedTimestamp.Time
				if !t.IsZero() {
					if fs.First == nil || t.Before(*fs.First) {
						tt := t
						fs.First = &tt
					}
					if fs.Last == nil || t.After(*fs.Last) {
						tt := t
						fs.Last = &tt
					}
				}
				if err := fn(Record{Event: ev, Source: Source{File: fs.Path, Line: it.line, Offset: it.off}, Prepared: d.prep}); err != nil {
					return err
				}
			}
		}
		b.items = b.items[:0]
		b.buf = b.buf[:0]
		batchPool.Put(b)
	}
	return ctx.Err()
}

// produce splits every input into batches, in order.
func (r *Reader) produce(ctx context.Context, work, order chan<- *batch) {
	for i := range r.inputs {
		if ctx.Err() != nil {
			return
		}
		p := &splitter{r: r, file: i, ctx: ctx, work: work, order: order}
		p.split()
		p.flush()
	}
}

// splitter cuts one input into items and sends them in batches.
type splitter struct {
	r           *Reader
	file        int
	ctx         context.Context
	work, order chan<- *batch
	cur         *batch
	raw         *bufio.Reader // the file's bytes, before decompression
}

// digester hashes and counts what passes through it.
type digester struct {
	h hash.Hash
	n int64
}

func (d *digester) Write(b []byte) (int, error) {
	d.h.Write(b)
	d.n += int64(len(b))
	return len(b), nil
}

// finishDigest reads what the splitter left of the file (the rest of a binary file, a
// gzip trailer, lines appended since EOF) so that the digest covers the whole of what
// was read, and records it. A cancelled run or a read error leaves the digest not OK.
func (p *splitter) finishDigest(d *digester) {
	if p.ctx.Err() != nil || p.raw == nil {
		return
	}
	if _, err := io.Copy(io.Discard, p.raw); err != nil {
		return
	}
	p.r.digest[p.file] = FileDigest{Size: d.n, SHA256: hex.EncodeToString(d.h.Sum(nil)), OK: true}
}

func (p *splitter) path() string { return p.r.inputs[p.file].Path }

func (p *splitter) batch() *batch {
	if p.cur == nil {
		b := batchPool.Get().(*batch)
		b.file = p.file
		b.done = make(chan struct{})
		p.cur = b
	}
	return p.cur
}

func (p *splitter) add(data []byte, line int, off int64, unit Unit) {
	b := p.batch()
	start := len(b.buf)
	b.buf = append(b.buf, data...)
	b.items = append(b.items, item{start: start, end: len(b.buf), line: line, off: off, unit: unit})
	if len(b.buf) >= batchBytes || len(b.items) >= batchItems {
		p.flush()
	}
}

func (p *splitter) bad(line int, off int64, reason Reason, unit Unit, format string, a ...any) {
	b := p.batch()
	b.items = append(b.items, item{line: line, off: off, bad: &InputError{File: p.path(), Line: line, Offset: off, Reason: reason, Unit: unit, Msg: fmt.Sprintf(format, a...)}})
	if len(b.items) >= batchItems {
		p.flush()
	}
}

func (p *splitter) flush() {
	if p.cur == nil {
		return
	}
	b := p.cur
	p.cur = nil
	select {
	case p.order <- b:
	case <-p.ctx.Done():
		close(b.done)
		return
	}
	select {
	case p.work <- b:
	case <-p.ctx.Done():
		close(b.done)
	}
}

// countingReader counts on-disk bytes for progress.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	return n, err
}

var bom = []byte("\xef\xbb\xbf")

func (p *splitter) split() {
	in := p.r.inputs[p.file]
	var src io.Reader
	if in.Path == StdinName {
		src = stdinReader(p.ctx, p.r.opts.Stdin)
	} else {
		f, err := openInput(p.ctx, in.Path)
		if err != nil {
			if p.ctx.Err() == nil {
				p.bad(0, 0, Unreadable, UnitFile, "cannot open: %v", err)
			}
			return
		}
		defer f.Close()
		src = f
		if p.r.digest != nil {
			d := &digester{h: sha256.New()}
			src = io.TeeReader(f, d)
			defer p.finishDigest(d)
		}
	}
	raw := bufio.NewReaderSize(countingReader{src, &p.r.read}, 256<<10)
	p.raw = raw
	var text io.Reader = raw
	gz := false
	if magic, _ := raw.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(raw)
		if err != nil {
			p.bad(0, 0, Truncated, UnitFile, "not a readable gzip stream: %v", err)
			return
		}
		defer zr.Close()
		text = zr
		gz = true
	}
	br := bufio.NewReaderSize(text, 1<<20)
	head, err := br.Peek(8 << 10)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		p.ioError(gz, 1, 0, err)
		return
	}
	if isBinary(bytes.TrimPrefix(head, bom)) {
		p.bad(0, 0, Binary, UnitFile, "binary file (not JSON text), skipped")
		return
	}
	p.run(br, gz)
}

// isBinary tells a file that is no text at all (an executable, an image, an archive)
// from a text file with some bad bytes in it, whose other lines are still read: the
// first 8 KiB are binary when more than a tenth of them are control bytes or invalid
// UTF-8, some of those are not NUL (a run of NULs is what a crash leaves in a log), and
// no line among them starts like JSON text.
func isBinary(head []byte) bool {
	if len(head) == 0 {
		return false
	}
	bad, nonNUL := 0, false
	for i := 0; i < len(head); {
		r, size := utf8.DecodeRune(head[i:])
		if (r == utf8.RuneError && size == 1) || (r < 0x20 && r != '\n' && r != '\r' && r != '\t') {
			// a rune cut off by the end of the peek window is not bad
			if !(r == utf8.RuneError && len(head)-i < utf8.UTFMax && !utf8.FullRune(head[i:])) {
				bad++
				nonNUL = nonNUL || r != 0
			}
		}
		i += size
	}
	if bad*10 <= len(head) || !nonNUL {
		return false
	}
	for rest := head; len(rest) > 0; {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		if jsonTextLine(line) {
			return false
		}
	}
	return true
}

// jsonTextLine reports a line that begins like JSON text: { or [ after indentation,
// then at least 16 bytes of clean text (or all of a shorter line). Random bytes do
// this about once in 10^9 lines.
func jsonTextLine(line []byte) bool {
	line = bytes.TrimLeft(line, " \t")
	if len(line) == 0 || (line[0] != '{' && line[0] != '[') {
		return false
	}
	n := min(len(line), 17)
	if n < 2 {
		return false
	}
	for _, c := range line[:n] {
		if c < 0x20 && c != '\t' && c != '\r' {
			return false
		}
	}
	return utf8.Valid(line[:n]) || !utf8.FullRune(line[n-1:])
}

func (p *splitter) ioError(gz bool, line int, off int64, err error) {
	if p.ctx.Err() != nil {
		return // cancelled: not bad input
	}
	if gz && (errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader)) {
		p.bad(line, off, Truncated, UnitFile, "gzip stream truncated or corrupt (%v); the rest of the file is lost", err)
		return
	}
	p.bad(line, off, Unreadable, UnitFile, "read error: %v; the rest of the file is lost", err)
}

// run splits one input. The fast path is a line that is one complete JSON value: it is
// handed to the decoder as it is (the decoder finds anything wrong with it). Any other
// non-blank line (the start of a pretty-printed document, a line over the limit, a
// truncated or stray line) goes to the structural scanner, which takes the values that
// begin there and hands back at the start of a later line. A line over the limit is not
// buffered beyond the limit: the scanner streams it.
func (p *splitter) run(br *bufio.Reader, gz bool) {
	limit := p.r.opts.MaxLineBytes
	s := &docScanner{ctx: p.ctx, br: br, limit: limit, line: 1}
	s.emit = func(data []byte, line int, off int64, tooLong bool, unit Unit) {
		switch {
		case !tooLong:
			p.add(data, line, off, unit)
		case unit == UnitLine:
			p.bad(line, off, TooLong, unit, "line longer than %d bytes (--max-line), skipped", limit)
		default:
			p.bad(line, off, TooLong, unit, "JSON value longer than %d bytes (--max-line), skipped", limit)
		}
	}
	s.bad = func(line int, off int64, unit Unit, msg string) { p.bad(line, off, Malformed, unit, "%s", msg) }
	var long []byte
	for {
		if p.ctx.Err() != nil {
			return
		}
		chunk, err := br.ReadSlice('\n')
		more := false // the line goes on past chunk
		if errors.Is(err, bufio.ErrBufferFull) {
			// a line longer than the buffer: gather it, up to the limit
			long = append(long[:0], chunk...)
			for errors.Is(err, bufio.ErrBufferFull) && len(long) <= limit {
				chunk, err = br.ReadSlice('\n')
				long = append(long, chunk...)
			}
			chunk = long
			if errors.Is(err, bufio.ErrBufferFull) {
				more, err = true, nil
			}
		}
		if err != nil && !errors.Is(err, io.EOF) {
			// the partial line before a broken gzip stream is not trusted
			p.ioError(gz, s.line, s.off, err)
			return
		}
		eof := err != nil
		if bytes.HasPrefix(chunk, bom) {
			s.advance(len(bom), false)
			chunk = chunk[len(bom):]
		}
		nl := len(chunk) > 0 && chunk[len(chunk)-1] == '\n'
		switch {
		case !more && len(chunk) <= limit && complete(chunk):
			p.add(chunk, s.line, s.off, UnitLine)
			s.advance(len(chunk), nl)
		case !more && blank(chunk):
			s.advance(len(chunk), nl)
		default:
			s.handOver(chunk)
			done, err := s.scan()
			if err != nil {
				p.ioError(gz, s.line, s.off, err)
				return
			}
			if done {
				return
			}
			continue
		}
		if eof {
			return
		}
	}
}

// complete reports a line that looks like one whole JSON object or array: { ... } or
// [ ... ] once blanks are trimmed. It costs two bytes per line, not a scan.
func complete(b []byte) bool {
	i, j := 0, len(b)
	for i < j && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	for j > i && (b[j-1] == '\n' || b[j-1] == '\r' || b[j-1] == ' ' || b[j-1] == '\t') {
		j--
	}
	if j-i < 2 {
		return false
	}
	return (b[i] == '{' && b[j-1] == '}') || (b[i] == '[' && b[j-1] == ']')
}

func blank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}
