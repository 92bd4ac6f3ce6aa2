package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubesleuth/kubesleuth/internal/generate"
	"github.com/kubesleuth/kubesleuth/internal/testbin"
)

// Hostile review (h-hostile), end to end: what the redactor misses (analyzer/redact's
// review_hostile_test.go has the breadth) reaches every output of the real binary, and a
// source that changes while it is ingested gets a chain-of-custody record that does not
// describe what was ingested. Both tests failed on main at b4119e4.

// hostileEvent is a minimal v1 event; extra fields are merged in.
func hostileEvent(n int, stage, verb, res, sub string, extra map[string]any) map[string]any {
	t := time.Date(2026, 3, 10, 10, 0, n, 0, time.UTC).Format("2006-01-02T15:04:05.000000Z")
	ref := map[string]any{"resource": res, "namespace": "shop", "name": "web", "apiVersion": "v1"}
	if sub != "" {
		ref["subresource"] = sub
	}
	e := map[string]any{"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse",
		"auditID": fmt.Sprintf("5e1f0000-0000-4000-8000-%012d", n), "stage": stage,
		"requestURI": "/api/v1/namespaces/shop/" + res, "verb": verb,
		"user":      map[string]any{"username": "mallory@example.com", "groups": []any{"system:authenticated"}},
		"sourceIPs": []any{"203.0.113.9"}, "userAgent": "kubectl/v1.32.0 (linux/amd64) kubernetes/abc",
		"objectRef": ref, "responseStatus": map[string]any{"metadata": map[string]any{}, "code": 201},
		"requestReceivedTimestamp": t, "stageTimestamp": t,
		"annotations": map[string]any{"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": ""}}
	for k, v := range extra {
		e[k] = v
	}
	return e
}

