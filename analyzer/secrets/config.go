package secrets

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apiserver/pkg/apis/apiserver"
	apiserverv1 "k8s.io/apiserver/pkg/apis/apiserver/v1"
	"k8s.io/apiserver/pkg/apis/apiserver/validation"
	"k8s.io/apiserver/pkg/server/options/encryptionconfig"
	"k8s.io/apiserver/pkg/storage/value"
)

// Provider is one entry of a resource's provider list, in the configuration's order.
type Provider struct {
	// Kind is aesgcm, aescbc, secretbox, kms or identity.
	Kind string
	// KMSVersion is v1 or v2 for kms.
	KMSVersion string
	// Keys are the key names (for kms: the provider name), the write key first.
	Keys []string
}

// Label is the provider as it appears in value prefixes: aescbc, kms-v2, identity.
func (p Provider) Label() string {
	if p.Kind == "kms" {
		return "kms-" + p.KMSVersion
	}
	return p.Kind
}

// Config is an apiserver EncryptionConfiguration, parsed and validated with
// k8s.io/apiserver's own types and validation, with the transformers its own loader
// builds from it (so a decryption here is the apiserver's decryption).
type Config struct {
	Path string
	// Resources maps each group-resource named in the file (as written: "secrets",
	// "widgets.example.com", "*.apps", "*.*") to its providers in order.
	Resources map[schema.GroupResource][]Provider
	// Order lists the group-resources in file order, for stable output.
	Order []schema.GroupResource
	// KMSNotDecrypted is true when the file has kms providers: their values need the KMS
	// plugin and are classified by envelope only.
	KMSNotDecrypted bool

	transformers encryptionconfig.StaticTransformers
}

var configCodecs serializer.CodecFactory
var configScheme = runtime.NewScheme()

func init() {
	utilruntime.Must(apiserver.AddToScheme(configScheme))
	utilruntime.Must(apiserverv1.AddToScheme(configScheme))
	configCodecs = serializer.NewCodecFactory(configScheme, serializer.EnableStrict)
}

// LoadConfig reads an EncryptionConfiguration the way kube-apiserver does. KMS providers
// are kept in the parsed view but left out of the transformers: a KMS plugin is a socket
// on the control-plane node that an offline analysis does not have, and the apiserver's
// loader would dial it. Failure modes: unreadable, undecodable or invalid files give an
// error naming the file and the apiserver's own validation message.
func LoadConfig(ctx context.Context, path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading encryption config: %w", err)
	}
	obj, gvk, err := configCodecs.UniversalDecoder().Decode(data, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("decoding encryption config %s: %w", path, err)
	}
	ec, ok := obj.(*apiserver.EncryptionConfiguration)
	if !ok {
		return nil, fmt.Errorf("encryption config %s: got %v, want EncryptionConfiguration", path, gvk)
	}
	if errs := validation.ValidateEncryptionConfiguration(ec, false); len(errs) > 0 {
		return nil, fmt.Errorf("encryption config %s is invalid: %w", path, errs.ToAggregate())
	}
	c := &Config{Path: path, Resources: map[schema.GroupResource][]Provider{}}
	stripped := ec.DeepCopy()
	stripped.Resources = nil
	for _, rc := range ec.Resources {
		var ps []Provider
		var keep []apiserver.ProviderConfiguration
		for _, p := range rc.Providers {
			var pr Provider
			switch {
			case p.AESGCM != nil:
				pr = Provider{Kind: "aesgcm", Keys: keyNames(p.AESGCM.Keys)}
			case p.AESCBC != nil:
				pr = Provider{Kind: "aescbc", Keys: keyNames(p.AESCBC.Keys)}
			case p.Secretbox != nil:
				pr = Provider{Kind: "secretbox", Keys: keyNames(p.Secretbox.Keys)}
			case p.KMS != nil:
				v := p.KMS.APIVersion
				if v == "" {
					v = "v1"
				}
				pr = Provider{Kind: "kms", KMSVersion: v, Keys: []string{p.KMS.Name}}
				c.KMSNotDecrypted = true
			case p.Identity != nil:
				pr = Provider{Kind: "identity"}
			}
			ps = append(ps, pr)
			if p.KMS == nil {
				keep = append(keep, p)
			}
		}
		for _, r := range rc.Resources {
			gr := schema.ParseGroupResource(r)
			if _, dup := c.Resources[gr]; !dup {
				c.Order = append(c.Order, gr)
			}
			c.Resources[gr] = append(c.Resources[gr], ps...)
		}
		if len(keep) > 0 {
			rc2 := rc
			rc2.Providers = keep
			stripped.Resources = append(stripped.Resources, rc2)
		}
	}
	if len(stripped.Resources) == 0 {
		c.transformers = encryptionconfig.StaticTransformers{}
		return c, nil
	}
	loadPath := path
	if c.KMSNotDecrypted {
		var v1 apiserverv1.EncryptionConfiguration
		if err := configScheme.Convert(stripped, &v1, nil); err != nil {
			return nil, fmt.Errorf("encryption config %s: %w", path, err)
		}
		v1.APIVersion, v1.Kind = apiserverv1.SchemeGroupVersion.String(), "EncryptionConfiguration"
		b, err := json.Marshal(&v1)
		if err != nil {
			return nil, fmt.Errorf("encryption config %s: %w", path, err)
		}
		p, cleanup, err := privateCopy(b)
		if err != nil {
			return nil, fmt.Errorf("encryption config %s: %w", path, err)
		}
		defer cleanup()
		loadPath = p
	}
	loaded, err := encryptionconfig.LoadEncryptionConfig(ctx, loadPath, false, "kubesleuth")
	if err != nil {
		return nil, fmt.Errorf("loading encryption config %s: %w", path, err)
	}
	c.transformers = encryptionconfig.StaticTransformers(loaded.Transformers)
	return c, nil
}

