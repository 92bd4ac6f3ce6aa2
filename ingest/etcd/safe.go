package etcd

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kubesleuth/kubesleuth/analyzer/redact"
)

// Errors about stored values never quote them: a value is a Secret, plaintext or
// decrypted, and the decoders' own messages copy it (apimachinery's "Object 'Kind' is
// missing in '<the whole value>'"). They give a length and a fingerprint instead; keys
// and envelope names are quoted only while short and made of name characters, after
// redaction, since a responder needs them to find the object.

// maxShown bounds what is quoted of a key or a name.
const maxShown = 60

// sized stands for bytes of the input: "N bytes, sha256:…".
func sized(b []byte) string {
	return fmt.Sprintf("%d bytes, %s", len(b), redact.Fingerprint(b))
}

// nameChar: what etcd keys and envelope names of the apiserver are made of.
func nameChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_' || c == ':' || c == '/'
}

// QuoteKey renders an etcd key for a message: quoted whole when it is short and made of
// name characters; otherwise the leading path segments that are, then "…" and the key's
// length and fingerprint.
func QuoteKey(key string) string {
	if len(key) <= maxShown && allName(key) {
		return strconv.Quote(redact.String(key))
	}
	shown := 0
	for i := 0; i < len(key) && i <= maxShown; i++ {
		if !nameChar(key[i]) {
			break
		}
		if key[i] == '/' {
			shown = i + 1
		}
	}
	return fmt.Sprintf("%s… (%s)", strconv.Quote(redact.String(key[:shown])), sized([]byte(key)))
}

func allName(s string) bool {
	for i := 0; i < len(s); i++ {
		if !nameChar(s[i]) {
			return false
		}
	}
	return true
}

// quotePrefix renders an envelope prefix (k8s:enc:<provider>:<version>:<key name>:) the
// way QuoteKey renders a key.
func quotePrefix(p string) string {
	if len(p) <= maxShown && allName(p) {
		return strconv.Quote(redact.String(p))
	}
	return fmt.Sprintf("%q… (%s)", string(encPrefix), sized([]byte(p)))
}

// valueError is a decoder's failure on a value, told without the decoder's text (which
// may copy the value); Unwrap still gives the cause to errors.Is and errors.As.
type valueError struct {
	msg   string
	cause error
}

func (e *valueError) Error() string { return e.msg }
func (e *valueError) Unwrap() error { return e.cause }

// decodeErr says what kind of failure err is, with the value's length and fingerprint.
func decodeErr(enc Encoding, v []byte, err error) error {
	what := "does not decode as a Kubernetes object"
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case runtime.IsMissingKind(err):
		what = "has no kind"
	case runtime.IsMissingVersion(err):
		what = "has no apiVersion"
	case runtime.IsNotRegisteredError(err):
		what = "is of a kind this reader does not know"
	case errors.As(err, &se):
		what = fmt.Sprintf("is not valid JSON (near byte %d)", se.Offset)
	case errors.As(err, &te):
		what = fmt.Sprintf("holds a field of the wrong type (near byte %d)", te.Offset)
	case strings.HasPrefix(err.Error(), "proto:"):
		what = "is not valid protobuf"
	case strings.HasPrefix(err.Error(), "cbor:") || strings.Contains(err.Error(), " cbor: "):
		what = "is not valid CBOR"
	}
	return &valueError{msg: fmt.Sprintf("decoding %s: the value %s (%s)", enc, what, sized(v)), cause: err}
}
