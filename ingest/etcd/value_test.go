package etcd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes/scheme"
)

// TestDecodeObjectEncodings decodes a Secret in each encoding an apiserver may have
// stored it in: protobuf (the default), CBOR (newer apiservers) and JSON (old ones).
func TestDecodeObjectEncodings(t *testing.T) {
	sec := &corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "n"}, Type: corev1.SecretTypeTLS, Data: map[string][]byte{"k": []byte("v")}}
	codecs := serializer.NewCodecFactory(scheme.Scheme)
	var pb bytes.Buffer
	info, _ := runtime.SerializerInfoForMediaType(codecs.SupportedMediaTypes(), runtime.ContentTypeProtobuf)
	if err := codecs.EncoderForVersion(info.Serializer, corev1.SchemeGroupVersion).Encode(sec, &pb); err != nil {
		t.Fatal(err)
	}
	var cb bytes.Buffer
	if err := cborSerializer.Encode(sec, &cb); err != nil {
		t.Fatal(err)
	}
	var js bytes.Buffer
	if err := jsonSerializer.Encode(sec, &js); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		b   []byte
		enc Encoding
	}{"protobuf": {pb.Bytes(), EncProtobuf}, "cbor": {cb.Bytes(), EncCBOR}, "json": {js.Bytes(), EncJSON}} {
		env, err := ParseEnvelope(c.b)
		if err != nil || env.Encoding != c.enc {
			t.Errorf("%s: envelope %+v %v", name, env, err)
			continue
		}
		obj, err := DecodeObject(c.b)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		got, ok := obj.(*corev1.Secret)
		if !ok || got.Name != "s" || got.Type != corev1.SecretTypeTLS || string(got.Data["k"]) != "v" {
			t.Errorf("%s: decoded %T %+v", name, obj, obj)
		}
	}
}

// TestErrorsDoNotEchoValues (issue 11): errors about stored values quoted them (40 bytes
// of a malformed prefix, apimachinery's "Object 'Kind' is missing in '<the value>'", a
// revision key in hex). A value is a Secret: errors give a length and a fingerprint.
func TestErrorsDoNotEchoValues(t *testing.T) {
	const canary = "password=CANARY-5e1d"
	const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJDQU5BUlkifQ.c2lnbmF0dXJlLXZhbHVl"
	secret := canary + " " + jwt
	check := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: no error", what)
			return
		}
		m := err.Error()
		if strings.Contains(m, "CANARY") || strings.Contains(m, "eyJ") || strings.Contains(m, "password") || len(m) > 200 {
			t.Errorf("%s: the error echoes the value: %q", what, m)
		}
		if !strings.Contains(m, "sha256:") {
			t.Errorf("%s: the error does not fingerprint the value: %q", what, m)
		}
	}
	for name, v := range map[string]string{
		"json without kind":  `{"data":"` + secret + `"}`,
		"json with garbage":  `{"apiVersion":"v1","kind":"Secret"} ` + secret,
		"broken json":        `{ ` + secret,
		"protobuf garbage":   "k8s\x00" + secret,
		"cbor garbage":       "\xd9\xd9\xf7" + secret,
		"unknown encoding":   secret,
		"malformed envelope": "k8s:enc:" + secret,
	} {
		if _, err := ParseEnvelope([]byte(v)); err != nil && name != "unknown encoding" {
			check(name+" (envelope)", err)
		}
		_, err := DecodeObject([]byte(v))
		if name == "unknown encoding" {
			if err == nil || strings.Contains(err.Error(), "CANARY") {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		check(name, err)
	}
	_, err := DecodeObject([]byte("k8s:enc:aescbc:v1:" + canary + strings.Repeat("k", 200) + ":" + secret))
	check("encrypted value with a long key name", err)
	if _, err := DecodeObject([]byte(`{"data":"x"}`)); !runtime.IsMissingKind(errors.Unwrap(err)) {
		t.Errorf("the serializer's error is not kept for errors.As: %v", err)
	}

	// keys: short ones whole, long ones by their leading segments
	if got := QuoteKey("/registry/secrets/default/db"); got != `"/registry/secrets/default/db"` {
		t.Errorf("QuoteKey = %s", got)
	}
	long := "/registry/secrets/default/" + secret + strings.Repeat("k", 3<<20)
	if got := QuoteKey(long); !strings.HasPrefix(got, fmt.Sprintf(`"/registry/secrets/default/"… (%d bytes, sha256:`, len(long))) || strings.Contains(got, "CANARY") {
		t.Errorf("QuoteKey(3 MiB key) = %.200s", got)
	}

	// a snapshot whose key bucket holds a bad revision key of 30 KiB (bbolt's limit is 32)
	p, db := newDB(t)
	badKey := []byte(secret + strings.Repeat("k", 30<<10))
	_ = db.Update(func(tx *bolt.Tx) error {
		b, _ := tx.CreateBucket(keyBucket)
		return b.Put(badKey, []byte("x"))
	})
	db.Close()
	s, err := OpenSnapshot(p)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n := 0
	_ = s.Each(context.Background(), func(r Record) error {
		n++
		check("bad revision key", r.Err)
		if r.Err != nil && len(r.Err.Error()) > 120 {
			t.Errorf("revision key error of %d bytes", len(r.Err.Error()))
		}
		return nil
	})
	if n != 1 {
		t.Errorf("%d records", n)
	}
}
