package pipeline

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/kubesleuth/kubesleuth/ingest/audit"
)

// FileState is how far a followed file was read: what a checkpoint records. Offset is
// the end of the last complete line handed over; Line counts the lines before it. The
// fingerprint (SHA-256 of the first FPLen bytes, at most fpMax) tells the same file
// under another name (a rename rotation, a copy, its gzip) from a new one.
type FileState struct {
	Path   string `json:"path"`
	Dev    uint64 `json:"dev"`
	Ino    uint64 `json:"ino"`
	Offset int64  `json:"offset"`
	Line   int    `json:"line"`
	FP     string `json:"fingerprint"`
	FPLen  int    `json:"fingerprint_len"`
	// Gzip: the file was found compressed; Offset counts decompressed bytes.
	Gzip bool `json:"gzip,omitempty"`
}

const (
	fpMax = 1024
	// followChunk is the most bytes handed to the decoders at once: large enough that a
	// fast writer is read at the decoders' speed, small enough to keep latency and memory
	// low (it is held twice: the chunk and the reader's batch).
	followChunk = 4 << 20
)

// Follow is the Source over a live audit log, followed like tail -F: across the
// apiserver's own rotation (audit.log renamed to audit-<time>.log, a new audit.log),
// logrotate's rename (audit.log.1) and copytruncate, the gzip of the rotated file, a file
// that appears later, and a writer faster than the reader. What was written to the old
// file before a rename is read to its end, and so are rotated files that came between
// (a reader behind by several rotations). After copytruncate the part of the log written
// between the last read and the copy is read from the copy; what is written between the
// copy and the truncation is lost to every reader (logrotate's own caveat).
//
// Only JSON lines are followed (what the apiserver writes): a pretty-printed document
// split across two reads is reported as malformed lines.
//
// Each returns only on ctx's end (nil error then is ctx.Err()) or on fn's error.
type Follow struct {
	// Path is the live log, or a folder: the live log is then the newest file in it that
	// is not a rotated backup (waited for when the folder is empty).
	Path string
	// FromStart reads the live log (and, for a folder, its rotated files first) from the
	// beginning; otherwise the first run starts at its end. A Resume state wins over both.
	FromStart bool
	Resume    *FileState
	// Poll is how often a quiet file is looked at again. Default 100 ms.
	Poll time.Duration
	// Opts are the reader options (MaxLineBytes, OnError, Workers); Strict is ignored.
	Opts audit.Options
	// Dedup bounds the duplicate filter (auditID + stage) by event time. Default 2 min,
	// at most dedupMax keys per generation.
	Dedup time.Duration
	// OnBatch is called after each batch of lines was handed to fn (State is then the
	// position to resume from), and when a poll found nothing new: the pipeline flushes
	// its store and sinks and writes its checkpoint there.
	OnBatch func() error
	// OnNote reports what the follower did or could not do (a rotation it followed, a
	// checkpointed file it could not find): messages that name paths, never content.
	OnNote func(string)

	cur     *cursor
	last    *FileState      // the last file read to its end
	done    map[string]bool // fingerprints of files read to their end
	dedup   *dedupWindow
	workers []Worker
	fn      func(Record) error
	ctx     context.Context
	buf     []byte
}

// cursor is the file being read.
type cursor struct {
	f      *os.File
	r      io.Reader // f, or its decompressed stream
	st     FileState
	head   []byte // the first bytes read so far (up to fpMax), for the fingerprint
	live   bool   // the file is at the followed path (not a rotated or copied file)
	gz     *gzip.Reader
	carry  []byte // gzip: bytes read past the last complete line
	closed bool
}

func (c *cursor) close() {
	if c != nil && !c.closed {
		c.closed = true
		if c.gz != nil {
			c.gz.Close()
		}
		c.f.Close()
	}
}

// State is the position a checkpoint written now would resume from.
func (f *Follow) State() FileState {
	if f.cur == nil {
		// between files: at the end of the last one read, so that a restart reads the
		// files rotated after it before the live one
		if f.last != nil {
			return *f.last
		}
		return FileState{Path: f.Path}
	}
	return f.cur.st
}