// TestHostileLeaksThroughTheBinary plants values in shapes the canary suite does not
// (a curl -u in an exec session, a kubeconfig's client key in a ConfigMap, a container's
// --password argument, Helm extraEnvVars in a HelmRelease, a connection string written
// with JSON's \/ escape, a Redis URL without a user) and a presigned-URL token in the
// name of the source file (what wget names a download), then runs scan in every format,
// ingest, search in every format, case info and case verify, and reads every file of the
// case. No planted value may appear in any of them.
func TestHostileLeaksThroughTheBinary(t *testing.T) {
	bin := testbin.Path(t)
	dir := t.TempDir()
	secrets := map[string]string{} // value -> where it was planted
	plant := func(place, v string) string { secrets[v] = place; return v }

	curlPw := plant("exec curl -u", "HSTLe2eCurlU0001")
	keyBody := plant("kubeconfig client-key-data (inside the PEM)", "MIIEowHSTLe2eKubeKey0002")
	clientKey := base64.StdEncoding.EncodeToString([]byte("-----BEGIN RSA PRIVATE KEY-----\n" + keyBody + "\n-----END RSA PRIVATE KEY-----\n"))
	plant("kubeconfig client-key-data", clientKey)
	argPw := plant("container --password argument", "HSTLe2eArgPw0003")
	extraEnv := plant("HelmRelease extraEnvVars", "HSTLe2eExtraEnv0004")
	slashPw := plant(`connection string with \/ escapes`, "HSTLe2eSlashPw0005")
	redisPw := plant("redis URL without user", "HSTLe2eRedisPw0006")
	fileTok := plant("presigned token in the source file name", "HSTLe2eFileNameTok0007")

	q := url.Values{"command": {"curl", "-u", "admin:" + curlPw, "http://10.0.0.9/admin"}}
	evs := []map[string]any{
		hostileEvent(1, "ResponseComplete", "create", "pods", "exec", map[string]any{"level": "Metadata",
			"requestURI":     "/api/v1/namespaces/shop/pods/web/exec?" + q.Encode() + "&container=web&stdin=true&stdout=true&tty=true",
			"responseStatus": map[string]any{"metadata": map[string]any{}, "code": 101}}),
		hostileEvent(2, "ResponseComplete", "create", "configmaps", "", map[string]any{"requestObject": map[string]any{
			"kind": "ConfigMap", "apiVersion": "v1", "metadata": map[string]any{"name": "ops-kubeconfig"},
			"data": map[string]any{"config": "apiVersion: v1\nkind: Config\nusers:\n- name: admin\n  user:\n    client-key-data: " + clientKey + "\n"}}}),
		hostileEvent(3, "ResponseComplete", "create", "pods", "", map[string]any{"requestObject": map[string]any{
			"kind": "Pod", "apiVersion": "v1", "metadata": map[string]any{"name": "db"},
			"spec": map[string]any{"containers": []any{map[string]any{"name": "db", "image": "mysql:8", "args": []any{"--user", "root", "--password", argPw}}}}}}),
		hostileEvent(4, "ResponseComplete", "create", "helmreleases", "", map[string]any{"requestObject": map[string]any{
			"kind": "HelmRelease", "apiVersion": "helm.toolkit.fluxcd.io/v2", "metadata": map[string]any{"name": "grafana"},
			"spec": map[string]any{"values": map[string]any{"extraEnvVars": []any{map[string]any{"name": "GF_SECURITY_ADMIN_PASSWORD", "value": extraEnv}}}}}}),
		hostileEvent(5, "ResponseComplete", "create", "configmaps", "", map[string]any{"requestObject": map[string]any{
			"kind": "ConfigMap", "apiVersion": "v1", "metadata": map[string]any{"name": "app"},
			"data": map[string]any{"DATABASE_URL": "postgres://app:" + slashPw + "@db:5432/app"}}}),
		hostileEvent(6, "ResponseComplete", "create", "configmaps", "", map[string]any{"requestObject": map[string]any{
			"kind": "ConfigMap", "apiVersion": "v1", "metadata": map[string]any{"name": "cache"},
			"data": map[string]any{"REDIS_URL": "redis://:" + redisPw + "@redis:6379/0"}}}),
	}
	var b bytes.Buffer
	for _, e := range evs {
		j, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(j)
		b.WriteByte('\n')
	}
	// JSON's optional escape of '/', as PHP's json_encode and some log shippers write it
	log := strings.Replace(b.String(), "postgres://app:", `postgres:\/\/app:`, 1)
	if !strings.Contains(log, `postgres:\/\/app:`) {
		t.Fatal("the \\/ escape was not written")
	}
	src := filepath.Join(dir, "audit.log.gz?X-Amz-Security-Token="+fileTok+"&X-Amz-Expires=3600")
	// redact: hostile test input: its secrets are the point
	if err := os.WriteFile(src, []byte(log), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	check := func(what string, out []byte) {
		t.Helper()
		for v, place := range secrets {
			if bytes.Contains(out, []byte(v)) {
				t.Errorf("%s holds the %s value %q", what, place, v)
			}
		}
	}
	runBin := func(args ...string) []byte {
		t.Helper()
		cmd := exec.CommandContext(ctx, bin, args...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			if _, ok := err.(*exec.ExitError); !ok {
				t.Fatalf("%v: %v", args, err)
			}
		}
		what := strings.Join(args[:min(2, len(args))], " ")
		check(what+" (stdout)", out.Bytes())
		check(what+" (stderr)", errb.Bytes())
		return out.Bytes()
	}
	for _, o := range []string{"table", "json", "jsonl"} {
		out := runBin("scan", "-v", "--max-errors", "0", "-o", o, src)
		if o == "json" && !bytes.Contains(out, []byte("KS-EXEC-001")) {
			t.Errorf("scan -o json: the exec session gave no finding, so its message was not checked:\n%s", out)
		}
	}
	caseDir := filepath.Join(dir, "case")
	runBin("ingest", "--case", caseDir, "--max-errors", "0", src)
	for _, o := range []string{"table", "json", "jsonl"} {
		out := runBin("search", "--case", caseDir, "-o", o, "--limit", "100", "--facet", "name", "*")
		if o == "json" && !bytes.Contains(out, []byte(`"total": 6`)) {
			t.Errorf("search found not the 6 events: %s", out)
		}
	}
	runBin("case", "info", "--case", caseDir, "-o", "json")
	runBin("case", "verify", "--case", caseDir, "-o", "json")
	err := filepath.WalkDir(caseDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(caseDir, p)
		check("case file "+rel, raw)
		switch d.Name() {
		case "events.zst":
			check("events.zst decompressed", decompressAll(t, raw))
		case "events.db":
			check("events.db values", boltValues(t, p))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestHostileCustodyOfAGrowingSource: an audit log is a live file (kube-apiserver appends
// to it; logrotate's copytruncate empties it). The ingest records a source's size from
// the listing and its SHA-256 from a second, separate read, while the decoder reads the
// file a third time: when the file grows during the ingest, case.json says "this file, of
// this size and this SHA-256, gave these events" about events that lie past the recorded
// size. A chain of custody must describe the bytes the events came from: the recorded
// size and hash must cover every event counted for the source.
func TestHostileCustodyOfAGrowingSource(t *testing.T) {
	bin := testbin.Path(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "audit.log")
	var first, more bytes.Buffer
	if _, err := generate.Audit(&first, generate.Options{Events: 50_000, Seed: 11}); err != nil {
		t.Fatal(err)
	}
	if _, err := generate.Audit(&more, generate.Options{Events: 50_000, Seed: 12, Start: time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
	// redact: generated test input (fake secrets)
	if err := os.WriteFile(src, first.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	caseDir := filepath.Join(dir, "case")
	cmd := exec.CommandContext(ctx, bin, "ingest", "--case", caseDir, "-q", src)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// the apiserver keeps writing: once the ingest has the file open (it has listed it and
	// is reading), append the rest, a chunk at a time, while the ingest runs
	if !waitOpen(cmd.Process.Pid, src, done) {
		t.Fatalf("the ingest ended before it opened %s: %s", src, errb.Bytes())
	}
	f, err := os.OpenFile(src, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	rest := more.Bytes()
	var werr error
loop:
	for len(rest) > 0 {
		select {
		case werr = <-done:
			break loop
		default:
		}
		n := bytes.IndexByte(rest[min(len(rest)-1, 1<<20):], '\n') + min(len(rest)-1, 1<<20) + 1
		if _, err := f.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	f.Close()
	if len(rest) == 0 {
		werr = <-done
	}
	if werr != nil {
		t.Fatalf("ingest: %v\n%s", werr, errb.Bytes())
	}

	var info struct {
		Sources []struct {
			Path   string `json:"path"`
			Size   int64  `json:"size"`
			SHA256 string `json:"sha256"`
			Read   int    `json:"read"`
			Events int    `json:"events"`
		} `json:"sources"`
	}
	raw, err := os.ReadFile(filepath.Join(caseDir, "case.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &info); err != nil || len(info.Sources) != 1 {
		t.Fatalf("case.json: %v, %d sources", err, len(info.Sources))
	}
	s := info.Sources[0]
	t.Logf("recorded: size %d, read %d events, sha256 %s", s.Size, s.Read, s.SHA256)
	now, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if s.Read == 0 {
		t.Fatalf("nothing read: %s", errb.Bytes())
	}
	if s.Size > int64(len(now)) {
		t.Fatalf("recorded size %d is larger than the file ever was (%d)", s.Size, len(now))
	}
	covered := now[:s.Size]
	sum := sha256.Sum256(covered)
	if hex.EncodeToString(sum[:]) != s.SHA256 {
		t.Errorf("recorded SHA-256 %s is not the SHA-256 of the file's first %d bytes (the recorded size): the hash and the size describe different contents", s.SHA256, s.Size)
	}
	lines := 0
	sc := bufio.NewScanner(bytes.NewReader(covered))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) > 0 {
			lines++
		}
	}
	if s.Read > lines {
		t.Errorf("case.json records %d events read from %s, but the %d bytes its size and SHA-256 vouch for hold %d events: %d events in the case come from bytes the chain of custody does not cover",
			s.Read, filepath.Base(src), s.Size, lines, s.Read-lines)
	}
}

// waitOpen waits until process pid holds path open (Linux's /proc), or the process ends
// (false).
func waitOpen(pid int, path string, done chan error) bool {
	fdDir := fmt.Sprintf("/proc/%d/fd", pid)
	for {
		select {
		case err := <-done:
			done <- err
			return false
		default:
		}
		ents, _ := os.ReadDir(fdDir)
		for _, e := range ents {
			if l, err := os.Readlink(filepath.Join(fdDir, e.Name())); err == nil && l == path {
				return true
			}
		}
		time.Sleep(time.Millisecond)
	}
}
