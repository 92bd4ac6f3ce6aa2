package etcdtest

import (
	"context"
	"crypto/aes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"

	bolt "go.etcd.io/bbolt"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apiserver/pkg/storage/value"
	aestransformer "k8s.io/apiserver/pkg/storage/value/encrypt/aes"
	kmsv2api "k8s.io/apiserver/pkg/storage/value/encrypt/envelope/kmsv2/v2"
	"k8s.io/apiserver/pkg/storage/value/encrypt/secretbox"
)

// GenOptions shape a generated snapshot.
type GenOptions struct {
	Secrets int
	Seed    uint64
}

// GenResult describes what was generated: the matching EncryptionConfiguration (which
// holds the keys, so write it 0600) and how many secrets of each kind the file holds.
type GenResult struct {
	Config    []byte
	Revisions int
	Counts    map[string]int
}

// The generated cluster's mix, per 100 secrets (by i % 100).
func genKind(i int) string {
	switch m := i % 100; {
	case m < 30:
		return "plaintext"
	case m < 55:
		return "aesgcm-current"
	case m < 70:
		return "aescbc-stale"
	case m < 78:
		return "secretbox-stale"
	case m < 82:
		return "aesgcm-absent-key"
	case m < 86:
		return "kms-v1"
	case m < 91:
		return "kms-v2"
	case m < 98:
		return "old-plaintext-history"
	case m < 99:
		return "deleted"
	}
	return "compacted-remnant"
}

var secretTypes = []corev1.SecretType{corev1.SecretTypeServiceAccountToken, corev1.SecretTypeDockerConfigJson,
	corev1.SecretTypeTLS, corev1.SecretTypeTLS, corev1.SecretTypeBasicAuth}

