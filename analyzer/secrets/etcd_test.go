package secrets_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/storage/value"
	kmsv2api "k8s.io/apiserver/pkg/storage/value/encrypt/envelope/kmsv2/v2"
	"k8s.io/klog/v2"

	"github.com/kubesleuth/kubesleuth/analyzer/secrets"
	"github.com/kubesleuth/kubesleuth/ingest/etcd"
	"github.com/kubesleuth/kubesleuth/internal/etcdtest"
)

// One etcd for the whole file: the cluster below is written once, snapshotted once, and
// every test reads it through the snapshot or the live path.
var (
	srv          *etcdtest.Server
	snapshotPath string
	cfgDir       string
	finalConfig  string // the EncryptionConfiguration in force after the rotation
	identityCfg  string // a config that lists identity first
)

func TestMain(m *testing.M) {
	klog.SetLogger(logr.Discard())
	dir, err := os.MkdirTemp("", "kubesleuth-secrets-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		srv, err = etcdtest.Start(dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer srv.Close()
		cfgDir = filepath.Join(dir, "configs")
		if err := populate(context.Background(), cfgDir); err != nil {
			fmt.Fprintln(os.Stderr, "populating etcd:", err)
			return 1
		}
		snapshotPath = filepath.Join(dir, "snapshot.db")
		if err := srv.Snapshot(context.Background(), snapshotPath); err != nil {
			fmt.Fprintln(os.Stderr, "snapshot:", err)
			return 1
		}
		return m.Run()
	}()
	os.RemoveAll(dir)
	if benchSnap.dir != "" {
		os.RemoveAll(benchSnap.dir)
	}
	os.Exit(code)
}

func key32() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

func writeConfig(dir, name, body string) (string, error) {
	p := filepath.Join(dir, name)
	return p, os.WriteFile(p, []byte("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n"+body), 0o600)
}

