package etcd

import (
	"crypto/sha256"
	"testing"
)

func sha(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

// FuzzDecodeValue: any stored value is classified or rejected with an error, never a
// panic, and the carver survives any page content.
func FuzzDecodeValue(f *testing.F) {
	for _, s := range []string{"k8s\x00\n\x0c\n\x02v1\x12\x06Secret", "k8s:enc:aescbc:v1:k:x", "k8s:enc:kms:v2:c:\n\x01x\x12\x02id",
		`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}`, "\xd9\xd9\xf7\xa1\x01\x02", "\x0a\x14/registry/secrets/a/b\x18\x05*\x03abc"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if e, err := ParseEnvelope(b); err == nil && e.Encoding != EncEncrypted {
			_, _ = DecodeObject(b)
		}
		_ = carveKeyValues(b, []byte("/registry/"))
		_, _, _, _ = ParseRevisionKey(b)
	})
}
