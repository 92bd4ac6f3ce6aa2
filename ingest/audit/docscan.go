package audit

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// docScanner splits JSON documents (a pretty-printed event, an array of events, an
// EventList or an Event Hubs {"records": [...]} batch, or several such documents one
// after another) into values without holding a whole document in memory: the elements
// of a top-level array, and of "items" or "records" arrays at the top of an object, are
// emitted one at a time with the line they start on.
type docScanner struct {
	r     *bufio.Reader
	line  int   // current line, 1-based
	off   int64 // bytes consumed
	limit int   // a value larger than this is skipped as too long

	// emit receives a complete value (or a too-long marker with nil data) and the line
	// where it began. It must copy data if it keeps it.
	emit func(data []byte, line int, off int64, tooLong bool)
	buf  []byte
}

// errDoc is a structural error in a document; reading the rest of that file stops.
type errDoc struct {
	line int
	msg  string
}

func (e *errDoc) Error() string { return e.msg }

func (s *docScanner) next() (byte, error) {
	c, err := s.r.ReadByte()
	if err != nil {
		return 0, err
	}
	s.off++
	if c == '\n' {
		s.line++
	}
	return c, nil
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

func (s *docScanner) bad(format string, a ...any) error {
	return &errDoc{line: s.line, msg: fmt.Sprintf(format, a...)}
}

// run scans documents until EOF. An io error (a truncated gzip stream) is returned as is.
func (s *docScanner) run() error {
	for {
		c, err := s.skipSpace()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		switch c {
		case '[':
			if err := s.array(); err != nil {
				return s.eof(err)
			}
		case '{':
			if err := s.object(); err != nil {
				return s.eof(err)
			}
		default:
			return s.bad("malformed JSON: unexpected %q at the top of a document", c)
		}
	}
}

// eof turns a premature end of input into a structural error.
func (s *docScanner) eof(err error) error {
	if err == io.EOF {
		return s.bad("malformed JSON: document ends inside a value")
	}
	return err
}

// array streams the elements of an array whose '[' was consumed.
func (s *docScanner) array() error {
	for first := true; ; first = false {
		c, err := s.skipSpace()
		if err != nil {
			return err
		}
		if c == ']' {
			return nil
		}
		if !first {
			if c != ',' {
				return s.bad("malformed JSON: expected ',' or ']' in array, found %q", c)
			}
			if c, err = s.skipSpace(); err != nil {
				return err
			}
		}
		line, off := s.line, s.off-1
		s.buf = s.buf[:0]
		tooLong := false
		if err := s.value(c, &tooLong); err != nil {
			return err
		}
		s.emit(s.buf, line, off, tooLong)
	}
}

// object handles a top-level object whose '{' was consumed: "items" and "records"
// arrays are streamed; the rest of the object is captured and emitted as one value (a
// pretty-printed event, an AKS record, a GKE entry, or the shell of a list, which
// decodes to nothing).
func (s *docScanner) object() error {
	line, off := s.line, s.off-1
	shell := []byte{'{'}
	tooLong := false
	for first := true; ; first = false {
		c, err := s.skipSpace()
		if err != nil {
			return err
		}
		if c == '}' {
			shell = append(shell, '}')
			s.emit(shell, line, off, tooLong)
			return nil
		}
		if !first {
			if c != ',' {
				return s.bad("malformed JSON: expected ',' or '}' in object, found %q", c)
			}
			shell = append(shell, ',')
			if c, err = s.skipSpace(); err != nil {
				return err
			}
		}
		if c != '"' {
			return s.bad("malformed JSON: expected a key in object, found %q", c)
		}
		s.buf = append(s.buf[:0], '"')
		if err := s.str(&tooLong); err != nil {
			return err
		}
		key := string(s.buf[1 : len(s.buf)-1])
		shell = append(shell, s.buf...)
		if c, err = s.skipSpace(); err != nil {
			return err
		}
		if c != ':' {
			return s.bad("malformed JSON: expected ':' after key %q, found %q", key, c)
		}
		shell = append(shell, ':')
		if c, err = s.skipSpace(); err != nil {
			return err
		}
		if c == '[' && (key == "items" || key == "records") {
			if err := s.array(); err != nil {
				return err
			}
			shell = append(shell, '[', ']')
			continue
		}
		s.buf = s.buf[:0]
		if err := s.value(c, &tooLong); err != nil {
			return err
		}
		if !tooLong {
			shell = append(shell, s.buf...)
			if len(shell) > s.limit {
				tooLong = true
				shell = shell[:1]
			}
		}
	}
}

// value appends the value starting with c to s.buf, unless it grows beyond the limit,
// in which case it is consumed without being kept and *tooLong is set.
func (s *docScanner) value(c byte, tooLong *bool) error {
	s.buf = append(s.buf, c)
	switch c {
	case '"':
		return s.str(tooLong)
	case '{', '[':
		depth := 1
		for depth > 0 {
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
			b, err := s.r.Peek(1)
			if err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
			switch b[0] {
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
		c, err := s.next()
		if err != nil {
			return err
		}
		s.keep(c, tooLong)
		switch c {
		case '\\':
			c, err := s.next()
			if err != nil {
				return err
			}
			s.keep(c, tooLong)
		case '"':
			return nil
		case '\n':
			return s.bad("malformed JSON: line break inside a string")
		}
	}
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
