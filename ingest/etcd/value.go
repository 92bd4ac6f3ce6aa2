package etcd

import (
	"bytes"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/cbor"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	kmsv2api "k8s.io/apiserver/pkg/storage/value/encrypt/envelope/kmsv2/v2"
	"k8s.io/client-go/kubernetes/scheme"
)

// Value prefixes, as kube-apiserver writes them.
var (
	encPrefix      = []byte("k8s:enc:")
	protobufPrefix = []byte("k8s\x00")
	cborPrefix     = []byte{0xd9, 0xd9, 0xf7} // CBOR self-described tag 55799
)

// Encoding names how a stored value is laid out.
type Encoding string

const (
	EncProtobuf  Encoding = "protobuf"
	EncJSON      Encoding = "json"
	EncCBOR      Encoding = "cbor"
	EncEncrypted Encoding = "encrypted"
)

// Envelope is what can be read from a stored value without any key.
type Envelope struct {
	Encoding Encoding
	// Provider is aescbc, aesgcm, secretbox or kms for encrypted values (other names are
	// kept as found); empty for plaintext.
	Provider string
	// ProviderVersion is the version segment of the prefix: v1, or v2 for kms v2.
	ProviderVersion string
	// KeyName is the key's name in the EncryptionConfiguration (for kms: the provider name).
	KeyName string
	// KMSKeyID is the KMS key ID a kms v2 value names in its EncryptedObject, when readable.
	KMSKeyID string
	// Prefix is the whole envelope prefix, e.g. "k8s:enc:aescbc:v1:key1:".
	Prefix string
}

// ProviderLabel is provider and version as one word for tables: aescbc, kms-v1, kms-v2.
func (e Envelope) ProviderLabel() string {
	if e.Provider == "kms" {
		return "kms-" + e.ProviderVersion
	}
	return e.Provider
}

// ErrUnknownEncoding is returned for values that are neither encrypted nor a known
// plaintext encoding: corruption, or data that was not written by kube-apiserver.
var ErrUnknownEncoding = errors.New("value is not an apiserver encoding (no k8s:enc:, k8s\\x00, CBOR or JSON prefix)")

// ParseEnvelope classifies a stored value. It never needs a key and never fails on an
// encrypted value's body except to name what is malformed in its prefix.
func ParseEnvelope(v []byte) (Envelope, error) {
	switch {
	case bytes.HasPrefix(v, encPrefix):
		return parseEncrypted(v)
	case bytes.HasPrefix(v, protobufPrefix):
		return Envelope{Encoding: EncProtobuf}, nil
	case bytes.HasPrefix(v, cborPrefix):
		return Envelope{Encoding: EncCBOR}, nil
	}
	if t := bytes.TrimLeft(v, " \t\r\n"); len(t) > 0 && t[0] == '{' {
		return Envelope{Encoding: EncJSON}, nil
	}
	return Envelope{}, ErrUnknownEncoding
}

// parseEncrypted reads k8s:enc:<provider>:<version>:<name>: and, for kms v2, the key ID.
func parseEncrypted(v []byte) (Envelope, error) {
	rest := v[len(encPrefix):]
	var fields [3]string
	for i := range fields {
		j := bytes.IndexByte(rest, ':')
		if j < 0 || j > 256 {
			return Envelope{Encoding: EncEncrypted}, fmt.Errorf("encrypted value with a malformed prefix: want k8s:enc:<provider>:<version>:<key name>: (%s)", sized(v))
		}
		fields[i] = string(rest[:j])
		rest = rest[j+1:]
	}
	e := Envelope{Encoding: EncEncrypted, Provider: fields[0], ProviderVersion: fields[1], KeyName: fields[2]}
	e.Prefix = string(v[:len(v)-len(rest)])
	if e.Provider == "" || e.KeyName == "" {
		return e, fmt.Errorf("encrypted value with an empty provider or key name in %s", quotePrefix(e.Prefix))
	}
	if e.Provider == "kms" && e.ProviderVersion == "v2" {
		var obj kmsv2api.EncryptedObject
		if err := proto.Unmarshal(rest, &obj); err == nil {
			e.KMSKeyID = obj.KeyID
		}
	}
	return e, nil
}

var (
	protoSerializer = protobuf.NewSerializer(scheme.Scheme, scheme.Scheme)
	jsonSerializer  = json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme.Scheme, scheme.Scheme, json.SerializerOptions{})
	cborSerializer  = cbor.NewSerializer(scheme.Scheme, scheme.Scheme)
)

// DecodeObject turns a plaintext value (after decryption, if it was encrypted) into a
// typed object through the apimachinery serializers and client-go's scheme: a
// *corev1.Secret for a secret, and so on. JSON and CBOR values of kinds the scheme does not
// know (custom resources) come back as *unstructured.Unstructured. Its errors say what
// failed and give the value's length and fingerprint, never the value (the serializers'
// own messages may copy it whole); the serializer's error is kept for errors.As.
func DecodeObject(v []byte) (runtime.Object, error) {
	env, err := ParseEnvelope(v)
	if err != nil {
		return nil, err
	}
	switch env.Encoding {
	case EncEncrypted:
		return nil, fmt.Errorf("value is encrypted (%s): decrypt it first", quotePrefix(env.Prefix))
	case EncProtobuf:
		obj, _, err := protoSerializer.Decode(v, nil, nil)
		if err != nil {
			return nil, decodeErr(EncProtobuf, v, err)
		}
		return obj, nil
	case EncCBOR:
		obj, _, err := cborSerializer.Decode(v, nil, nil)
		if err == nil {
			return obj, nil
		}
		u := &unstructured.Unstructured{}
		if _, _, err2 := cborSerializer.Decode(v, nil, u); err2 == nil {
			return u, nil
		}
		return nil, decodeErr(EncCBOR, v, err)
	default:
		obj, _, err := jsonSerializer.Decode(v, nil, nil)
		if err == nil {
			return obj, nil
		}
		u := &unstructured.Unstructured{}
		if err2 := u.UnmarshalJSON(v); err2 == nil {
			return u, nil
		}
		return nil, decodeErr(EncJSON, v, err)
	}
}
