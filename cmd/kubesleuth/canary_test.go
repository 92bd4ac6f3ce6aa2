package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"html"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	bolt "go.etcd.io/bbolt"

	"github.com/kubesleuth/kubesleuth/internal/canary"
	"github.com/kubesleuth/kubesleuth/internal/testbin"
)

// TestNoCanaryLeaks holds the redaction promise on input nobody here wrote: distinctive
// secret values planted in every place a secret can sit (internal/canary: Secret bodies
// at every level and stage, lists and Tables, annotations that copy them, every patch
// type, TokenRequest and TokenReview, exec commands and URIs, user agents, usernames,
// user.extra, ConfigMap credentials, env literals, GKE, AKS, v1beta1, EventList, bad
// input that quotes them, an etcd with plaintext secrets, a deleted one, an undecodable
// value and a huge key) go through every command and output of the real binary: scan in
// each format, stderr, ingest then every file of the case (bbolt values and the event
// log decompressed), case info, search in each format with facets, and etcd on the
// snapshot and the live server in each format. No canary may appear, raw, base64 or
// URL-encoded.
func TestNoCanaryLeaks(t *testing.T) {
	bin := testbin.Path(t)
	dir := t.TempDir()
	set, err := canary.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	et, err := set.WriteEtcd(ctx, filepath.Join(dir, "etcd"))
	if err != nil {
		t.Fatal(err)
	}
	defer et.Server.Close()
	var inputs []string
	for _, p := range set.Files {
		inputs = append(inputs, p)
	}
	sort.Strings(inputs)
	// the inputs must hold the canaries, or the test proves nothing
	var all []byte
	for _, p := range inputs {
		b, _ := os.ReadFile(p)
		all = append(all, b...)
	}
	if n := len(set.Leaks(all)); n < len(set.Canaries)-20 { // the etcd canaries are not in the audit files
		t.Fatalf("only %d of %d canaries are in the inputs", n, len(set.Canaries))
	}

	checked := 0
	check := func(what string, b []byte) {
		t.Helper()
		checked++
		for _, l := range set.Leaks(b) {
			t.Errorf("%s leaks %s", what, l)
		}
	}
	runBin := func(args ...string) (int, []byte, []byte) {
		t.Helper()
		cmd := exec.CommandContext(ctx, bin, args...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		start := time.Now()
		err := cmd.Run()
		t.Logf("%s: exit in %s", args[0], time.Since(start).Round(time.Millisecond))
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		what := strings.Join(args, " ")
		check(what+" (stdout)", out.Bytes())
		check(what+" (stderr)", errb.Bytes())
		return code, out.Bytes(), errb.Bytes()
	}

	for _, o := range []string{"table", "json", "jsonl"} {
		code, out, _ := runBin(append([]string{"scan", "-v", "--max-errors", "0", "-o", o}, inputs...)...)
		if code != 0 || len(out) == 0 {
			t.Errorf("scan -o %s: exit %d, %d bytes", o, code, len(out))
		}
		if o == "json" && !bytes.Contains(out, []byte("KS-SECRET-009")) {
			t.Errorf("scan found no secret in the audit log: the canaries were not seen by the rules")
		}
	}

	caseDir := filepath.Join(dir, "case")
	if code, _, errb := runBin(append([]string{"ingest", "--case", caseDir, "--max-errors", "0", "--etcd-snapshot", et.Snapshot}, inputs...)...); code != 0 {
		t.Fatalf("ingest: exit %d: %s", code, errb)
	}
	for _, o := range []string{"table", "json"} {
		runBin("case", "info", "--case", caseDir, "-o", o)
	}
	// reports of the case and of the files, in every format, and a saved JSON report
	// rendered again
	for _, format := range []string{"html", "md", "json", "sarif", "csv"} {
		if code, out, errb := runBin("report", "--case", caseDir, "--format", format); code != 0 || len(out) == 0 {
			t.Errorf("report --case --format %s: exit %d: %s", format, code, errb)
		} else {
			check("report --case --format "+format+" (unescaped)", unescapeReport(out))
		}
		args := append([]string{"report", "--max-errors", "0", "--format", format, "--etcd-snapshot", et.Snapshot}, inputs...)
		if code, out, errb := runBin(args...); code != 0 || len(out) == 0 {
			t.Errorf("report FILES --format %s: exit %d: %s", format, code, errb)
		} else {
			check("report FILES --format "+format+" (unescaped)", unescapeReport(out))
		}
	}
	saved := filepath.Join(dir, "report.json")
	runBin("report", "--case", caseDir, "--format", "json", "-o", saved)
	if b, err := os.ReadFile(saved); err != nil || !bytes.Contains(b, []byte("KS-SECRET-009")) {
		t.Errorf("the saved report (%v) does not name the secrets the log disclosed", err)
	} else {
		check("report -o report.json", b)
	}
	runBin("report", "--from", saved, "--format", "html")
	for _, q := range []string{"*", "resource:secrets", "resource:pods subresource:exec", "verb:patch"} {
		for _, o := range []string{"table", "json", "jsonl"} {
			code, out, errb := runBin("search", "--case", caseDir, "-o", o, "--limit", "1000", "--facet", "user", "--facet", "userAgent", "--facet", "name", "--histogram", "1m", q)
			if code != 0 || len(out) == 0 {
				t.Errorf("search %q -o %s: exit %d: %s", q, o, code, errb)
			}
		}
	}
	// every file of the case, and what its stores hold decoded
	err = filepath.WalkDir(caseDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(caseDir, p)
		check("case file "+rel, b)
		switch d.Name() {
		case "events.zst":
			check("events.zst decompressed", decompressAll(t, b))
		case "events.db":
			check("events.db values", boltValues(t, p))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	for _, o := range []string{"table", "json", "jsonl"} {
		runBin("etcd", "--snapshot", et.Snapshot, "--show-keys", "-o", o)
		runBin("etcd", "--endpoints", et.Server.Endpoint, "--cacert", et.Server.CACert, "--cert", et.Server.Cert, "--key", et.Server.Key, "--show-keys", "-o", o)
	}
	if checked < 40 {
		t.Fatalf("only %d outputs checked", checked)
	}
}

// decompressAll decodes every zstd frame of the event log.
func decompressAll(t *testing.T, b []byte) []byte {
	t.Helper()
	dec, err := zstd.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	out, err := io.ReadAll(dec)
	if err != nil {
		t.Fatalf("events.zst: %v", err)
	}
	return out
}

// boltValues concatenates every key and value of every bucket (nested ones too).
func boltValues(t *testing.T, path string) []byte {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out bytes.Buffer
	var walk func(b *bolt.Bucket)
	walk = func(b *bolt.Bucket) {
		_ = b.ForEach(func(k, v []byte) error {
			out.Write(k)
			out.WriteByte(0)
			if v == nil {
				walk(b.Bucket(k))
				return nil
			}
			out.Write(v)
			var n [8]byte
			binary.BigEndian.PutUint64(n[:], uint64(len(v)))
			out.Write(n[:])
			return nil
		})
	}
	_ = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			walk(b)
			return nil
		})
	})
	return out.Bytes()
}

// unescapeReport undoes the escapes a report's format applies (HTML entities, JSON's
// \u003c \u003e \u0026, Markdown's backslashes), so that a canary cannot hide behind them.
func unescapeReport(b []byte) []byte {
	s := html.UnescapeString(string(b))
	s = strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&", `\\`, `\`).Replace(s)
	s = regexp.MustCompile(`\\([\\|*_\x60\[\]#<>])`).ReplaceAllString(s, "$1")
	return []byte(s)
}