func keyNames(keys []apiserver.Key) []string {
	var n []string
	for _, k := range keys {
		n = append(n, k.Name)
	}
	return n
}

// ProvidersFor returns the providers that apply to gr the way the apiserver picks them:
// the exact group-resource, else "*.<group>", else "*.*". ok is false when the config
// does not cover gr (its values are written in plaintext).
func (c *Config) ProvidersFor(gr schema.GroupResource) ([]Provider, bool) {
	for _, k := range []schema.GroupResource{gr, {Group: gr.Group, Resource: "*"}, {Group: "*", Resource: "*"}} {
		if ps, ok := c.Resources[k]; ok {
			return ps, true
		}
	}
	return nil, false
}

// KeyStatus places an encrypted value's provider and key against gr's providers:
// "current" for the write key (first provider, first key), "stale" for another key the
// config still holds, "absent" for a key it does not hold.
func (c *Config) KeyStatus(gr schema.GroupResource, provider, keyName string) string {
	ps, _ := c.ProvidersFor(gr)
	for i, p := range ps {
		if p.Label() != provider {
			continue
		}
		for j, k := range p.Keys {
			if k == keyName {
				if i == 0 && j == 0 {
					return "current"
				}
				return "stale"
			}
		}
	}
	return "absent"
}

// Decrypt runs the apiserver's transformer for gr over a stored value, with the etcd key
// as authenticated data (as the apiserver does: aesgcm and kms v2 values are bound to
// their key). It returns the plaintext, which the caller must never print.
func (c *Config) Decrypt(ctx context.Context, gr schema.GroupResource, etcdKey string, v []byte) ([]byte, error) {
	out, _, err := c.transformers.TransformerForResource(gr).TransformFromStorage(ctx, v, value.DefaultContext(etcdKey))
	return out, err
}

// describe renders a provider list for messages: "aesgcm(key2), aescbc(key1), identity".
func describe(ps []Provider) string {
	if len(ps) == 0 {
		return "no provider for this resource"
	}
	var s []string
	for _, p := range ps {
		if len(p.Keys) > 0 {
			s = append(s, p.Label()+"("+strings.Join(p.Keys, ",")+")")
		} else {
			s = append(s, p.Label())
		}
	}
	return strings.Join(s, ", ")
}
