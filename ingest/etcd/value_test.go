package etcd

import (
	"bytes"
	"testing"

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
