package redact

import (
	"strings"
	"testing"
)

func TestJSON(t *testing.T) {
	jwt := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.c2lnbmF0dXJlLXZhbHVl"
	pem := "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----"
	cases := []struct {
		name    string
		in      string
		gone    []string
		keep    []string
		changed bool
	}{
		{"secret data", `{"kind":"Secret","metadata":{"name":"db"},"data":{"password":"aHVudGVyMg=="},"stringData":{"token":"plain-value"}}`,
			[]string{"aHVudGVyMg==", "plain-value"}, []string{`"name":"db"`, `"password":"sha256:`}, true},
		{"secret list", `{"kind":"SecretList","items":[{"metadata":{"name":"a"},"data":{"k":"c2VjcmV0MQ=="}},{"data":{"k":"c2VjcmV0Mg=="}}]}`,
			[]string{"c2VjcmV0MQ==", "c2VjcmV0Mg=="}, []string{`"name":"a"`}, true},
		{"nested in audit event", `{"auditID":"x","requestObject":{"kind":"Secret","data":{"a":"dmFsdWU="}},"responseObject":{"kind":"Secret","data":{"a":"dmFsdWU="}}}`,
			[]string{"dmFsdWU="}, []string{`"auditID":"x"`}, true},
		{"jwt anywhere", `{"kind":"Pod","spec":{"env":[{"value":"Bearer ` + jwt + `"}]}}`, []string{jwt}, []string{"Bearer sha256:"}, true},
		{"pem anywhere", `{"kind":"ConfigMap","data":{"key":"` + strings.ReplaceAll(pem, "\n", `\n`) + `"}}`, []string{"MIIEowIBAAKCAQEA"}, nil, true},
		{"patch body of a secret has no kind", `{"auditID":"a","objectRef":{"resource":"secrets","name":"s"},"requestObject":{"data":{"k":"cGF0Y2hlZA=="},"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"data\":{\"k\":\"cGF0Y2hlZA==\"}}"}}}}`,
			[]string{"cGF0Y2hlZA=="}, []string{`"name":"s"`}, true},
		{"json patch of a secret", `{"auditID":"a","objectRef":{"resource":"secrets"},"requestObject":[{"op":"replace","path":"/data/k","value":"anNvbnBhdGNo"}]}`,
			[]string{"anNvbnBhdGNo"}, []string{`"path":"/data/k"`}, true},
		{"configmap untouched", `{"kind":"ConfigMap","data":{"a":"b"}}`, nil, []string{`"a":"b"`}, false},
		{"bad json still redacted", `{"kind":"Secret","x":"` + jwt, []string{jwt}, nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, changed := JSON([]byte(c.in))
			if changed != c.changed {
				t.Errorf("changed = %v, want %v (%s)", changed, c.changed, out)
			}
			for _, g := range c.gone {
				if strings.Contains(string(out), g) {
					t.Errorf("%q still in %s", g, out)
				}
			}
			for _, k := range c.keep {
				if !strings.Contains(string(out), k) {
					t.Errorf("%q missing from %s", k, out)
				}
			}
		})
	}
}

func TestFingerprint(t *testing.T) {
	// sha256("abc") = ba7816bf8f01...
	if got := Fingerprint([]byte("abc")); got != "sha256:ba7816bf8f01" {
		t.Fatalf("Fingerprint(abc) = %s", got)
	}
}