// populate writes the cluster the tests judge, the way kube-apiserver writes it, through
// a sequence of encryption configurations: plaintext first, then aescbc, then a rotation
// to aesgcm that leaves some secrets behind.
func populate(ctx context.Context, dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	k1, k2, k3, kOld, kWrong := key32(), key32(), key32(), key32(), key32()
	cfgA, err := writeConfig(dir, "a.yaml", fmt.Sprintf(`- resources: [secrets]
  providers:
  - aescbc: {keys: [{name: key1, secret: %s}]}
  - identity: {}
`, k1))
	if err != nil {
		return err
	}
	final := fmt.Sprintf(`- resources: [secrets]
  providers:
  - aesgcm: {keys: [{name: key2, secret: %s}]}
  - aescbc: {keys: [{name: key1, secret: %s}]}
  - secretbox: {keys: [{name: key3, secret: %s}]}
  - identity: {}
- resources: [configmaps, widgets.example.com]
  providers:
  - aesgcm: {keys: [{name: key2, secret: %s}]}
  - identity: {}
`, k2, k1, k3, k2)
	if finalConfig, err = writeConfig(dir, "final.yaml", final); err != nil {
		return err
	}
	cfgS, _ := writeConfig(dir, "box.yaml", fmt.Sprintf("- resources: [secrets]\n  providers:\n  - secretbox: {keys: [{name: key3, secret: %s}]}\n", k3))
	cfgR, _ := writeConfig(dir, "retired.yaml", fmt.Sprintf("- resources: [secrets]\n  providers:\n  - aesgcm: {keys: [{name: key-old, secret: %s}]}\n", kOld))
	cfgW, _ := writeConfig(dir, "wrong.yaml", fmt.Sprintf("- resources: [secrets]\n  providers:\n  - aesgcm: {keys: [{name: key2, secret: %s}]}\n", kWrong))
	identityCfg, _ = writeConfig(dir, "identity-first.yaml", fmt.Sprintf("- resources: [secrets]\n  providers:\n  - identity: {}\n  - aescbc: {keys: [{name: key1, secret: %s}]}\n", k1))

	sec, cm := schema.GroupResource{Resource: "secrets"}, schema.GroupResource{Resource: "configmaps"}
	tr := map[string]value.Transformer{}
	for name, p := range map[string]string{"a": cfgA, "final": finalConfig, "box": cfgS, "retired": cfgR, "wrong": cfgW} {
		if tr[name], err = etcdtest.LoadTransformer(ctx, p, sec); err != nil {
			return fmt.Errorf("loading %s: %w", p, err)
		}
	}
	trCM, err := etcdtest.LoadTransformer(ctx, finalConfig, cm)
	if err != nil {
		return err
	}
	kv := srv.Client.KV
	put := func(key string, v []byte) error {
		_, err := kv.Put(ctx, key, string(v))
		return err
	}
	putSecret := func(ns, name string, typ corev1.SecretType, data map[string][]byte, t value.Transformer) error {
		k := etcdtest.SecretKey(ns, name)
		v, err := etcdtest.StoreValue(ctx, t, k, etcdtest.NewSecret(ns, name, typ, data))
		if err != nil {
			return err
		}
		return put(k, v)
	}
	pw := map[string][]byte{"password": []byte("s3cr3t-value")}
	steps := []func() error{
		func() error { return putSecret("plain", "db-password", corev1.SecretTypeOpaque, pw, nil) },
		func() error {
			return putSecret("plain", "registry", corev1.SecretTypeDockerConfigJson, map[string][]byte{".dockerconfigjson": []byte(`{"auths":{}}`)}, nil)
		},
		func() error {
			return putSecret("plain", "legacy-token", corev1.SecretTypeServiceAccountToken, map[string][]byte{"token": []byte("eyJhbGciOi.x.y")}, nil)
		},
		// enc/rotated: plaintext, then aescbc, then aesgcm, same value: the plaintext
		// revision still holds the current value.
		func() error { return putSecret("enc", "rotated", corev1.SecretTypeOpaque, pw, nil) },
		func() error { return putSecret("enc", "rotated-changed", corev1.SecretTypeOpaque, pw, nil) },
		func() error { return putSecret("enc", "cbc-stale", corev1.SecretTypeOpaque, pw, tr["a"]) },
		func() error { return putSecret("enc", "rotated", corev1.SecretTypeOpaque, pw, tr["a"]) },
		func() error { return putSecret("enc", "rotated", corev1.SecretTypeOpaque, pw, tr["final"]) },
		func() error {
			return putSecret("enc", "rotated-changed", corev1.SecretTypeOpaque, map[string][]byte{"password": []byte("new-value")}, tr["final"])
		},
		func() error { return putSecret("enc", "gcm-current", corev1.SecretTypeTLS, pw, tr["final"]) },
		func() error { return putSecret("enc", "box", corev1.SecretTypeOpaque, pw, tr["box"]) },
		func() error { return putSecret("enc", "retired", corev1.SecretTypeOpaque, pw, tr["retired"]) },
		func() error { return putSecret("enc", "wrong-key", corev1.SecretTypeOpaque, pw, tr["wrong"]) },
		// Copies of encrypted values under other keys: aesgcm is bound to its key, aescbc is not.
		func() error {
			v, err := etcdtest.StoreValue(ctx, tr["final"], etcdtest.SecretKey("enc", "gcm-current"), etcdtest.NewSecret("enc", "gcm-current", corev1.SecretTypeOpaque, pw))
			if err != nil {
				return err
			}
			return put(etcdtest.SecretKey("enc", "gcm-moved"), v)
		},
		func() error {
			v, err := etcdtest.StoreValue(ctx, tr["a"], etcdtest.SecretKey("enc", "cbc-stale"), etcdtest.NewSecret("enc", "cbc-stale", corev1.SecretTypeOpaque, pw))
			if err != nil {
				return err
			}
			return put(etcdtest.SecretKey("enc", "cbc-copy"), v)
		},
		func() error {
			return put(etcdtest.SecretKey("enc", "kms1"), append([]byte("k8s:enc:kms:v1:vault:"), 0, 32, 1, 2, 3))
		},
		func() error {
			b, err := proto.Marshal(&kmsv2api.EncryptedObject{EncryptedData: []byte("ciphertext"), KeyID: "projects/p/keys/k7", EncryptedDEKSource: []byte("dek")})
			if err != nil {
				return err
			}
			return put(etcdtest.SecretKey("enc", "kms2"), append([]byte("k8s:enc:kms:v2:cloudkms:"), b...))
		},
		func() error { return putSecret("gone", "deleted", corev1.SecretTypeOpaque, pw, nil) },
		func() error { _, err := kv.Delete(ctx, etcdtest.SecretKey("gone", "deleted")); return err },
		func() error {
			return put(etcdtest.SecretKey("bad", "garbage"), []byte("\x00\x01garbage that is no object"))
		},
		func() error {
			k := etcdtest.ConfigMapKey("app", "settings")
			v, err := etcdtest.StoreValue(ctx, nil, k, etcdtest.NewConfigMap("app", "settings", map[string]string{
				"DB_PASSWORD": "hunter2hunter2", "config.yaml": "region: eu\naws_key: AKIAABCDEFGHIJKLMNOP\n", "LOG_LEVEL": "debug"}))
			if err != nil {
				return err
			}
			return put(k, v)
		},
		func() error {
			k := etcdtest.ConfigMapKey("app", "sealed")
			v, err := etcdtest.StoreValue(ctx, trCM, k, etcdtest.NewConfigMap("app", "sealed", map[string]string{"PASSWORD": "hunter2hunter2"}))
			if err != nil {
				return err
			}
			return put(k, v)
		},
		func() error {
			return put("/registry/example.com/widgets/app/w1", []byte(`{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w1","namespace":"app"},"spec":{"size":3}}`))
		},
		func() error {
			k := "/registry/pods/default/p1"
			v, err := etcdtest.StoreValue(ctx, nil, k, &corev1.Pod{})
			if err != nil {
				return err
			}
			return put(k, v)
		},
	}
	for i, s := range steps {
		if err := s(); err != nil {
			return fmt.Errorf("step %d: %w", i, err)
		}
	}
	return nil
}

