package sigma

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// part is a piece of a Sigma string: literal text, a wildcard, or (with expand) a
// placeholder.
type part struct {
	kind partKind
	text string // literal text, or the placeholder's name
}

type partKind uint8

const (
	pLit partKind = iota
	pStar
	pOne
	pHolder
)

// sstr is a Sigma string value after escapes: what a field must look like.
type sstr []part

// parseSigmaString reads a value with the specification's escape rules: `*` and `?` are
// wildcards, `\*` `\?` `\\` are the plain characters, a backslash before anything else
// is a plain backslash. With placeholders, `%name%` is a placeholder and `\%` a plain
// percent sign.
func parseSigmaString(s string, placeholders bool) sstr {
	var out sstr
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			out = append(out, part{kind: pLit, text: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && (s[i+1] == '*' || s[i+1] == '?' || s[i+1] == '\\' || (placeholders && s[i+1] == '%')):
			lit.WriteByte(s[i+1])
			i++
		case c == '*':
			flush()
			if len(out) == 0 || out[len(out)-1].kind != pStar { // ** is *
				out = append(out, part{kind: pStar})
			}
		case c == '?':
			flush()
			out = append(out, part{kind: pOne})
		case placeholders && c == '%':
			if j := strings.IndexByte(s[i+1:], '%'); j > 0 {
				flush()
				out = append(out, part{kind: pHolder, text: s[i+1 : i+1+j]})
				i += j + 1
				continue
			}
			lit.WriteByte(c)
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return out
}

func literal(s string) sstr {
	if s == "" {
		return sstr{}
	}
	return sstr{{kind: pLit, text: s}}
}

// plain is the value's text when it holds no wildcard or placeholder.
func (s sstr) plain() (string, bool) {
	var b strings.Builder
	for _, p := range s {
		if p.kind != pLit {
			return "", false
		}
		b.WriteString(p.text)
	}
	return b.String(), true
}

func (s sstr) hasHolder() bool {
	for _, p := range s {
		if p.kind == pHolder {
			return true
		}
	}
	return false
}

// wrap adds a leading and/or trailing wildcard (contains, startswith, endswith).
func (s sstr) wrap(lead, trail bool) sstr {
	out := make(sstr, 0, len(s)+2)
	if lead && (len(s) == 0 || s[0].kind != pStar) {
		out = append(out, part{kind: pStar})
	}
	out = append(out, s...)
	if trail && (len(out) == 0 || out[len(out)-1].kind != pStar) {
		out = append(out, part{kind: pStar})
	}
	return out
}

// String writes the value back in Sigma syntax (for messages).
func (s sstr) String() string {
	var b strings.Builder
	for _, p := range s {
		switch p.kind {
		case pLit:
			for _, r := range p.text {
				if r == '*' || r == '?' || r == '\\' {
					b.WriteByte('\\')
				}
				b.WriteRune(r)
			}
		case pStar:
			b.WriteByte('*')
		case pOne:
			b.WriteByte('?')
		case pHolder:
			b.WriteString("%" + p.text + "%")
		}
	}
	return b.String()
}

// shape is how a value can be tested without a regular expression.
type shape uint8

const (
	shEq       shape = iota // the literal, whole
	shPrefix                // literal*
	shSuffix                // *literal
	shContains              // *literal*
	shAny                   // * alone
	shRegex                 // anything else
)

func (s sstr) shape() (shape, string) {
	lits := 0
	var lit string
	for _, p := range s {
		switch p.kind {
		case pLit:
			lits++
			lit = p.text
		case pOne, pHolder:
			return shRegex, ""
		}
	}
	if lits > 1 {
		return shRegex, ""
	}
	star := func(i int) bool { return i >= 0 && i < len(s) && s[i].kind == pStar }
	switch {
	case len(s) == 0:
		return shEq, ""
	case lits == 0: // only stars
		return shAny, ""
	case len(s) == 1:
		return shEq, lit
	case len(s) == 2 && star(0):
		return shSuffix, lit
	case len(s) == 2 && star(1):
		return shPrefix, lit
	case len(s) == 3 && star(0) && star(2):
		return shContains, lit
	}
	return shRegex, ""
}

// regex is the value as an anchored RE2 expression; holders gives each placeholder's
// fragment (expand).
func (s sstr) regex(cased bool, holders func(name string) string) string {
	var b strings.Builder
	b.WriteString("(?s")
	if !cased {
		b.WriteString("i")
	}
	b.WriteString(")^")
	for _, p := range s {
		switch p.kind {
		case pLit:
			b.WriteString(regexp.QuoteMeta(p.text))
		case pStar:
			b.WriteString(".*")
		case pOne:
			b.WriteString(".")
		case pHolder:
			b.WriteString(holders(p.text))
		}
	}
	b.WriteString("$")
	return b.String()
}

// lower folds the literal parts for case-insensitive tests that use lowerAscii in CEL.
func (s sstr) lower() sstr {
	out := make(sstr, len(s))
	for i, p := range s {
		if p.kind == pLit {
			p.text = asciiLower(p.text)
		}
		out[i] = p
	}
	return out
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// caseKind says how a literal compares without regard to case: not at all (no letters),
// by lowering ASCII (lowerAscii in CEL), or only by a regex's Unicode folding.
type caseKind uint8

const (
	caseNone caseKind = iota
	caseASCII
	caseUnicode
)

func (s sstr) caseKind() caseKind {
	k := caseNone
	for _, p := range s {
		if p.kind != pLit {
			continue
		}
		for _, r := range p.text {
			switch {
			case r < utf8.RuneSelf && unicode.IsLetter(r):
				if k == caseNone {
					k = caseASCII
				}
			case r >= utf8.RuneSelf && (unicode.IsUpper(r) || unicode.IsLower(r) || unicode.IsTitle(r) || unicode.SimpleFold(r) != r):
				return caseUnicode
			}
		}
	}
	return k
}

// encodeBase64 is the base64 modifier: the plain value, encoded.
func encodeBase64(b []byte) sstr { return literal(base64.StdEncoding.EncodeToString(b)) }

// encodeBase64Offset is the base64offset modifier: the three encodings of the value at
// the three offsets it may have inside a longer base64 string, each cut to the part that
// does not depend on its neighbours (pySigma's algorithm).
func encodeBase64Offset(b []byte) []sstr {
	start := [3]int{0, 2, 3}
	end := [3]int{0, -3, -2}
	var out []sstr
	for i := 0; i < 3; i++ {
		in := append([]byte(strings.Repeat(" ", i)), b...)
		enc := base64.StdEncoding.EncodeToString(in)
		e := len(enc)
		if cut := end[(len(b)+i)%3]; cut != 0 {
			e += cut
		}
		if start[i] > e {
			continue
		}
		out = append(out, literal(enc[start[i]:e]))
	}
	return out
}

// utf16Bytes is the utf16le, utf16be and utf16 (byte order mark then little endian)
// modifiers.
func utf16Bytes(s string, mode string) []byte {
	units := utf16.Encode([]rune(s))
	var out []byte
	if mode == "utf16" {
		out = append(out, 0xFF, 0xFE)
		mode = "utf16le"
	}
	for _, u := range units {
		if mode == "utf16be" {
			out = append(out, byte(u>>8), byte(u))
		} else {
			out = append(out, byte(u), byte(u>>8))
		}
	}
	return out
}

// windash is the windash modifier: every permutation of -, /, –, —, ― where a dash
// begins a command-line flag (after the start or a non-word character, before a word
// character), as pySigma places them.
var dashes = []string{"-", "/", "\u2013", "\u2014", "\u2015"}

const maxWindash = 4096

func windash(s sstr) ([]sstr, error) {
	// find the flag positions in each literal part
	type pos struct{ part, start, size int }
	var at []pos
	for pi, p := range s {
		if p.kind != pLit {
			continue
		}
		t := p.text
		for i := 0; i < len(t); {
			r, size := utf8.DecodeRuneInString(t[i:])
			isDash := false
			for _, d := range dashes {
				if t[i:i+size] == d {
					isDash = true
				}
			}
			if isDash {
				prevWord := false
				if i > 0 {
					pr, _ := utf8.DecodeLastRuneInString(t[:i])
					prevWord = isWord(pr)
				} else if pi > 0 && s[pi-1].kind != pLit {
					prevWord = true // a wildcard before: not a flag start we can see
				}
				nextWord := false
				if i+size < len(t) {
					nr, _ := utf8.DecodeRuneInString(t[i+size:])
					nextWord = isWord(nr)
				}
				if !prevWord && nextWord {
					at = append(at, pos{pi, i, size})
				}
			}
			_ = r
			i += size
		}
	}
	n := 1
	for range at {
		n *= len(dashes)
		if n > maxWindash {
			return nil, fmt.Errorf("windash: %d flags make more than %d permutations", len(at), maxWindash)
		}
	}
	out := make([]sstr, 0, n)
	choice := make([]int, len(at))
	for k := 0; k < n; k++ {
		x := k
		for i := range choice {
			choice[i] = x % len(dashes)
			x /= len(dashes)
		}
		v := make(sstr, len(s))
		copy(v, s)
		// rebuild each touched literal, last position first so offsets hold
		for i := len(at) - 1; i >= 0; i-- {
			p := at[i]
			t := v[p.part].text
			v[p.part] = part{kind: pLit, text: t[:p.start] + dashes[choice[i]] + t[p.start+p.size:]}
		}
		out = append(out, v)
	}
	return out, nil
}

func isWord(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }

// globRegex turns an allowlist entry (an exact name, a shell glob as path.Match reads
// it, or a prefix ending in '*') into a regex fragment matching what Allowlists.Allowed
// accepts.
func globRegex(e string) string {
	var b strings.Builder
	b.WriteString("(?:")
	prefix := strings.HasSuffix(e, "*") && !strings.HasSuffix(e, `\*`)
	for i := 0; i < len(e); i++ {
		c := e[i]
		switch {
		case prefix && i == len(e)-1:
			b.WriteString(".*")
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		case c == '\\' && i+1 < len(e):
			i++
			b.WriteString(regexp.QuoteMeta(e[i : i+1]))
		case c == '[':
			j := strings.IndexByte(e[i+1:], ']')
			if j < 0 {
				b.WriteString(regexp.QuoteMeta(e[i:]))
				i = len(e)
				continue
			}
			class := e[i+1 : i+1+j]
			if strings.HasPrefix(class, "!") {
				class = "^" + class[1:]
			}
			b.WriteString("[" + strings.ReplaceAll(class, `\`, `\\`) + "]")
			i += j + 1
		default:
			b.WriteString(regexp.QuoteMeta(e[i : i+1]))
		}
	}
	b.WriteString(")")
	return b.String()
}
