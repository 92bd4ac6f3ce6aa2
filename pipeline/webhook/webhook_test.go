package webhook

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/kubesleuth/kubesleuth/analyzer"
	"github.com/kubesleuth/kubesleuth/ingest/audit"
	"github.com/kubesleuth/kubesleuth/internal/generate"
	"github.com/kubesleuth/kubesleuth/internal/realcluster"
	"github.com/kubesleuth/kubesleuth/pipeline"
)

// pki is a CA with a serving certificate for 127.0.0.1 and a client certificate, and a
// second CA's client certificate (the wrong one).
type pki struct {
	ca, otherCA    *realcluster.CA
	server, client realcluster.Pair
	wrongClient    realcluster.Pair
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	dir := t.TempDir()
	ca, err := realcluster.NewCA(filepath.Join(dir, "ca"))
	if err != nil {
		t.Fatal(err)
	}
	other, err := realcluster.NewCA(filepath.Join(dir, "other"))
	if err != nil {
		t.Fatal(err)
	}
	p := &pki{ca: ca, otherCA: other}
	if p.server, err = ca.Issue("serve", "kubesleuth", nil, "127.0.0.1", "localhost"); err != nil {
		t.Fatal(err)
	}
	if p.client, err = ca.Issue("apiserver", "kube-apiserver-audit", nil); err != nil {
		t.Fatal(err)
	}
	if p.wrongClient, err = other.Issue("intruder", "kube-apiserver-audit", nil); err != nil {
		t.Fatal(err)
	}
	return p
}

// client is an HTTPS client trusting p's CA, presenting cert (none when empty).
func (p *pki) clientFor(t testing.TB, cert realcluster.Pair) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(p.ca.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	cfg := &tls.Config{RootCAs: roots}
	if cert.CertFile != "" {
		c, err := tls.LoadX509KeyPair(cert.CertFile, cert.KeyFile)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, MaxIdleConnsPerHost: 64}}
}

type testServer struct {
	srv      *Server
	spool    *Spool
	url, ops string
	logs     *logBuf
	token    string
}

type logBuf struct {
	mu    sync.Mutex
	lines []string
}

func (l *logBuf) add(s string) { l.mu.Lock(); l.lines = append(l.lines, s); l.mu.Unlock() }
func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

func startServer(t testing.TB, p *pki, mutate func(*Config)) *testServer {
	t.Helper()
	dir := t.TempDir()
	sp, err := OpenSpool(filepath.Join(dir, "spool"), SpoolOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	ts := &testServer{spool: sp, logs: &logBuf{}, token: "s3cr3t-t0ken-" + fmt.Sprint(time.Now().UnixNano())}
	tokFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokFile, []byte(ts.token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Spool: sp, CertFile: p.server.CertFile, KeyFile: p.server.KeyFile, ClientCAFile: p.ca.CertFile, TokenFile: tokFile, Log: ts.logs.add}
	if mutate != nil {
		mutate(&cfg)
	}
	if ts.srv, err = NewServer(cfg); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ops, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go ts.srv.Serve(ln)
	go ts.srv.ServeOps(ops)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ts.srv.Shutdown(ctx)
	})
	ts.url = "https://" + ln.Addr().String() + "/audit"
	ts.ops = "http://" + ops.Addr().String()
	return ts
}

