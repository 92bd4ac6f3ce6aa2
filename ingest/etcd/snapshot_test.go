package etcd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"
)

// buildBolt writes a bbolt file in etcd's layout: each item is one revision of one key.
// Deleting revisions afterwards (what compaction does) frees the pages that held them.
type rev struct {
	key     string
	main    int64
	value   []byte
	deleted bool
}

func writeRevs(t *testing.T, db *bolt.DB, revs []rev) {
	t.Helper()
	err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(keyBucket)
		if err != nil {
			return err
		}
		if _, err := tx.CreateBucketIfNotExists([]byte("meta")); err != nil {
			return err
		}
		for _, r := range revs {
			kv := &mvccpb.KeyValue{Key: []byte(r.key), ModRevision: r.main, CreateRevision: r.main, Version: 1}
			if !r.deleted {
				kv.Value = r.value
			}
			v, err := proto.Marshal(kv)
			if err != nil {
				return err
			}
			if err := b.Put(RevisionKey(r.main, 0, r.deleted), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func plainSecret(name string, size int) []byte {
	// Not a valid object; the carver only needs the KeyValue framing and the value bytes.
	return append([]byte("k8s\x00\n\x0c\n\x02v1\x12\x06Secret"), bytes.Repeat([]byte(name[:1]), size)...)
}

func newDB(t *testing.T) (string, *bolt.DB) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "db")
	db, err := bolt.Open(p, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p, db
}

func TestRemnantsFromFreedPages(t *testing.T) {
	for _, chunk := range []int{8 << 20, 3 * 4096} {
		t.Run(fmt.Sprintf("chunk %d", chunk), func(t *testing.T) {
			defer func(c, o int) { carveChunk, carveOverlap = c, o }(carveChunk, carveOverlap)
			carveChunk, carveOverlap = chunk, min(chunk/2, 1<<20)
			testRemnants(t)
		})
	}
}

func testRemnants(t *testing.T) {
	p, db := newDB(t)
	var revs []rev
	for i := 0; i < 40; i++ {
		revs = append(revs, rev{key: fmt.Sprintf("/registry/secrets/ns/s%02d", i), main: int64(i + 2), value: plainSecret(fmt.Sprintf("v%d", i), 300+i*50)})
	}
	revs = append(revs, rev{key: "/registry/configmaps/ns/c", main: 100, value: plainSecret("c", 100)})
	writeRevs(t, db, revs)
	// Compaction removes two revisions (and their tombstone-free history) from the tree.
	compacted := map[int64]bool{7: true, 30: true}
	if err := db.Update(func(tx *bolt.Tx) error {
		for m := range compacted {
			if err := tx.Bucket(keyBucket).Delete(RevisionKey(m, 0, false)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := OpenSnapshot(p)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var live []string
	if err := s.Each(context.Background(), func(r Record) error {
		if r.Err != nil {
			t.Errorf("record error: %v", r.Err)
		}
		live = append(live, r.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(live) != 39 {
		t.Errorf("live revisions = %d, want 39", len(live))
	}
	var got []string
	st, err := s.Remnants(context.Background(), "/registry/secrets/", func(r Record) error {
		if r.Source != FromRemnant {
			t.Errorf("source %q", r.Source)
		}
		want := revs[r.ModRevision-2]
		if r.Key != want.key || !bytes.Equal(r.Value, want.value) {
			t.Errorf("remnant rev %d: key %q, value of %d bytes; want %q, %d bytes", r.ModRevision, r.Key, len(r.Value), want.key, len(want.value))
		}
		got = append(got, fmt.Sprintf("%d %s", r.ModRevision, r.Key))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(got)
	want := []string{"30 /registry/secrets/ns/s28", "7 /registry/secrets/ns/s05"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("remnants = %q, want %q (stats %+v)", got, want, st)
	}
	if st.FreePages == 0 || st.Candidates < st.Remnants {
		t.Errorf("stats %+v", st)
	}
	if h, err := s.HashState(); err != nil || h != HashAbsent {
		t.Errorf("hash state %q %v, want absent for a db file", h, err)
	}
}

func TestTombstonesAndHistory(t *testing.T) {
	p, db := newDB(t)
	writeRevs(t, db, []rev{
		{key: "/registry/secrets/a/x", main: 2, value: []byte("k8s\x00one")},
		{key: "/registry/secrets/a/x", main: 3, value: []byte("k8s:enc:aescbc:v1:k:xx")},
		{key: "/registry/secrets/a/x", main: 4, deleted: true},
	})
	db.Close()
	s, err := OpenSnapshot(p)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got []string
	_ = s.Each(context.Background(), func(r Record) error {
		got = append(got, fmt.Sprintf("%d %v %d", r.ModRevision, r.Deleted, len(r.Value)))
		return nil
	})
	if w := "2 false 7,3 false 22,4 true 0"; strings.Join(got, ",") != w {
		t.Errorf("got %q want %q", got, w)
	}
}

func TestBadSnapshots(t *testing.T) {
	dir := t.TempDir()
	good, db := newDB(t)
	var revs []rev
	for i := 0; i < 200; i++ {
		revs = append(revs, rev{key: fmt.Sprintf("/registry/secrets/ns/s%03d", i), main: int64(i + 2), value: plainSecret("v", 500)})
	}
	writeRevs(t, db, revs)
	db.Close()
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	noKey, db2 := newDB(t)
	_ = db2.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("other")); return err })
	db2.Close()
	cases := []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "nope.db"), "no such file"},
		{"directory", dir, "is a directory"},
		{"empty", write("empty.db", nil), "is empty"},
		{"text", write("text.db", []byte(strings.Repeat("this is not a database\n", 500))), "not a bbolt database"},
		{"short", write("short.db", data[:100]), "is truncated"},
		{"truncated", write("truncated.db", data[:len(data)/2]), "is truncated"},
		{"no key bucket", noKey, "not an etcd snapshot"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := OpenSnapshot(c.path)
			if err == nil {
				s.Close()
				t.Fatalf("no error, want %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q, want it to contain %q", err, c.want)
			}
		})
	}
	t.Run("corrupt meta checksums", func(t *testing.T) {
		b := append([]byte(nil), data...)
		b[pageHeaderSize+20] ^= 0xff
		b[4096+pageHeaderSize+20] ^= 0xff
		_, err := OpenSnapshot(write("meta.db", b))
		if err == nil || !strings.Contains(err.Error(), "meta pages are invalid") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("corrupt data pages", func(t *testing.T) {
		// Scribble over every data page: reading must end in an error, never a crash.
		b := append([]byte(nil), data...)
		for off := 2 * 4096; off+4096 <= len(b); off += 4096 {
			for i := 0; i < 64; i++ {
				b[off+i] = byte(i*31 + off/4096)
			}
		}
		s, err := OpenSnapshot(write("scribbled.db", b))
		if err != nil {
			return // refused up front: fine
		}
		defer s.Close()
		_ = s.Each(context.Background(), func(Record) error { return nil })
		_, _ = s.Remnants(context.Background(), "/registry/", func(Record) error { return nil })
	})
	t.Run("garbage records", func(t *testing.T) {
		p, db := newDB(t)
		_ = db.Update(func(tx *bolt.Tx) error {
			b, _ := tx.CreateBucket(keyBucket)
			_ = b.Put([]byte("short"), []byte("x"))
			_ = b.Put(RevisionKey(5, 0, false), []byte("\xff\xff\xff not protobuf"))
			return nil
		})
		db.Close()
		s, err := OpenSnapshot(p)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var errs []string
		_ = s.Each(context.Background(), func(r Record) error {
			if r.Err != nil {
				errs = append(errs, r.Err.Error())
			}
			return nil
		})
		if len(errs) != 2 || !strings.Contains(errs[1], "revision 5_0") && !strings.Contains(errs[0], "revision 5_0") {
			t.Errorf("errors %q", errs)
		}
	})
}

func TestHashTrailer(t *testing.T) {
	p, db := newDB(t)
	writeRevs(t, db, []rev{{key: "/registry/secrets/a/b", main: 2, value: []byte("k8s\x00x")}})
	db.Close()
	data, _ := os.ReadFile(p)
	withHash := append(append([]byte(nil), data...), sha(data)...)
	bad := append(append([]byte(nil), data...), sha(data)...)
	bad[100] ^= 1 // inside the first meta page's padding: the db still opens
	for name, c := range map[string]struct {
		b    []byte
		want string
	}{"ok": {withHash, HashOK}, "mismatch": {bad, HashMismatch}} {
		f := filepath.Join(t.TempDir(), name)
		_ = os.WriteFile(f, c.b, 0o600)
		s, err := OpenSnapshot(f)
		if err != nil {
			t.Fatal(err)
		}
		h, err := s.HashState()
		s.Close()
		if err != nil || h != c.want {
			t.Errorf("%s: %q %v", name, h, err)
		}
	}
}

func TestParseRevisionKey(t *testing.T) {
	m, s, tomb, err := ParseRevisionKey(RevisionKey(258, 3, true))
	if err != nil || m != 258 || s != 3 || !tomb {
		t.Errorf("%d %d %v %v", m, s, tomb, err)
	}
	for _, b := range [][]byte{nil, []byte("12345678_1234567"), []byte("12345678x12345678")} {
		if _, _, _, err := ParseRevisionKey(b); err == nil {
			t.Errorf("%q: no error", b)
		}
	}
}

func TestParseResourceKey(t *testing.T) {
	for in, want := range map[string]ResourceKey{
		"/registry/secrets/ns/n":                {Resource: "secrets", Namespace: "ns", Name: "n"},
		"/registry/clusterroles/admin":          {Group: "rbac.authorization.k8s.io", Resource: "clusterroles", Name: "admin"},
		"/registry/example.com/widgets/ns/w":    {Group: "example.com", Resource: "widgets", Namespace: "ns", Name: "w"},
		"/registry/services/specs/default/kube": {Resource: "services", Namespace: "default", Name: "kube"},
		"/registry/minions/node-1":              {Resource: "nodes", Name: "node-1"},
	} {
		got, ok := ParseResourceKey(in)
		if !ok || got != want {
			t.Errorf("%s: %+v %v", in, got, ok)
		}
	}
	for _, in := range []string{"/other/x", "/registry/", "/registry/secrets"} {
		if _, ok := ParseResourceKey(in); ok {
			t.Errorf("%s parsed", in)
		}
	}
}

func TestParseEnvelope(t *testing.T) {
	cases := []struct {
		in         string
		enc        Encoding
		label, key string
		err        bool
	}{
		{"k8s:enc:aescbc:v1:key1:\x01\x02", EncEncrypted, "aescbc", "key1", false},
		{"k8s:enc:aesgcm:v1:k-2:xx", EncEncrypted, "aesgcm", "k-2", false},
		{"k8s:enc:secretbox:v1:box:xx", EncEncrypted, "secretbox", "box", false},
		{"k8s:enc:kms:v1:vault:xx", EncEncrypted, "kms-v1", "vault", false},
		{"k8s:enc:kms:v2:cloud:xx", EncEncrypted, "kms-v2", "cloud", false},
		{"k8s:enc:aescbc", EncEncrypted, "", "", true},
		{"k8s:enc:::x:", EncEncrypted, "", "", true},
		{"k8s\x00rest", EncProtobuf, "", "", false},
		{"\xd9\xd9\xf7\xa1", EncCBOR, "", "", false},
		{"  {\"a\":1}", EncJSON, "", "", false},
		{"garbage", "", "", "", true},
		{"", "", "", "", true},
	}
	for _, c := range cases {
		e, err := ParseEnvelope([]byte(c.in))
		if (err != nil) != c.err || (!c.err && (e.Encoding != c.enc || e.ProviderLabel() != c.label || e.KeyName != c.key)) {
			t.Errorf("%q: %+v %v", c.in, e, err)
		}
	}
	if _, err := DecodeObject([]byte("k8s\x00\x01\x02")); err == nil {
		t.Error("bad protobuf decoded")
	}
	obj, err := DecodeObject([]byte(`{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w"}}`))
	if err != nil || obj.GetObjectKind().GroupVersionKind().Kind != "Widget" {
		t.Errorf("custom resource JSON: %v %v", obj, err)
	}
	if _, err := DecodeObject([]byte("k8s:enc:aescbc:v1:k:x")); err == nil || !strings.Contains(err.Error(), "decrypt it first") {
		t.Errorf("encrypted: %v", err)
	}
	if !errors.Is(func() error { _, err := ParseEnvelope([]byte("x")); return err }(), ErrUnknownEncoding) {
		t.Error("ErrUnknownEncoding")
	}
}