// GenerateSnapshot writes an etcd snapshot (bbolt in etcd's layout, with the SHA-256
// trailer etcd appends) of a cluster whose secrets are in mixed states: plaintext;
// aesgcm under the current key; aescbc and secretbox under keys rotation left behind;
// aesgcm under a key the config no longer holds; kms v1 and v2 envelopes; secrets
// encrypted after plaintext revisions that history still holds; deleted secrets with
// plaintext history; and plaintext revisions removed by a compaction whose pages were
// freed but not defragmented (remnants). ConfigMaps, some with credential-like values,
// and two undecodable values complete it. Values are random; the same seed gives the
// same cluster (encryption nonces differ).
func GenerateSnapshot(ctx context.Context, path string, o GenOptions) (GenResult, error) {
	res := GenResult{Counts: map[string]int{}}
	if o.Secrets <= 0 {
		return res, fmt.Errorf("--secrets must be positive")
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x6574636473))
	keyOf := func(name string) []byte {
		s := sha256.Sum256([]byte(fmt.Sprintf("%d/%s", o.Seed, name)))
		return s[:]
	}
	mk := func(prefix string, t value.Transformer) value.Transformer {
		return value.NewPrefixTransformers(nil, value.PrefixTransformer{Prefix: []byte(prefix), Transformer: t})
	}
	gcm := func(name string) (value.Transformer, error) {
		b, err := aes.NewCipher(keyOf(name))
		if err != nil {
			return nil, err
		}
		t, err := aestransformer.NewGCMTransformer(b)
		return mk("k8s:enc:aesgcm:v1:"+name+":", t), err
	}
	cur, err := gcm("key-2026")
	if err != nil {
		return res, err
	}
	absent, err := gcm("key-2023")
	if err != nil {
		return res, err
	}
	cbcBlock, err := aes.NewCipher(keyOf("key-2025"))
	if err != nil {
		return res, err
	}
	cbc := mk("k8s:enc:aescbc:v1:key-2025:", aestransformer.NewCBCTransformer(cbcBlock))
	var boxKey [32]byte
	copy(boxKey[:], keyOf("box-1"))
	box := mk("k8s:enc:secretbox:v1:box-1:", secretbox.NewSecretboxTransformer(boxKey))
	b64 := func(name string) string { return base64.StdEncoding.EncodeToString(keyOf(name)) }
	res.Config = []byte(fmt.Sprintf(`apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [secrets]
  providers:
  - aesgcm: {keys: [{name: key-2026, secret: %s}]}
  - aescbc: {keys: [{name: key-2025, secret: %s}]}
  - secretbox: {keys: [{name: box-1, secret: %s}]}
  - kms: {apiVersion: v2, name: cloudkms, endpoint: "unix:///var/run/kms-plugin.sock", timeout: 3s}
  - identity: {}
- resources: [configmaps]
  providers:
  - aesgcm: {keys: [{name: key-2026, secret: %s}]}
  - identity: {}
`, b64("key-2026"), b64("key-2025"), b64("box-1"), b64("key-2026")))

	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return res, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{NoSync: true, NoFreelistSync: true})
	if err != nil {
		return res, fmt.Errorf("creating %s: %w", path, err)
	}
	closed := false
	defer func() {
		if !closed {
			db.Close()
		}
	}()
	rev := int64(1)
	type pending struct {
		k []byte
		v []byte
	}
	var batch []pending
	var compacted [][]byte
	flush := func() error {
		err := db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("key"))
			if err != nil {
				return err
			}
			b.FillPercent = 0.9 // revisions only grow, as etcd's backend assumes
			for _, p := range batch {
				if err := b.Put(p.k, p.v); err != nil {
					return err
				}
			}
			return nil
		})
		batch = batch[:0]
		return err
	}
	put := func(key string, val []byte, create, version int64, tomb bool) (int64, error) {
		rev++
		kv := &mvccpb.KeyValue{Key: []byte(key), CreateRevision: create, ModRevision: rev, Version: version}
		if create == 0 {
			kv.CreateRevision = rev
		}
		if !tomb {
			kv.Value = val
		} else {
			kv = &mvccpb.KeyValue{Key: []byte(key), ModRevision: rev}
		}
		b, err := proto.Marshal(kv)
		if err != nil {
			return 0, err
		}
		batch = append(batch, pending{k: revKey(rev, tomb), v: b})
		res.Revisions++
		if len(batch) >= 20000 {
			if err := flush(); err != nil {
				return 0, err
			}
		}
		return kv.CreateRevision, nil
	}
	randStr := func(n int) []byte {
		const al = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
		b := make([]byte, n)
		for i := range b {
			b[i] = al[rng.IntN(len(al))]
		}
		return b
	}
	store := func(t value.Transformer, key string, s *corev1.Secret) ([]byte, error) {
		return StoreValue(ctx, t, key, s)
	}
	nss := 40
	for i := 0; i < o.Secrets; i++ {
		if i%4096 == 0 && ctx.Err() != nil {
			return res, ctx.Err()
		}
		kind := genKind(i)
		res.Counts[kind]++
		ns := fmt.Sprintf("team-%02d", i%nss)
		if i%97 == 0 {
			ns = "kube-system"
		}
		name := fmt.Sprintf("app-%d-creds", i)
		typ := corev1.SecretTypeOpaque
		if j := (i / 3) % 25; j < len(secretTypes) {
			typ = secretTypes[j]
		}
		data := map[string][]byte{"username": randStr(8), "password": randStr(24)}
		switch typ {
		case corev1.SecretTypeTLS:
			data = map[string][]byte{"tls.crt": randStr(900), "tls.key": randStr(1200)}
		case corev1.SecretTypeDockerConfigJson:
			data = map[string][]byte{".dockerconfigjson": []byte(`{"auths":{"registry.example.com":{"auth":"` + string(randStr(40)) + `"}}}`)}
		case corev1.SecretTypeServiceAccountToken:
			data = map[string][]byte{"token": randStr(600), "ca.crt": randStr(800), "namespace": []byte(ns)}
		}
		key := SecretKey(ns, name)
		sec := NewSecret(ns, name, typ, data)
		var err error
		var v []byte
		switch kind {
		case "plaintext":
			v, err = store(nil, key, sec)
		case "aesgcm-current":
			v, err = store(cur, key, sec)
		case "aescbc-stale":
			v, err = store(cbc, key, sec)
		case "secretbox-stale":
			v, err = store(box, key, sec)
		case "aesgcm-absent-key":
			v, err = store(absent, key, sec)
		case "kms-v1":
			v = append([]byte("k8s:enc:kms:v1:vault:"), randStr(200)...)
		case "kms-v2":
			var ob []byte
			ob, err = proto.Marshal(&kmsv2api.EncryptedObject{EncryptedData: randStr(300), KeyID: "projects/demo/keys/etcd-" + fmt.Sprint(i%3), EncryptedDEKSource: randStr(32)})
			v = append([]byte("k8s:enc:kms:v2:cloudkms:"), ob...)
		case "old-plaintext-history", "deleted", "compacted-remnant":
			var p []byte
			if p, err = store(nil, key, sec); err != nil {
				return res, err
			}
			create, err := put(key, p, 0, 1, false)
			if err != nil {
				return res, err
			}
			if kind == "compacted-remnant" {
				compacted = append(compacted, revKey(rev, false))
			}
			if kind == "deleted" {
				if _, err := put(key, nil, 0, 0, true); err != nil {
					return res, err
				}
				continue
			}
			if i%2 == 0 { // half of them also changed their value when re-encrypted
				sec.Data["password"] = randStr(24)
			}
			if v, err = store(cur, key, sec); err != nil {
				return res, err
			}
			if _, err := put(key, v, create, 2, false); err != nil {
				return res, err
			}
			continue
		}
		if err != nil {
			return res, err
		}
		if _, err := put(key, v, 0, 1, false); err != nil {
			return res, err
		}
	}
	for i := 0; i < o.Secrets/20+1; i++ {
		ns := fmt.Sprintf("team-%02d", i%nss)
		name := fmt.Sprintf("app-%d-config", i)
		d := map[string]string{"LOG_LEVEL": "info", "FEATURES": "a,b,c"}
		if i%10 == 3 {
			d["DATABASE_PASSWORD"] = string(randStr(16))
		}
		if i%10 == 7 {
			d["settings.ini"] = "[aws]\naws_access_key_id = AKIA" + strings.ToUpper(string(randStr(16))) + "\n"
		}
		v, err := StoreValue(ctx, nil, ConfigMapKey(ns, name), NewConfigMap(ns, name, d))
		if err != nil {
			return res, err
		}
		if _, err := put(ConfigMapKey(ns, name), v, 0, 1, false); err != nil {
			return res, err
		}
	}
	for _, g := range []string{"corrupt-1", "corrupt-2"} {
		if _, err := put(SecretKey("team-00", g), append([]byte("\x00\x13not a kubernetes value "), randStr(40)...), 0, 1, false); err != nil {
			return res, err
		}
	}
	if err := flush(); err != nil {
		return res, err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists([]byte("meta"))
		if err != nil {
			return err
		}
		for _, b := range []string{"members", "members_removed", "cluster", "lease", "alarm", "auth", "authUsers", "authRoles"} {
			if _, err := tx.CreateBucketIfNotExists([]byte(b)); err != nil {
				return err
			}
		}
		ci := revKey(rev, false)[:8]
		if err := meta.Put([]byte("consistent_index"), ci); err != nil {
			return err
		}
		// The compaction: these plaintext revisions leave the tree, their pages are freed.
		kb := tx.Bucket([]byte("key"))
		for _, k := range compacted {
			if err := kb.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	res.Counts["configmaps"] = o.Secrets/20 + 1
	res.Counts["undecodable"] = 2
	closed = true
	if err := db.Close(); err != nil {
		return res, err
	}
	return res, appendHash(path)
}

func revKey(rev int64, tomb bool) []byte {
	b := make([]byte, 17, 18)
	for i := 0; i < 8; i++ {
		b[7-i] = byte(rev >> (8 * i))
	}
	b[8] = '_'
	if tomb {
		b = append(b, 't')
	}
	return b
}

// appendHash appends the SHA-256 of the file, as etcd does to a snapshot it sends.
func appendHash(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0) // redact: test fixture generator (random secrets by design)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if _, err := f.Write(h.Sum(nil)); err != nil {
		return err
	}
	return f.Close()
}
