package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/kubesleuth/kubesleuth/ingest/audit"
	"github.com/kubesleuth/kubesleuth/internal/canary"
	"github.com/kubesleuth/kubesleuth/internal/testbin"
)

// TestNoCanaryLeaksServe posts the canary inputs (every place a secret can sit; see
// TestNoCanaryLeaks) to serve as EventList batches, and bad requests that carry
// canaries (in a body that is not JSON, in an EventList's kind, in a wrong bearer
// token): no canary may appear in an HTTP answer, /metrics, stdout, stderr (the refusal
// log), the JSON-lines and falco alert files, the checkpoint or the case. The spool holds
// the batches as posted, like the apiserver's own log: it is input, not checked.
func TestNoCanaryLeaksServe(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	bin := testbin.Path(t)
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "in"), 0o700)
	set, err := canary.Write(filepath.Join(dir, "in"))
	if err != nil {
		t.Fatal(err)
	}
	var inputs []string
	for _, p := range set.Files {
		inputs = append(inputs, p)
	}
	sort.Strings(inputs)
	r, err := audit.Open(inputs, audit.Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	var items [][]byte
	if err := r.Each(context.Background(), func(rec audit.Record) error {
		b, err := json.Marshal(rec.Event)
		items = append(items, b)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(items) < 20 {
		t.Fatalf("only %d canary events", len(items))
	}
	p := newServePKI(t, filepath.Join(dir, "pki"))
	tokFile := filepath.Join(dir, "token")
	os.WriteFile(tokFile, []byte("the-right-token\n"), 0o600)
	caseDir := filepath.Join(dir, "case")
	sp := startServe(t, bin, dir, "--tls-cert", p.server.CertFile, "--tls-key", p.server.KeyFile, "--client-ca", p.ca.CertFile,
		"--token-file", tokFile, "--spool", filepath.Join(dir, "spool"), "--case", caseDir,
		"--alert", "jsonl="+filepath.Join(dir, "alerts.jsonl"), "--alert", "falco="+filepath.Join(dir, "falco.jsonl"), "--alert", "line", "--group", "1s")
	client := p.httpClient(t)
	var answers bytes.Buffer
	post := func(token string, body []byte) int {
		req, _ := http.NewRequest("POST", sp.url, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		answers.Write(b)
		for k, vs := range resp.Header {
			answers.WriteString(k + ": " + strings.Join(vs, ",") + "\n")
		}
		return resp.StatusCode
	}
	for i := 0; i < len(items); i += 7 {
		if code := post("the-right-token", eventListOf(items[i:min(i+7, len(items))])); code != 200 {
			t.Fatalf("canary batch: %d", code)
		}
	}
	c := set.Canaries[0].Value
	for _, bad := range []struct {
		token string
		body  []byte
	}{
		{"the-right-token", []byte("not json " + c)},
		{"the-right-token", []byte(`{"kind":"` + c + `","apiVersion":"audit.k8s.io/v1","items":[]}`)},
		{"the-right-token", []byte(`{"kind":"EventList","apiVersion":"` + c + `","items":[]}`)},
		{c, eventListOf(items[:1])},
	} {
		if code := post(bad.token, bad.body); code/100 != 4 {
			t.Errorf("a bad request answered %d", code)
		}
	}
	sp.waitProcessed(t, float64(len(items)))
	resp, err := http.Get(sp.ops + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if code := sp.stop(t, syscall.SIGTERM); code != 143 {
		t.Errorf("exit %d after SIGTERM", code)
	}
	checked := 0
	check := func(what string, b []byte) {
		t.Helper()
		checked++
		for _, l := range set.Leaks(b) {
			t.Errorf("%s leaks %s", what, l)
		}
	}
	check("HTTP answers", answers.Bytes())
	check("/metrics", metrics)
	for _, f := range []string{"stdout.txt", "stderr.txt", "alerts.jsonl", "falco.jsonl", "spool/serve.state"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 {
			t.Errorf("%s is empty", f)
		}
		check(f, b)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "falco.jsonl")); !bytes.Contains(b, []byte("KS-SECRET-")) {
		t.Errorf("no secret finding alerted: the canaries were not seen by the rules")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "stderr.txt")); !bytes.Contains(b, []byte("wrong_token")) || !bytes.Contains(b, []byte("malformed")) {
		t.Errorf("the refusals are not logged:\n%s", b)
	}
	err = filepath.WalkDir(caseDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		check("case file "+d.Name(), b)
		switch d.Name() {
		case "events.zst":
			check("events.zst decompressed", decompressAll(t, b))
		case "events.db":
			check("events.db values", boltValues(t, path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 9 {
		t.Fatalf("only %d outputs checked", checked)
	}
}
