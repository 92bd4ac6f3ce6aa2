package redact

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
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
	// found by the hostile review
	"curl -fsS -u admin:hunter2hunter https://grafana", "redis-cli -h r -a hunter2hunter ping", "redis://:hunter2hunter@redis:6379",
	"DB_PASS=hunter2hunter", "machine github.com login bot password hunter2hunter",
	"DefaultEndpointsProtocol=https;AccountName=a;AccountKey=hunter2hunter==;", "https://b.s3.amazonaws.com/x?X-Amz-Signature=abcdef0123456789",
	"https://a.blob.core.windows.net/c?sv=1&sig=abcdef0123456789", base64.StdEncoding.EncodeToString([]byte("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIabc\n-----END EC PRIVATE KEY-----\n")),
	"apiVersion: v1\nkind: Secret\ndata:\n  k: aHVudGVyMmh1bnRlcg==\n", "spec:\n  env:\n  - name: DB_PASSWORD\n    value: hunter2hunter\n",
	`{"kind":"Secret","data":{"k":"aHVudGVyMmh1bnRlcg=="}}`,
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
				t.Errorf("planted value %q not redacted in %s", h, clip(b))
			}
			check(b, "planted "+h)
			planted++
		}
		if len(maps) > 0 {
			var v2 any
			_ = json.Unmarshal(doc, &v2)
			_, maps2 := leaves(v2)
			key := []string{"dbPassword", "api_key", "clientSecret", "TOKEN", "password"}[i%5]
			var val any = "hunter2hunter"
			switch i % 7 {
			case 1:
				val = []any{"hunter2hunter"}
			case 2:
				val = map[string]any{"value": "hunter2hunter"}
			case 3:
				val = json.Number("834729182736")
			}
			target := maps2[rng.Intn(len(maps2))]
			if i%11 == 0 { // a {name, value} pair, value first
				target["pair"] = map[string]any{"value": "hunter2hunter", "name": "DB_" + strings.ToUpper(key)}
			} else {
				target[key] = val
			}
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
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys) // the same plantings every run
			for _, k := range keys {
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

// TestParseAgreesWithEncodingJSON: the redactor's own decoder (which keeps duplicate
// keys) decodes every fixture as encoding/json does.
func TestParseAgreesWithEncodingJSON(t *testing.T) {
	n := 0
	for _, doc := range fixtureDocs(t) {
		var want any
		dec := json.NewDecoder(bytes.NewReader(doc))
		dec.UseNumber()
		if dec.Decode(&want) != nil {
			continue
		}
		got, err := parse(doc)
		if err != nil {
			t.Fatalf("parse: %v\n%s", err, clip(doc))
		}
		wb, _ := json.Marshal(want)
		gb, _ := json.Marshal(got)
		if !bytes.Equal(wb, gb) {
			t.Fatalf("parse differs from encoding/json:\n%s\n%s", clip(wb), clip(gb))
		}
		n++
	}
	for _, s := range []string{`"\ud83d\ude00 \u00e9 \ud800 x"`, `"a\u0000b"`, `{"a":1,"a":2}`, `[1.5e+10,-0,0.25]`, "\"\xff\xfe\""} {
		var want any
		dec := json.NewDecoder(strings.NewReader(s))
		dec.UseNumber()
		if err := dec.Decode(&want); err != nil {
			continue
		}
		got, err := parse([]byte(s))
		if err != nil {
			t.Fatalf("parse %q: %v", s, err)
		}
		if m, ok := got.(map[string]any); ok {
			if m["a (duplicate 2)"] == nil {
				t.Errorf("duplicate key lost: %v", m)
			}
			continue
		}
		wb, _ := json.Marshal(want)
		gb, _ := json.Marshal(got)
		if !bytes.Equal(wb, gb) {
			t.Errorf("%q: parse %s, encoding/json %s", s, gb, wb)
		}
	}
	if n < 2000 {
		t.Fatalf("only %d documents compared", n)
	}
}