// Each implements Source.
func (f *Follow) Each(ctx context.Context, newWorker func() Worker, fn func(Record) error) error {
	if f.Poll <= 0 {
		f.Poll = 100 * time.Millisecond
	}
	if f.Dedup <= 0 {
		f.Dedup = 2 * time.Minute
	}
	n := f.Opts.Workers
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	f.Opts.Workers = n
	// one Worker per decoding goroutine for the whole run: a Matcher's caches stay warm
	// and the engine keeps a bounded list of them
	f.workers = make([]Worker, n)
	for i := range f.workers {
		f.workers[i] = newWorker()
	}
	f.done = map[string]bool{}
	f.dedup = newDedupWindow(f.Dedup)
	f.fn, f.ctx = fn, ctx
	defer func() { f.cur.close() }()

	if err := f.start(); err != nil {
		return err
	}
	// the starting position is checkpointed before anything is read: a first run killed
	// during its first batch resumes there, not at the end of what was written since
	if f.OnBatch != nil {
		if err := f.OnBatch(); err != nil {
			return err
		}
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if f.cur == nil {
			live, err := f.openLive(0)
			if err != nil {
				return err
			}
			// the files rotated between the last one read and the live one just opened
			// (a writer that rotated again meanwhile) come first; the live one is pinned
			// by its descriptor, so a rotation from now on is its own
			if f.last != nil {
				var pinned uint64
				if live != nil {
					pinned = live.st.Ino
				}
				if err := f.readAfter(*f.last, f.liveOr(live), pinned); err != nil {
					live.close()
					return err
				}
			}
			if live == nil {
				if err := f.idle(); err != nil {
					return err
				}
				continue
			}
			f.cur = live
		}
		// a file truncated and written past the old offset since the last read: its
		// first bytes tell it, before anything is read from the old offset
		if moved, err := f.checkTruncated(); err != nil || moved {
			if err != nil {
				return err
			}
			continue
		}
		got, err := f.readSome(false)
		if err != nil {
			return err
		}
		if got {
			continue
		}
		switched, err := f.checkRotation()
		if err != nil {
			return err
		}
		if switched {
			continue
		}
		if err := f.idle(); err != nil {
			return err
		}
	}
}

func (f *Follow) note(format string, a ...any) {
	if f.OnNote != nil {
		f.OnNote(fmt.Sprintf(format, a...))
	}
}

func (f *Follow) idle() error {
	if f.OnBatch != nil {
		if err := f.OnBatch(); err != nil {
			return err
		}
	}
	t := time.NewTimer(f.Poll)
	defer t.Stop()
	select {
	case <-f.ctx.Done():
		return f.ctx.Err()
	case <-t.C:
		return nil
	}
}

// livePath is the file being written: Path, or the newest non-rotated file of the folder.
func (f *Follow) livePath() (string, bool) {
	st, err := os.Stat(f.Path)
	if err != nil {
		return f.Path, false
	}
	if !st.IsDir() {
		return f.Path, true
	}
	files := f.siblings(f.Path, true)
	for i := len(files) - 1; i >= 0; i-- {
		if !strings.HasSuffix(files[i].Path, ".gz") && isLiveName(files[i].Path) {
			return files[i].Path, true
		}
	}
	return "", false
}

func isLiveName(p string) bool {
	files := []audit.Input{{Path: p}, {Path: p + ".1"}}
	audit.SortRotated(files)
	return files[1].Path == p // the live file sorts after its own backup
}

// family lists the files of the followed log in rotation order, oldest first: the
// folder's files when Path is a folder, else Path and its rotated siblings.
func (f *Follow) family() []audit.Input {
	if st, err := os.Stat(f.Path); err == nil && st.IsDir() {
		return f.siblings(f.Path, true)
	}
	return f.siblings(f.Path, false)
}

