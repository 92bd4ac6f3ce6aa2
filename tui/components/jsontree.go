package components

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// node is one JSON value with object keys in their original order (map[string]any would
// sort them, and an audit event reads best in the apiserver's order).
type node struct {
	kind     nodeKind
	key      string // the key in the parent object
	scalar   string // literal text of numbers, bools; the decoded string for strings
	children []*node
}

type nodeKind int

const (
	kObject nodeKind = iota
	kArray
	kString
	kNumber
	kBool
	kNull
)

// parseTree decodes raw JSON into a node tree. It fails on invalid JSON.
func parseTree(raw []byte) (*node, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	n, err := parseValue(dec)
	if err != nil {
		return nil, fmt.Errorf("decoding event JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("decoding event JSON: trailing data")
	}
	return n, nil
}

func parseValue(dec *json.Decoder) (*node, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch v := tok.(type) {
	case json.Delim:
		n := &node{kind: kObject}
		if v == '[' {
			n.kind = kArray
		}
		for dec.More() {
			var key string
			if n.kind == kObject {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				key, _ = kt.(string)
			}
			c, err := parseValue(dec)
			if err != nil {
				return nil, err
			}
			c.key = key
			n.children = append(n.children, c)
		}
		if _, err := dec.Token(); err != nil { // closing delimiter
			return nil, err
		}
		return n, nil
	case string:
		return &node{kind: kString, scalar: v}, nil
	case json.Number:
		return &node{kind: kNumber, scalar: v.String()}, nil
	case bool:
		return &node{kind: kBool, scalar: fmt.Sprint(v)}, nil
	case nil:
		return &node{kind: kNull, scalar: "null"}, nil
	}
	return nil, fmt.Errorf("unexpected token %v", tok)
}

// quote renders s as a JSON string literal in which every control character (C0, DEL,
// C1, U+2028/2029) and invalid byte is escaped, so the data cannot reach the terminal
// as a control sequence. encoding/json leaves DEL and C1 raw, hence this function.
func quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			b.WriteString(`\ufffd`)
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x2028 || r == 0x2029:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
		i += n
	}
	b.WriteByte('"')
	return b.String()
}
