// Package redact turns secret values into fingerprints before anything is stored or shown.
//
// What is replaced, by "sha256:" + the first 12 hex digits of the SHA-256 of the value:
//   - data and stringData values of a Secret (kind Secret) anywhere in a JSON document, and
//     of every item of a SecretList (list items carry no kind);
//   - JSON Web Tokens (three base64url parts, the first starting "eyJ") inside any string;
//   - PEM private keys (-----BEGIN ... PRIVATE KEY----- blocks) inside any string.
//
// A fingerprint lets a responder match the same value across events without holding it.
// Failure mode: a document that is not valid JSON is redacted as a string (JWT and PEM
// patterns only), never passed through untouched.
package redact

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"regexp"
)

// Fingerprint is the stored stand-in of a value: "sha256:" + first 12 hex of SHA-256.
func Fingerprint(v []byte) string {
	s := sha256.Sum256(v)
	return "sha256:" + hex.EncodeToString(s[:])[:12]
}

var (
	jwtRe = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`)
	pemRe = regexp.MustCompile(`-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----[\s\S]*?(-----END ([A-Z0-9 ]*)PRIVATE KEY-----|$)`)
)

// String replaces JWTs and PEM private keys inside s.
func String(s string) string {
	if !mayHoldToken(s) {
		return s
	}
	s = jwtRe.ReplaceAllStringFunc(s, func(m string) string { return Fingerprint([]byte(m)) })
	return pemRe.ReplaceAllStringFunc(s, func(m string) string { return Fingerprint([]byte(m)) })
}

func mayHoldToken(s string) bool {
	return containsStr(s, "eyJ") || containsStr(s, "PRIVATE KEY")
}

func containsStr(s, sub string) bool { return bytes.Contains([]byte(s), []byte(sub)) }

// JSON returns doc with every secret value replaced (see the package comment). changed
// says whether anything was replaced. The fast path (no "Secret", no "eyJ", no "PRIVATE
// KEY" in the bytes) returns doc itself.
func JSON(doc []byte) (out []byte, changed bool) {
	if !bytes.Contains(doc, []byte("Secret")) && !bytes.Contains(doc, []byte(`"secrets"`)) &&
		!bytes.Contains(doc, []byte("eyJ")) && !bytes.Contains(doc, []byte("PRIVATE KEY")) {
		return doc, false
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		s := String(string(doc))
		return []byte(s), s != string(doc)
	}
	c := false
	auditBodies(v, &c)
	v = walk(v, &c)
	if !c {
		return doc, false
	}
	b, err := json.Marshal(v)
	if err != nil { // cannot happen for decoded JSON; never return the unredacted document
		return []byte(`{"redacted":"unencodable"}`), true
	}
	return b, true
}

func walk(v any, changed *bool) any {
	switch t := v.(type) {
	case map[string]any:
		kind, _ := t["kind"].(string)
		switch kind {
		case "Secret":
			secretFields(t, changed)
		case "SecretList":
			if items, ok := t["items"].([]any); ok {
				for _, it := range items {
					if m, ok := it.(map[string]any); ok {
						secretFields(m, changed)
					}
				}
			}
		}
		for k, e := range t {
			t[k] = walk(e, changed)
		}
		return t
	case []any:
		for i, e := range t {
			t[i] = walk(e, changed)
		}
		return t
	case string:
		if r := String(t); r != t {
			*changed = true
			return r
		}
	}
	return v
}

// auditBodies handles an audit event about secrets: its request and response objects are
// Secrets even without a kind (a patch body is a partial Secret, a JSON patch a list of
// operations whose values may be secret data).
func auditBodies(v any, changed *bool) {
	ev, ok := v.(map[string]any)
	if !ok {
		return
	}
	ref, _ := ev["objectRef"].(map[string]any)
	if ref == nil || ref["resource"] != "secrets" {
		return
	}
	for _, f := range []string{"requestObject", "responseObject"} {
		switch b := ev[f].(type) {
		case map[string]any:
			if items, ok := b["items"].([]any); ok {
				for _, it := range items {
					if m, ok := it.(map[string]any); ok {
						secretFields(m, changed)
					}
				}
			}
			secretFields(b, changed)
		case []any: // JSON patch: [{"op":"replace","path":"/data/k","value":"..."}]
			for _, op := range b {
				if m, ok := op.(map[string]any); ok {
					if val, ok := m["value"]; ok {
						raw, _ := json.Marshal(val)
						m["value"] = Fingerprint(raw)
						*changed = true
					}
				}
			}
		case string: // a body the apiserver could not decode, kept as text
			ev[f] = Fingerprint([]byte(b))
			*changed = true
		}
	}
}

func secretFields(m map[string]any, changed *bool) {
	for _, f := range []string{"data", "stringData"} {
		d, ok := m[f].(map[string]any)
		if !ok {
			continue
		}
		for k, val := range d {
			s, isStr := val.(string)
			if isStr && len(s) > 7 && s[:7] == "sha256:" && len(s) == 19 {
				continue // already a fingerprint
			}
			var raw []byte
			if isStr {
				raw = []byte(s)
			} else {
				raw, _ = json.Marshal(val)
			}
			d[k] = Fingerprint(raw)
			*changed = true
		}
	}
	// the last-applied annotation holds the whole Secret as kubectl sent it
	if md, ok := m["metadata"].(map[string]any); ok {
		if an, ok := md["annotations"].(map[string]any); ok {
			const la = "kubectl.kubernetes.io/last-applied-configuration"
			if s, ok := an[la].(string); ok {
				an[la] = Fingerprint([]byte(s))
				*changed = true
			}
		}
	}
}