// analyze runs the analyzer over the snapshot or the live etcd.
func analyze(t *testing.T, live bool, cfgPath string) secrets.Report {
	t.Helper()
	ctx := context.Background()
	var cfg *secrets.Config
	if cfgPath != "" {
		var err error
		if cfg, err = secrets.LoadConfig(ctx, cfgPath); err != nil {
			t.Fatal(err)
		}
	}
	a := secrets.New(ctx, secrets.Options{Config: cfg, ShowKeys: true})
	if live {
		l, err := etcd.DialLive(ctx, etcd.LiveOptions{Endpoints: []string{srv.Endpoint}, CACert: srv.CACert, Cert: srv.Cert, Key: srv.Key,
			PageSize: 3, History: secrets.WantsHistory})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if err := l.Each(ctx, etcd.KeyPrefix, func(r etcd.Record) error { a.Observe(r); return nil }); err != nil {
			t.Fatal(err)
		}
	} else {
		s, err := etcd.OpenSnapshot(snapshotPath)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.Each(ctx, func(r etcd.Record) error { a.Observe(r); return nil }); err != nil {
			t.Fatal(err)
		}
		h, err := s.HashState()
		if err != nil || h != etcd.HashOK {
			t.Fatalf("snapshot hash: %q, %v (want ok: SnapshotWithVersion appends the SHA-256)", h, err)
		}
	}
	return a.Result()
}

type want struct {
	state, provider, keyName, keyStatus, decryption, typ string
	oldPlain                                             int
	exposed, deleted                                     bool
}

