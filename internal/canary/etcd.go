package canary

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubesleuth/kubesleuth/internal/etcdtest"
)

// Etcd is a real (embedded) etcd holding canary values, and a snapshot of it.
type Etcd struct {
	Server   *etcdtest.Server
	Snapshot string
}

// WriteEtcd starts an embedded etcd in dir, stores Secrets and ConfigMaps whose values
// are canaries (plaintext, as an apiserver without encryption at rest writes them), a
// deleted Secret (its plaintext stays in older revisions), a value that does not decode
// and a key far longer than any apiserver writes, then snapshots it. Close the Server.
func (s *Set) WriteEtcd(ctx context.Context, dir string) (*Etcd, error) {
	w := &writer{set: s}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	srv, err := etcdtest.Start(dir)
	if err != nil {
		return nil, err
	}
	put := func(key string, v []byte) error {
		_, err := srv.Client.Put(ctx, key, string(v))
		return err
	}
	fail := func(err error) (*Etcd, error) {
		srv.Close()
		return nil, err
	}
	for i, typ := range []corev1.SecretType{corev1.SecretTypeOpaque, corev1.SecretTypeDockerConfigJson, corev1.SecretTypeServiceAccountToken} {
		name := fmt.Sprintf("canary-%d", i)
		data := map[string][]byte{"password": []byte(w.value("etcd secret " + string(typ)))}
		if typ == corev1.SecretTypeDockerConfigJson {
			data = map[string][]byte{".dockerconfigjson": []byte(`{"auths":{"r.example.com":{"auth":"` + b64("u:"+w.value("etcd dockerconfig")) + `"}}}`)}
		}
		if typ == corev1.SecretTypeServiceAccountToken {
			data = map[string][]byte{"token": []byte(w.jwt("etcd sa token"))}
		}
		b, err := etcdtest.StoreValue(ctx, nil, etcdtest.SecretKey("shop", name), etcdtest.NewSecret("shop", name, typ, data))
		if err != nil {
			return fail(err)
		}
		if err := put(etcdtest.SecretKey("shop", name), b); err != nil {
			return fail(err)
		}
	}
	// a secret written, then deleted: the old revision keeps the plaintext
	gone := etcdtest.SecretKey("shop", "deleted")
	b, err := etcdtest.StoreValue(ctx, nil, gone, etcdtest.NewSecret("shop", "deleted", corev1.SecretTypeOpaque, map[string][]byte{"k": []byte(w.value("etcd deleted secret"))}))
	if err != nil {
		return fail(err)
	}
	if err := put(gone, b); err != nil {
		return fail(err)
	}
	if _, err := srv.Client.Delete(ctx, gone); err != nil {
		return fail(err)
	}
	cm, err := etcdtest.StoreValue(ctx, nil, etcdtest.ConfigMapKey("shop", "app"), etcdtest.NewConfigMap("shop", "app", map[string]string{
		"DB_PASSWORD": w.value("etcd configmap password"), "app.properties": "db.password=" + w.value("etcd configmap properties"),
	}))
	if err != nil {
		return fail(err)
	}
	if err := put(etcdtest.ConfigMapKey("shop", "app"), cm); err != nil {
		return fail(err)
	}
	// a value that does not decode, holding a secret in clear
	if err := put(etcdtest.SecretKey("shop", "broken"), []byte("k8s\x00garbage password="+w.value("etcd undecodable value"))); err != nil {
		return fail(err)
	}
	// a 1 MiB key under /registry/secrets/: no output may print it whole (a preview of
	// its start, its length and a fingerprint); the canary sits past any preview
	long := "/registry/secrets/shop/" + strings.Repeat("x", 300) + w.value("etcd huge key") + strings.Repeat("x", 1<<20)
	if err := put(long, []byte("k8s\x00x")); err != nil {
		return fail(err)
	}
	snap := filepath.Join(dir, "snapshot.db")
	if err := srv.Snapshot(ctx, snap); err != nil {
		return fail(err)
	}
	return &Etcd{Server: srv, Snapshot: snap}, nil
}