// siblings lists the regular files next to path (in the folder, when path is a folder)
// that belong to its log (same stem), in rotation order, oldest first.
func (f *Follow) siblings(path string, isDir bool) []audit.Input {
	dir, stem := path, ""
	if !isDir {
		dir = filepath.Dir(path)
		stem = filepath.Base(path)
		stem = strings.TrimSuffix(stem, filepath.Ext(stem))
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []audit.Input
	for _, e := range ents {
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if stem != "" && !strings.HasPrefix(e.Name(), stem) {
			continue
		}
		out = append(out, audit.Input{Path: filepath.Join(dir, e.Name())})
	}
	audit.SortRotated(out)
	return out
}

// start opens the first file: the checkpointed one, or the live log (at its end unless
// FromStart), reading a folder's rotated files first with FromStart.
func (f *Follow) start() error {
	if f.Resume != nil && f.Resume.Path != "" {
		return f.resume(*f.Resume)
	}
	if f.FromStart {
		if st, err := os.Stat(f.Path); err == nil && st.IsDir() {
			live, _ := f.livePath()
			for _, in := range f.siblings(f.Path, true) {
				if in.Path == live {
					break
				}
				if err := f.readWhole(in.Path, 0, 0); err != nil {
					return err
				}
			}
		}
		return nil // the loop opens the live log at 0
	}
	c, err := f.openLive(-1)
	if err != nil || c == nil {
		return err
	}
	f.cur = c
	return nil
}

// openLive opens the live log at offset (-1: at the end of its last complete line). It
// returns nil when there is none yet.
func (f *Follow) openLive(offset int64) (*cursor, error) {
	p, ok := f.livePath()
	if !ok {
		return nil, nil
	}
	c, err := openCursor(p, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	c.live = true
	if offset < 0 {
		end, line, err := lastLineEnd(c.f)
		if err != nil {
			c.close()
			return nil, err
		}
		if err := c.seek(end, line); err != nil {
			c.close()
			return nil, err
		}
	}
	return c, nil
}

// openCursor opens path, decompressing a gzip file; the fingerprint is filled from the
// first bytes.
func openCursor(path string, _ int64) (*cursor, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		fh.Close()
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	c := &cursor{f: fh, r: fh, st: FileState{Path: path}}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		c.st.Dev, c.st.Ino = uint64(sys.Dev), sys.Ino
	}
	var magic [2]byte
	if n, _ := fh.ReadAt(magic[:], 0); n == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(bufio.NewReaderSize(fh, 256<<10))
		if err != nil {
			fh.Close()
			return nil, fmt.Errorf("%s: not a readable gzip stream: %v", path, err)
		}
		c.gz, c.r, c.st.Gzip = zr, zr, true
	}
	return c, nil
}

// seek moves the cursor to offset (decompressing up to it for gzip), fingerprinting the
// bytes skipped.
func (c *cursor) seek(offset int64, line int) error {
	if offset == 0 {
		return nil
	}
	head := make([]byte, min(offset, fpMax))
	n, err := io.ReadFull(c.r, head)
	if err != nil {
		return fmt.Errorf("%s: shorter than its checkpoint (%d bytes): %v", c.st.Path, offset, err)
	}
	c.head = head[:n]
	if rest := offset - int64(n); rest > 0 {
		if c.gz != nil {
			if _, err := io.CopyN(io.Discard, c.r, rest); err != nil {
				return fmt.Errorf("%s: shorter than its checkpoint (%d bytes): %v", c.st.Path, offset, err)
			}
		} else if _, err := c.f.Seek(offset, io.SeekStart); err != nil {
			return err
		}
	}
	c.st.Offset, c.st.Line = offset, line
	c.fingerprint()
	return nil
}

func (c *cursor) fingerprint() {
	sum := sha256.Sum256(c.head)
	c.st.FP, c.st.FPLen = hex.EncodeToString(sum[:16]), len(c.head)
}

// lastLineEnd finds the end of the last complete line of f and the number of lines
// before it (a first run starts there, as tail does).
func lastLineEnd(fh *os.File) (int64, int, error) {
	br := bufio.NewReaderSize(fh, 1<<20)
	var off, end int64
	lines := 0
	for {
		chunk, err := br.ReadSlice('\n')
		off += int64(len(chunk))
		if len(chunk) > 0 && chunk[len(chunk)-1] == '\n' {
			end = off
			lines++
		}
		if err == nil || errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) {
			break
		}
		return 0, 0, err
	}
	_, err := fh.Seek(0, io.SeekStart)
	return end, lines, err
}

// readSome reads what the current file has past its offset and hands over the complete
// lines (and, when final, the last line even without its newline: a rotated file gets
// no more bytes). It reports whether anything was handed over.
func (f *Follow) readSome(final bool) (bool, error) {
	c := f.cur
	got := false
	for {
		if err := f.ctx.Err(); err != nil {
			return got, err
		}
		if cap(f.buf) < followChunk {
			f.buf = make([]byte, 0, followChunk)
		}
		f.buf = f.buf[:followChunk]
		n, rerr := readAtMost(c, f.buf)
		data := f.buf[:n]
		end := bytes.LastIndexByte(data, '\n') + 1
		if final && rerr != nil && n > 0 {
			end = n // the unterminated last line of a finished file
		}
		if end == 0 {
			if n == len(f.buf) && c.gz != nil {
				c.carry = c.carry[:0]
				f.tooLong(c, c.st.Offset, c.st.Line+1)
				got = true
				continue
			}
			if n == len(f.buf) {
				// a line longer than a chunk: skip it as the reader would (too long)
				if err := f.skipLongLine(c, data); err != nil {
					return got, err
				}
				got = true
				continue
			}
			if rerr != nil && !errors.Is(rerr, io.EOF) {
				return got, fmt.Errorf("reading %s: %w", c.st.Path, rerr)
			}
			return got, nil
		}
		if c.gz != nil {
			c.carry = append(c.carry[:0], data[end:n]...)
		}
		if err := f.hand(c, data[:end]); err != nil {
			return got, err
		}
		got = true
		if f.OnBatch != nil {
			if err := f.OnBatch(); err != nil {
				return got, err
			}
		}
		if n < len(f.buf) && end == n {
			if rerr != nil && !errors.Is(rerr, io.EOF) {
				return got, fmt.Errorf("reading %s: %w", c.st.Path, rerr)
			}
			if !final {
				return got, nil
			}
		}
	}
}