// eventList wraps audit event lines in an EventList of apiVersion.
func eventList(apiVersion string, lines [][]byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"kind":"EventList","apiVersion":%q,"metadata":{},"items":[`, apiVersion)
	for i, l := range lines {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(bytes.TrimSpace(l))
	}
	b.WriteString("]}")
	return b.Bytes()
}

func genLines(t testing.TB, n int, seed uint64) [][]byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := generate.Audit(&buf, generate.Options{Events: n, Seed: seed}); err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		out = append(out, append([]byte(nil), sc.Bytes()...))
	}
	return out
}

func (ts *testServer) post(t testing.TB, c *http.Client, token string, body []byte) (*http.Response, error) {
	t.Helper()
	req, _ := http.NewRequest("POST", ts.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp, err
}

// metric reads one sample of /metrics ("name{labels}" as Prometheus prints it).
func (ts *testServer) metric(t testing.TB, sample string) float64 {
	t.Helper()
	resp, err := http.Get(ts.ops + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if name, val, ok := strings.Cut(line, " "); ok && name == sample {
			var f float64
			fmt.Sscan(val, &f)
			return f
		}
	}
	t.Fatalf("/metrics has no sample %s", sample)
	return 0
}

// TestRefusals: each bad request or connection is refused with its status, counted by
// reason in /metrics and logged with the reason (never with the token); the server goes
// on serving good batches.
func TestRefusals(t *testing.T) {
	p := newPKI(t)
	ts := startServer(t, p, func(c *Config) { c.MaxBody = 64 << 10 })
	good := p.clientFor(t, p.client)
	lines := genLines(t, 20, 1)
	batch := eventList("audit.k8s.io/v1", lines)

	expectStatus := func(name string, c *http.Client, token string, body []byte, want int, reason string) {
		t.Helper()
		before := ts.metric(t, `kubesleuth_webhook_rejected_total{reason="`+reason+`"}`)
		resp, err := ts.post(t, c, token, body)
		if want == 0 { // the TLS handshake must fail
			if err == nil {
				t.Errorf("%s: answered %d, want the handshake refused", name, resp.StatusCode)
			}
		} else if err != nil {
			t.Errorf("%s: %v, want %d", name, err, want)
		} else if resp.StatusCode != want {
			t.Errorf("%s: answered %d, want %d", name, resp.StatusCode, want)
		}
		// the handshake's refusal is counted by the server after the client saw it
		deadline := time.Now().Add(5 * time.Second)
		for ts.metric(t, `kubesleuth_webhook_rejected_total{reason="`+reason+`"}`) != before+1 {
			if time.Now().After(deadline) {
				t.Errorf("%s: kubesleuth_webhook_rejected_total{reason=%q} not counted once", name, reason)
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if !strings.Contains(ts.logs.String(), ": "+reason) {
			t.Errorf("%s: no log line with the reason %s:\n%s", name, reason, ts.logs.String())
		}
	}
	expectStatus("wrong client certificate", p.clientFor(t, p.wrongClient), ts.token, batch, 0, "bad_client_cert")
	expectStatus("no client certificate", p.clientFor(t, realcluster.Pair{}), ts.token, batch, 0, "no_client_cert")
	expectStatus("missing token", good, "", batch, 401, "missing_token")
	expectStatus("wrong token", good, "not-the-token", batch, 401, "wrong_token")
	big := eventList("audit.k8s.io/v1", genLines(t, 200, 2))
	expectStatus("oversized body", good, ts.token, big, 413, "too_large")
	expectStatus("not JSON", good, ts.token, []byte(`{"kind":"EventList",`), 400, "malformed")
	expectStatus("not an EventList", good, ts.token, lines[0], 400, "malformed")
	expectStatus("another apiVersion", good, ts.token, eventList("audit.k8s.io/v2", lines), 400, "malformed")
	expectStatus("an item that is not an object", good, ts.token, []byte(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[1]}`), 400, "malformed")

	// plain HTTP on the TLS port
	before := ts.metric(t, `kubesleuth_webhook_rejected_total{reason="plain_http"}`)
	resp, err := http.Post(strings.Replace(ts.url, "https://", "http://", 1), "application/json", bytes.NewReader(batch))
	if err != nil {
		t.Fatalf("plain HTTP: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("plain HTTP: answered %d, want 400", resp.StatusCode)
	}
	if got := ts.metric(t, `kubesleuth_webhook_rejected_total{reason="plain_http"}`); got != before+1 {
		t.Errorf("plain HTTP counted %v times", got-before)
	}

	// nothing crashed: a good batch, v1 and v1beta1, is acknowledged and spooled
	for _, v := range []string{"audit.k8s.io/v1", "audit.k8s.io/v1beta1"} {
		resp, err := ts.post(t, good, ts.token, eventList(v, lines))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("good %s batch: %v %v", v, resp, err)
		}
	}
	if got := ts.metric(t, "kubesleuth_webhook_events_spooled_total"); got != float64(2*len(lines)) {
		t.Errorf("events spooled %v, want %d", got, 2*len(lines))
	}
	if strings.Contains(ts.logs.String(), ts.token) || strings.Contains(ts.logs.String(), "not-the-token") {
		t.Errorf("a token appears in the log")
	}
}

