package audit

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
)

// docScanner is the slow path of the splitter: it takes over from the line loop at a
// line that is not one complete JSON value (the first line of a pretty-printed event or
// of a JSON array, a line longer than the limit, a truncated or broken line) and splits
// what follows into values without holding a whole document in memory: the elements of
// a top-level array, and of "items" or "records" arrays at the top of an object, are
// emitted one at a time with the line they start on, so a one-line EventList of 10 MB
// costs the limit per event, not per line. It hands back to the line loop at the start
// of the first line after the values it took over.
//
// Structural errors cost the lines they are on, not the file. After one, the scanner
// skips to the next line whose indentation is at most that of the line where the broken
// value began (the next element of a pretty-printed array, the next JSON line) and goes
// on from there in the same array, or at the top level. A line that begins like a
// compact JSON line ({" or [{) at that indentation ends the broken value early: a
// truncated JSON line costs itself, not the lines after it.
//
// Failure modes: a broken value longer than the limit is not kept, so the skip starts
// where the break is found; a multi-line document that is not indented and puts {" at
// the start of an inner line is cut there.
type docScanner struct {
	ctx   context.Context // checked every 64 KiB: a document may be gigabytes long
	br    *bufio.Reader
	pre   []byte // the line handed over by the line loop, read before br
	pos   int
	limit int // a value larger than this is skipped as too long

	line    int   // line of the next byte, 1-based
	off     int64 // offset of the next byte
	lineOff int64 // offset where the current line begins
	bol     bool  // the next byte begins a line
	lead    bool  // only indentation read so far on the current line
	ind     int   // indentation (spaces and tabs) of the current line
	first   bool  // the byte last read is the first non-blank byte of its line
	nlCol   int   // column of the line break that ended the previous line

	// inUnit is set while a value that may not contain the start of a new JSON line is
	// scanned (see checkNewLine); unitInd is the indentation of the line it began on.
	inUnit  bool
	unitInd int

	// emit receives a complete value (or a too-long marker with nil data), the line
	// where it began and what it is. It must copy data if it keeps it.
	emit func(data []byte, line int, off int64, tooLong bool, unit Unit)
	// bad receives a structural error, once the scanner has found where to go on.
	bad func(line int, off int64, unit Unit, msg string)

	buf    []byte
	shell  []byte
	preBuf []byte
	nOut   int // values emitted so far
}

func (s *docScanner) out(data []byte, line int, off int64, tooLong bool, unit Unit) {
	s.nOut++
	s.emit(data, line, off, tooLong, unit)
}

// errDoc is a structural error at a place in the input.
type errDoc struct {
	line, col int
	msg       string
}

func (e *errDoc) Error() string { return e.msg }

// isDoc reports a structural error (without errors.As, whose target would be allocated
// on every byte of a string).
func isDoc(err error) bool {
	_, ok := err.(*errDoc)
	return ok
}

// errCut is an array that a new JSON line interrupts: the reading goes on from that
// line, which is unread, as JSON lines.
type errCut struct {
	errDoc
	from int // where the array began
}

// errReported ends the scan after an error that was already reported (the input ended
// while looking for a place to go on).
var errReported = errors.New("reported")

// handOver makes data (a copy is kept), the line the line loop read last, the next
// input of the scanner.
func (s *docScanner) handOver(data []byte) {
	s.preBuf = append(s.preBuf[:0], data...)
	s.pre, s.pos = s.preBuf, 0
	s.bol, s.lead, s.ind, s.first, s.lineOff = true, true, 0, false, s.off
}

// advance accounts for n bytes the line loop consumed itself, ending with a newline
// when nl is set.
func (s *docScanner) advance(n int, nl bool) {
	s.off += int64(n)
	if nl {
		s.line++
		s.lineOff = s.off
	}
}

func (s *docScanner) next() (byte, error) {
	var c byte
	if s.pos < len(s.pre) {
		c = s.pre[s.pos]
		s.pos++
	} else {
		var err error
		if c, err = s.br.ReadByte(); err != nil {
			return 0, err
		}
	}
	s.off++
	if s.off&0xffff == 0 && s.ctx != nil && s.ctx.Err() != nil {
		return 0, s.ctx.Err()
	}
	s.first = false
	if c == '\n' {
		s.newline()
		if s.inUnit {
			return c, s.checkNewLine()
		}
		return c, nil
	}
	s.bol = false
	if s.lead {
		if c == ' ' || c == '\t' {
			s.ind++
		} else if c != '\r' {
			s.lead, s.first = false, true
		}
	}
	return c, nil
}

