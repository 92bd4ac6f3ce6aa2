package generate

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// This file holds the byte-level JSON writers. The generator appends JSON by hand into a
// reused buffer instead of calling encoding/json: marshalling the upstream Event type costs
// ~10 µs per event, which would make a 1,000,000-event run take minutes. The helpers
// escape strings exactly as encoding/json (and therefore kube-apiserver) does, including
// the HTML-safe escapes, so `&` in a requestURI comes out as \u0026.

const hexDigits = "0123456789abcdef"

// plainByte[c] is true for the bytes encoding/json copies as they are: ASCII but control
// characters, '"', '\\' and the HTML-unsafe '<', '>' and '&'. A table lookup per byte keeps
// the common case (nothing to escape) a tight loop.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendString appends s as a JSON string literal with encoding/json's escaping rules.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		for i < len(s) && plainByte[s[i]] {
			i++
		}
		if i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendKV appends `"key":"value"` (key is trusted, value escaped), preceded by a comma
// when comma is true.
func appendKV(b []byte, comma bool, key, value string) []byte {
	if comma {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return appendString(b, value)
}

// appendUint appends an unsigned decimal.
func appendUint(b []byte, v uint64) []byte { return strconv.AppendUint(b, v, 10) }

// appendDigits appends v as exactly n decimal digits.
func appendDigits(b []byte, v int, n int) []byte {
	var tmp [9]byte
	for i := n - 1; i >= 0; i-- {
		tmp[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, tmp[:n]...)
}

// clock formats timestamps held as Unix microseconds. It caches the date-and-seconds
// prefix because consecutive events almost always fall in the same second.
type clock struct {
	sec    int64
	prefix []byte // "2006-01-02T15:04:05"
}

func (c *clock) appendPrefix(b []byte, micros int64) []byte {
	sec := micros / 1e6
	if micros < 0 && micros%1e6 != 0 {
		sec--
	}
	if sec != c.sec || c.prefix == nil {
		c.sec = sec
		t := time.Unix(sec, 0).UTC()
		y, mo, d := t.Date()
		h, mi, s := t.Clock()
		p := c.prefix[:0]
		p = appendDigits(p, y, 4)
		p = append(p, '-')
		p = appendDigits(p, int(mo), 2)
		p = append(p, '-')
		p = appendDigits(p, d, 2)
		p = append(p, 'T')
		p = appendDigits(p, h, 2)
		p = append(p, ':')
		p = appendDigits(p, mi, 2)
		p = append(p, ':')
		p = appendDigits(p, s, 2)
		c.prefix = p
	}
	return append(b, c.prefix...)
}

// appendMicro appends a quoted RFC 3339 timestamp with microseconds, the format of
// metav1.MicroTime ("2006-01-02T15:04:05.000000Z").
func (c *clock) appendMicro(b []byte, micros int64) []byte {
	b = append(b, '"')
	b = c.appendPrefix(b, micros)
	frac := micros % 1e6
	if frac < 0 {
		frac += 1e6
	}
	b = append(b, '.')
	b = appendDigits(b, int(frac), 6)
	return append(b, 'Z', '"')
}

// appendSecond appends a quoted RFC 3339 timestamp with second precision, the format of
// metav1.Time (creationTimestamp, lastHeartbeatTime).
func (c *clock) appendSecond(b []byte, micros int64) []byte {
	b = append(b, '"')
	b = c.appendPrefix(b, micros)
	return append(b, 'Z', '"')
}

// appendUUID appends a version 4 UUID built from two random words.
func appendUUID(b []byte, hi, lo uint64) []byte {
	hi = hi&^0xf000 | 0x4000           // version 4
	lo = lo&^(0xc000<<48) | 0x8000<<48 // RFC 4122 variant
	var raw [16]byte
	for i := 0; i < 8; i++ {
		raw[i] = byte(hi >> (56 - 8*i))
		raw[8+i] = byte(lo >> (56 - 8*i))
	}
	for i, v := range raw {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hexDigits[v>>4], hexDigits[v&0xf])
	}
	return b
}