// TestTokenOnly: with a token and no client CA, a client without a certificate is
// accepted once it has the token.
func TestTokenOnly(t *testing.T) {
	p := newPKI(t)
	ts := startServer(t, p, func(c *Config) { c.ClientCAFile = "" })
	c := p.clientFor(t, realcluster.Pair{})
	lines := genLines(t, 5, 3)
	if resp, err := ts.post(t, c, ts.token, eventList("audit.k8s.io/v1", lines)); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	}
	if resp, err := ts.post(t, c, "", eventList("audit.k8s.io/v1", lines)); err != nil || resp.StatusCode != 401 {
		t.Fatalf("no token: %v %v", resp, err)
	}
	if _, err := NewServer(Config{CertFile: p.server.CertFile, KeyFile: p.server.KeyFile}); err == nil {
		t.Errorf("a server that authenticates nobody was made")
	}
}

// TestSpoolFull: a spool at its bound refuses with 429 and Retry-After, and accepts
// again once the reader's checkpoint released a segment.
func TestSpoolFull(t *testing.T) {
	p := newPKI(t)
	dir := t.TempDir()
	lines := genLines(t, 50, 4)
	batch := eventList("audit.k8s.io/v1", lines)
	sp, err := OpenSpool(dir, SpoolOptions{MaxBytes: int64(3*len(batch) + 100), SegmentBytes: int64(len(batch) + 50)})
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, p, func(c *Config) { c.Spool = sp })
	c := p.clientFor(t, p.client)
	var codes []int
	for i := 0; i < 4; i++ {
		resp, err := ts.post(t, c, ts.token, batch)
		if err != nil {
			t.Fatal(err)
		}
		codes = append(codes, resp.StatusCode)
		if resp.StatusCode == 429 && resp.Header.Get("Retry-After") == "" {
			t.Errorf("429 without Retry-After")
		}
	}
	if fmt.Sprint(codes) != "[200 200 200 429]" {
		t.Fatalf("codes %v, want three 200 and a 429", codes)
	}
	if got := ts.metric(t, `kubesleuth_webhook_rejected_total{reason="spool_full"}`); got != 1 {
		t.Errorf("spool_full counted %v", got)
	}
	r := sp.NewReader(sp.Start())
	bs, err := r.Read(1<<30, nil)
	if err != nil || len(bs) != 3 {
		t.Fatalf("read back %d records: %v", len(bs), err)
	}
	sp.Release(r.Pos())
	if resp, _ := ts.post(t, c, ts.token, batch); resp.StatusCode != 200 {
		t.Errorf("after a release: %d", resp.StatusCode)
	}
}

// TestSpoolRecovery: records survive a reopen in order; a torn record at the end (a
// process killed inside its write, never acknowledged) is cut; a damaged record before
// the end stops the reader with an error naming the segment.
func TestSpoolRecovery(t *testing.T) {
	dir := t.TempDir()
	sp, err := OpenSpool(dir, SpoolOptions{SegmentBytes: 300})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := 0; i < 20; i++ {
		b := fmt.Sprintf(`{"n":%d,"pad":%q}`, i, strings.Repeat("x", i*7))
		if err := sp.Append([]byte(b)); err != nil {
			t.Fatal(err)
		}
		want = append(want, b)
	}
	sp.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "seg-*.spool"))
	if len(segs) < 3 {
		t.Fatalf("%d segments, want rotation", len(segs))
	}
	// a torn record at the end of the last segment
	last := segs[len(segs)-1]
	f, _ := os.OpenFile(last, os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte{0x4b, 0x53, 0x57, 0x31, 0, 0, 1, 0, 1, 2})
	f.Close()
	sp, err = OpenSpool(dir, SpoolOptions{SegmentBytes: 300})
	if err != nil {
		t.Fatal(err)
	}
	r := sp.NewReader(sp.Start())
	bs, err := r.Read(1<<30, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range bs {
		got = append(got, string(b.Body))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("read back %d records, want %d in order", len(got), len(want))
	}
	if err := sp.Append([]byte(`{"after":1}`)); err != nil {
		t.Fatal(err)
	}
	if bs, err := r.Read(1<<30, nil); err != nil || len(bs) != 1 || string(bs[0].Body) != `{"after":1}` {
		t.Fatalf("after the cut: %d records, %v", len(bs), err)
	}
	sp.Close()
	// damage inside the first segment
	b, _ := os.ReadFile(segs[0])
	b[recHeader+2] ^= 0xff
	os.WriteFile(segs[0], b, 0o600)
	sp, err = OpenSpool(dir, SpoolOptions{SegmentBytes: 300})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	if _, err := sp.NewReader(sp.Start()).Read(1<<30, nil); err == nil || !strings.Contains(err.Error(), filepath.Base(segs[0])) {
		t.Errorf("a damaged record: %v, want an error naming %s", err, filepath.Base(segs[0]))
	}
}

