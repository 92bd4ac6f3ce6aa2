package redact

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

// FuzzJSON feeds the redactor's own JSON parser and walker arbitrary documents, and a
// Secret whose data value the fuzzer chooses. Failure modes it looks for: a panic; valid
// JSON in, invalid JSON out; output that a second pass changes again (the redactor would
// not be a fixed point, and the case would differ by run); a Secret's value (raw or
// base64) surviving in the output.
func FuzzJSON(f *testing.F) {
	for _, s := range []string{
		`{"kind":"Secret","apiVersion":"v1","data":{"password":"aHVudGVyMg=="}}`,
		`{"kind":"SecretList","items":[{"kind":"Secret","stringData":{"token":"s3cr3t-value"}}]}`,
		`{"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"kind\":\"Secret\",\"data\":{\"a\":\"Yg==\"}}"}}}`,
		`[{"op":"add","path":"/data/password","value":"cGFzcw=="}]`,
		`{"env":[{"name":"DB_PASSWORD","value":"hunter2hunter2"}],"u":"postgres://u:pw12345@h/db"}`,
		`{"a":"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXZhbHVl"}`,
		`{"k":"-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----"}`,
		`{"S\u0065cret":1,"kind":"S\u0065cret","data":{"x":"\u0065yJ..."}}`,
		`{"a":1,"a":2}`, `not json`, `{"a":`, `"string"`, `[1,2,{"b":[]}]`,
	} {
		f.Add([]byte(s), "correct-horse-battery")
	}
	f.Fuzz(func(t *testing.T, doc []byte, secret string) {
		out, _ := JSON(doc)
		if json.Valid(doc) && !json.Valid(out) {
			t.Fatalf("valid JSON in, invalid out:\nin  %q\nout %q", doc, out)
		}
		again, _ := JSON(out)
		if !bytes.Equal(again, out) {
			t.Fatalf("not a fixed point:\nin   %q\nout  %q\nout2 %q", doc, out, again)
		}

		if len(secret) < 8 || strings.ContainsAny(secret, "\\\"") {
			return
		}
		val, _ := json.Marshal(secret)
		b64 := base64.StdEncoding.EncodeToString([]byte(secret))
		for _, body := range []string{
			`{"kind":"Secret","apiVersion":"v1","metadata":{"name":"s"},"stringData":{"k":` + string(val) + `}}`,
			`{"kind":"Secret","apiVersion":"v1","metadata":{"name":"s"},"data":{"k":"` + b64 + `"}}`,
		} {
			out, _ := JSON([]byte(body))
			skeleton := `{"kind":"Secret","apiVersion":"v1","metadata":{"name":"s"},"stringData":{"k":},"data":`
			if bytes.Contains(out, []byte(b64)) || (!strings.Contains(skeleton, secret) && bytes.Contains(out, []byte(secret))) {
				t.Fatalf("a Secret's value survives:\nin  %s\nout %s", body, out)
			}
		}
	})
}