// readAtMost reads from the cursor's offset into buf: pread on a plain file (the offset
// is the cursor's, whatever was read past it), the stream after what was carried over
// from the last read for a gzip file (which cannot be re-read).
func readAtMost(c *cursor, buf []byte) (int, error) {
	if c.gz == nil {
		return c.f.ReadAt(buf, c.st.Offset)
	}
	n := copy(buf, c.carry)
	c.carry = c.carry[:0]
	m, err := io.ReadFull(c.r, buf[n:])
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = io.EOF
	}
	return n + m, err
}

// skipLongLine reports a line longer than a chunk and moves past it.
func (f *Follow) skipLongLine(c *cursor, data []byte) error {
	start, line := c.st.Offset, c.st.Line+1
	skipped := int64(len(data))
	for {
		buf := f.buf[:followChunk]
		c.st.Offset = start + skipped
		n, rerr := readAtMost(c, buf)
		if i := bytes.IndexByte(buf[:n], '\n'); i >= 0 {
			skipped += int64(i + 1)
			break
		}
		skipped += int64(n)
		if rerr != nil {
			// the line is not finished yet: wait for the rest at its start
			c.st.Offset = start
			return nil
		}
	}
	c.st.Offset, c.st.Line = start+skipped, line
	f.tooLong(c, start, line)
	return nil
}

func (f *Follow) tooLong(c *cursor, off int64, line int) {
	if f.Opts.OnError != nil {
		f.Opts.OnError(&audit.InputError{File: c.st.Path, Line: line, Offset: off, Reason: audit.TooLong, Unit: audit.UnitLine,
			Msg: fmt.Sprintf("line longer than %d bytes, skipped", followChunk)})
	}
}

// hand decodes one run of complete lines on the decoding goroutines and hands the
// events over in order, then advances the cursor past them.
func (f *Follow) hand(c *cursor, data []byte) error {
	baseLine, baseOff, path := c.st.Line, c.st.Offset, c.st.Path
	onErr := func(e *audit.InputError) {
		e.File = path
		if e.Line > 0 {
			e.Line += baseLine
		}
		e.Offset += baseOff
		if f.Opts.OnError != nil {
			f.Opts.OnError(e)
		}
	}
	// a batch is handed over whole or not at all: a checkpoint after a cancellation
	// must not hold an engine that saw half of a batch its offset has not passed
	err := DecodeChunk(context.WithoutCancel(f.ctx), data, f.workers, f.Opts, onErr, func(ev *auditv1.Event, src audit.Source, w Work) error {
		if f.dedup.seen(ev) {
			return nil
		}
		pos := Position{File: path, Line: baseLine + src.Line, Offset: baseOff + src.Offset}
		return f.fn(Record{Event: ev, Pos: pos, Work: w})
	})
	if err != nil {
		return err
	}
	if len(c.head) < fpMax {
		k := min(fpMax-len(c.head), len(data))
		c.head = append(c.head, data[:k]...)
		c.fingerprint()
	}
	c.st.Offset += int64(len(data))
	c.st.Line += bytes.Count(data, []byte{'\n'})
	if len(data) > 0 && data[len(data)-1] != '\n' {
		c.st.Line++
	}
	return nil
}