// TestSourceResume runs the Live pipeline over a spool, stops it, appends more (with a
// batch re-sent: a duplicate), and runs it again from its checkpoint: every event is
// observed exactly once across the two runs, v1beta1 included, and a bad item is
// reported with its segment and record and skipped.
func TestSourceResume(t *testing.T) {
	dir := t.TempDir()
	sp, err := OpenSpool(filepath.Join(dir, "spool"), SpoolOptions{SegmentBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	lines := genLines(t, 3000, 5)
	var batches [][]byte
	for i := 0; i < len(lines); i += 100 {
		v := "audit.k8s.io/v1"
		if i/100%3 == 2 {
			v = "audit.k8s.io/v1beta1"
		}
		batches = append(batches, eventList(v, lines[i:i+100]))
	}
	bad := []byte(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"verb":"get"}]}`)
	seen := map[string]int{}
	var badMsgs []string
	run := func(from, to int, resend int) {
		for i := from; i < to; i++ {
			if err := sp.Append(batches[i]); err != nil {
				t.Fatal(err)
			}
			if i == from {
				sp.Append(bad)
			}
		}
		if resend >= 0 {
			sp.Append(batches[resend])
		}
		eng, err := analyzer.NewEngine(nil, analyzer.Config{})
		if err != nil {
			t.Fatal(err)
		}
		opts := audit.Options{OnError: func(e *audit.InputError) { badMsgs = append(badMsgs, e.Error()) }}
		src := &Source{Spool: sp, Poll: 10 * time.Millisecond, Opts: opts}
		ctx, cancel := context.WithCancel(context.Background())
		live := &pipeline.Live{Source: src, Engine: eng, StatePath: filepath.Join(dir, "state"), CheckpointEvery: time.Millisecond,
			OnRecord: func(r pipeline.Record) { seen[string(r.Event.AuditID)+"/"+string(r.Event.Stage)]++ }}
		done := make(chan error, 1)
		go func() { done <- live.Run(ctx) }()
		deadline := time.Now().Add(60 * time.Second)
		for (src.Lag() > 0 || src.pos.Load() == nil) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond)
		cancel()
		if err := <-done; err != context.Canceled {
			t.Fatalf("live run: %v", err)
		}
	}
	run(0, 15, -1)
	run(15, len(batches), 14) // batch 14 re-sent after the restart
	for _, l := range lines {
		var ev auditv1.Event
		json.Unmarshal(l, &ev)
		k := string(ev.AuditID) + "/" + string(ev.Stage)
		if seen[k] != 1 {
			t.Fatalf("event %s observed %d times, want once", k, seen[k])
		}
	}
	if len(seen) != len(lines) {
		t.Errorf("%d events observed, %d sent", len(seen), len(lines))
	}
	if len(badMsgs) != 2 || !strings.Contains(badMsgs[0], "seg-") || !strings.Contains(badMsgs[0], "@") {
		t.Errorf("bad items reported: %q", badMsgs)
	}
}

// TestHealthAndReadiness: /healthz answers while the process runs; /readyz only once the
// pipeline runs, and not when the spool is nearly full.
func TestHealthAndReadiness(t *testing.T) {
	p := newPKI(t)
	dir := t.TempDir()
	sp, err := OpenSpool(dir, SpoolOptions{MaxBytes: 4000})
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, p, func(c *Config) { c.Spool = sp })
	get := func(path string) int {
		resp, err := http.Get(ts.ops + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if get("/healthz") != 200 || get("/readyz") != 503 {
		t.Errorf("before the pipeline runs: healthz %d, readyz %d", get("/healthz"), get("/readyz"))
	}
	ts.srv.SetReady(true)
	if get("/readyz") != 200 {
		t.Errorf("readyz %d once ready", get("/readyz"))
	}
	if err := sp.Append(bytes.Repeat([]byte("x"), 3700)); err != nil {
		t.Fatal(err)
	}
	if get("/readyz") != 503 {
		t.Errorf("readyz %d with the spool 90%% full", get("/readyz"))
	}
}
