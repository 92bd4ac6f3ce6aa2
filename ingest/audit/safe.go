package audit

import (
	"fmt"
	"strconv"

	"github.com/kubesleuth/kubesleuth/analyzer/redact"
)

// Messages about bad input never quote the input: an audit line may hold a token or a
// password anywhere, and a message goes to a terminal, a CI log or a ticket. They give a
// place, a length and a fingerprint instead; only short identifier-like strings (a
// service or category name, a timestamp) are quoted, after redaction, because the
// responder needs them to tell one case from another.

// maxPreview bounds what preview quotes of the input.
const maxPreview = 40

// sized stands for bytes of the input: "N bytes, sha256:…".
func sized(b []byte) string {
	return fmt.Sprintf("%d bytes, %s", len(b), redact.Fingerprint(b))
}

// preview quotes s when it is short and made of identifier characters (letters, digits
// and . _ : / + - and space), after redaction; otherwise it gives its length and
// fingerprint.
func preview(s string) string {
	if len(s) <= maxPreview && identLike(s) {
		return strconv.Quote(redact.String(s))
	}
	return "(" + sized([]byte(s)) + ")"
}

func identLike(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '_', c == ':', c == '/', c == '+', c == '-', c == ' ':
		default:
			return false
		}
	}
	return true
}

// byteDesc names one byte: 'x' for printable ASCII, 0x00 for anything else. One byte of
// the input says what broke the syntax and cannot carry a secret.
func byteDesc(c byte) string {
	if c > ' ' && c < 0x7f && c != '\'' {
		return "'" + string(c) + "'"
	}
	return fmt.Sprintf("byte 0x%02x", c)
}