// checkRotation looks at the followed path when the current file has nothing new: a
// new file there (rename rotation), or the same file shorter or rewritten (copytruncate).
// It reports whether the cursor moved.
func (f *Follow) checkRotation() (bool, error) {
	c := f.cur
	livePath, ok := f.livePath()
	if !c.live {
		// a rotated file read to its end: on to the live log
		if _, err := f.readSome(true); err != nil {
			return false, err
		}
		f.finish(c)
		f.cur = nil
		return true, nil
	}
	if !ok {
		// renamed away and no new file yet: keep the old one open, unless rotated files
		// newer than it are waiting (the writer rotated more than once, or stopped
		// before it opened a new file): those are read on
		lp := c.st.Path
		files := f.family()
		at := f.identify(c.st, files)
		if at < 0 || files[at].Path == lp || at == len(files)-1 {
			return false, nil
		}
		if _, err := f.readSome(true); err != nil {
			return false, err
		}
		f.finish(c)
		f.note("%s: rotated to %s; reading the files rotated after it", lp, files[at].Path)
		if err := f.readAfter(c.st, lp, 0); err != nil {
			return false, err
		}
		f.cur = nil
		return true, nil
	}
	st, err := os.Stat(livePath)
	if err != nil {
		return false, nil
	}
	sys, _ := st.Sys().(*syscall.Stat_t)
	if sys != nil && (uint64(sys.Dev) != c.st.Dev || sys.Ino != c.st.Ino) {
		// rename rotation: read the old file to its end, then the files rotated after
		// it, then the new live log from its start
		if _, err := f.readSome(true); err != nil {
			return false, err
		}
		f.finish(c)
		f.note("%s: rotated; read to its end, now following %s", c.st.Path, livePath)
		if err := f.readAfter(c.st, livePath, 0); err != nil {
			return false, err
		}
		f.cur = nil
		return true, nil
	}
	return f.checkTruncated()
}

// checkTruncated handles the live file truncated in place (copytruncate): shorter than
// what was read, or rewritten from its start. The rest of what was read is in the copy.
func (f *Follow) checkTruncated() (bool, error) {
	c := f.cur
	if c == nil || !c.live || c.gz != nil {
		return false, nil
	}
	st, err := c.f.Stat()
	if err != nil {
		return false, nil
	}
	if st.Size() >= c.st.Offset && sameHead(c.f, c.head) {
		return false, nil
	}
	f.note("%s: truncated in place (copytruncate); reading the rest from its copy", c.st.Path)
	if err := f.readCopy(c.st, c.st.Path); err != nil {
		return false, err
	}
	c.head, c.st.Offset, c.st.Line = nil, 0, 0
	c.fingerprint()
	return true, nil
}

func sameHead(fh *os.File, head []byte) bool {
	if len(head) == 0 {
		return true
	}
	b := make([]byte, len(head))
	n, _ := fh.ReadAt(b, 0)
	return n == len(b) && bytes.Equal(b, head)
}

// finish closes a file read to its end and remembers it as read.
func (f *Follow) finish(c *cursor) {
	if c.st.FP != "" {
		f.done[c.st.FP] = true
	}
	st := c.st
	f.last = &st
	c.close()
}

// liveOr is the path of the live cursor, or the followed path's live file.
func (f *Follow) liveOr(c *cursor) string {
	if c != nil {
		return c.st.Path
	}
	if p, ok := f.livePath(); ok {
		return p
	}
	if f.last != nil {
		return f.last.Path
	}
	return f.Path
}