func TestSecretsWithConfig(t *testing.T) {
	cases := map[string]want{
		"plain/db-password":   {state: "plaintext", provider: "identity", keyStatus: "stale", typ: "Opaque"},
		"plain/registry":      {state: "plaintext", provider: "identity", keyStatus: "stale", typ: "kubernetes.io/dockerconfigjson"},
		"plain/legacy-token":  {state: "plaintext", provider: "identity", keyStatus: "stale", typ: "kubernetes.io/service-account-token"},
		"enc/rotated":         {state: "encrypted", provider: "aesgcm", keyName: "key2", keyStatus: "current", decryption: "ok", typ: "Opaque", oldPlain: 1, exposed: true},
		"enc/rotated-changed": {state: "encrypted", provider: "aesgcm", keyName: "key2", keyStatus: "current", decryption: "ok", typ: "Opaque", oldPlain: 1},
		"enc/cbc-stale":       {state: "encrypted", provider: "aescbc", keyName: "key1", keyStatus: "stale", decryption: "ok", typ: "Opaque"},
		"enc/cbc-copy":        {state: "encrypted", provider: "aescbc", keyName: "key1", keyStatus: "stale", decryption: "ok", typ: "Opaque"},
		"enc/gcm-current":     {state: "encrypted", provider: "aesgcm", keyName: "key2", keyStatus: "current", decryption: "ok", typ: "kubernetes.io/tls"},
		"enc/gcm-moved":       {state: "encrypted", provider: "aesgcm", keyName: "key2", keyStatus: "current", decryption: "failed"},
		"enc/box":             {state: "encrypted", provider: "secretbox", keyName: "key3", keyStatus: "stale", decryption: "ok", typ: "Opaque"},
		"enc/retired":         {state: "encrypted", provider: "aesgcm", keyName: "key-old", keyStatus: "absent", decryption: "no-key"},
		"enc/wrong-key":       {state: "encrypted", provider: "aesgcm", keyName: "key2", keyStatus: "current", decryption: "failed"},
		"enc/kms1":            {state: "encrypted", provider: "kms-v1", keyName: "vault", keyStatus: "absent", decryption: "no-key"},
		"enc/kms2":            {state: "encrypted", provider: "kms-v2", keyName: "cloudkms", keyStatus: "absent", decryption: "no-key"},
		"bad/garbage":         {state: "undecodable"},
		"gone/deleted":        {state: "deleted", deleted: true, oldPlain: 1},
	}
	wantFindings := []string{
		"KS-ETCD-001 /registry/secrets/plain/db-password", "KS-ETCD-001 /registry/secrets/plain/registry",
		"KS-ETCD-001 /registry/secrets/plain/legacy-token", "KS-ETCD-013 /registry/secrets/plain/registry",
		"KS-ETCD-012 /registry/secrets/plain/legacy-token",
		"KS-ETCD-002 /registry/secrets/enc/cbc-stale", "KS-ETCD-002 /registry/secrets/enc/cbc-copy", "KS-ETCD-002 /registry/secrets/enc/box",
		"KS-ETCD-003 /registry/secrets/enc/retired", "KS-ETCD-003 /registry/secrets/enc/kms1", "KS-ETCD-003 /registry/secrets/enc/kms2",
		"KS-ETCD-008 /registry/secrets/enc/gcm-moved", "KS-ETCD-008 /registry/secrets/enc/wrong-key",
		"KS-ETCD-009 /registry/secrets/enc/rotated", "KS-ETCD-009 /registry/secrets/enc/rotated-changed",
		"KS-ETCD-010 /registry/secrets/gone/deleted",
		"KS-ETCD-015 /registry/secrets/bad/garbage",
		"KS-ETCD-014 /registry/configmaps/app/settings", "KS-ETCD-014 /registry/configmaps/app/settings",
		"KS-ETCD-014 /registry/configmaps/app/sealed", // decrypted with the config: a credential, even if encrypted
		"KS-ETCD-011 /registry/configmaps/app/settings", "KS-ETCD-011 /registry/example.com/widgets/app/w1",
		"KS-ETCD-005 ", "KS-ETCD-006 ", "KS-ETCD-007 ",
	}
	for _, live := range []bool{false, true} {
		t.Run(map[bool]string{false: "snapshot", true: "live"}[live], func(t *testing.T) {
			rep := analyze(t, live, finalConfig)
			got := map[string]secrets.Secret{}
			for _, s := range rep.Secrets {
				got[s.Namespace+"/"+s.Name] = s
			}
			for name, w := range cases {
				if live && w.deleted {
					// A live etcd does not show deleted keys: only a snapshot holds tombstones.
					if _, ok := got[name]; ok {
						t.Errorf("%s: deleted secret listed on the live path", name)
					}
					continue
				}
				s, ok := got[name]
				if !ok {
					t.Errorf("%s: missing from the report", name)
					continue
				}
				g := want{state: s.State, provider: s.Provider, keyName: s.KeyName, keyStatus: s.KeyStatus, decryption: s.Decryption,
					typ: s.Type, oldPlain: s.OldPlaintextRevisions, exposed: s.CurrentValueExposed, deleted: s.Deleted}
				if g != w {
					t.Errorf("%s:\n got %+v\nwant %+v", name, g, w)
				}
			}
			if s := got["enc/kms2"]; s.KMSKeyID != "projects/p/keys/k7" {
				t.Errorf("kms v2 key ID = %q, want it read from the EncryptedObject", s.KMSKeyID)
			}
			if s := got["plain/db-password"]; strings.Join(s.DataKeys, ",") != "password" || s.Fingerprint == "" {
				t.Errorf("db-password data keys %v fingerprint %q", s.DataKeys, s.Fingerprint)
			}
			wf := wantFindings
			if live {
				wf = without(wf, "KS-ETCD-010 /registry/secrets/gone/deleted")
			}
			if d := diff(findingSet(t, rep), wf); d != "" {
				t.Error(d)
			}
			if rep.Summary.Undecodable != 1 || rep.Summary.UndecodableValues[0].Key != "/registry/secrets/bad/garbage" {
				t.Errorf("undecodable = %+v", rep.Summary.UndecodableValues)
			}
			if c := rep.Summary.Resources["pods"]; c == nil || c.Plaintext != 1 {
				t.Errorf("pods count = %+v", c)
			}
			assertNoValues(t, rep)
		})
	}
}