func (s *docScanner) newline() {
	s.nlCol = int(s.off - s.lineOff)
	s.line++
	s.lineOff = s.off
	s.bol, s.lead, s.ind, s.first = true, true, 0, false
}

// unread puts back the byte just read from br by next, the first non-blank one of its
// line.
func (s *docScanner) unread() {
	s.br.UnreadByte()
	s.off--
	s.first, s.lead, s.bol = false, true, s.ind == 0
}

func (s *docScanner) peek() (byte, error) {
	if s.pos < len(s.pre) {
		return s.pre[s.pos], nil
	}
	b, err := s.br.Peek(1)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

// checkNewLine runs at each line break inside a unit: a line that starts like a compact
// JSON line ({" or [{) no deeper than the line the unit began on means the unit was cut
// off (a truncated JSON line), and the new line must not be swallowed into it.
func (s *docScanner) checkNewLine() error {
	if s.pos < len(s.pre) || s.unitInd > 250 {
		return nil
	}
	p, _ := s.br.Peek(s.unitInd + 2)
	i := 0
	for i < len(p) && i <= s.unitInd && (p[i] == ' ' || p[i] == '\t') {
		i++
	}
	if i > s.unitInd || len(p)-i < 2 {
		return nil
	}
	if (p[i] == '{' && p[i+1] == '"') || (p[i] == '[' && p[i+1] == '{') {
		return &errDoc{line: s.line, col: i + 1, msg: "a new JSON line begins before the value ends"}
	}
	return nil
}

func (s *docScanner) col() int { return int(s.off - s.lineOff) }

func (s *docScanner) syntax(c byte, where string) error {
	return &errDoc{line: s.line, col: s.col(), msg: "unexpected " + byteDesc(c) + " " + where}
}

func (s *docScanner) skipSpace() (byte, error) {
	for {
		c, err := s.next()
		if err != nil {
			return 0, err
		}
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c, nil
	}
}

// scan takes over at the start of the line handed over and scans values until it is
// back at the start of a later line outside any value. done reports the end of the
// input; err is an I/O error (a truncated gzip stream).
func (s *docScanner) scan() (done bool, err error) {
	start := s.line
	for {
		if s.bol && s.line > start {
			return false, nil
		}
		c, err := s.next()
		if err == io.EOF {
			return true, nil
		}
		if err != nil {
			return true, err
		}
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		line, off, lead, ind, n0 := s.line, s.off-1, s.first, s.ind, s.nOut
		s.inUnit, s.unitInd = true, ind
		switch c {
		case '{':
			err = s.object(line, off, lead)
		case '[':
			err = s.array()
		default:
			col := s.col()
			s.buf = s.buf[:0]
			tooLong := false
			if err = s.value(c, &tooLong); err == nil {
				if tooLong || c == '"' || jsonValid(s.buf) {
					s.out(s.buf, line, off, tooLong, s.unit(line, lead))
				} else {
					err = &errDoc{line: line, col: col, msg: "unexpected " + byteDesc(c) + " where a JSON value should begin"}
				}
			}
		}
		s.inUnit = false
		var de *errDoc
		var cut *errCut
		switch {
		case err == nil:
			continue
		case err == errReported:
			return true, nil
		case err == io.EOF && s.nOut > n0:
			// what the document held was taken; only its end is missing
			s.bad(line, off, UnitValue, fmt.Sprintf("malformed JSON: the input ends before the document begun at line %d is closed", line))
			return true, nil
		case err == io.EOF:
			s.endsInside(line, off, s.unit(line, lead))
			return true, nil
		case errors.As(err, &cut):
			s.bad(line, off, UnitValue, fmt.Sprintf("malformed JSON at line %d column %d: %s; the lines from there on are read as JSON lines", cut.line, cut.col, cut.msg))
			return false, nil
		case !errors.As(err, &de):
			return true, err
		}
		r, last, rerr := s.resync(ind)
		s.report(line, off, de, last, lead)
		if rerr != nil {
			return true, rerr
		}
		switch r {
		case resumeEOF:
			return true, nil
		case resumeLine:
			return false, nil
		}
	}
}

// unit is what a top-level value that began at line is: the line itself when it is
// the first thing on it and ends on it.
func (s *docScanner) unit(line int, lead bool) Unit {
	if lead && (s.line == line || (s.bol && s.line == line+1)) {
		return UnitLine
	}
	return UnitValue
}

func (s *docScanner) report(line int, off int64, de *errDoc, last int, lead bool) {
	unit := UnitValue
	if lead && last == line {
		unit = UnitLine
	}
	s.bad(line, off, unit, fmt.Sprintf("malformed JSON at line %d column %d: %s; %s skipped", de.line, de.col, de.msg, lineRange(line, last)))
}

func (s *docScanner) endsInside(line int, off int64, unit Unit) {
	last := s.line
	if s.bol {
		last--
	}
	s.bad(line, off, unit, fmt.Sprintf("malformed JSON: the input ends inside the value begun at line %d; %s skipped", line, lineRange(line, last)))
}

func lineRange(from, to int) string {
	if to <= from {
		return fmt.Sprintf("line %d", from)
	}
	return fmt.Sprintf("lines %d-%d", from, to)
}

// resume says where resync found a place to go on.
type resume int

const (
	resumeEOF    resume = iota // the input ended
	resumeLine                 // at the start of a line no deeper than the broken value's
	resumeCloser               // just after a closing } or ] at the broken value's depth
)

// resync skips the rest of a broken value: up to the next line indented no deeper than
// ind, the indentation of the line the value began on. A closing } or ] at exactly that
// depth is the broken value's own end and is consumed. last is the last line skipped.
func (s *docScanner) resync(ind int) (r resume, last int, err error) {
	s.inUnit = false
	if !s.bol {
		if err := s.skipLine(); err != nil {
			if err == io.EOF {
				return resumeEOF, s.line, nil
			}
			return resumeEOF, s.line, err
		}
	}
	for {
		// at the start of a line: pre is used up
		p, err := s.br.Peek(256)
		if len(p) == 0 {
			if err != nil && err != io.EOF {
				return resumeEOF, s.line - 1, err
			}
			return resumeEOF, s.line - 1, nil
		}
		i := 0
		for i < len(p) && (p[i] == ' ' || p[i] == '\t') {
			i++
		}
		switch {
		case i == len(p) || p[i] == '\n' || p[i] == '\r' || i > ind:
			// blank or deeper: part of the broken value
			if err := s.skipLine(); err != nil {
				if err == io.EOF {
					return resumeEOF, s.line, nil
				}
				return resumeEOF, s.line, err
			}
		case i == ind && (p[i] == '}' || p[i] == ']'):
			for k := 0; k <= i; k++ {
				s.next()
			}
			return resumeCloser, s.line, nil
		default:
			return resumeLine, s.line - 1, nil
		}
	}
}

// skipLine consumes the rest of the current line, newline included.
func (s *docScanner) skipLine() error {
	for s.pos < len(s.pre) {
		c := s.pre[s.pos]
		s.pos++
		s.off++
		if c == '\n' {
			s.newline()
			return nil
		}
	}
	for {
		if s.ctx != nil && s.ctx.Err() != nil {
			return s.ctx.Err()
		}
		chunk, err := s.br.ReadSlice('\n')
		s.off += int64(len(chunk))
		switch {
		case err == nil:
			s.newline()
			return nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		}
		s.bol = false
		return err
	}
}

// array streams the elements of an array whose '[' was consumed. An element that
// breaks and began a line is skipped by resync and the array goes on; one that shares
// its line with what came before breaks the array, for the caller to resync.
func (s *docScanner) array() error {
	const (
		wantFirst = iota
		wantSep
		wantResumed // after resync: an element, or a stray ',' before one, or ']'
	)
	savedIn, savedInd := s.inUnit, s.unitInd
	defer func() { s.inUnit, s.unitInd = savedIn, savedInd }()
	s.inUnit = false
	state, from := wantFirst, s.line
	for {
		c, err := s.skipSpace()
		if err != nil {
			return err
		}
		if c == ']' {
			return nil
		}
		switch state {
		case wantSep:
			if c != ',' && s.first && (c == '{' || c == '[') && s.ind <= savedInd && s.line > from && s.pos >= len(s.pre) {
				// JSON lines after an array's first line, with no commas between them
				s.unread()
				return &errCut{errDoc{line: s.line, col: s.ind + 1, msg: fmt.Sprintf("a new JSON line begins before the array begun at line %d is closed", from)}, from}
			}
			if c != ',' {
				return s.syntax(c, "after an array element (want ',' or ']')")
			}
			if c, err = s.skipSpace(); err != nil {
				return err
			}
		case wantResumed:
			if c == ',' {
				if c, err = s.skipSpace(); err != nil {
					return err
				}
			}
		}
		line, off, lead, ind, col := s.line, s.off-1, s.first, s.ind, s.col()
		s.buf = s.buf[:0]
		tooLong := false
		s.inUnit, s.unitInd = true, ind
		err = s.value(c, &tooLong)
		if err == nil && !tooLong && c != '{' && c != '[' && c != '"' && !jsonValid(s.buf) {
			err = &errDoc{line: line, col: col, msg: "an array element that is not JSON"}
		}
		s.inUnit = false
		if err == nil {
			s.out(s.buf, line, off, tooLong, UnitValue)
			state = wantSep
			continue
		}
		var de *errDoc
		if !lead || (err != io.EOF && !errors.As(err, &de)) {
			return err
		}
		if err == io.EOF {
			s.endsInside(line, off, UnitValue)
			return errReported
		}
		r, last, rerr := s.resync(ind)
		s.report(line, off, de, last, false)
		if rerr != nil {
			return rerr
		}
		switch r {
		case resumeEOF:
			return errReported
		case resumeCloser:
			state = wantSep
		case resumeLine:
			state = wantResumed
		}
	}
}

// object handles a top-level object whose '{' was consumed: "items" and "records"
// arrays are streamed; the rest of the object is captured and emitted as one value (a
// pretty-printed event, an AKS record, a GKE entry, or the shell of a list, which
// decodes to nothing).
func (s *docScanner) object(line int, off int64, lead bool) error {
	s.shell = append(s.shell[:0], '{')
	tooLong := false
	for first := true; ; first = false {
		c, err := s.skipSpace()
		if err != nil {
			return err
		}
		if c == '}' {
			s.shell = append(s.shell, '}')
			s.out(s.shell, line, off, tooLong, s.unit(line, lead))
			return nil
		}
		if !first {
			if c != ',' {
				return s.syntax(c, "after an object member (want ',' or '}')")
			}
			s.addShell(&tooLong, ',')
			if c, err = s.skipSpace(); err != nil {
				return err
			}
		}
		if c != '"' {
			return s.syntax(c, "where an object key should begin")
		}
		// The key has a too-long flag of its own: whether the object is already too
		// long must not stop it from being read (and "items" from being recognised).
		s.buf = append(s.buf[:0], '"')
		keyLong := false
		if err := s.str(&keyLong); err != nil {
			return err
		}
		list := !keyLong && (string(s.buf) == `"items"` || string(s.buf) == `"records"`)
		if keyLong {
			tooLong = true
		} else {
			s.addShell(&tooLong, s.buf...)
		}
		if c, err = s.skipSpace(); err != nil {
			return err
		}
		if c != ':' {
			return s.syntax(c, "after an object key (want ':')")
		}
		s.addShell(&tooLong, ':')
		if c, err = s.skipSpace(); err != nil {
			return err
		}
		if c == '[' && list {
			if err := s.array(); err != nil {
				return err
			}
			s.addShell(&tooLong, '[', ']')
			continue
		}
		s.buf = s.buf[:0]
		valueLong := false
		if err := s.value(c, &valueLong); err != nil {
			return err
		}
		if valueLong {
			tooLong = true
		} else {
			s.addShell(&tooLong, s.buf...)
		}
	}
}

// addShell appends b to the object being captured, unless that makes it too long.
func (s *docScanner) addShell(tooLong *bool, b ...byte) {
	if *tooLong {
		return
	}
	if len(s.shell)+len(b) > s.limit {
		*tooLong = true
		s.shell = s.shell[:1]
		return
	}
	s.shell = append(s.shell, b...)
}

// value appends the value starting with c to s.buf, unless it grows beyond the limit,
// in which case it is consumed without being kept and *tooLong is set. Inside a
// container only strings and nesting are followed: the decoder checks the rest.
func (s *docScanner) value(c byte, tooLong *bool) error {
	s.buf = append(s.buf, c)
	switch c {
	case '"':
		return s.str(tooLong)
	case '{', '[':
		depth := 1
		for depth > 0 {
			if err := s.takeRun(tooLong, &valueStop); err != nil {
				return err
			}
			c, err := s.next()
			if err != nil {
				return err
			}
			s.keep(c, tooLong)
			switch c {
			case '"':
				if err := s.str(tooLong); err != nil {
					return err
				}
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
		}
		return nil
	default:
		// a scalar: read until a delimiter, which is left unread
		for {
			b, err := s.peek()
			if err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
			switch b {
			case ',', ']', '}', ' ', '\t', '\r', '\n':
				return nil
			}
			c, _ := s.next()
			s.keep(c, tooLong)
		}
	}
}

// str consumes the rest of a string whose opening quote is already in s.buf.
func (s *docScanner) str(tooLong *bool) error {
	for {
		if err := s.takeRun(tooLong, &stringStop); err != nil {
			return err
		}
		c, err := s.next()
		if c == '\n' && (err == nil || isDoc(err)) {
			// said before what the next line looks like (checkNewLine)
			return &errDoc{line: s.line - 1, col: s.nlCol, msg: "a line break inside a string"}
		}
		if err != nil {
			return err
		}
		s.keep(c, tooLong)
		switch c {
		case '\\':
			c, err := s.next()
			if c == '\n' && (err == nil || isDoc(err)) {
				return &errDoc{line: s.line - 1, col: s.nlCol, msg: "a line break inside a string"}
			}
			if err != nil {
				return err
			}
			s.keep(c, tooLong)
		case '"':
			return nil
		}
	}
}

// stringStop and valueStop are the bytes that end a run inside a string and inside a
// container: the ones the scanner must see one by one.
var stringStop, valueStop [256]bool

func init() {
	for _, c := range []byte{'"', '\\', '\n'} {
		stringStop[c] = true
	}
	for _, c := range []byte{'"', '{', '[', '}', ']', '\n'} {
		valueStop[c] = true
	}
}

// takeRun keeps, straight from br's buffer, the bytes before the next one in stop (a
// line break is always in stop): inside strings and containers most bytes need no
// look, and going through next for each of them doubles the cost of a document.
func (s *docScanner) takeRun(tooLong *bool, stop *[256]bool) error {
	inPre := s.pos < len(s.pre)
	var buf []byte
	if inPre {
		buf = s.pre[s.pos:]
	} else {
		buf, _ = s.br.Peek(s.br.Buffered())
	}
	i := 0
	for i < len(buf) && !stop[buf[i]] {
		i++
	}
	if i == 0 {
		return nil
	}
	run := buf[:i]
	if s.lead {
		j := 0
		for j < i && (run[j] == ' ' || run[j] == '\t') {
			j++
		}
		s.ind += j
		s.lead = j == i
	}
	if !*tooLong {
		if len(s.buf)+i > s.limit {
			*tooLong = true
			s.buf = s.buf[:0]
		} else {
			s.buf = append(s.buf, run...)
		}
	}
	before := s.off
	s.off += int64(i)
	s.bol, s.first = false, false
	if inPre {
		s.pos += i
	} else {
		s.br.Discard(i)
	}
	if before>>16 != s.off>>16 && s.ctx != nil && s.ctx.Err() != nil {
		return s.ctx.Err()
	}
	return nil
}

func (s *docScanner) keep(c byte, tooLong *bool) {
	if *tooLong {
		return
	}
	if len(s.buf) >= s.limit {
		*tooLong = true
		s.buf = s.buf[:0]
		return
	}
	s.buf = append(s.buf, c)
}
