package redact

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fixtureDocs reads the JSON lines of the repository's audit fixtures, the generated
// log, the real apiserver's recordings and the shared corpus (when beside the checkout).
func fixtureDocs(t *testing.T) [][]byte {
	var docs [][]byte
	var files []string
	for _, g := range []string{"../../testdata/generated/*.jsonl", "../../testdata/audit/*.jsonl", "../../testdata/realapiserver/*.jsonl",
		"../../testdata/rules/*/*.jsonl", "../../../shared/corpus/*/*"} {
		m, _ := filepath.Glob(g)
		files = append(files, m...)
	}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 64<<20)
		for sc.Scan() {
			if l := bytes.TrimSpace(sc.Bytes()); len(l) > 0 && l[0] == '{' {
				docs = append(docs, append([]byte(nil), l...))
			}
		}
		fh.Close()
	}
	if len(docs) < 2000 {
		t.Fatalf("only %d fixture documents found", len(docs))
	}
	return docs
}

// hostileValues are strings each of which some detector must replace.
var hostileValues = []string{
	canaryJWT, canaryPEM, canaryPGP, "Authorization: Bearer opaque-token-123456", "curl -H 'authorization: basic dXNlcjpwYXNz'",
	"db.password=hunter2hunter", "PGPASSWORD=hunter2hunter psql", "token: s3cr3t-value", "mysql -uroot -phunter2hunter",
	"run --password hunter2hunter", "postgres://app:hunter2hunter@db:5432/x", "AKIAABCDEFGHIJKLMNOP", "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
	"xoxb-123456789012-abcdefghij", "/x?access_token=abcdefgh12", urlForm("-----BEGIN RSA PRIVATE KEY-----\nMIIEabc\n-----END RSA PRIVATE KEY-----"),
	`{"password":"hunter2hunter"}`, "aws_secret_access_key = wJalrXUtnFEMIK7MDENGbPxRfiCY",
}

func urlForm(s string) string {
	r := strings.NewReplacer(" ", "+", "\n", "%0A", "=", "%3D", ":", "%3A")
	return r.Replace(s)
}

// TestFastPathIsSound: the fast path never lets through a document that the slow path
// would change: on every fixture as it is, and with a hostile value planted in a random
// string of each, and a credential-named field added to a random object of each.
func TestFastPathIsSound(t *testing.T) {
	docs := fixtureDocs(t)
	rng := rand.New(rand.NewSource(1))
	check := func(doc []byte, what string) {
		t.Helper()
		slow, changed := jsonSlow(doc)
		if changed && !candidate(doc) {
			t.Errorf("fast path skips a document the walker changes (%s):\n%s\n->\n%s", what, clip(doc), clip(slow))
		}
	}
	planted := 0
	for i, doc := range docs {
		check(doc, "fixture")
		var v any
		if json.Unmarshal(doc, &v) != nil {
			continue
		}
		strs, maps := leaves(v)
		if len(strs) > 0 {
			h := hostileValues[i%len(hostileValues)]
			*strs[rng.Intn(len(strs))] = h
			b, _ := json.Marshal(rebuild(v))
			if _, changed := jsonSlow(b); !changed {
				t.Errorf("planted value %q not redacted", h)
			}
			check(b, "planted "+h)
			planted++
		}
		if len(maps) > 0 {
			var v2 any
			_ = json.Unmarshal(doc, &v2)
			_, maps2 := leaves(v2)
			key := []string{"dbPassword", "api_key", "clientSecret", "TOKEN"}[i%4]
			maps2[rng.Intn(len(maps2))][key] = "hunter2hunter"
			b, _ := json.Marshal(v2)
			check(b, "field "+key)
		}
	}
	if planted < 2000 {
		t.Fatalf("planted only %d values", planted)
	}
}

// leaves returns pointers to the string leaves (through a boxed copy) and the objects of v.
func leaves(v any) ([]*string, []map[string]any) {
	var strs []*string
	var maps []map[string]any
	var walk func(p *any)
	walk = func(p *any) {
		switch x := (*p).(type) {
		case map[string]any:
			maps = append(maps, x)
			for k := range x {
				e := x[k]
				if s, ok := e.(string); ok {
					box := &boxed{s: s, m: x, k: k}
					strs = append(strs, &box.s)
					boxes = append(boxes, box)
					continue
				}
				walk(&e)
				x[k] = e
			}
		case []any:
			for i := range x {
				walk(&x[i])
			}
		}
	}
	boxes = boxes[:0]
	walk(&v)
	return strs, maps
}

type boxed struct {
	s string
	m map[string]any
	k string
}

var boxes []*boxed

// rebuild writes the boxed strings back into their maps.
func rebuild(v any) any {
	for _, b := range boxes {
		b.m[b.k] = b.s
	}
	return v
}

func clip(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "..."
	}
	return string(b)
}

// BenchmarkFastPath is the check every stored event pays.
func BenchmarkFastPath(b *testing.B) {
	f, err := os.Open("../../testdata/generated/small.jsonl")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var lines [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		lines = append(lines, append([]byte(nil), sc.Bytes()...))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		l := lines[i%len(lines)]
		candidate(l)
	}
}
