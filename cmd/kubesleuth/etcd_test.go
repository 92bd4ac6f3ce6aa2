package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubesleuth/kubesleuth/internal/etcdtest"
)

// etcdFixture generates a small snapshot and its encryption config once per test.
func etcdFixture(t *testing.T) (snap, cfg string) {
	t.Helper()
	dir := t.TempDir()
	snap, cfg = filepath.Join(dir, "snap.db"), filepath.Join(dir, "enc.yaml")
	code, _, stderr := runCmd(t, "", "generate", "etcd", "--secrets", "300", "--seed", "5", "--out", snap, "--encryption-config", cfg)
	if code != 0 {
		t.Fatalf("generate etcd: exit %d: %s", code, stderr)
	}
	for _, p := range []string{snap, cfg} {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, mode %v (want 0600)", p, err, st.Mode())
		}
	}
	return snap, cfg
}

type etcdDoc struct {
	Summary struct {
		Secrets        int            `json:"secrets"`
		ByState        map[string]int `json:"by_state"`
		SnapshotSHA256 string         `json:"snapshot_sha256"`
		Remnants       int            `json:"remnants"`
		Undecodable    int            `json:"undecodable"`
	} `json:"summary"`
	Secrets  []map[string]any `json:"secrets"`
	Remnants []map[string]any `json:"remnants"`
	Findings []struct {
		RuleID   string `json:"rule_id"`
		Severity string `json:"severity"`
		Subject  struct {
			Key string `json:"key"`
		} `json:"subject"`
	} `json:"findings"`
}

func TestEtcdSnapshotCommand(t *testing.T) {
	snap, cfg := etcdFixture(t)
	code, out, stderr := runCmd(t, "", "etcd", "--snapshot", snap, "--encryption-config", cfg, "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var doc etcdDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("not one JSON document: %v", err)
	}
	s := doc.Summary
	// 300 secrets: 3 deleted (not counted), 2 corrupt values added.
	if s.Secrets != 299 || s.ByState["plaintext"] != 90 || s.ByState["undecodable"] != 2 || s.SnapshotSHA256 != "ok" || s.Remnants != 3 {
		t.Errorf("summary %+v", s)
	}
	for _, f := range []string{"key", "namespace", "name", "type", "revision", "state", "provider", "key_name", "old_plaintext_revisions"} {
		if _, ok := doc.Secrets[0][f]; !ok {
			t.Errorf("secret lacks %q", f)
		}
	}
	rules := map[string]int{}
	for _, f := range doc.Findings {
		rules[f.RuleID]++
		if f.Subject.Key == "" && !strings.HasPrefix(f.RuleID, "KS-ETCD-00") {
			t.Errorf("%s without an etcd key", f.RuleID)
		}
	}
	for _, id := range []string{"KS-ETCD-001", "KS-ETCD-002", "KS-ETCD-003", "KS-ETCD-009", "KS-ETCD-010", "KS-ETCD-011", "KS-ETCD-012", "KS-ETCD-013", "KS-ETCD-014", "KS-ETCD-015", "KS-ETCD-016"} {
		if rules[id] == 0 {
			t.Errorf("no %s finding (got %v)", id, rules)
		}
	}

	// exit codes as scan
	if code, _, _ := runCmd(t, "", "etcd", "--snapshot", snap, "--fail-on", "high", "-o", "jsonl"); code != 1 {
		t.Errorf("--fail-on high: exit %d, want 1", code)
	}
	if code, _, _ := runCmd(t, "", "etcd", "--snapshot", snap, "--fail-on", "critical"); code != 0 {
		t.Errorf("--fail-on critical: exit %d, want 0", code)
	}
	// jsonl: one finding per line
	_, out, _ = runCmd(t, "", "etcd", "--snapshot", snap, "-o", "jsonl")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var f struct {
		RuleID string `json:"rule_id"`
	}
	if len(lines) < 100 || json.Unmarshal([]byte(lines[0]), &f) != nil || f.RuleID == "" {
		t.Errorf("jsonl: %d lines, first %q", len(lines), lines[0])
	}
	// table with --show-keys: data key names, never values
	_, out, _ = runCmd(t, "", "etcd", "--snapshot", snap, "--show-keys")
	for _, want := range []string{"DATA KEYS", "password,username", "KS-ETCD-001", "Secrets: 299", "snapshot checksum: ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q", want)
		}
	}
}

func TestEtcdCommandErrors(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.db")
	_ = os.WriteFile(junk, []byte(strings.Repeat("junk", 2000)), 0o600)
	badCfg := filepath.Join(dir, "bad.yaml")
	_ = os.WriteFile(badCfg, []byte("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - aescbc: {keys: [{name: k, secret: notbase64!}]}\n"), 0o600)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"etcd"}, "give --snapshot FILE or --endpoints URLS"},
		{[]string{"etcd", "--snapshot", junk, "--endpoints", "https://127.0.0.1:1"}, "not both"},
		{[]string{"etcd", "--snapshot", junk}, "not a bbolt database"},
		{[]string{"etcd", "--snapshot", filepath.Join(dir, "missing.db")}, "no such file"},
		{[]string{"etcd", "--snapshot", junk, "-o", "xml"}, "unknown output format"},
		{[]string{"etcd", "--snapshot", junk, "--encryption-config", badCfg}, "encryption config"},
		{[]string{"etcd", "--snapshot", junk, "--cacert", "x"}, "are for --endpoints"},
		{[]string{"generate", "etcd", "--secrets", "0", "--out", junk}, "--secrets must be positive"},
	}
	for _, c := range cases {
		code, _, stderr := runCmd(t, "", c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, stderr, c.want)
		}
	}
}

func TestEtcdLiveCommand(t *testing.T) {
	srv, err := etcdtest.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	k := etcdtest.SecretKey("prod", "db")
	v, err := etcdtest.StoreValue(ctx, nil, k, etcdtest.NewSecret("prod", "db", corev1.SecretTypeOpaque, map[string][]byte{"password": []byte("pw-123456")}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Client.Put(ctx, k, string(v)); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCmd(t, "", "etcd", "--endpoints", srv.Endpoint, "--cacert", srv.CACert, "--cert", srv.Cert, "--key", srv.Key, "-o", "json", "--fail-on", "high")
	if code != 1 {
		t.Fatalf("exit %d (want 1: a plaintext secret is high): %s", code, stderr)
	}
	var doc etcdDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Summary.Secrets != 1 || doc.Secrets[0]["state"] != "plaintext" || doc.Findings[0].RuleID != "KS-ETCD-001" {
		t.Errorf("live report %+v", doc)
	}
	if strings.Contains(out, "pw-123456") {
		t.Error("the value was printed")
	}
	code, _, stderr = runCmd(t, "", "etcd", "--endpoints", srv.Endpoint, "--cacert", srv.OtherCACert, "--cert", srv.Cert, "--key", srv.Key)
	if code != 2 || !strings.Contains(stderr, "certificate") {
		t.Errorf("wrong CA: exit %d, %q", code, stderr)
	}
}