func TestSecretsWithoutConfig(t *testing.T) {
	for _, live := range []bool{false, true} {
		rep := analyze(t, live, "")
		byState := rep.Summary.ByState
		// 3 plaintext, 11 encrypted (kms, aes*, secretbox; 2 copies), 1 undecodable.
		if byState["plaintext"] != 3 || byState["encrypted"] != 11 || byState["undecodable"] != 1 {
			t.Errorf("live=%v by state = %v", live, byState)
		}
		for _, s := range rep.Secrets {
			if s.State == "encrypted" && (s.Type != "" || s.Decryption != "" || s.KeyStatus != "") {
				t.Errorf("%s judged without a config: %+v", s.Key, s)
			}
		}
		fs := findingSet(t, rep)
		for _, f := range fs {
			if strings.HasPrefix(f, "KS-ETCD-002") || strings.HasPrefix(f, "KS-ETCD-003") || strings.HasPrefix(f, "KS-ETCD-011") {
				t.Errorf("live=%v: %s needs a config", live, f)
			}
		}
		if !contains(fs, "KS-ETCD-009 /registry/secrets/enc/rotated") {
			t.Errorf("live=%v: old plaintext revisions are found without a config too: %v", live, fs)
		}
	}
}

func TestIdentityFirstConfig(t *testing.T) {
	rep := analyze(t, false, identityCfg)
	fs := findingSet(t, rep)
	if !contains(fs, "KS-ETCD-004 ") {
		t.Errorf("identity-first config not reported: %v", fs)
	}
	for _, s := range rep.Secrets {
		if s.Key == "/registry/secrets/plain/db-password" && s.KeyStatus != "current" {
			t.Errorf("plaintext under identity-first: key status %q", s.KeyStatus)
		}
		if s.Key == "/registry/secrets/enc/cbc-stale" && (s.KeyStatus != "stale" || s.Decryption != "ok") {
			t.Errorf("cbc under identity-first: %+v", s)
		}
	}
}

func TestJSONShape(t *testing.T) {
	rep := analyze(t, false, "")
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"summary", "secrets", "findings"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("top-level %q missing", k)
		}
	}
	var ss []map[string]any
	if err := json.Unmarshal(doc["secrets"], &ss); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"key", "namespace", "name", "type", "revision", "state", "provider", "key_name", "old_plaintext_revisions"} {
		if _, ok := ss[0][f]; !ok {
			t.Errorf("secret entry lacks %q: %v", f, ss[0])
		}
	}
}

// assertNoValues fails if any value written by populate appears in the report.
func assertNoValues(t *testing.T, rep secrets.Report) {
	t.Helper()
	b, _ := json.Marshal(rep)
	for _, v := range []string{"s3cr3t-value", "new-value", "hunter2", "AKIAABCDEFGHIJKLMNOP", "eyJhbGciOi"} {
		if strings.Contains(string(b), v) {
			t.Errorf("report contains the value %q", v)
		}
	}
}

func findingSet(t *testing.T, rep secrets.Report) []string {
	t.Helper()
	var s []string
	for _, f := range rep.Findings {
		if f.Title == "" || f.Message == "" {
			t.Errorf("finding %s without title or message", f.RuleID)
		}
		s = append(s, f.RuleID+" "+f.Subject.Key)
	}
	sort.Strings(s)
	return s
}

func diff(got, want []string) string {
	w := append([]string(nil), want...)
	sort.Strings(w)
	if strings.Join(got, "\n") == strings.Join(w, "\n") {
		return ""
	}
	return fmt.Sprintf("findings:\n got %q\nwant %q", got, w)
}

func without(ss []string, x string) []string {
	var out []string
	for _, s := range ss {
		if s != x {
			out = append(out, s)
		}
	}
	return out
}

func contains(ss []string, x string) bool {
	for _, s := range ss {
		if s == x {
			return true
		}
	}
	return false
}