// headOf is the fingerprint of path's first n bytes (decompressed), "" when shorter.
func headOf(path string, n int) string {
	c, err := openCursor(path, 0)
	if err != nil {
		return ""
	}
	defer c.close()
	b := make([]byte, n)
	if _, err := io.ReadFull(c.r, b); err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// identify finds, among the siblings of livePath, the file that st describes: the same
// inode with the same first bytes, or a copy or gzip with the same first bytes. It
// returns its index in the rotation order, or -1.
func (f *Follow) identify(st FileState, files []audit.Input) int {
	for i, in := range files {
		fi, err := os.Stat(in.Path)
		if err != nil {
			continue
		}
		if sys, ok := fi.Sys().(*syscall.Stat_t); ok && uint64(sys.Dev) == st.Dev && sys.Ino == st.Ino {
			if st.FPLen == 0 || headOf(in.Path, st.FPLen) == st.FP {
				return i
			}
		}
	}
	if st.FPLen == 0 {
		return -1
	}
	for i, in := range files {
		if headOf(in.Path, st.FPLen) == st.FP {
			return i
		}
	}
	return -1
}

// readAfter reads, whole, the rotated files that come after the one st describes (a
// reader behind by more than one rotation), skipping those already read and the file
// whose inode is pinned (the live one, opened already).
func (f *Follow) readAfter(st FileState, livePath string, pinned uint64) error {
	files := f.family()
	at := f.identify(st, files)
	if at < 0 {
		return nil
	}
	for _, in := range files[at+1:] {
		if in.Path == livePath {
			break
		}
		if pinned != 0 {
			if fi, err := os.Stat(in.Path); err == nil && fi.Sys().(*syscall.Stat_t).Ino == pinned {
				continue
			}
		}
		if err := f.readWhole(in.Path, 0, 0); err != nil {
			return err
		}
	}
	return nil
}

// readCopy reads, from st's offset, the copy logrotate made before truncating.
func (f *Follow) readCopy(st FileState, livePath string) error {
	files := f.family()
	for _, in := range files {
		if in.Path == livePath {
			continue
		}
		if st.FPLen > 0 && headOf(in.Path, st.FPLen) == st.FP {
			return f.readWhole(in.Path, st.Offset, st.Line)
		}
	}
	f.note("%s: truncated, and no copy of it found: what was written after offset %d and before the truncation is not read", st.Path, st.Offset)
	return nil
}

// readWhole reads a finished file (a rotated backup, a copy) from offset to its end,
// unless it was read already.
func (f *Follow) readWhole(path string, offset int64, line int) error {
	c, err := openCursor(path, 0)
	if err != nil {
		f.note("%s: cannot open: %v", path, err)
		return nil
	}
	if err := c.seek(offset, line); err != nil {
		c.close()
		f.note("%v", err)
		return nil
	}
	if offset == 0 {
		// fingerprint the head to tell a file read already (the gzip of one)
		if fp := headOf(path, fpMax); fp != "" && f.done[fp] {
			c.close()
			return nil
		}
	}
	f.note("reading %s (rotated) from offset %d", path, offset)
	prev := f.cur
	f.cur = c
	_, err = f.readSome(true)
	f.cur = prev
	f.finish(c)
	return err
}

// resume opens the checkpointed file: at the followed path, under a rotated name, or
// compressed; then the files rotated after it come first.
func (f *Follow) resume(st FileState) error {
	livePath, ok := f.livePath()
	if !ok {
		livePath = st.Path
	}
	files := f.family()
	at := f.identify(st, files)
	if at < 0 {
		f.note("%s: the checkpointed file (offset %d) is gone; following %s from its start", st.Path, st.Offset, livePath)
		return nil
	}
	path := files[at].Path
	f.note("resuming %s at offset %d (line %d)", path, st.Offset, st.Line)
	c, err := openCursor(path, 0)
	if err != nil {
		return err
	}
	if err := c.seek(st.Offset, st.Line); err != nil {
		c.close()
		f.note("%v; following %s from its start", err, livePath)
		return nil
	}
	if path == livePath && c.gz == nil {
		c.live = true
		f.cur = c
		return nil
	}
	f.cur = c
	if _, err := f.readSome(true); err != nil {
		return err
	}
	f.finish(c)
	f.cur = nil
	for _, in := range files[at+1:] {
		if in.Path == livePath {
			break
		}
		if err := f.readWhole(in.Path, 0, 0); err != nil {
			return err
		}
	}
	return nil
}

// DecodeChunk decodes data (JSON lines: events or wrappers such as EventList, one a
// line) on len(workers) goroutines, each running its Worker on the events it decodes,
// and calls fn in input order with each event, its place in data (line 1-based, offset)
// and the Work. Bad input is reported to onErr with its place in data, never fatal
// (opts.Strict is ignored); duplicates are passed on (the caller filters). It stops at
// fn's first error or when ctx is done.
func DecodeChunk(ctx context.Context, data []byte, workers []Worker, opts audit.Options, onErr func(*audit.InputError), fn func(*auditv1.Event, audit.Source, Work) error) error {
	opts.Strict, opts.KeepDuplicates, opts.Notes = false, true, nil
	opts.Workers = len(workers)
	opts.Stdin = bytes.NewReader(data)
	next := 0
	opts.Prepare = func() func(*auditv1.Event) any {
		w := workers[next%len(workers)]
		next++
		return func(ev *auditv1.Event) any {
			work := w(ev)
			if work.stored == nil && !work.known && work.storeErr == nil {
				return work.matched
			}
			return &work
		}
	}
	opts.OnError = onErr
	r := audit.NewReader([]audit.Input{{Path: audit.StdinName}}, opts)
	return r.Each(ctx, func(rec audit.Record) error {
		return fn(rec.Event, rec.Source, unbox(rec.Prepared))
	})
}
