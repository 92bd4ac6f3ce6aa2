package etcdtest

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apiserver/pkg/server/options/encryptionconfig"
	"k8s.io/apiserver/pkg/storage/value"
	"k8s.io/client-go/kubernetes/scheme"
)

var storageEncoder runtime.Encoder

func init() {
	codecs := serializer.NewCodecFactory(scheme.Scheme)
	info, ok := runtime.SerializerInfoForMediaType(codecs.SupportedMediaTypes(), runtime.ContentTypeProtobuf)
	if !ok {
		panic("no protobuf serializer in client-go's scheme")
	}
	storageEncoder = codecs.EncoderForVersion(info.Serializer, schema.GroupVersions{corev1.SchemeGroupVersion})
}

// EncodeProtobuf returns obj as kube-apiserver stores it: the k8s\x00 protobuf envelope
// (runtime.Unknown) around the v1 object.
func EncodeProtobuf(obj runtime.Object) ([]byte, error) {
	return runtime.Encode(storageEncoder, obj)
}

// LoadTransformer reads an EncryptionConfiguration with the apiserver's own loader and
// returns the transformer it would use for gr (identity when the file does not list it).
func LoadTransformer(ctx context.Context, path string, gr schema.GroupResource) (value.Transformer, error) {
	cfg, err := encryptionconfig.LoadEncryptionConfig(ctx, path, false, "kubesleuth-test")
	if err != nil {
		return nil, err
	}
	return encryptionconfig.StaticTransformers(cfg.Transformers).TransformerForResource(gr), nil
}

// StoreValue encodes obj and transforms it for storage under etcdKey, with the key as
// authenticated data, exactly as the apiserver's etcd3 store does on a write.
func StoreValue(ctx context.Context, tr value.Transformer, etcdKey string, obj runtime.Object) ([]byte, error) {
	b, err := EncodeProtobuf(obj)
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", etcdKey, err)
	}
	if tr == nil {
		return b, nil
	}
	out, err := tr.TransformToStorage(ctx, b, value.DefaultContext(etcdKey))
	if err != nil {
		return nil, fmt.Errorf("encrypting %s: %w", etcdKey, err)
	}
	return out, nil
}

// NewSecret is a Secret as the apiserver stores it (no resourceVersion).
func NewSecret(ns, name string, typ corev1.SecretType, data map[string][]byte) *corev1.Secret {
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + ns + "-" + name)},
		Type:       typ,
		Data:       data,
	}
}

// NewConfigMap is a ConfigMap as the apiserver stores it.
func NewConfigMap(ns, name string, data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + ns + "-" + name)},
		Data:       data,
	}
}

// SecretKey is the etcd key of a secret.
func SecretKey(ns, name string) string { return "/registry/secrets/" + ns + "/" + name }

// ConfigMapKey is the etcd key of a configmap.
func ConfigMapKey(ns, name string) string { return "/registry/configmaps/" + ns + "/" + name }
